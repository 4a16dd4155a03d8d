"""Statements about something other than the concept they name (``criteria/about.py``)."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.compile import compile_text
from fhir_adapter.criteria.model import Atom


def _by_key(text: str, key: str) -> Atom:
    return next(a for a in compile_text(text).atoms if a.concept_key == key)


@pytest.mark.parametrize(
    ("item", "key", "marker"),
    [
        # Chia NCT01680081: only patients with a recorded diagnosis passed a trial of suspected disease
        ("Suspected coronary artery disease", "condition.coronary-artery-disease", "suspected"),
        ("Clinical suspicion of Morton neuroma", "condition.morton-neuroma", "clinical suspicion of"),
    ],
)
def test_an_inclusion_of_suspected_patients_is_not_a_diagnosis(item: str, key: str, marker: str) -> None:
    atom = _by_key(f"Inclusion Criteria:\n* {item}\n", key)
    assert not atom.computable
    assert atom.reason == f"'{marker}' before the finding: a suspicion is not a diagnosis"


def test_suspected_or_confirmed_is_the_diagnosis_widened_by_its_suspicion() -> None:
    atom = _by_key("Inclusion Criteria:\n* Patients with suspected or confirmed COVID-19\n", "condition.covid-19")
    assert atom.computable
    assert [(r.text, r.effect) for r in atom.residues] == [("suspected", "widens")]


def test_probable_is_a_diagnostic_grade_and_an_excluded_suspicion_still_excludes_the_diagnosis() -> None:
    assert _by_key("Inclusion Criteria:\n* probable Alzheimer's disease\n", "condition.alzheimers-disease").computable
    assert _by_key("Exclusion Criteria:\n* suspected pneumonia\n", "condition.pneumonia").computable


@pytest.mark.parametrize(
    ("item", "key"),
    [
        # Chia NCT03079141 and NCT03231982: a treatment to come excluded every patient who ever had it
        ("anticipated start of corticosteroid treatment", "medication.systemic-corticosteroids"),
        (
            "Needs for co-administration of non-study antihypertensive agents during the study",
            "medication.antihypertensives",
        ),
        ("likely to require chemotherapy during the study", "medication.antineoplastic-agents"),
    ],
)
def test_an_anticipated_treatment_is_a_plan(item: str, key: str) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert (atom.computable, atom.reason) == (False, "future plans are not coded")


def test_a_permitted_treatment_is_no_requirement() -> None:
    """Chia NCT01219907 "Patients can be receiving trastuzumab and/or hormonal therapy and/or bisphosphonates" made
    patients on none of them ineligible."""
    text = (
        "Inclusion Criteria:\n* Patients can be receiving trastuzumab and/or hormonal therapy and/or bisphosphonates\n"
    )
    atoms = compile_text(text).atoms
    assert [a.concept_key for a in atoms] == [
        "medication.trastuzumab",
        "medication.hormonal-therapy",
        "medication.bisphosphonates",
    ]
    for atom in atoms:
        assert not atom.computable
        assert atom.reason == (
            "'can be receiving' before the treatment: permitted, or a way to reach a value, not a requirement"
        )


def test_findings_said_not_to_be_exclusion_criteria_are_not_excluded() -> None:
    """Chia NCT02384850 "Uncontrolled active infection (Hepatitis B and C infection are NOT exclusion criteria)"."""
    text = (
        "Exclusion Criteria:\n* Uncontrolled active infection (Hepatitis B and C infection are NOT exclusion "
        "criteria)\n"
    )
    atoms = {a.concept_key: a for a in compile_text(text).atoms}
    assert atoms["condition.infection"].computable
    for key in ("condition.hepatitis-b", "condition.hepatitis-c"):
        assert not atoms[key].computable
        assert atoms[key].reason is not None and atoms[key].reason.startswith("a permission ('not exclusion criteria')")


def test_a_finding_and_its_negation_side_by_side_admit_everyone() -> None:
    """Chia NCT03511521 "Diabetic and nondiabetic patients" required a diabetes diagnosis."""
    for item in ("Diabetic and nondiabetic patients", "Non-smokers or smokers"):
        (atom, *_) = compile_text(f"Inclusion Criteria:\n* {item}\n").atoms
        assert not atom.computable
        assert atom.reason is not None and atom.reason.endswith(
            "patients with and without it are eligible, no criterion"
        )
    assert all(a.computable for a in compile_text("Inclusion Criteria:\n* Diabetes and hypertension\n").atoms)


@pytest.mark.parametrize(
    ("item", "key", "marker"),
    [
        # Chia NCT02863120 and NCT02627560: only patients who had the operation already passed
        ("Patients requiring a primary total knee replacement", "procedure.knee-replacement", "requiring"),
        ("women undergoing unilateral mastectomy", "procedure.mastectomy", "undergoing"),
    ],
)
def test_the_procedure_an_included_patient_is_to_have_is_no_past_one(item: str, key: str, marker: str) -> None:
    atom = _by_key(f"Inclusion Criteria:\n* {item}\n", key)
    assert not atom.computable
    assert atom.reason == f"'{marker}' before the procedure: the one the patient is to have, not a past one"


def test_an_ongoing_procedure_or_a_past_one_stays_computable() -> None:
    for item, key in (
        ("Patients undergoing hemodialysis", "procedure.hemodialysis"),
        ("requiring mechanical ventilation", "procedure.mechanical-ventilation"),
        ("Prior mastectomy", "procedure.mastectomy"),
    ):
        assert _by_key(f"Inclusion Criteria:\n* {item}\n", key).computable, item


def test_the_words_spelling_out_an_acronym_are_its_name() -> None:
    """Chia NCT03589105 "MELAS [mitochondrial myopathy, encephalopathy, lactic acidosis, stroke]" excluded every
    patient with a stroke or an encephalopathy."""
    text = "Exclusion Criteria:\n* MELAS [mitochondrial myopathy, encephalopathy, lactic acidosis, stroke]\n"
    for key in ("condition.mitochondrial-myopathy", "condition.brain-disease", "condition.stroke"):
        atom = _by_key(text, key)
        assert (atom.computable, atom.reason) == (
            False,
            "a word of the name that 'MELAS' abbreviates, not a criterion of its own",
        )
    assert _by_key("Exclusion Criteria:\n* History of CVA (stroke)\n", "condition.stroke").computable


def test_a_treatment_that_may_be_approved_is_allowed() -> None:
    """Corpus NCT03761914 "physiologic doses of corticosteroids may be approved" excluded any steroid ever."""
    text = (
        "Exclusion Criteria:\n* Systemic steroids within 7 days; physiologic doses of corticosteroids may be approved\n"
    )
    atoms = [a for a in compile_text(text).atoms if a.concept_key == "medication.systemic-corticosteroids"]
    assert [(a.computable, a.within_days) for a in atoms] == [(True, 7), (False, None)]
    assert atoms[1].reason is not None and atoms[1].reason.startswith("a permission ('may be approved')")


@pytest.mark.parametrize(
    ("text", "key", "word"),
    [
        (
            "Exclusion Criteria:\n* Previous pelvic surgery: vaginal mesh excision, and fistula repair\n",
            "fistula",
            "repair",
        ),
        (
            "Inclusion Criteria:\n* A dyspnea scale score of 2 or higher\n",
            "dyspnea",
            "scale",
        ),
        ("Inclusion Criteria:\n* Demonstrate a positive cough stress test\n", "cough", "stress test"),
    ],
)
def test_a_procedure_or_an_instrument_named_after_the_finding(text: str, key: str, word: str) -> None:
    """Chia NCT03099863 "fistula repair", NCT01313676 "Medical Research Council Dyspnea scale", NCT00676273 "cough
    stress test": a repair, a scale or a test of the finding is not the finding."""
    atom = _by_key(text, f"condition.{key}")
    assert not atom.computable
    assert atom.reason == f"'{word}' after the finding: the statement is about something else"


