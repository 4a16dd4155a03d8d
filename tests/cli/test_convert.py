"""The convert command: one Bundle to a file or stdout; many trials to one file per trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_adapter.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SEED = SAMPLES / "NCT06577194.txt"
CTGOV = sorted((SAMPLES / "ctgov").glob("*.json"))


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_one_input_to_one_bundle_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle.json"
    assert run(["convert", str(CTGOV[0]), "--fhir-version", "R5", "-o", str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    assert stdout == "" and f"Bundle written to {out}" in stderr
    bundle = json.loads(out.read_text())
    assert bundle["type"] == "transaction"
    study = bundle["entry"][0]["resource"]
    assert study["resourceType"] == "ResearchStudy" and "progressStatus" in study


def test_seed_to_stdout_carries_the_compiled_criteria(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["convert", str(SEED)]) == 0
    bundle = json.loads(capsys.readouterr().out)
    group = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Group")
    texts = json.dumps(group["characteristic"])
    assert "neutrophil count" in texts and "Recurrent rectal cancer" in texts


def test_no_criteria_leaves_only_the_structured_characteristics(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["convert", str(SEED), "--no-criteria"]) == 0
    bundle = json.loads(capsys.readouterr().out)
    group = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Group")
    assert "neutrophil" not in json.dumps(group["characteristic"])
    assert "neutrophil count" in json.dumps(group)  # the full criteria text is kept all the same


def test_directory_writes_one_file_per_trial_and_reports_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in CTGOV[:3]:
        (inputs / path.name).write_text(path.read_text())
    (inputs / "broken.json").write_text("{}")
    out = tmp_path / "out"
    assert run(["convert", str(inputs), "-o", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in CTGOV[:3])
    err = capsys.readouterr().err
    assert "broken.json" in err and "Traceback" not in err


def test_ndjson_file_writes_one_bundle_per_line(tmp_path: Path) -> None:
    ndjson = tmp_path / "studies.ndjson"
    ndjson.write_text("\n".join(json.dumps(json.loads(p.read_text())) for p in CTGOV[:2]) + "\n")
    out = tmp_path / "out"
    assert run(["convert", str(ndjson), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in CTGOV[:2])


def test_several_trials_need_an_output_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["convert", str(CTGOV[0]), str(CTGOV[1])]) == 2
    assert "-o DIR" in capsys.readouterr().err


def test_unknown_fhir_version_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["convert", str(SEED), "--fhir-version", "R6"]) == 2
    assert "R6" in capsys.readouterr().err


def test_malformed_single_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"protocolSection": ')
    assert run(["convert", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err
