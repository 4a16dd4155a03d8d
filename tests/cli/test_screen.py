"""The ``screen`` command on local data: JSON contract, table, HTML file, --emit-fhir, --checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import fhir_adapter.cli.screen_cmd as screen_cmd
from fhir_adapter.cli import app
from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria
from fhir_adapter.errors import FhirServerError
from fhir_adapter.words import reason_codes

LOINC = "http://loinc.org"
CRITERIA = CompiledCriteria(
    trial="NCT00000003",
    atoms=[
        Atom(id="age", kind="inclusion", text="Age 18 or older", category="demographic", comparator="ge",
             value=18, unit="a", computable=True),
        Atom(id="inc-1", kind="inclusion", text="Platelets >= 100 <x>", category="lab", comparator="ge", value=100,
             unit="10*9/L", concepts=[Coding(system=LOINC, code="777-3")], computable=True),
    ],
)


@pytest.fixture(autouse=True)
def _setup(monkeypatch: pytest.MonkeyPatch, no_lexicon: None) -> None:
    monkeypatch.setattr(screen_cmd, "load_compiled", lambda path: CRITERIA)
    from fhir_adapter.cli import _register_commands

    if not any(c.name == "screen" for c in app.registered_commands):
        _register_commands()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rows = []
    for pid, value in (("a", 250), ("b", 50), ("c", None)):
        rows.append({"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01", "name": [{"family": "Secret"}]})
        if value is not None:
            rows.append({"resourceType": "Observation", "id": f"o-{pid}", "status": "final",
                         "subject": {"reference": f"Patient/{pid}"},
                         "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
                         "effectiveDateTime": "2024-05-01", "valueQuantity": {"value": value, "unit": "10*9/L"}})
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "p.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, ["screen", "trial.json", *args], catch_exceptions=False)


def test_json_is_exactly_the_contract(data: Path) -> None:
    result = _run("--data", str(data), "--format", "json", "--as-of", "2024-06-01")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"trial", "as_of", "patients"}
    assert body["trial"] == "NCT00000003" and body["as_of"] == "2024-06-01"
    assert [(p["patient"], p["verdict"]) for p in body["patients"]] == [
        ("Patient/a", "eligible"), ("Patient/c", "needs-review"), ("Patient/b", "ineligible")
    ]
    for patient in body["patients"]:
        assert set(patient) == {"patient", "verdict", "reason_code", "reason", "open_items", "to_confirm", "criteria"}
        assert patient["reason_code"] in reason_codes()
        for criterion in patient["criteria"]:
            assert {"id", "result", "reason", "evidence"} <= set(criterion)
            assert set(criterion) <= {"id", "result", "reason", "evidence", "values", "need"}
            assert all(isinstance(e, str) for e in criterion["evidence"])
            for value in criterion.get("values", []):
                assert value["reference"] in criterion["evidence"]
    assert "Secret" not in result.output


def test_table_to_stdout(data: Path) -> None:
    result = _run("--data", str(data), "--as-of", "2024-06-01")
    assert result.exit_code == 0
    assert "Patient/a" in result.stdout and "needs-review" in result.stdout


def test_html_file_emit_and_checkpoint(data: Path, tmp_path: Path) -> None:
    page, emitted, marker = tmp_path / "out" / "report.html", tmp_path / "subjects.json", tmp_path / "run.jsonl"
    result = _run("--data", str(data), "--format", "html", "-o", str(page), "--as-of", "2024-06-01",
                  "--emit-fhir", str(emitted), "--fhir-version", "R5", "--checkpoint", str(marker))
    assert result.exit_code == 0, result.output
    assert f"report written to {page}" in result.stderr.replace("\n", "")
    html = page.read_text()
    assert "Platelets >= 100 \\u003cx>" in html and "eligible" in html  # in the JSON, "<" escaped
    bundle = json.loads(emitted.read_text())
    subjects = [e["resource"]["subject"]["reference"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "ResearchSubject"]
    assert subjects == ["Patient/a", "Patient/c"]
    assert len(marker.read_text().splitlines()) == 3


def test_exactly_one_source_is_required(data: Path) -> None:
    result = CliRunner().invoke(app, ["screen", "trial.json"])
    assert result.exit_code != 0
    result = CliRunner().invoke(app, ["screen", "trial.json", "--data", str(data), "--server", "http://127.0.0.1:9"])
    assert result.exit_code != 0


def test_a_configured_server_does_not_compete_with_data(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FHIR_ADAPTER_SERVER is the source only when neither --data nor --server is given."""
    monkeypatch.setenv("FHIR_ADAPTER_SERVER", "http://127.0.0.1:1/fhir")
    result = _run("--data", str(data), "--format", "json", "--as-of", "2024-06-01")
    assert result.exit_code == 0, result.output
    with pytest.raises(FhirServerError, match=r"127\.0\.0\.1:1"):  # no source given: the configured server is used
        _run("--format", "json", "--as-of", "2024-06-01")


def test_engines_print_the_same_report(data: Path) -> None:
    """`--engine duckdb` (and auto) gives the memory engine's exact JSON; the engine says what it scanned on
    stderr (counts and file names, never a patient) and the report names the engine."""
    outputs = {}
    for engine in ("memory", "duckdb", "AUTO"):
        result = _run("--data", str(data), "--format", "json", "--as-of", "2024-06-01", "--engine", engine)
        assert result.exit_code == 0, result.output
        outputs[engine] = result.stdout
        assert f"{engine.lower().replace('auto', 'memory')} engine" in result.stderr
    assert outputs["duckdb"] == outputs["memory"] == outputs["AUTO"]
    duck = _run("--data", str(data), "--format", "json", "--as-of", "2024-06-01", "--engine", "duckdb")
    assert "engine: scanned p.ndjson (1/1 NDJSON/Parquet files)" in duck.stderr
    assert "for 3 patients" in duck.stderr and "Patient/a" not in duck.stderr


def test_workers_print_the_same_report(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--workers 2` (worker processes even for 3 patients here) gives the one-process report exactly."""
    from fhir_adapter.engines import parallel

    args = ("--data", str(data), "--format", "json", "--as-of", "2024-06-01", "--engine", "duckdb")
    alone = _run(*args, "--workers", "1")
    monkeypatch.setattr(parallel, "MIN_PATIENTS", 0)
    used: list[int] = []
    real = parallel.evaluate_in_workers

    def spy(setup: Any, rows: Any, workers: int) -> Any:
        used.append(workers)
        return real(setup, rows, workers)

    monkeypatch.setattr("fhir_adapter.engines.evaluate_in_workers", spy)
    shared = _run(*args, "--workers", "2")
    assert alone.exit_code == shared.exit_code == 0, shared.output
    assert used == [2] and shared.stdout == alone.stdout
    assert _run(*args, "--workers", "0").exit_code == 2  # at least one


def test_engine_and_bulk_usage_errors(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fhir_adapter.cli import main

    for extra, message in ((["--engine", "postgres"], "--engine must be one of auto, memory, duckdb, spark"),
                           (["--bulk"], "--bulk exports from a server: give --server URL")):
        with pytest.raises(SystemExit) as exited:
            main(["screen", "trial.json", "--data", str(data), *extra])
        assert exited.value.code == 2
        assert message in capsys.readouterr().err