def test_an_instruments_full_name_names_no_concept() -> None:
    named = "Inclusion Criteria:\n* score 2 or higher on the modified Medical Research Council Dyspnea scale\n"
    assert [a.concept_key for a in compile_text(named).atoms if a.computable] == []


def test_a_needed_one_off_procedure_is_to_come_among_the_exclusions_too() -> None:
    """Chia NCT03208244 "Need for dual organ transplant" excluded every transplant recipient; "undergoing" among the
    exclusions is what the patient is having now."""
    text = "Exclusion Criteria:\n* Need for dual organ transplant\n* Patients undergoing hemodialysis\n"
    transplant = _by_key(text, "procedure.organ-transplant")
    assert transplant.reason == "'need for' before the procedure: the one the patient is to have, not a past one"
    assert _by_key(text, "procedure.hemodialysis").computable


@pytest.mark.parametrize(
    ("item", "key", "marker"),
    [
        # audit round 9: a candidacy for a treatment is no record of it
        ("Fulfills NIH criteria for bariatric surgery", "procedure.bariatric-surgery", "criteria for"),
        (
            "Patients in whom the preferred treatment is CABG(Coronary artery bypass grafting)",
            "procedure.cabg",
            "preferred treatment is",
        ),
        ("Not eligible for intensive chemotherapy", "medication.antineoplastic-agents", "not eligible for"),
    ],
)
def test_a_candidacy_for_a_treatment_is_not_its_record(item: str, key: str, marker: str) -> None:
    atom = _by_key(f"Inclusion Criteria:\n* {item}\n", key)
    assert not atom.computable and atom.reason is not None and atom.reason.startswith(f"'{marker}'")


