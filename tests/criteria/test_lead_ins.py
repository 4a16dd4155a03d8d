"""Sub-items read with the line that introduces them (``criteria/lead_ins.py``)."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.compile import compile_text
from fhir_adapter.criteria.lead_ins import alternatives_count


@pytest.mark.parametrize(
    ("lead_in", "count"),
    [
        ("At least one of the following:", 1),
        ("Patients must have any of the following risk factors:", 1),
        ("Meet at least 3 of 5 ATP III criteria:", 3),
        ("Two or more of the following:", 2),
        ("All of the following:", None),
        ("Adequate organ function defined as:", None),
    ],
)
def test_alternatives_count(lead_in: str, count: int | None) -> None:
    assert alternatives_count(lead_in) == count


def test_one_of_the_following_among_the_inclusions_is_an_any_of_group() -> None:
    """Before, "At least one of the following:" required every sub-item."""
    text = "Inclusion Criteria:\n* At least one of the following:\n  * Diabetes\n  * Hypertension\n  * Obesity\n"
    subs = [a for a in compile_text(text).atoms if a.id.startswith("inc-1.")]
    assert [(a.concept_key, a.computable, a.any_of) for a in subs] == [
        ("condition.diabetes", True, "inc-1-any"),
        ("condition.hypertension", True, "inc-1-any"),
        ("condition.obesity", True, "inc-1-any"),
    ]


def test_at_least_three_of_five_is_not_counted() -> None:
    """Chia NCT03355469 "Meet at least 3 of 5 ATP III criteria": each criterion alone was required."""
    text = "Inclusion Criteria:\n* Meet at least 3 of 5 ATP III criteria:\n  * Diabetes\n  * Obesity\n"
    subs = [a for a in compile_text(text).atoms if a.id.startswith("inc-1.")]
    assert subs and not any(a.computable for a in subs)
    assert subs[0].reason == "one of the alternatives of criterion inc-1 (at least 3 to meet): not counted"


def test_any_of_the_following_among_the_exclusions_excludes_each() -> None:
    text = "Exclusion Criteria:\n* Any of the following within 6 months:\n  * Stroke\n  * Myocardial infarction\n"
    subs = [a for a in compile_text(text).atoms if a.id.startswith("exc-1.")]
    assert [(a.computable, a.any_of, a.within_days) for a in subs] == [(True, None, 180), (True, None, 180)]


def test_an_item_that_is_only_or_joins_its_neighbours() -> None:
    """Corpus NCT00709761: "* Serum creatinine ≤1.5 mg/dL / * OR - / * Calculated creatinine clearance ≥40 mL/min"
    required both."""
    text = (
        "Inclusion Criteria:\n* Serum creatinine ≤1.5 mg/dL\n* OR -\n* Calculated creatinine clearance ≥40 mL/min\n"
        "* Hemoglobin >= 9 g/dL\n"
    )
    atoms = {a.concept_key: a for a in compile_text(text).atoms if a.computable}
    assert atoms["lab.creatinine"].any_of == atoms["lab.creatinine-clearance"].any_of == "inc-2-any"
    assert atoms["lab.hemoglobin"].any_of is None


def test_an_and_in_brackets_does_not_break_an_or() -> None:
    """Corpus NCT03518606 "Measured Creatinine clearance (Cockcroft and Gault) ≥40 mL/min OR creatinine ≤1.5 times
    ULN" required both."""
    text = "Inclusion Criteria:\n* Creatinine clearance (Cockcroft and Gault) ≥40 mL/min OR creatinine ≤1.5 times ULN\n"
    groups = {a.any_of for a in compile_text(text).atoms}
    assert len(groups) == 1 and None not in groups
