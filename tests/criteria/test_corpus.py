"""Fuzzing and the 81 real ClinicalTrials.gov records (skipped when the shared data is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import FakeLexicon, FakeUnits
from fhirpathpy import compile as fp_compile
from fhirpathpy import evaluate
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_adapter.criteria import compile_text
from fhir_adapter.criteria.compile import compile_text as compile_with

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ctgov"
ALPHABET = st.sampled_from(
    [
        *"abcXYZ019 .,;:-*•()\\^/%×≥≤<>=\r\n\t",
        *["ULN", "and", "or", "no ", "HIV", "ANC", "10^9/L", "Exclusion Criteria:", "within 4 weeks", "ECOG"],
        *[" x ", "non-", "except "],
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_any_text_compiles_and_atom_texts_are_substrings(text: str) -> None:
    compiled = compile_with(text, lexicon=FakeLexicon(), units=FakeUnits())
    for atom in compiled.atoms:
        assert atom.text in text
        assert atom.computable == (atom.reason is None)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode(text: str) -> None:
    for atom in compile_with(text, lexicon=FakeLexicon(), units=FakeUnits()).atoms:
        assert atom.text in text


def _records() -> list[tuple[str, str]]:
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.glob("*.json")):
        study = json.loads(path.read_text(encoding="utf-8"))
        text = study.get("protocolSection", {}).get("eligibilityModule", {}).get("eligibilityCriteria")
        if text:
            found.append((path.stem, text))
    return found


RECORDS = _records()


@pytest.mark.skipif(not RECORDS, reason="shared corpus not available")
@pytest.mark.parametrize("lexicon", ["fake", "real"])
def test_corpus(lexicon: str) -> None:
    compiled_fhirpaths: set[str] = set()
    model = models["r4"]
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    for nct, text in RECORDS:
        compiled = (
            compile_with(text, trial_id=nct, lexicon=FakeLexicon(), units=FakeUnits())
            if lexicon == "fake"
            else compile_text(text, trial_id=nct)
        )
        assert compiled.atoms, nct
        for atom in compiled.atoms:
            assert atom.text in text, (nct, atom.id)
            if atom.computable:
                assert atom.fhir_query and atom.fhirpath, (nct, atom.id)
                assert "{{%patient.id}}" in atom.fhir_query
                if atom.fhirpath not in compiled_fhirpaths:
                    fp_compile(atom.fhirpath, model)
                    evaluate(empty, atom.fhirpath, {}, model)
                    compiled_fhirpaths.add(atom.fhirpath)
            else:
                assert atom.reason, (nct, atom.id)
