"""The ``criteria`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import run_cli

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "samples" / "NCT06577194.txt"
CORPUS = ROOT.parent / "shared" / "data" / "ctgov"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


@pytest.mark.skipif(not SEED.exists(), reason="seed sample missing")
def test_json_is_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "criteria", str(SEED), "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["trial"] == "NCT06577194"
    assert set(document) == {"trial", "criteria"}
    ids = [a["id"] for a in document["criteria"]]
    assert ids[0] == "age" and "inc-3a" in ids and "exc-11" in ids
    assert set(document["criteria"][0]) == {
        "id",
        "kind",
        "text",
        "category",
        "computable",
        "reason",
        "concepts",
        "comparator",
        "value",
        "high",
        "unit",
        "uln_multiple",
        "lln_multiple",
        "within_days",
        "fhir_query",
        "fhirpath",
    }


@pytest.mark.skipif(not SEED.exists(), reason="seed sample missing")
def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "criteria", str(SEED))
    assert code == 0 and "inc-3a" in out and "NCT06577194" in out
    flat = " ".join(out.split())
    header = next(line for line in out.splitlines() if "threshold" in line)
    assert all(column in header for column in ("text", "reason"))
    assert "≥ 1.5 × 10⁹/L" in flat and "between 18–75 years" in flat and " ge " not in flat  # words for people
    # a criterion left for review shows its text, not only the reason
    row = next(line for line in out.splitlines() if line.startswith("│ exc-11 "))
    assert "Known or suspected" in row and "drug allergy to trial" in row


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_summary_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "criteria", str(CORPUS), "--summary", "--format", "json")
    assert code == 0
    summary = json.loads(out)
    assert summary["trials"] == 81
    assert summary["atoms"] == sum(c["atoms"] for c in summary["by_category"].values())
    assert summary["top_reasons"]


def test_bad_input_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = _run(capsys, "criteria", str(bad), "--format", "json")
    assert code != 0
    assert "broken.json" in err


@pytest.mark.skipif(not SEED.exists(), reason="seed sample missing")
def test_forced_input_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "criteria", str(SEED), "--input-format", "registry-page", "--format", "json")
    assert code == 0 and json.loads(out)["trial"] == "NCT06577194"
    code, _out, err = _run(capsys, "criteria", str(SEED), "--input-format", "ctgov-xml")
    assert code != 0 and "XML" in err
