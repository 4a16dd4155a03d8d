from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_adapter.cli import main

REPO = Path(__file__).resolve().parents[2]
SEED_PAGE = REPO / "samples" / "NCT06577194.txt"
SAMPLE_XML = REPO / "samples" / "ctgov-xml" / "NCT02513394.xml"
SAMPLE_JSON_DIR = REPO / "samples" / "ctgov"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(args)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    code = caught.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_table_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["inspect", str(SEED_PAGE)], capsys)
    assert code == 0, err
    assert "NCT06577194" in out and "RECRUITING" in out and "PHASE2" in out and "18 Years to 75 Years" in out
    assert "Traceback" not in out + err


def test_json_single_and_many(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["inspect", "--format", "json", str(SAMPLE_XML)], capsys)
    assert code == 0
    assert json.loads(out)["acronym"] == "PALLAS"
    code, out, _ = run(["inspect", "--format", "json", str(SAMPLE_JSON_DIR)], capsys)
    assert code == 0
    records = json.loads(out)
    assert isinstance(records, list) and len(records) == len(list(SAMPLE_JSON_DIR.glob("*.json")))


def test_bad_files_reported_good_ones_processed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"protocolSection": {"designModule": {"enrollmentInfo": {"count": "x"}}}}', encoding="utf-8")
    empty = tmp_path / "empty.xml"
    empty.write_text("", encoding="utf-8")
    code, out, err = run(["inspect", "--format", "json", str(bad), str(SEED_PAGE), str(empty)], capsys)
    assert code == 2
    assert [r["nct_id"] for r in json.loads(out)] == ["NCT06577194"]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert any(str(bad) in line and "protocolSection.designModule.enrollmentInfo.count" in line for line in lines)
    assert any(str(empty) in line and "empty" in line for line in lines)
    assert "Traceback" not in out + err


def test_warnings_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"protocolSection": {"statusModule": {"overallStatus": "ON_HOLD"}}}), encoding="utf-8")
    code, _out, err = run(["inspect", str(odd)], capsys)
    assert code == 0
    assert "warning:" in err and "ON_HOLD" in err


def test_forced_input_format_and_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["inspect", "--input-format", "ctgov-xml", str(SEED_PAGE)], capsys)
    assert code == 2 and str(SEED_PAGE) in err and "malformed XML" in err
    code, _, err = run(["inspect", "--input-format", "csv", str(SEED_PAGE)], capsys)
    assert code == 2 and "--input-format must be one of" in err and "'csv'" in err
    code, _, err = run(["inspect", "--input-format", "CTGOV-XML", str(SEED_PAGE)], capsys)
    assert code == 2 and "malformed XML" in err  # choices are case-insensitive
