"""Precision regressions from the corpus audit: patterns whose computable meaning differed from the text."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria import compile_text
from fhir_adapter.criteria.model import Atom
from fhir_adapter.terminology import lexicon


def _atoms(text: str) -> list[Atom]:
    return compile_text(text).atoms


def _one(text: str, key: str) -> Atom:
    return next(a for a in _atoms(text) if a.concept_key == key)


def test_slash_equal_comparators_are_not_eq() -> None:
    atom = _one("Inclusion Criteria:\n- Serum creatinine </= 2.0 mg/dL\n", "lab.creatinine")
    assert atom.computable and atom.comparator == "le" and atom.value == 2.0
    atom = _one("Inclusion Criteria:\n- Absolute neutrophil count >/= 1.5 x 10^9/L\n", "lab.neutrophils")
    assert atom.comparator == "ge"
    atom = _one("Inclusion Criteria:\n- ECOG performance status of < or = 2\n", "performance.ecog")
    assert atom.comparator == "le" and atom.value == 2.0


def test_implausible_converted_value_is_left_for_review() -> None:
    atom = _one("Inclusion Criteria:\n- Hemoglobin greater than or equal to 10 mg/dL\n", "lab.hemoglobin")
    assert not atom.computable and "implausible" in (atom.reason or "")


def test_lab_threshold_with_condition_elsewhere_in_item() -> None:
    """The main threshold stays computable; the cohort-specific one is a residue that widens it."""
    text = (
        "Inclusion Criteria:\n- AST and ALT <= 2.5 x ULN except for: Patients with hepatic metastases: ALT <= 5 x ULN\n"
    )
    main = [a for a in _atoms(text) if a.category == "lab" and a.uln_multiple == 2.5]
    assert main and all(a.computable and a.residues for a in main)
    assert all(r.effect == "widens" for a in main for r in a.residues)
    text = "Inclusion Criteria:\n- Patients with Gilbert's disease: serum bilirubin < 5 mg/dL\n"
    atom = _one(text, "lab.total-bilirubin")
    assert not atom.computable and "applies only to some patients" in (atom.reason or "")


def test_negated_lab_threshold() -> None:
    atom = _one("Inclusion Criteria:\n- Alkaline phosphatase may not be > the ULN\n", "lab.alkaline-phosphatase")
    assert not atom.computable and "negated" in (atom.reason or "")


def test_drug_hypersensitivity_is_an_allergy_not_drug_use() -> None:
    atom = _one("Exclusion Criteria:\n- Known hypersensitivity against oxaliplatin\n", "medication.oxaliplatin")
    assert atom.computable and atom.category == "allergy"
    assert atom.resource_types == ["AllergyIntolerance"] and atom.fhir_query
    assert atom.fhir_query.startswith("AllergyIntolerance?")
    # the study drug named: an allergy to it
    named = _one(
        "Exclusion Criteria:\n- Known hypersensitivity to the study drug oxaliplatin\n", "medication.oxaliplatin"
    )
    assert named.computable and named.category == "allergy"
    # the study drug unnamed: left for review when the text alone is compiled (no registry interventions)
    unnamed = _atoms("Exclusion Criteria:\n- Known hypersensitivity to the study drug or any of its excipients\n")
    assert [a.reason for a in unnamed] == ["drug allergy to trial drugs is not coded"]


def test_future_plans_are_not_pregnancy() -> None:
    text = "Exclusion Criteria:\n- Women who are planning a pregnancy within the next six months\n"
    assert not _one(text, "condition.pregnancy").computable


def test_permission_in_item_is_a_residue() -> None:
    text = "Exclusion Criteria:\n- Patients with active CNS metastases. Patients with stable CNS disease are eligible\n"
    found = [a for a in _atoms(text) if a.computable]
    assert found and all(any(r.effect == "narrows" and "eligible" in r.text for r in a.residues) for a in found)


def test_unhandled_exception_is_a_residue() -> None:
    text = "Exclusion Criteria:\n- Previous malignancies, excluding curatively treated in-situ cervical cancer\n"
    atom = next(a for a in _atoms(text) if a.concept_key == "condition.malignancy")
    assert atom.computable
    assert [r.effect for r in atom.residues] == ["narrows"] and atom.residues[0].text.startswith("excluding")


def test_conditional_presence() -> None:
    text = "Inclusion Criteria:\n- If a patient is on corticosteroids, the dose must be stable\n"
    atom = _one(text, "medication.systemic-corticosteroids")
    assert not atom.computable and "conditional" in (atom.reason or "")


def test_minimum_elapsed_time_is_not_a_window() -> None:
    text = "Exclusion Criteria:\n- Prior malignancy; disease-free for at least 5 years required\n"
    atom = _one(text, "condition.malignancy")
    assert not atom.computable


def test_negative_blood_test_is_absence() -> None:
    atom = _one("Inclusion Criteria:\n- Negative blood tests for HIV\n", "condition.hiv")
    assert atom.negated and atom.comparator == "absent"


def test_recovered_from_prior_therapy_does_not_require_it() -> None:
    text = "Inclusion Criteria:\n- Patients must be recovered from effects of any prior chemotherapy\n"
    assert not _one(text, "medication.antineoplastic-agents").computable


def test_receptor_status_cancer_is_not_any_malignancy() -> None:
    text = "Exclusion Criteria:\n- HER-2 positive breast cancer\n"
    atoms = compile_text(text).atoms
    assert atoms and not any(a.concept_key == "condition.malignancy" and a.computable for a in atoms)


@pytest.mark.parametrize(
    "text",
    [
        "Exclusion Criteria:\n* History of prostate cancer",
        "Inclusion Criteria:\n* Histologically confirmed breast cancer",
        "Exclusion Criteria:\n* Clinical N3c breast cancer",
    ],
)
def test_a_site_specific_cancer_is_not_any_malignancy(text: str) -> None:
    """The site-specific cancer is its own concept (coded with its own ICD-10-CM category), never "any
    malignancy"."""
    atom = compile_text(text).atoms[0]
    assert atom.concept_key != "condition.malignancy"
    expected = "prostate" if "prostate" in text else "breast"
    assert atom.concept_key and expected in atom.concept_key
    prefixes = {p.prefix for p in lexicon().get(atom.concept_key).code_prefixes}
    assert {"C61", "C50"} & prefixes


