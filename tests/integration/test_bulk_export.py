"""Bulk Data ``$export`` against the real servers on loopback (HAPI FHIR JPA and sekmet-fhir).

Each test loads its own small cohort (patients with Conditions and Observations, ids unique to the test) and
exports with ``_since`` set to the server's clock just before loading, so what other tests stored in the shared
session server stays out and the files must hold exactly the cohort.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.cli import main
from fhir_adapter.fhir import FhirClient
from fhir_adapter.fhir.bulk import BulkSettings, ExportResult, run_export
from fhir_adapter.fhir.bulk_download import STATE_FILE, load_state, save_state
from fhir_adapter.fhir.testing import LocalServer
from fhir_adapter.matching.local import LocalData

from .conftest import load_into

pytestmark = pytest.mark.integration

# HAPI answers Retry-After: 120 while its job takes a few seconds: poll faster in tests.
FAST = BulkSettings(min_poll_interval=0.2, max_poll_interval=0.5)
DEADLINE = 120.0
# Codes no other test uses: the cohort stays in the session's servers, where other tests search by code.
BULK_CODES = "http://fhir-adapter.test/CodeSystem/bulk-export-tests"


def server_now(client: FhirClient) -> str:
    """The server's clock: the lastUpdated of a throwaway Organization (a type no test exports)."""
    probe = client.create({"resourceType": "Organization", "name": f"bulk-probe-{uuid.uuid4().hex[:8]}"})
    time.sleep(0.05)  # the cohort is stored strictly after the probe
    return str(probe["meta"]["lastUpdated"])


def cohort(prefix: str, patients: int = 3) -> list[dict[str, Any]]:
    """Patients, each with one Condition and two Observations (one final, one preliminary)."""
    items: list[dict[str, Any]] = []
    for n in range(1, patients + 1):
        pid = f"{prefix}-p{n}"
        subject = {"reference": f"Patient/{pid}"}
        items.append({"resourceType": "Patient", "id": pid, "gender": "female" if n % 2 else "male",
                      "birthDate": f"19{60 + n}-01-01"})
        items.append({"resourceType": "Condition", "id": f"{prefix}-c{n}", "subject": subject,
                      "code": {"coding": [{"system": BULK_CODES, "code": "bulk-condition"}]}})
        for status in ("final", "preliminary"):
            items.append({"resourceType": "Observation", "id": f"{prefix}-o{n}-{status}", "status": status,
                          "subject": subject, "valueQuantity": {"value": 7.1 + n, "unit": "%"},
                          "code": {"coding": [{"system": BULK_CODES, "code": "bulk-observation"}]}})
    return items


def ids_by_type(items: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for item in items:
        found[item["resourceType"]].add(item["id"])
    return dict(found)


def exported_ids(result: ExportResult) -> dict[str, set[str]]:
    """Ids per type read back from the NDJSON files (each line checked to be a resource of its file's type)."""
    found: dict[str, set[str]] = defaultdict(set)
    for file in result.files:
        lines = [line for line in file.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert len(lines) == file.resources
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == file.type
            found[file.type].add(resource["id"])
    return dict(found)


def export(base_url: str, out_dir: Path, **kwargs: Any) -> ExportResult:
    progress: list[str] = []
    result = asyncio.run(run_export(base_url, out_dir=out_dir, settings=FAST, poll_deadline=DEADLINE,
                                    progress=progress.append, **kwargs))
    assert not any('"resourceType"' in line for line in progress)  # progress never carries content
    return result


@pytest.fixture
def prefix() -> str:
    return f"bulk{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sekmet", "hapi"])
def fhir_base(request: pytest.FixtureRequest) -> str:
    """Each test runs against both real servers (the session's, started by conftest's fixtures).

    Function-scoped on purpose, unlike conftest's ``fhir_server``: a session-scoped parametrised fixture used here,
    the first module in the folder, makes pytest regroup all integration modules by server and run the other
    modules' HAPI pushes before ``test_hapi_server.py``, whose first push expects a server without the sample.
    """
    if request.param == "sekmet":
        return str(request.getfixturevalue("sekmet_server"))
    server: LocalServer = request.getfixturevalue("hapi_server")
    return server.base_url


@pytest.fixture
def fhir(fhir_base: str) -> Iterator[FhirClient]:
    with FhirClient(fhir_base) as client:
        yield client


