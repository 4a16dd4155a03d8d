"""load_trial / iter_trials: inputs, format detection and the file checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_adapter.errors import InputError
from fhir_adapter.ingest import detect, iter_trials, load_trial
from fhir_adapter.ingest.detect import detect_format
from tests.ingest.helpers import SAMPLE_XML, SEED_PAGE, minimal_study


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"protocolSection": {}}', "ctgov-json"),
        ('  {"studies": []}', "ctgov-json"),
        ("<?xml version='1.0'?>\n<clinical_study rank='1'></clinical_study>", "ctgov-xml"),
    ],
)
def test_detect_format(text: str, expected: str) -> None:
    assert detect_format(text, "x") == expected


def test_detect_page_and_files() -> None:
    assert detect_format(SEED_PAGE.read_text(encoding="utf-8"), "p") == "registry-page"
    assert detect_format(SAMPLE_XML.read_text(encoding="utf-8"), "x") == "ctgov-xml"
    with pytest.raises(InputError, match="unrecognised"):
        detect_format("NCT ID: NCT00000001 but no headings", "x")


def test_forced_format_is_used(tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_text(SEED_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_trial(page).source_format == "registry-page"
    with pytest.raises(InputError, match="malformed JSON"):
        load_trial(page, format="ctgov-json")
    with pytest.raises(InputError, match="unknown format"):
        load_trial(page, format="csv")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.json", b"", "empty input"),
        ("blank.txt", b"  \n\n", "empty input"),
        ("binary.json", b"\x89PNG\r\n\x1a\n\x00\x00", "binary content"),
        ("latin1.txt", b"caf\xe9", "not UTF-8"),
    ],
)
def test_unreadable_files_name_the_path(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = _write(tmp_path / name, data)
    with pytest.raises(InputError, match=message) as caught:
        load_trial(path)
    assert caught.value.source == str(path)


def test_too_big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "big.json", json.dumps(minimal_study()).encode())
    monkeypatch.setattr(detect, "MAX_INPUT_BYTES", 100)
    with pytest.raises(InputError, match="byte limit") as caught:
        load_trial(path)
    assert caught.value.source == str(path)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_trial(tmp_path / "nope.json")
    (tmp_path / "README.md").write_text("notes", encoding="utf-8")
    (result,) = list(iter_trials(tmp_path))
    assert isinstance(result, InputError) and result.source == str(tmp_path) and "no trial files" in result.message


def test_directory_yields_good_and_bad(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", json.dumps(minimal_study()).encode())
    _write(tmp_path / "b.json", b'{"protocolSection": {"designModule": {"phases": 3}}}')
    _write(tmp_path / "c.txt", SEED_PAGE.read_bytes())
    _write(tmp_path / "notes.md", b"ignored")
    results = list(iter_trials(tmp_path))
    assert [type(r).__name__ for r in results] == ["TrialRecord", "InputError", "TrialRecord"]
    assert isinstance(results[1], InputError) and results[1].source == str(tmp_path / "b.json")


def test_load_trial_wants_exactly_one(tmp_path: Path) -> None:
    page = json.dumps({"studies": [minimal_study(), minimal_study()]})
    with pytest.raises(InputError, match="holds 2 trial records"):
        load_trial(page)
    with pytest.raises(InputError, match="holds 0 trial records"):
        load_trial('{"studies": []}')
    with pytest.raises(InputError, match="empty"):
        load_trial("   ")


def test_text_that_is_not_a_record() -> None:
    with pytest.raises(InputError, match="no such file") as caught:
        load_trial("missing-file.json")
    assert caught.value.source == "missing-file.json"
    with pytest.raises(InputError, match="unrecognised"):
        load_trial("some words that are no record")
