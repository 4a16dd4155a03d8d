"""Context that decides whether a clause is a criterion: the trial's own drugs, a list element of its own, the
reason in parentheses, a year that names an edition of criteria, a lead-in whose sub-items only show the finding,
and trial events that only date a present state. Sentences from the shared corpus (``../shared/data/ctgov``) and
the Chia benchmark; the shipped lexicon is used."""

from __future__ import annotations

from fhir_adapter.criteria.compile import compile_text, compile_trial
from fhir_adapter.criteria.model import Atom
from fhir_adapter.trial import Eligibility, Intervention, TrialRecord


def _atoms(text: str) -> list[Atom]:
    return compile_text(text).atoms


def _by_key(text: str, key: str) -> Atom:
    return next(a for a in _atoms(text) if a.concept_key == key)


def _trial(criteria: str, *interventions: Intervention) -> TrialRecord:
    return TrialRecord(
        source_format="ctgov-json",
        nct_id="NCT00000000",
        brief_title="A trial",
        interventions=list(interventions),
        eligibility=Eligibility(criteria=criteria),
    )


ALLERGY = "Exclusion Criteria:\n- Allergy to any study medication\n"


def test_an_allergy_to_the_study_drug_is_an_allergy_to_the_registry_drugs() -> None:
    trial = _trial(ALLERGY, Intervention(type="OTHER", name="Placebo"), Intervention(type="DRUG", name="Remdesivir"))
    atoms = [a for a in compile_trial(trial).atoms if a.kind == "exclusion"]
    assert [(a.concept_key, a.category, a.computable) for a in atoms] == [("medication.remdesivir", "allergy", True)]
    assert atoms[0].fhir_query is not None and atoms[0].fhir_query.startswith("AllergyIntolerance?")


def test_two_study_drugs_are_two_allergy_atoms() -> None:
    trial = _trial(
        ALLERGY,
        Intervention(type="DRUG", name="Atorvastatin 80 mg oral tablets"),
        Intervention(type="DRUG", name="Metformin"),
        Intervention(type="DRUG", name="Placebo for metformin"),
    )
    atoms = [a for a in compile_trial(trial).atoms if a.kind == "exclusion"]
    assert [(a.id, a.concept_key) for a in atoms] == [
        ("exc-1a", "medication.atorvastatin"),
        ("exc-1b", "medication.metformin"),
    ]
    assert all(a.computable and a.category == "allergy" for a in atoms)


def test_an_uncoded_study_drug_leaves_the_allergy_for_review_and_names_it() -> None:
    trial = _trial(
        ALLERGY,
        Intervention(type="DRUG", name="Durvalumab + Tremelimumab + metronomic Vinorelbine"),
    )
    (atom,) = [a for a in compile_trial(trial).atoms if a.kind == "exclusion"]
    assert not atom.computable
    assert atom.reason == (
        "drug allergy to trial drugs is not coded (no code for 'Durvalumab + Tremelimumab + metronomic Vinorelbine')"
    )


def test_compounds_similar_to_the_study_drug_are_not_the_study_drug() -> None:
    text = (
        "Exclusion Criteria:\n- History of allergic reactions attributed to compounds of similar composition to the "
        "study drug\n"
    )
    trial = _trial(text, Intervention(type="DRUG", name="Remdesivir"))
    assert not any(a.computable for a in compile_trial(trial).atoms if a.kind == "exclusion")


def test_a_named_drug_keeps_its_allergy_although_the_words_speak_of_components() -> None:
    text = "Exclusion Criteria:\n- Patients with known hypersensitivity to any of the components of oxaliplatin\n"
    atom = _by_key(text, "medication.oxaliplatin")
    assert atom.computable and atom.category == "allergy"


def test_pregnancy_listed_after_a_contraception_clause_is_its_own_criterion() -> None:
    text = (
        "Exclusion Criteria:\n- Pregnant or breastfeeding women, or women of childbearing potential not using "
        "effective contraception\n"
    )
    assert _by_key(text, "condition.pregnancy").computable
    assert _by_key(text, "condition.breastfeeding").computable


def test_contraception_words_still_refuse_what_they_are_about() -> None:
    defined = (
        "Inclusion Criteria:\n- Women of child-bearing potential, defined as all women physiologically capable of "
        "becoming pregnant\n"
    )
    assert not _by_key(defined, "condition.pregnancy").computable
    # a negation in the sibling ("no use of contraception") might reach the list: left for review
    negated = "Exclusion Criteria:\n- Childbearing age, no use of effective contraception, pregnancy or lactation\n"
    assert not any(a.computable for a in _atoms(negated))


def test_a_reason_in_parentheses_is_no_compliance_criterion() -> None:
    text = (
        "Exclusion Criteria:\n- Active substance abuse with alcohol or drugs by self-report (risk for poor adherence "
        "and could impact outcomes)\n"
    )
    atom = _by_key(text, "condition.substance-abuse")
    assert atom.computable and atom.comparator == "present"


