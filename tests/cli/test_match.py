"""The ``match`` command: table and JSON output, unknown patient, option errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from . import run_cli

ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "tests" / "matching" / "data" / "NCT06577194.txt"
SAMPLES = ROOT / "samples" / "patients" / "data"
SYNTHEA = ROOT / "tests" / "matching" / "data" / "synthea-smart-r4"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "match", *args)


def needs_compiler() -> None:
    from fhir_adapter import criteria, ingest

    if not hasattr(ingest, "load_trial") or not hasattr(criteria, "compile_criteria"):
        pytest.skip("criteria compiler or ingester not available")


def test_unknown_patient_is_one_line_without_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(TRIAL), "--data", str(SYNTHEA), "--patient", "no-such-id")
    assert code == 2
    assert out == ""
    assert err.strip() == "error: Patient/no-such-id: no such patient in the data source"
    assert "Stephen" not in err and "McLaughlin" not in err


def test_data_and_server_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, str(TRIAL), "--patient", "x")
    assert code == 2
    assert "exactly one of --data DIR or --server URL" in err


def test_bad_as_of(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, str(TRIAL), "--data", str(SAMPLES), "--patient", "smp-eligible", "--as-of", "soon")
    assert code == 2
    assert "--as-of must be a date" in err


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    needs_compiler()
    code, out, _err = run(
        capsys, str(TRIAL), "--data", str(SAMPLES), "--patient", "smp-hiv", "--as-of", "2025-01-01", "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["as_of"] == "2025-01-01"
    assert doc["trial"]
    [patient] = doc["patients"]
    assert patient["patient"] == "Patient/smp-hiv"
    assert patient["verdict"] == "ineligible"
    assert set(patient) == {"patient", "verdict", "reason_code", "reason", "open_items", "to_confirm", "criteria"}
    assert patient["reason_code"] == "exclusion-met"
    optional = {"values", "need"}  # values: the raw evidence values; need: what to obtain when unknown
    assert all({"id", "result", "reason", "evidence"} <= set(c) <= {"id", "result", "reason", "evidence", *optional}
               for c in patient["criteria"])
    assert any(c["result"] == "met" and c["evidence"][0].startswith("Condition/smp-hiv") for c in patient["criteria"])


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    needs_compiler()
    code, out, _err = run(
        capsys, str(TRIAL), "--data", str(SAMPLES), "--patient", "smp-low-neutrophils", "--as-of", "2025-01-01"
    )
    assert code == 0
    assert "verdict: ineligible" in out
    verdict = "verdict: ineligible — ineligible: fails inclusion inc-3a: absolute neutrophil count 1.2 × 10⁹/L on"
    assert f"{verdict} 2024-12-22; required ≥ 1.5 × 10⁹/L → not-met" in " ".join(out.split())
    assert "to confirm:" in out


def test_patient_reference_as_screen_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    """`match --patient Patient/X` (the id `screen` prints) and `--patient X` give the same answer."""
    needs_compiler()
    common = [str(TRIAL), "--data", str(SAMPLES), "--as-of", "2025-01-01", "--format", "json", "--patient"]
    verdicts = []
    for patient in ("Patient/smp-eligible", "smp-eligible"):
        code, out, _ = run(capsys, *common, patient)
        assert code == 0
        verdicts.append(json.loads(out)["patients"][0]["verdict"])
    assert verdicts == ["eligible", "eligible"]


def test_a_malformed_line_is_reported_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One bad line in Patient.ndjson does not sink the others: file:line on stderr, a summary, the others screened;
    `--strict` makes it an error."""
    needs_compiler()
    folder = tmp_path / "data"
    folder.mkdir()
    lines = (SAMPLES / "Patient.ndjson").read_text(encoding="utf-8").splitlines()
    broken = [lines[0], '{"resourceType": "Patient", "id": "broken", ', *lines[1:]]
    (folder / "Patient.ndjson").write_text("\n".join(broken) + "\n", encoding="utf-8")
    for other in SAMPLES.glob("*.ndjson"):
        if other.name != "Patient.ndjson":
            (folder / other.name).write_text(other.read_text(encoding="utf-8"), encoding="utf-8")
    common = [str(TRIAL), "--data", str(folder), "--as-of", "2025-01-01", "--format", "json"]
    code, out, err = run(capsys, *common, "--patient", "smp-eligible")
    assert code == 0 and json.loads(out)["patients"][0]["verdict"] == "eligible"
    assert f"{folder / 'Patient.ndjson'}:2" in err and "malformed JSON" in err
    assert "1 malformed record(s) skipped" in err
    code, out, err = run(capsys, *common, "--patient", "smp-eligible", "--strict")
    assert code == 2 and out == "" and f"{folder / 'Patient.ndjson'}:2" in err


