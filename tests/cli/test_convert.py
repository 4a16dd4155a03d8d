"""The convert command: one Bundle to a file or stdout; a directory to one file per trial."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter import ingest
from fhir_adapter.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mapping"))
from ctgov_records import corpus_files, from_ctgov_json

from fhir_adapter.errors import InputError
from fhir_adapter.trial import TrialRecord


def _reader(path: Path, **_: Any) -> TrialRecord:
    try:
        return from_ctgov_json(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (ValueError, KeyError) as exc:
        raise InputError("not a ClinicalTrials.gov study", source=str(path)) from exc


@pytest.fixture(autouse=True)
def stub_ingest_and_criteria(monkeypatch: pytest.MonkeyPatch) -> None:
    """Isolate the command from the other packages' progress: a local reader, no criteria compiler."""
    monkeypatch.setattr(ingest, "load_trial", _reader, raising=False)
    from fhir_adapter import criteria

    monkeypatch.delattr(criteria, "compile_criteria", raising=False)


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


FILES = corpus_files()
needs_corpus = pytest.mark.skipif(not FILES, reason="shared ClinicalTrials.gov corpus not present")


@needs_corpus
def test_one_input_to_one_bundle_file(tmp_path: Path) -> None:
    out = tmp_path / "bundle.json"
    assert run(["convert", str(FILES[0]), "--fhir-version", "R5", "-o", str(out)]) == 0
    bundle = json.loads(out.read_text())
    assert bundle["type"] == "transaction"
    study = bundle["entry"][0]["resource"]
    assert study["resourceType"] == "ResearchStudy" and "progressStatus" in study


@needs_corpus
def test_one_input_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["convert", str(FILES[0])]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["entry"][0]["resource"]["status"]


@needs_corpus
def test_directory_writes_one_file_per_trial_and_reports_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in FILES[:3]:
        (inputs / path.name).write_text(path.read_text())
    (inputs / "broken.json").write_text("{}")
    out = tmp_path / "out"
    assert run(["convert", str(inputs), "-o", str(out)]) == 1
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in FILES[:3])
    assert "broken.json" in capsys.readouterr().err


def test_several_inputs_need_an_output_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text("{}")
    b.write_text("{}")
    assert run(["convert", str(a), str(b)]) == 2
    assert "-o DIR" in capsys.readouterr().err


def test_unknown_fhir_version_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.json"
    a.write_text("{}")
    assert run(["convert", str(a), "--fhir-version", "R6"]) == 2
    assert "R6" in capsys.readouterr().err