def test_system_export_holds_exactly_the_loaded_resources(
    fhir_base: str, fhir: FhirClient, prefix: str, tmp_path: Path
) -> None:
    since = server_now(fhir)
    items = cohort(prefix)
    load_into(fhir, items)
    started = time.monotonic()
    result = export(fhir_base, tmp_path, types=["Patient", "Condition", "Observation"], since=since)
    elapsed = time.monotonic() - started
    assert exported_ids(result) == ids_by_type(items)
    assert sorted(p.name for p in tmp_path.glob("*.ndjson")) == ["Condition.ndjson", "Observation.ndjson",
                                                                 "Patient.ndjson"]
    assert result.resources == len(items) and not result.resumed and result.errors.issues == 0
    assert result.transaction_time and elapsed < DEADLINE
    state = load_state(tmp_path)
    assert state is not None and state.status == "complete" and all(f.done for f in state.files)
    # the project's local reader takes the directory as it is
    local = LocalData(tmp_path)
    assert set(local.patient_ids()) == ids_by_type(items)["Patient"]


def test_patient_level_export_with_type_and_type_filter(
    fhir_base: str, fhir: FhirClient, prefix: str, tmp_path: Path
) -> None:
    since = server_now(fhir)
    items = cohort(prefix)
    load_into(fhir, items)
    result = export(fhir_base, tmp_path, level="patient", types=["Condition", "Observation"], since=since,
                    type_filters=["Observation?status=final"])
    expected = ids_by_type(items)
    assert result.type_filter_applied  # both servers take _typeFilter
    assert sorted(f.path.name for f in result.files) == ["Condition.ndjson", "Observation.ndjson"]
    # HAPI 8.8.0 ignores _since on Patient/$export (every patient's data comes back): compare this test's cohort
    exported = {kind: {i for i in ids if i.startswith(f"{prefix}-")} for kind, ids in exported_ids(result).items()}
    assert exported == {
        "Condition": expected["Condition"],
        "Observation": {i for i in expected["Observation"] if i.endswith("-final")},
    }
    for line in (tmp_path / "Observation.ndjson").read_text().splitlines():  # the filter held for every patient
        assert json.loads(line)["status"] == "final"


def test_group_export_holds_only_the_members(
    fhir_base: str, fhir: FhirClient, prefix: str, tmp_path: Path
) -> None:
    since = server_now(fhir)
    items = cohort(prefix, patients=3)
    group = {"resourceType": "Group", "id": f"{prefix}-g", "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{prefix}-p{n}"}} for n in (1, 3)]}
    load_into(fhir, [*items, group])
    result = export(fhir_base, tmp_path, level="group", group_id=group["id"],
                    types=["Patient", "Condition", "Observation"], since=since)
    members = {f"{prefix}-p1", f"{prefix}-p3"}
    wanted = [i for i in items if i["id"] in members or i.get("subject", {}).get("reference", "")[8:] in members]
    assert exported_ids(result) == ids_by_type(wanted)


def test_resume_fetches_only_the_unfinished_file(
    fhir_base: str, fhir: FhirClient, prefix: str, tmp_path: Path
) -> None:
    since = server_now(fhir)
    items = cohort(prefix, patients=2)
    load_into(fhir, items)
    kwargs: dict[str, Any] = {"types": ["Patient", "Condition", "Observation"], "since": since}
    first = export(fhir_base, tmp_path, **kwargs)
    assert len(first.downloaded) == 3
    observations = tmp_path / "Observation.ndjson"
    before = observations.read_bytes()
    observations.unlink()
    state = load_state(tmp_path)
    assert state is not None
    for file in state.files:
        if file.name == "Observation.ndjson":
            file.done = False
    save_state(tmp_path, state)
    untouched = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.ndjson")}

    again = export(fhir_base, tmp_path, **kwargs)
    assert again.resumed and again.downloaded == ("Observation.ndjson",)
    assert observations.read_bytes() == before
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.ndjson") if p.name in untouched} == untouched
    assert exported_ids(again) == ids_by_type(items)


def test_cli_export_against_the_server(
    fhir_base: str, fhir: FhirClient, prefix: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    since = server_now(fhir)
    items = cohort(prefix, patients=2)
    load_into(fhir, items)
    out_dir = tmp_path / "out"
    try:
        main(["export", "--server", fhir_base, "--type", "Patient,Observation", "--since", since,
              "--poll-deadline", str(DEADLINE), "-o", str(out_dir)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("exported 2 file(s) (2 type(s), 6 resources, ") and "; new export" in out
    assert "export: downloaded Patient.ndjson: 2 resources" in err
    assert (out_dir / STATE_FILE).is_file()
    lines = (out_dir / "Observation.ndjson").read_text().splitlines()
    assert {json.loads(line)["id"] for line in lines} == ids_by_type(items)["Observation"]
