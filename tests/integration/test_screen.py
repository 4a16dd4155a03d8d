"""``screen --server`` against the real test server equals ``screen --data`` on the same patients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_adapter.cli import _register_commands, app

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TRIAL = REPO / "samples" / "NCT06577194.txt"
SAMPLE_PATIENTS = REPO / "samples" / "patients" / "data"
REAL_BUNDLES = REPO / "tests" / "matching" / "data"
AS_OF = "2025-01-01"  # the as-of date the sample patients were generated for


def _as_puts(bundle: dict[str, Any]) -> dict[str, Any]:
    """A transaction whose POST urn:uuid entries become PUT Type/<uuid>, so ids match the local reading."""
    text = json.dumps(bundle)
    for entry in bundle.get("entry") or []:
        full_url, resource = str(entry.get("fullUrl", "")), entry.get("resource") or {}
        if full_url.startswith("urn:uuid:") and resource.get("resourceType"):
            text = text.replace(f'"{full_url}"', json.dumps(f"{resource['resourceType']}/{full_url[9:]}"))
    converted = json.loads(text)
    for entry in converted.get("entry") or []:
        resource = entry["resource"]
        if not resource.get("id"):
            resource["id"] = str(entry.get("fullUrl", "")).rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        entry["request"] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        entry.pop("fullUrl", None)
    converted["type"] = "transaction"
    return converted


def _items(folder: Path) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*.ndjson")):
        items += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for path in sorted(folder.rglob("*.json")):
        data = json.loads(path.read_text())
        if data.get("resourceType") == "Bundle" and data.get("type") in ("transaction", "batch", "collection"):
            items.append(_as_puts(data))
    # Patients first, so references resolve on servers that check them.
    return sorted(items, key=lambda r: r.get("resourceType") != "Patient")


def _screen(*args: str) -> dict[str, Any]:
    _register_commands()
    result = CliRunner().invoke(app, ["screen", str(TRIAL), "--format", "json", "--as-of", AS_OF, *args])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


@pytest.fixture(scope="module")
def folders(fhir_server: str, load_resources: Any) -> list[Path]:
    found = [f for f in (SAMPLE_PATIENTS, REAL_BUNDLES) if f.is_dir() and any(f.rglob("*.*json"))]
    if not found:
        pytest.skip("no sample patients")
    for folder in found:
        load_resources(_items(folder))
    return found


def _verdicts(body: dict[str, Any]) -> dict[str, str]:
    return {p["patient"]: p["verdict"] for p in body["patients"]}


def _answers(body: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """Per patient: verdict, reason code and the reason a coordinator reads."""
    return {p["patient"]: (p["verdict"], p["reason_code"], p["reason"]) for p in body["patients"]}


def _only(body: dict[str, Any], patients: set[str]) -> dict[str, Any]:
    """The screen restricted to ``patients`` (the shared test server also holds other tests' patients)."""
    return {**body, "patients": [p for p in body["patients"] if p["patient"] in patients]}


def test_server_and_local_screens_agree(fhir_server: str, folders: list[Path]) -> None:
    data_args = [a for f in folders for a in ("--data", str(f))]
    local = _screen(*data_args)
    server = _only(_screen("--server", fhir_server, "--no-prefilter"), set(_verdicts(local)))
    assert server["trial"] == local["trial"] and server["as_of"] == AS_OF
    assert _answers(server) == _answers(local)
    assert {"eligible", "needs-review", "ineligible"} <= set(_verdicts(local).values())
    assert {"not-a-candidate", "exclusion-met", "inclusion-not-met", "deceased"} <= {
        p["reason_code"] for p in local["patients"]
    }
    assert [p["patient"] for p in server["patients"]] == [p["patient"] for p in local["patients"]]
    for mine, theirs in zip(server["patients"], local["patients"], strict=True):
        assert [(c["result"], c["reason"]) for c in mine["criteria"]] == [
            (c["result"], c["reason"]) for c in theirs["criteria"]
        ]


def test_prefiltered_screen_reports_every_patient_as_locally(fhir_server: str, folders: list[Path]) -> None:
    """With the server-side pre-filter, the ruled-out patients are reported too, with the local answer."""
    local = _answers(_screen(*[a for f in folders for a in ("--data", str(f))]))
    filtered = _answers(_only(_screen("--server", fhir_server), set(local)))
    assert filtered == local


def test_bulk_screen_reports_every_patient_as_locally(
    fhir_server: str, folders: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``screen --server URL --bulk``: a Bulk export of what the trial reads, screened by an engine, gives every
    patient the answer of the local files; the export is kept in --bulk-dir and a rerun resumes (fetches nothing)."""
    local = _screen(*[a for f in folders for a in ("--data", str(f))])
    for engine in ("memory", "duckdb"):
        bulk = _only(_screen("--server", fhir_server, "--bulk-dir", str(tmp_path / "export"), "--engine", engine),
                     set(_verdicts(local)))
        assert _answers(bulk) == _answers(local)
        for mine, theirs in zip(bulk["patients"], local["patients"], strict=True):
            assert [(c["result"], c["reason"]) for c in mine["criteria"]] == [
                (c["result"], c["reason"]) for c in theirs["criteria"]
            ]
    exported = {p.name.split(".")[0] for p in (tmp_path / "export").glob("*.ndjson")}
    assert {"Patient", "Condition", "Observation"} <= exported <= {
        "Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement", "MedicationAdministration",
        "AllergyIntolerance", "Procedure", "Medication",
    }
