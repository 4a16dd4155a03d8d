"""Examples after a class or a vaccine word (``criteria/examples.py``)."""

from __future__ import annotations

from fhir_adapter.criteria.compile import compile_text
from fhir_adapter.criteria.examples import EXAMPLE_REASON, VACCINE_REASON


def _atoms(text: str) -> dict[str, tuple[bool, str | None]]:
    return {a.concept_key or a.text: (a.computable, a.reason) for a in compile_text(text).atoms}


def test_diseases_listed_after_a_vaccine_word_name_the_vaccines() -> None:
    """Corpus NCT03761914: "a live vaccine ... (e.g., measles, mumps, rubella, ... yellow fever, rabies, BCG, and
    typhoid vaccine)" excluded every patient with a measles, mumps or rabies diagnosis in the record."""
    text = (
        "Exclusion Criteria:\n* Received a live vaccine within 30 days prior to the first dose (e.g., measles, mumps, "
        "rubella, varicella/zoster, yellow fever, rabies, BCG, and typhoid vaccine)\n"
        "* Vaccination with live attenuated vaccines such as measles, chickenpox within 4 weeks\n"
    )
    atoms = _atoms(text)
    assert atoms["medication.live-vaccines"] == (True, None)
    for disease in ("measles", "mumps", "rubella", "chickenpox", "yellow-fever", "rabies"):
        assert atoms[f"condition.{disease}"] == (False, VACCINE_REASON)


def test_a_finding_after_a_closed_vaccine_parenthesis_or_a_new_sentence_stays_the_finding() -> None:
    text = (
        "Exclusion Criteria:\n* Vaccinated within 4 weeks (live vaccine) or active hepatitis B infection\n"
        "* No vaccination in the last month. Active tuberculosis\n"
    )
    atoms = _atoms(text)
    assert atoms["condition.hepatitis-b"] == (True, None)
    assert atoms["condition.tuberculosis"] == (True, None)


def test_an_example_of_a_class_in_an_inclusion_is_no_requirement() -> None:
    text = "Inclusion Criteria:\n* A chronic disease such as diabetes or hypertension\n"
    atoms = _atoms(text)
    assert atoms["condition.diabetes"] == (False, EXAMPLE_REASON)
    assert atoms["condition.hypertension"] == (False, EXAMPLE_REASON)
