"""A route written before a drug (``criteria/routes.py``)."""

from __future__ import annotations

from fhir_adapter.criteria.compile import compile_text
from fhir_adapter.criteria.model import Atom


def _by_key(text: str, key: str) -> Atom:
    return next(a for a in compile_text(text).atoms if a.concept_key == key)


def test_a_route_before_a_drug_narrows_it_to_that_route() -> None:
    """Chia NCT02632760 "IV iron in the previous 4 weeks" excluded patients on oral iron; NCT02348918's
    intravitreal anti-VEGF injection excluded patients on systemic bevacizumab."""
    iron = _by_key("Exclusion Criteria:\n* IV iron in the previous 4 weeks\n", "medication.iron-preparations")
    assert iron.computable and iron.within_days == 28
    assert [(r.text, r.effect, r.reason) for r in iron.residues] == [
        ("IV", "narrows", "a route that the drug's codes do not name")
    ]
    parenteral = _by_key("Exclusion Criteria:\n* Parenteral iron within 4 weeks\n", "medication.iron-preparations")
    assert [r.text for r in parenteral.residues] == ["Parenteral"]


def test_a_systemic_route_of_a_systemic_class_adds_nothing_and_a_local_one_is_left_for_review() -> None:
    """ "oral or IV antibiotics" are the systemic antibacterials; Chia NCT02877485 "Intranasal steroid use" was read as
    systemic corticosteroids, which never count a nasal spray."""
    antibiotics = _by_key("Exclusion Criteria:\n* oral or IV antibiotics within 14 days\n", "medication.antibiotics")
    assert antibiotics.computable and antibiotics.residues == []
    nasal = _by_key(
        "Exclusion Criteria:\n* Intranasal steroid use within the last three months\n",
        "medication.systemic-corticosteroids",
    )
    assert not nasal.computable
    assert nasal.reason == "'intranasal': a local use of a class counted for systemic use only"
    inhaled = _by_key("Exclusion Criteria:\n* Inhaled corticosteroids\n", "medication.inhaled-corticosteroids")
    assert inhaled.computable and inhaled.residues == []
