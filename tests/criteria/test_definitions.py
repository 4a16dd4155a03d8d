"""A finding defined by a threshold is one atom, decided by the threshold; healthy volunteers make a finding
optional."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria import compile_text


def _atoms(text: str) -> list[tuple[str, str, bool, str | None, str | None, float | str | None, str]]:
    return [
        (a.id, a.category, a.computable, a.concept_key, a.comparator, a.value, a.text)
        for a in compile_text(text).atoms
    ]


@pytest.mark.parametrize(
    ("item", "concept", "comparator", "value", "starts"),
    [
        ("Severe anemia (hemoglobin < 8 g/dL)", "lab.hemoglobin", "lt", 8.0, "Severe anemia"),
        ("Moderate-severe CKD determined by eGFR < 60", "lab.egfr", "lt", 60.0, "Moderate-severe CKD"),
        ("Renal failure defined as creatinine clearance < 30 mL/min", "lab.creatinine-clearance", "lt", 30.0,
         "Renal failure"),
        ("severe renal impairment (creatinine clearance < 30 ml min)", "lab.creatinine-clearance", "lt", 30.0,
         "severe renal"),
    ],
)
def test_a_finding_defined_by_a_threshold_is_the_threshold(
    item: str, concept: str, comparator: str, value: float, starts: str
) -> None:
    [atom] = compile_text(f"Exclusion Criteria:\n* {item}").atoms
    assert (atom.category, atom.computable, atom.concept_key, atom.comparator, atom.value) == (
        "lab", True, concept, comparator, value
    )
    assert atom.text.startswith(starts)  # the finding's words stay in the atom's text
    if concept == "lab.creatinine-clearance":
        assert atom.unit == "mL/min"  # "ml min": the slash lost


def test_a_threshold_that_follows_another_finding_does_not_swallow_it() -> None:
    found = _atoms("Exclusion Criteria:\n* History of stroke, hemoglobin < 9 g/dL\n* Diabetes, hypertension")
    assert [(a[1], a[3]) for a in found] == [
        ("condition", "condition.stroke"), ("lab", "lab.hemoglobin"),
        ("condition", "condition.diabetes"), ("condition", "condition.hypertension"),
    ]
    assert all(a[2] for a in found)


def test_healthy_volunteers_make_a_required_finding_optional_but_not_a_required_absence() -> None:
    found = compile_text(
        "Inclusion Criteria:\n"
        "* Patients with a known or suspected malignancy and healthy volunteers 18 years of age and older\n"
        "* Healthy volunteers without diabetes"
    ).atoms
    malignancy = next(a for a in found if a.concept_key == "condition.malignancy")
    assert not malignancy.computable and "healthy volunteers" in (malignancy.reason or "")
    diabetes = next(a for a in found if a.concept_key == "condition.diabetes")
    assert diabetes.computable and diabetes.comparator == "absent"


def test_support_excluded_from_a_lab_value_needs_its_time_frame() -> None:
    atoms = compile_text(
        "Inclusion Criteria:\n"
        "* Hemoglobin >= 9 g/dL independent of transfusion or growth factor support\n"
        "* Platelets >= 100,000/mm3 (without transfusion within 14 days)\n"
        "* ANC >= 1.5 x 10^9/L without growth factor support within 7 days"
    ).atoms
    by_id = {a.id: a for a in atoms}
    # no time frame: "no transfusion ever" would exclude every patient once transfused
    assert (by_id["inc-1a"].computable, by_id["inc-1a"].concept_key) == (True, "lab.hemoglobin")
    for support in ("inc-1b", "inc-1c"):
        assert not by_id[support].computable
        assert by_id[support].reason == "support excluded from the lab value: its time frame is not stated"
    # a stated time frame: the support is an atom of its own, and the window is the support's, not the lab's
    transfusion = by_id["inc-2b"]
    assert (transfusion.computable, transfusion.comparator, transfusion.within_days) == (True, "absent", 14)
    assert by_id["inc-2a"].within_days is None and by_id["inc-3a"].within_days is None
    assert by_id["inc-3b"].within_days == 7


def test_a_concept_named_in_an_explanation_is_not_a_criterion() -> None:
    atoms = compile_text(
        "Exclusion Criteria:\n"
        "* Edema beyond trace edema, because this will impact iohexol equilibration and distribution\n"
        "* Patients on warfarin because of the risk of bleeding"
    ).atoms
    assert not any(a.concept_key == "medication.iohexol" and a.computable for a in atoms)
    warfarin = next(a for a in atoms if a.concept_key == "medication.warfarin")
    assert warfarin.computable  # the explanation comes after the concept: the criterion stands


def test_a_stage_or_biomarker_is_a_clause_to_confirm_not_a_refusal() -> None:
    """"Diagnosed Breast Cancer I-III stage": the diagnosis stays computable; the stage is to confirm."""
    [atom] = compile_text("Inclusion Criteria:\n* Diagnosed Breast Cancer I-III stage").atoms
    assert (atom.computable, atom.concept_key, atom.comparator) == (True, "condition.breast-cancer", "present")
    assert [r.effect for r in atom.residues] == ["narrows"]
    assert atom.residues[0].reason == "tumour stage and biomarker status are not coded in the lexicon"