def test_a_year_that_names_an_edition_of_criteria_is_no_calendar_period() -> None:
    text = (
        "Inclusion Criteria:\n- Pathologically confirmed CLL/SLL according to the 2018 revised IWCLL NCI-WG "
        "guidelines\n"
    )
    atom = _by_key(text, "condition.chronic-lymphocytic-leukemia-small-lymphocytic-lymphoma")
    assert atom.computable
    # corpus NCT06146257: an organisation's full name and its acronym between the year and the noun
    who = (
        "Inclusion Criteria:\n- Histologically confirmed AML according to 2022 World Health Organization (WHO) "
        "criteria classification\n"
    )
    assert _by_key(who, "condition.acute-myeloid-leukemia").computable
    period = "Exclusion Criteria:\n- History of pregnancy between 1991-2001\n"
    assert _by_key(period, "condition.pregnancy").reason == "a calendar period ('1991-2001') is not checked"


def test_a_lead_in_whose_sub_items_show_the_finding_still_requires_it() -> None:
    text = (
        "Inclusion Criteria:\n- Has laboratory-confirmed SARS-CoV-2 infection as determined by polymerase chain "
        "reaction (PCR) or other commercial or public health assay in any specimen, as documented by either of the "
        "following:\n  - PCR positive in sample collected < 72 hours prior to randomization\n"
    )
    atom = _by_key(text, "condition.covid-19")
    assert atom.computable and atom.comparator == "present"
    other = "Inclusion Criteria:\n- Has one of the following conditions:\n  - asthma\n"
    assert not _by_key(other, "condition.asthma").reason


def test_a_trial_event_that_dates_a_present_state_is_no_relative_time() -> None:
    text = "Inclusion Criteria:\n- Male or non-pregnant female adult > / = 18 years of age at time of enrollment.\n"
    atom = _by_key(text, "condition.pregnancy")
    assert atom.computable and atom.comparator == "absent"
    relative = "Exclusion Criteria:\n- PCR positive in sample collected < 72 hours prior to randomization\n"
    assert [a.reason for a in _atoms(relative)] == ["time relative to trial events is not coded"]


def test_an_intervention_without_a_type_counts_when_its_name_names_a_drug() -> None:
    """A registry page gives no intervention types: "Short-course radiotherapy" is no drug, the other one is."""
    text = "Exclusion Criteria:\n- Known or suspected allergy history to any drugs used in the trial\n"
    trial = _trial(
        text,
        Intervention(name="Sintilimab + IL-2 Combined with CAPOX"),
        Intervention(name="Short-course radiotherapy"),
    )
    (atom,) = [a for a in compile_trial(trial).atoms if a.kind == "exclusion"]
    assert atom.reason == (
        "drug allergy to trial drugs is not coded (no code for 'Sintilimab + IL-2 Combined with CAPOX')"
    )


def test_score_classes_after_a_capitalised_word() -> None:
    """ "Grade" and "Physical Status" between the scale and its classes, as written (capitalised)."""
    asa = _by_key("Inclusion Criteria:\n- American Society of Anesthesiologists Grade I-II\n", "performance.asa")
    assert asa.computable and (asa.comparator, asa.value) == ("le", 2.0)


def test_an_exclusion_that_says_must_not_excludes_the_concept() -> None:
    atom = _by_key("Exclusion Criteria:\n- Participants must not be receiving warfarin\n", "medication.warfarin")
    assert atom.computable and atom.comparator == "present"


def test_any_other_negated_exclusion_is_left_for_review() -> None:
    """Excluding every patient without the concept would be dangerous: "No Beta-Blockers" among the exclusions,
    "free from malignancy" (Chia)."""
    for text, key in (
        ("Exclusion Criteria:\n- No Beta-Blockers\n", "medication.beta-blockers"),
        (
            "Exclusion Criteria:\n- If an effusion greater than 100 ml is documented by cytology to be free from "
            "malignancy\n",
            "condition.malignancy",
        ),
    ):
        assert not _by_key(text, key).computable
    # a test asked to be absent stays computable: "without a negative pregnancy test"
    test = "Exclusion Criteria:\n- Women of childbearing potential without a negative pregnancy test\n"
    atom = _by_key(test, "lab.pregnancy-test")
    assert atom.computable and atom.comparator == "absent"


def test_including_but_not_limited_to_negates_nothing() -> None:
    text = (
        "Exclusion Criteria:\n- Underlying comorbidities that contraindicate the procedure (including but not "
        "limited to polycythemia, coagulation disorder)\n"
    )
    for key in ("condition.polycythemia", "condition.bleeding-disorder"):
        atom = _by_key(text, key)
        assert atom.computable and atom.comparator == "present"


