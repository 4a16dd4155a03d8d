"""A drug named as the object of an allergy or intolerance (``criteria/allergies.py``) and the allergy words in a
finding's own name."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.compile import compile_text
from fhir_adapter.criteria.model import Atom


def _by_key(text: str, key: str) -> Atom:
    return next(a for a in compile_text(text).atoms if a.concept_key == key)


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("Hypersensitivity to penicillin", "medication.penicillins"),
        # Chia NCT03027115, NCT03589105, NCT00959569: each was read as use of the drug
        ("Intolerability of tamsulosin", "medication.tamsulosin"),
        ("Gadolinium intolerance", "medication.gadolinium"),
        ("previous unusual response to esmolol", "medication.esmolol"),
        ("Patients intolerant of aspirin", "medication.aspirin"),
        # Chia NCT03381755 and NCT02552459: the allergy word after the list the drug opens
        ("Aspirin, ticagrelor or clopidogrel allergies", "medication.ticagrelor"),
        ("known for dexmedetomidine or other drugs allergy in this study", "medication.dexmedetomidine"),
    ],
)
def test_an_allergy_or_intolerance_to_a_drug_is_an_allergy_atom(item: str, key: str) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert (atom.computable, atom.category) == (True, "allergy")
    assert atom.fhir_query is not None and atom.fhir_query.startswith("AllergyIntolerance?")


def test_use_of_the_drug_stays_use() -> None:
    atom = _by_key("Exclusion Criteria:\n* Previous treatment with metformin\n", "medication.metformin")
    assert (atom.computable, atom.category) == (True, "medication")


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("lactose intolerance", "condition.lactose-intolerance"),
        ("hypersensitivity pneumonitis", "condition.extrinsic-allergic-alveolitis"),
        ("latex allergy", "condition.latex-allergy"),
    ],
)
def test_allergy_words_in_a_findings_own_name_do_not_make_it_a_drug_allergy(item: str, key: str) -> None:
    """Chia NCT03407625 "latex allergy", NCT02242188 "food allergy" were left for review as drug allergies."""
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert (atom.computable, atom.category, atom.reason) == (True, "condition", None)


def test_a_treatment_the_patient_cannot_tolerate_is_not_its_use() -> None:
    """Corpus NCT04147728 "can't tolerate SRS" excluded every patient ever irradiated."""
    atom = _by_key("Exclusion Criteria:\n* Patients who still can't tolerate SRS\n", "procedure.radiotherapy")
    assert not atom.computable
    assert atom.reason is not None and atom.reason.startswith("'can't tolerate' before the treatment")


def test_contraindications_written_after_a_drug_are_not_its_use() -> None:
    """Chia NCT01932996 "other NRT contraindications" excluded every patient who ever used nicotine replacement."""
    atom = _by_key("Exclusion Criteria:\n* other NRT contraindications\n", "medication.smoking-cessation-drugs")
    assert not atom.computable
    assert atom.reason == "'contraindications' after the finding: the statement is about something else"


def test_a_drug_list_that_goes_on_to_something_else_is_used() -> None:
    atom = _by_key(
        "Exclusion Criteria:\n* progression after oxaliplatin-based chemotherapy, or else intolerance to sorafenib\n",
        "medication.oxaliplatin",
    )
    assert atom.category == "medication"