def test_match_cli_api_and_screen_give_one_answer(capsys: pytest.CaptureFixture[str]) -> None:
    """Every sample patient and every real patient bundle: `match` (CLI, both id spellings), the Python API and
    `screen` give the same verdict, reason code, reason and per-criterion results (except that `screen` does not
    evaluate further a patient who is not a candidate, and says so)."""
    needs_compiler()
    from fhir_adapter import LocalData, compile_criteria, load_trial
    from fhir_adapter import match as api_match
    from fhir_adapter import screen as api_screen

    criteria = compile_criteria(load_trial(TRIAL))
    folders = [SAMPLES, ROOT / "tests" / "matching" / "data" / "synthea-smart-r4",
               ROOT / "tests" / "matching" / "data" / "mii-kds-testdata"]
    data = LocalData(*folders)
    screened = {p.patient: p.contract() for p in api_screen(criteria, data, as_of="2025-01-01").patients}
    assert len(screened) == 25 + 14
    codes = {p["reason_code"] for p in screened.values()}
    assert {"eligible", "needs-review", "not-a-candidate", "inclusion-not-met", "exclusion-met", "deceased"} <= codes
    for patient, expected in screened.items():
        assert_same_answer(api_match(criteria, data, patient, as_of="2025-01-01").contract(), expected)
    data_args = [a for f in folders for a in ("--data", str(f))]
    for patient in sorted(screened)[::6]:  # the CLI for a sample of them (each run reads every file)
        code, out, _err = run(capsys, str(TRIAL), *data_args, "--patient", patient, "--as-of", "2025-01-01",
                              "--format", "json")
        assert code == 0
        (found,) = json.loads(out)["patients"]
        assert_same_answer(found, screened[patient])


def assert_same_answer(matched: dict[str, Any], screened: dict[str, Any]) -> None:
    if screened["reason_code"] != "not-a-candidate":
        assert matched == screened
        return
    skipped = [c for c in screened["criteria"] if c["reason"] == "not evaluated: not a candidate for the trial"]
    assert skipped and all(c["result"] == "unknown" for c in skipped)
    keep = {c["id"] for c in screened["criteria"]} - {c["id"] for c in skipped}
    assert {k: v for k, v in matched.items() if k != "criteria"} == {
        k: v for k, v in screened.items() if k != "criteria"
    }
    assert [c for c in matched["criteria"] if c["id"] in keep] == [c for c in screened["criteria"] if c["id"] in keep]


def test_output_file_and_forced_input_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    needs_compiler()
    common = [str(TRIAL), "--data", str(SAMPLES), "--patient", "smp-hiv", "--as-of", "2025-01-01",
              "--input-format", "REGISTRY-PAGE"]
    out_json, out_table = tmp_path / "r.json", tmp_path / "r.txt"
    code, out, err = run(capsys, *common, "--format", "json", "-o", str(out_json))
    assert code == 0 and out == "" and f"result written to {out_json}" in err
    assert json.loads(out_json.read_text())["patients"][0]["verdict"] == "ineligible"
    code, out, _err = run(capsys, *common, "-o", str(out_table))
    assert code == 0 and out == "" and "verdict: ineligible" in out_table.read_text()
    code, _out, err = run(capsys, *common[:-1], "ctgov-xml")
    assert code == 2 and "malformed XML" in err