@pytest.mark.parametrize(
    "text", ["Exclusion Criteria:\n* Other active malignancy", "Exclusion Criteria:\n* Any prior cancer"]
)
def test_generic_cancer_wording_still_means_any_malignancy(text: str) -> None:
    atom = compile_text(text).atoms[0]
    assert atom.concept_key == "condition.malignancy" and atom.computable


def test_organ_words_share_the_noun_of_a_list() -> None:
    """ "heart, liver or kidney disease": each organ word names its own disease, not only the last one."""
    atoms = _atoms("Exclusion Criteria:\n- A diagnosis of severe heart, liver, kidney or hematologic disease\n")
    keys = [a.concept_key for a in atoms if a.computable]
    assert keys == [
        "condition.heart-disease",
        "condition.liver-disease",
        "condition.kidney-disease",
        "condition.hematopoietic-system-disease",
    ]
    liver = _one("Exclusion Criteria:\n- Hepatic or renal dysfunction\n", "condition.liver-disease")
    assert liver.computable and liver.comparator == "present" and liver.text == "Hepatic or renal dysfunction"
    # a word outside the organ list qualifies the whole phrase: no "metabolic disease" atom
    atoms = _atoms("Exclusion Criteria:\n- History of connective, metabolic or atrophic skin disease\n")
    assert [a.concept_key for a in atoms] == ["condition.skin-disease"]


def test_examples_of_a_class_are_not_inclusion_requirements() -> None:
    """ "malignant lesions (e.g. invasive ductal carcinoma)": the class is required, not the example."""
    atom = _one(
        "Inclusion Criteria:\n- Patients with malignant (eg. invasive ductal carcinoma) lesions\n",
        "condition.invasive-ductal-carcinoma",
    )
    assert not atom.computable and "example" in (atom.reason or "")
    text = "Inclusion Criteria:\n- Breast cancer (e.g. invasive ductal carcinoma) and hypertension\n"
    assert _one(text, "condition.breast-cancer").computable
    assert not _one(text, "condition.invasive-ductal-carcinoma").computable
    assert _one(text, "condition.hypertension").computable  # after the ")": not in the example list
    # in an exclusion each example is excluded
    atom = _one("Exclusion Criteria:\n- Serious illness such as heart failure\n", "condition.heart-failure")
    assert atom.computable and atom.comparator == "present"
    # a negated inclusion forbids each example
    atom = _one("Inclusion Criteria:\n- No prior therapy such as chemotherapy\n", "medication.antineoplastic-agents")
    assert atom.computable and atom.comparator == "absent"


def test_free_from_is_a_negation() -> None:
    atom = _one("Inclusion Criteria:\n- Free from diabetes\n", "condition.diabetes")
    assert atom.computable and atom.comparator == "absent"