def test_a_number_in_a_time_unit_dates_the_test_or_states_an_age() -> None:
    """Chia: "Last (less than 3 months) HbA1c <= 10%"; "18 to 65 years old with a BMI of 35 kg/m2 or greater";
    "diastolic blood pressure of >=110 mm Hg measured twice more than 15 minutes apart"."""
    hba1c = _by_key("Inclusion Criteria:\n- Last (less than 3 months) HbA1c ≤ 10%.\n", "lab.hba1c")
    assert hba1c.computable and (hba1c.comparator, hba1c.value, hba1c.unit) == ("le", 10.0, "%")
    bmi = _by_key(
        "Inclusion Criteria:\n- Men or women, 18 to 65 years old with a BMI of 35 kg/m2 or greater\n", "lab.bmi"
    )
    assert bmi.computable and (bmi.comparator, bmi.value) == ("ge", 35.0)
    dbp = _by_key(
        "Exclusion Criteria:\n- a diastolic blood pressure of >=110 mm Hg measured twice more than 15 minutes apart\n",
        "lab.diastolic-bp",
    )
    assert dbp.computable and (dbp.comparator, dbp.value) == ("ge", 110.0)
    qtc = _by_key("Exclusion Criteria:\n- QTcF > 470 ms\n", "lab.qtcf")
    assert qtc.computable and (qtc.comparator, qtc.value, qtc.unit) == ("gt", 470.0, "ms")


def test_a_washout_allows_the_treatment() -> None:
    text = "Inclusion Criteria:\n- Prior radiotherapy must have been completed 2 weeks prior to first dose\n"
    atom = _by_key(text, "procedure.radiotherapy")
    assert not atom.computable and atom.reason is not None and atom.reason.startswith("a washout")
    required = _by_key(
        "Inclusion Criteria:\n- Patients must have received prior radiotherapy\n", "procedure.radiotherapy"
    )
    assert required.computable and required.comparator == "present"


def test_a_finding_followed_by_about_names_a_topic() -> None:
    text = "Exclusion Criteria:\n- Eating disorder (atypical diet quality, anxiety about diet)\n"
    assert not _by_key(text, "condition.anxiety-disorder").computable
    assert _by_key(text, "condition.eating-disorder").computable


def test_findings_criteria_name_often() -> None:
    """Chia wording: each concept found, and a near miss that is no such finding."""
    cases = {
        "Exclusion Criteria:\n- A moderate/severe COPD exacerbation within 4 weeks\n": "condition.copd-exacerbation",
        "Exclusion Criteria:\n- Severe malnutrition\n": "condition.malnutrition",
        "Exclusion Criteria:\n- Severe hypoglycemic episode within 1 month of screening\n": "condition.hypoglycemia",
        "Exclusion Criteria:\n- History of musculoskeletal disease\n": ("condition.musculoskeletal-system-disease"),
        "Exclusion Criteria:\n- Presence of symptomatic CNS metastasis\n": "condition.brain-metastases",
    }
    for text, key in cases.items():
        assert any(a.concept_key == key for a in _atoms(text)), text
    assert not any(a.concept_key == "condition.malnutrition" for a in _atoms("Exclusion Criteria:\n- nutrition\n"))


def test_a_last_word_shared_by_a_list() -> None:
    """ "prostate or breast cancer" names prostate cancer too; the shared word must make a whole concept."""
    cases = {
        "Exclusion Criteria:\n- History of prostate, bladder, or rectal cancer\n": {
            "condition.prostate-cancer",
            "condition.urinary-bladder-cancer",
            "condition.rectal-cancer",
        },
        "Exclusion Criteria:\n- type 1 or type 2 diabetes\n": {
            "condition.type-1-diabetes",
            "condition.type-2-diabetes",
        },
        "Exclusion Criteria:\n- acute or chronic pancreatitis\n": {
            "condition.acute-pancreatitis",
            "condition.chronic-pancreatitis",
        },
        "Exclusion Criteria:\n- clinical or radiographic evidence of spinal cord or cauda equina compression\n": {
            "condition.spinal-cord-compression",
            "condition.cauda-equina-syndrome",
        },
        "Exclusion Criteria:\n- diabetes or hypertension\n": {"condition.diabetes", "condition.hypertension"},
    }
    for text, keys in cases.items():
        assert {a.concept_key for a in _atoms(text) if a.computable} == keys, text
    prostate = _by_key("Exclusion Criteria:\n- History of prostate or breast cancer\n", "condition.prostate-cancer")
    assert prostate.text == "History of prostate or breast cancer"


def test_first_words_shared_by_a_list() -> None:
    """ "hepatitis B or C infection" is hepatitis C, not any infection (which would exclude every infected patient)."""
    keys = {a.concept_key for a in _atoms("Exclusion Criteria:\n- Known HIV, hepatitis B or C infection\n")}
    assert keys == {"condition.hiv", "condition.hepatitis-b", "condition.hepatitis-c"}
    chain = {a.concept_key for a in _atoms("Exclusion Criteria:\n- hepatitis B, C or D\n")}
    assert chain == {"condition.hepatitis-b", "condition.hepatitis-c", "condition.hepatitis-d"}
