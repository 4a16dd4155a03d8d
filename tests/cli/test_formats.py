"""``--format json`` and ``--format ndjson`` of every command that prints JSON, for one and for two inputs.

json: inspect, criteria and convert print one object for one file input, a list for a directory or several
inputs; match and screen always print the one screening contract object. ndjson: one object per line, a trial
(inspect, criteria, convert) or a patient (match, screen; each line carries the trial and the date).
stdout carries only that output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from . import run_cli

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "samples" / "NCT06577194.txt"
TWO = [ROOT / "samples" / "ctgov" / "NCT00109785.json", ROOT / "samples" / "ctgov" / "NCT00184067.json"]
DATA = ROOT / "samples" / "patients" / "data"
AS_OF = ["--as-of", "2025-01-01"]


def lines(out: str) -> list[Any]:
    assert out.endswith("\n")
    return [json.loads(line) for line in out.splitlines()]


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    return out


@pytest.mark.parametrize(("command", "key"), [("inspect", "nct_id"), ("criteria", "trial")])
def test_trial_commands_json_is_one_object_for_one_file_and_a_list_otherwise(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, key: str
) -> None:
    one = json.loads(ok(capsys, command, str(TWO[0]), "--format", "json"))
    assert isinstance(one, dict) and one[key] == "NCT00109785"
    two = json.loads(ok(capsys, command, *map(str, TWO), "--format", "json"))
    assert [d[key] for d in two] == ["NCT00109785", "NCT00184067"]
    folder = tmp_path / "trials"
    folder.mkdir()
    shutil.copy(TWO[0], folder)
    in_a_folder = json.loads(ok(capsys, command, str(folder), "--format", "json"))
    assert isinstance(in_a_folder, list) and [d[key] for d in in_a_folder] == ["NCT00109785"]


@pytest.mark.parametrize(("command", "key"), [("inspect", "nct_id"), ("criteria", "trial")])
def test_trial_commands_ndjson_is_one_trial_a_line(
    capsys: pytest.CaptureFixture[str], command: str, key: str
) -> None:
    one = ok(capsys, command, str(TWO[0]), "--format", "ndjson")
    assert [d[key] for d in lines(one)] == ["NCT00109785"] and one.count("\n") == 1
    two = ok(capsys, command, *map(str, TWO), "--format", "NDJSON")
    assert [d[key] for d in lines(two)] == ["NCT00109785", "NCT00184067"]
    as_list = json.loads(ok(capsys, command, *map(str, TWO), "--format", "json"))
    assert lines(two) == as_list


def test_criteria_summary_ndjson_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    summary = lines(ok(capsys, "criteria", *map(str, TWO), "--summary", "--format", "ndjson"))
    assert len(summary) == 1 and summary[0] == json.loads(ok(capsys, "criteria", *map(str, TWO), "--summary",
                                                              "--format", "json"))


def test_convert_ndjson_is_one_bundle_a_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    one = lines(ok(capsys, "convert", str(SEED), "--format", "ndjson"))
    assert [b["resourceType"] for b in one] == ["Bundle"]
    assert one[0] == json.loads(ok(capsys, "convert", str(SEED)))  # the same Bundle as --format json
    code, out, err = run_cli(capsys, "convert", *map(str, TWO), "--format", "ndjson")
    assert code == 0 and err == ""
    two = lines(out)
    assert [b["type"] for b in two] == ["transaction", "transaction"]
    target = tmp_path / "bundles.ndjson"
    code, out, err = run_cli(capsys, "convert", *map(str, TWO), "--format", "ndjson", "-o", str(target))
    assert (code, out, err) == (0, "", f"2 Bundle(s) written to {target}\n")
    assert lines(target.read_text(encoding="utf-8")) == two


def test_convert_ndjson_goes_on_after_a_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    code, out, err = run_cli(capsys, "convert", str(bad), str(TWO[0]), "--format", "ndjson")
    assert code == 1 and len(lines(out)) == 1
    assert err.startswith(f"error: {bad}")
    code, out, _ = run_cli(capsys, "convert", str(bad), "--format", "ndjson")
    assert (code, out) == (2, "")


def test_convert_ndjson_wants_a_file_not_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "convert", str(SEED), "--format", "ndjson", "-o", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == "error: --output: --format ndjson writes one stream: give -o FILE, or no -o for stdout\n"


@pytest.mark.parametrize("patients", [["smp-eligible"], ["smp-eligible", "Patient/smp-pregnant"]])
def test_match_json_is_one_contract_and_ndjson_a_patient_a_line(
    capsys: pytest.CaptureFixture[str], patients: list[str]
) -> None:
    given = [arg for p in patients for arg in ("--patient", p)]
    contract = json.loads(ok(capsys, "match", str(SEED), "--data", str(DATA), *given, *AS_OF, "--format", "json"))
    assert (contract["trial"], contract["as_of"]) == ("NCT06577194", "2025-01-01")
    expected = [p if p.startswith("Patient/") else f"Patient/{p}" for p in patients]
    assert [p["patient"] for p in contract["patients"]] == expected
    code, out, err = run_cli(capsys, "match", str(SEED), "--data", str(DATA), *given, *AS_OF, "--format", "ndjson")
    assert code == 0, err
    assert lines(out) == [{"trial": "NCT06577194", "as_of": "2025-01-01", **p} for p in contract["patients"]]


def test_match_checks_every_patient_before_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "match", str(SEED), "--data", str(DATA), "--patient", "smp-eligible",
                             "--patient", "nobody", *AS_OF, "--format", "ndjson")
    assert (code, out, err) == (2, "", "error: Patient/nobody: no such patient in the data source\n")


def test_screen_json_is_one_contract_and_ndjson_a_patient_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    contract = json.loads(ok(capsys, "screen", str(SEED), "--data", str(DATA), *AS_OF, "--format", "json"))
    code, out, err = run_cli(capsys, "screen", str(SEED), "--data", str(DATA), *AS_OF, "--format", "ndjson")
    assert code == 0 and "25 patients considered" in err
    assert lines(out) == [{"trial": "NCT06577194", "as_of": "2025-01-01", **p} for p in contract["patients"]]
    assert len(lines(out)) == 25


def test_screen_ndjson_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "screen.ndjson"
    code, out, err = run_cli(capsys, "screen", str(SEED), "--data", str(DATA), *AS_OF, "--format", "ndjson",
                             "-o", str(target))
    assert (code, out) == (0, "") and f"report written to {target}" in err
    assert all(line["trial"] == "NCT06577194" for line in lines(target.read_text(encoding="utf-8")))