def test_criteria_for_a_diagnosis_are_the_diagnosis() -> None:
    """Only before a treatment: "meets criteria for" a disorder states the disorder."""
    atom = _by_key(
        "Inclusion Criteria:\n* Meets DSM-5 criteria for major depressive disorder\n",
        "condition.major-depressive-disorder",
    )
    assert atom.computable and atom.comparator == "present"


def test_a_patient_who_will_undergo_a_procedure_has_not_had_it() -> None:
    """Audit round 9 (Chia NCT02406885): "who" opens the statement about the procedure, which is to come."""
    atoms = compile_text(
        "Inclusion Criteria:\n* Men or women, 18 to 65 years old with a BMI of 35 kg/m2 or greater who will be "
        "undergoing bariatric surgery (VSG and RYGB)\n"
    ).atoms
    bmi = next(a for a in atoms if a.concept_key == "lab.bmi")
    surgery = next(a for a in atoms if a.concept_key == "procedure.bariatric-surgery")
    assert bmi.computable and "who" not in bmi.text
    assert not surgery.computable


def test_a_treatment_the_patient_may_begin_is_permitted() -> None:
    """Corpus NCT03633331: "patients may begin or have already begun endocrine therapy ..." is no requirement."""
    atom = _by_key(
        "Inclusion Criteria:\n* patients may begin or have already begun endocrine therapy before they start "
        "palbociclib treatment, but no more than two weeks prior to registration\n",
        "medication.hormonal-therapy",
    )
    assert not atom.computable and atom.reason is not None and "have already begun" in atom.reason


def test_an_exposure_to_radiation_is_no_radiotherapy() -> None:
    """Audit round 11: "radiation" is also radiotherapy's name; its exposure is not the treatment."""
    atom = _by_key("Exclusion Criteria:\n* radiation exposure from diagnostic imaging\n", "procedure.radiotherapy")
    assert not atom.computable and atom.reason is not None and atom.reason.startswith("'exposure'")


@pytest.mark.parametrize(
    ("item", "key", "reason_start"),
    [
        # audit round 9 (corpus NCT01784393): an impending fracture is a risk, not a fracture
        ("Impending fracture of the treatment site", "condition.bone-fracture", "'impending'"),
        # an exposure to radiation is no radiotherapy (the exposure words now reach procedures)
        ("Occupational exposure to ionizing radiation", "procedure.radiotherapy", "'exposure to'"),
    ],
)
def test_a_risk_or_an_exposure_is_not_the_concept(item: str, key: str, reason_start: str) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert not atom.computable and atom.reason is not None and atom.reason.startswith(reason_start)


@pytest.mark.parametrize(
    ("item", "key", "residue"),
    [
        # audit round 9 (Chia NCT03187639, NCT04147728, NCT02951520): onset, extent and site after a finding
        ("Atrial fibrillation of new onset", "condition.atrial-fibrillation", "of new onset"),
        (
            "Patient with lung squamous cell carcinoma that involved pulmonary hilar",
            "condition.lung-squamous-cell-carcinoma",
            "that involved pulmonary hilar",
        ),
        ("Infection at the injection site", "condition.infection", "at the injection site"),
    ],
)
def test_words_after_a_finding_that_restrict_it_are_residues(item: str, key: str, residue: str) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert atom.computable and [(r.text, r.effect) for r in atom.residues] == [(residue, "narrows")]
