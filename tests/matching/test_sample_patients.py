"""The project-authored sample patients (samples/patients/, made by scripts/make_sample_patients.py)
against the seed trial NCT06577194, compiled by the criteria compiler.

Expectations are keyed by criterion *tag* (kind + a regex on the atom's source text, samples/patients/tags.json)
and mapped to the compiler's atoms here. Per tag: an exclusion tag is ``met`` when any of its computable atoms is
met; an inclusion tag is ``not-met`` when any is not-met, ``unknown`` when any is unknown (and none not-met),
``met`` when all are met. Tags whose atoms the compiler leaves non-computable are reported, not asserted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from seed_trial import seed_atoms

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching import AtomResult, LocalData, Matcher

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "patients"
TAGS: dict[str, dict[str, str]] = json.loads((SAMPLES / "tags.json").read_text())
EXPECTED = {p.stem: json.loads(p.read_text()) for p in sorted((SAMPLES / "expected").glob("*.json"))}


@cache
def data() -> LocalData:
    return LocalData(SAMPLES / "data")


def tag_atoms(tag: str, atoms: list[Atom]) -> list[Atom]:
    spec = TAGS[tag]
    found = [a for a in atoms if a.kind == spec["kind"]]
    if "id" in spec:
        return [a for a in found if a.id == spec["id"]]
    return [a for a in found if re.search(spec["text"], a.text)]


def aggregate(kind: str, results: list[AtomResult]) -> str | None:
    outcomes = [r.result for r in results if r.result != "review"]
    if not outcomes:
        return None
    if kind == "exclusion":
        return "met" if "met" in outcomes else ("unknown" if "unknown" in outcomes else "not-met")
    if "not-met" in outcomes:
        return "not-met"
    return "unknown" if "unknown" in outcomes else "met"


def test_generator_is_reproducible(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample_patients.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for path in sorted((SAMPLES / "data").glob("*.ndjson")) + sorted((SAMPLES / "expected").glob("*.json")):
        assert (tmp_path / path.parent.name / path.name).read_text() == path.read_text(), path.name


def test_every_sample_patient_is_loaded() -> None:
    assert sorted(data().patient_ids()) == sorted(EXPECTED)


@pytest.mark.parametrize("patient_id", sorted(EXPECTED))
def test_sample_patient(patient_id: str) -> None:
    expected: dict[str, Any] = EXPECTED[patient_id]
    atoms = seed_atoms()
    result = Matcher(atoms, as_of=date.fromisoformat(expected["as_of"])).evaluate(data(), patient_id)
    by_id = {r.id: r for r in result.criteria}
    not_computable: list[str] = []
    mismatches = []
    for tag, want in expected["criteria"].items():
        matched = tag_atoms(tag, atoms)
        got = aggregate(TAGS[tag]["kind"], [by_id[a.id] for a in matched])
        if got is None:
            not_computable.append(tag)
            continue
        if got != want:
            details = "; ".join(f"{a.id}={by_id[a.id].result} ({by_id[a.id].reason})" for a in matched)
            mismatches.append(f"{tag}: expected {want}, got {got}: {details}")
    assert not mismatches, "\n".join(mismatches)
    if not set(expected["decisive"]) & set(not_computable):
        assert result.verdict == expected["verdict"], result.reason
    assert result.reason_code == expected["reason_code"], result.reason
    if expected["reason_code"] == "not-a-candidate":
        assert result.reason.startswith("not a candidate: no record of adenocarcinoma of rectum")
    elif expected["verdict"] == "ineligible" and expected["decisive"]:
        assert result.reason.startswith("ineligible: ")
    if expected["verdict"] == "needs-review":
        assert result.open_items and result.reason == "needs-review: needs " + ", ".join(result.open_items)
    if patient_id == "smp-deceased":
        assert result.reason.startswith("ineligible: deceased on 2024-12-12")
