"""Clauses that are not the criterion they sit in: permissions, notes, withdrawn sections, the patients a
requirement applies to, counts of treatments, and readings named after their value. Every sentence comes from the
shared corpus (``../shared/data/ctgov``) or the Chia benchmark; the shipped lexicon is used."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.compile import compile_text
from fhir_adapter.criteria.model import Atom
from fhir_adapter.criteria.split import split_clauses, split_items


def _atoms(text: str) -> list[Atom]:
    return compile_text(text).atoms


def _computable(text: str) -> list[tuple[str | None, str | None, object]]:
    return [(a.concept_key, a.comparator, a.value) for a in _atoms(text) if a.computable]


def _by_key(text: str, key: str) -> Atom:
    return next(a for a in _atoms(text) if a.concept_key == key)


PEPTIC = (
    "Exclusion Criteria:\n- History of hemorrhagic diarrhea, inflammatory bowel disease, or active uncontrolled peptic "
    "ulcer disease. (Concomitant therapy with ranitidine or its equivalent and/or omeprazole or its equivalent is "
    "acceptable).\n"
)


def test_a_permitted_list_is_no_exclusion() -> None:
    """Both drugs of the permission are allowed, although "or its equivalent" lies between them."""
    for key in ("medication.ranitidine", "medication.omeprazole"):
        atom = _by_key(PEPTIC, key)
        assert not atom.computable
        assert atom.reason is not None and atom.reason.startswith("a permission ('acceptable')")
    ulcer = _by_key(PEPTIC, "condition.peptic-ulcer-disease")
    assert ulcer.computable and ulcer.text == "active uncontrolled peptic ulcer disease"


def test_the_permission_residue_quotes_its_sentence_whole() -> None:
    """The residue starts at the sentence's first character (it lost it when the item opened with it)."""
    text = "Exclusion Criteria:\n- Hypothyroidism on stable replacement. Use of levothyroxine is allowed.\n"
    residues = [r.text for a in _atoms(text) for r in a.residues]
    assert all(not r.startswith("se of") for r in residues)


def test_sentences_of_an_item_are_clauses() -> None:
    text = (
        "Exclusion Criteria:\n- History of ileus. (Concomitant therapy with omeprazole is acceptable). "
        "Dr. Who e.g. Fe.\n"
    )
    item = split_items(text)[0]
    clauses = [text[s.start : s.end] for s in split_clauses(text, item)]
    assert clauses == ["History of ileus", "(Concomitant therapy with omeprazole is acceptable)", "Dr. Who e.g. Fe"]


def test_a_note_states_no_criterion() -> None:
    text = (
        "Inclusion Criteria:\n- Advanced or metastatic breast cancer, who have failed < 5 prior lines of chemotherapy "
        "(Note that study treatment may be the first chemotherapy treatment for advanced or metastatic cancer)\n"
    )
    found = _computable(text)
    assert ("condition.breast-cancer", "present", None) in found
    assert ("condition.malignancy", "present", None) not in found
    assert not any(key == "medication.antineoplastic-agents" for key, _, _ in found)


def test_a_note_alone_is_kept_with_its_reason() -> None:
    text = "Inclusion Criteria:\n- Note: Results are from the central laboratory.\n"
    (atom,) = _atoms(text)
    assert (atom.computable, atom.reason) == (False, "a note explaining the criterion, not a criterion of its own")


WITHDRAWN = (
    "* INCLUSION CRITERIA:\n\nPerformance status of ECOG 0, 1, 2, or 3 for admission to this protocol.\n\n"
    "INCLUSION FOR APHERESIS:\n\nNote: Effective with Amendment CC, participants will no longer be asked to undergo "
    "apheresis. This content is being retained for historical reference.\n\n"
    "Hemoglobin greater than or equal to 10 mg/dL and platelet count \\> 75,000/mm(3)\n\nWeight greater than 25 kg\n\n"
    "HIV negative\n\nEXCLUSION CRITERIA:\n\nHIV positive\n"
)


def test_a_withdrawn_section_keeps_its_items_as_text() -> None:
    atoms = _atoms(WITHDRAWN)
    computable = [(a.kind, a.concept_key) for a in atoms if a.computable]
    assert computable == [("inclusion", "performance.ecog"), ("exclusion", "condition.hiv")]
    weight = next(a for a in atoms if a.concept_key == "lab.body-weight")
    assert weight.reason == "the registry says this section no longer applies ('no longer be asked')"


def test_the_patients_a_requirement_applies_to() -> None:
    text = (
        "Exclusion Criteria:\n- Active Hepatitis B virus (HBV) infection which requires antiviral treatment. "
        "Patients with a positive HBsAg must have a negative viral load before each chemotherapy administration.\n"
    )
    hbsag = _by_key(text, "lab.hbsag")
    assert not hbsag.computable and hbsag.reason is not None and "requirement applies to" in hbsag.reason
    assert _by_key(text, "condition.hepatitis-b").computable


def test_must_be_excluded_states_the_criterion() -> None:
    text = "Exclusion Criteria:\n- Patients with HIV infection must be excluded\n"
    assert _by_key(text, "condition.hiv").computable


def test_a_count_of_treatments_is_no_threshold() -> None:
    text = (
        "Exclusion Criteria:\n- Received >/= 5 lines of cytotoxic chemotherapy for advanced or metastatic breast "
        "cancer\n"
    )
    atoms = _atoms(text)
    chemo = next(a for a in atoms if a.concept_key == "medication.antineoplastic-agents")
    assert not chemo.computable
    # the cancer the chemotherapy was given for is not an exclusion of its own
    assert not any(a.concept_key == "condition.breast-cancer" and a.computable for a in atoms)


def test_readings_named_after_their_value() -> None:
    text = (
        "Exclusion Criteria:\n- Uncontrolled hypertension: blood pressure consistently >150 mm Hg systolic and "
        "> 100 mm Hg diastolic in spite of antihypertensive medication.\n"
    )
    assert _computable(text) == [("lab.systolic-bp", "gt", 150.0), ("lab.diastolic-bp", "gt", 100.0)]


def test_components_before_their_values_are_unchanged() -> None:
    text = "Exclusion Criteria:\n- systolic blood pressure > 160 mm Hg or diastolic > 100 mm Hg\n"
    assert _computable(text) == [("lab.systolic-bp", "gt", 160.0), ("lab.diastolic-bp", "gt", 100.0)]


def test_a_positive_test_that_defines_a_finding_joins_it() -> None:
    text = (
        "Exclusion Criteria:\n- Hepatitis C infection (Hepatitis C antibody reactive) which requires treatment "
        "also excludes patients from the study.\n"
    )
    (atom,) = [a for a in _atoms(text) if a.computable]
    assert atom.concept_key == "condition.hepatitis-c"
    assert atom.text.startswith("Hepatitis C infection (Hepatitis C antibody reactive)")


def test_a_disease_word_inside_a_name_is_no_concept() -> None:
    """An equation, a classification or an instrument named with a disease word (Chia, corpus wording)."""
    egfr = "Exclusion Criteria:\n- eGFR < 60 mL/min/1.73m2 (Modification of Diet in Renal Disease (MDRD) formula)\n"
    assert _computable(egfr) == [("lab.egfr", "lt", 60.0)]
    dsm = "Exclusion Criteria:\n- any Diagnostic and Statistical Manual of Mental Disorders, 4th edition disorder\n"
    assert _computable(dsm) == []
    scale = "Inclusion Criteria:\n- Hamilton Depression Rating Scale score ≥ 18\n"
    assert _computable(scale) == []
    # the disease itself, outside a name, is still found
    assert _computable("Exclusion Criteria:\n- chronic kidney disease\n")[0][0] == "condition.chronic-kidney-disease"


def test_a_narrower_kind_carries_its_own_code() -> None:
    """The SNOMED CT GPS names the narrower kind exactly: its code rides on the residue (corpus wording)."""
    text = "Exclusion Criteria:\n- History of hemorrhagic diarrhea\n- uncontrolled arterial thrombosis\n"
    kinds = {
        a.concept_key: [(r.text, [c.code for c in r.codes]) for r in a.residues if r.reason == "a narrower kind"]
        for a in _atoms(text)
    }
    assert kinds["condition.diarrhea"] == [("hemorrhagic diarrhea", ["95545007"])]
    assert kinds["condition.thrombosis"] == [("arterial thrombosis", ["65198009"])]
    # a narrowing word that names no SNOMED CT finding keeps the residue without codes
    (atom,) = _atoms("Exclusion Criteria:\n- History of bothersome diarrhea\n")
    assert [list(r.codes) for r in atom.residues if r.reason == "a narrower kind"] in ([[]], [])


def test_an_ifcc_hba1c_threshold_is_read_in_percent() -> None:
    """Chia wording: "HbA1c < 48 mmol/mol" is HbA1c < 6.54 % (NGSP), through the IFCC-NGSP master equation."""
    (atom,) = [a for a in _atoms("Inclusion Criteria:\n- HbA1c < 48 mmol/mol\n") if a.computable]
    assert (atom.concept_key, atom.comparator, atom.unit) == ("lab.hba1c", "lt", "%")
    assert isinstance(atom.value, float) and abs(atom.value - 6.542) < 0.001
    # the FHIRPath reads recorded % directly and leaves the affine mmol/mol to the evaluator (no factor for it)
    assert atom.fhirpath is not None and "'mmol/mol'" not in atom.fhirpath


def test_examples_after_but_not_limited_to_are_excluded_each() -> None:
    """Corpus wording: "including, but not limited to:" lists examples, it is no exception; "uncontrolled diabetes"
    is diabetes with "uncontrolled" to confirm (a hyperglycemia code would miss most diabetic patients)."""
    text = (
        "Exclusion Criteria:\n- Presence of any serious or uncontrolled illness including, but not limited to: "
        "uncontrolled diabetes, ongoing or active infection, symptomatic congestive heart failure\n"
    )
    atoms = [a for a in _atoms(text) if a.computable]
    assert [a.concept_key for a in atoms] == ["condition.diabetes", "condition.infection", "condition.heart-failure"]
    assert [r.text for r in atoms[0].residues] == ["uncontrolled"]
    assert not any("limited to" in r.text for a in atoms for r in a.residues)


def test_plurals_in_ies_are_found() -> None:
    """ "pre- existing peripheral neuropathies", "cardiomyopathies" (corpus and Chia wording): the plural of a word in
    consonant + y is indexed."""
    from fhir_adapter.phrase_keys import plural_key

    assert plural_key("neuropathy", "neuropathy") == "neuropathies"
    assert plural_key("platelet", "platelet") == "platelets"
    assert plural_key("delay", "delay") == "delays"
    found = _computable("Exclusion Criteria:\n- pre- existing peripheral neuropathies\n- cardiomyopathies\n")
    assert [key for key, _, _ in found] == ["condition.neuropathy", "condition.cardiomyopathy"]


def test_cardiac_surgery_and_valvular_disease_are_known() -> None:
    """Corpus wording (cardio-oncology): "valvular disease", "cardiac surgery within the last 3 months"."""
    found = _computable("Exclusion Criteria:\n- valvular disease\n- cardiac surgery within the last 3 months\n")
    assert [key for key, _, _ in found] == ["condition.heart-valve-disease", "procedure.cardiac-surgery"]
    surgery = _by_key("Exclusion Criteria:\n- cardiac surgery within the last 3 months\n", "procedure.cardiac-surgery")
    codes = {c.code for c in surgery.concepts}
    assert surgery.within_days is not None and 89 <= surgery.within_days <= 92
    assert {"64915003", "10190003"} <= codes  # the operation on the heart, and CABG as a member


def test_a_threshold_in_a_note_is_no_alternative_threshold() -> None:
    """Chia wording: the note's "serum creatinine greater than 1.4" names who needs a clearance; it must not widen
    "<= 2.0 mg/dL" as if it were a second limit."""
    text = (
        "Inclusion Criteria:\n- Serum creatinine less than or equal to 2.0 mg/dL (Note: Patients with a serum "
        "creatinine greater than 1.4 mg/dL must have a 24-hour urinary creatinine clearance greater than 50 mL/min)\n"
    )
    (atom,) = [a for a in _atoms(text) if a.computable]
    assert (atom.concept_key, atom.comparator, atom.value) == ("lab.creatinine", "le", 2.0)
    assert all(not r.has_threshold for r in atom.residues)


def test_a_risk_of_a_finding_is_not_the_finding() -> None:
    """NCT05266105 "high risk of thrombosis" excluded every recorded thrombosis; Chia NCT01815580 "High risk for
    HIV infection" required HIV. The finding before the words stays computable."""
    text = "Exclusion Criteria:\n- History of pulmonary embolism or high risk of thrombosis\n"
    assert _computable(text) == [("condition.pulmonary-embolism", "present", None)]
    risk = _by_key(text, "condition.thrombosis")
    assert risk.reason == "'risk of' before the finding: a risk or a cause of the finding is not the finding"
    inclusion = _by_key("Inclusion Criteria:\n- High risk for HIV infection\n", "condition.hiv")
    assert not inclusion.computable
    factors = _by_key("Exclusion Criteria:\n- risk factors for torsades de pointes\n", "condition.torsades-de-pointes")
    assert not factors.computable


def test_an_excluded_effect_does_not_exclude_its_causes() -> None:
    """NCT04158193: the edema is excluded, not every patient with heart failure, kidney disease or malnutrition.
    An inclusion keeps the cause, which the required effect needs (Chia NCT03211741)."""
    text = (
        "Exclusion Criteria:\n- Edema caused by upper extremity disability or other conditions such as heart "
        "failure, kidney disease or malnutrition\n"
    )
    # the edema is the lexicon's (GPS "Edema"), with its causes as the residue to confirm
    assert _computable(text) == [("condition.edema", "present", None)]
    (edema,) = [a for a in _atoms(text) if a.computable]
    assert [(r.text, r.effect) for r in edema.residues] == [
        (
            "caused by upper extremity disability or other conditions such as heart failure, kidney disease or "
            "malnutrition",
            "narrows",
        )
    ]
    required = (
        "Inclusion Criteria:\n- Visual impairment predominantly due to abnormal new vessel ingrowth and/or macular "
        "edema\n"
    )
    assert [a.computable for a in _atoms(required) if a.concept_key] == [True]
    # Chia NCT02984475 (a thalassemia trial): the cause of the diabetes is not excluded, across "or"
    either = "Exclusion Criteria:\n- Patients with diabetes mellitus (either primary or secondary to thalassemia).\n"
    assert _computable(either) == [("condition.diabetes", "present", None)]
    # a causal phrase that opens the clause explains nothing before it: the patients after the comma are excluded
    opening = "Exclusion Criteria:\n- Due to the risk of bleeding, patients with hemophilia are excluded\n"
    assert ("condition.hemophilia", "present", None) in _computable(opening)


def test_thousands_set_off_by_spaces() -> None:
    """ "1 500/µL" was read as 1 x 10^9/L (the "500" dropped): the lower bound fell by a third."""
    for text in ("Inclusion Criteria:\n- ANC ≥ 1 500/µL\n", "Inclusion Criteria:\n- ANC ≥ 1 500\n"):
        assert _computable(text) == [("lab.neutrophils", "ge", 1.5)]
    assert _computable("Inclusion Criteria:\n- Age 18 to 75 years\n") == [(None, "between", 18.0)]


def test_two_numbers_before_a_multiple_are_no_limit() -> None:
    """NCT01784393 "ALT and AST no greater than 3 5 times the institutional normal" became ALT <= 3 U/L, which
    every patient fails."""
    text = "Inclusion Criteria:\n- ALT and AST no greater than 3 5 times the institutional normal\n"
    atoms = [a for a in _atoms(text) if a.concept_key in ("lab.alt", "lab.ast")]
    assert atoms and not any(a.computable for a in atoms)
    assert all((a.reason or "").startswith("ambiguous value: two numbers in a row") for a in atoms)


def test_participant_headings_are_cohorts() -> None:
    """NCT06082921 enrols mothers and infants: each heading's criteria are one kind of participant's. Among the
    exclusions, a kind the inclusions did not name is a group of exclusions (Chia NCT01743755), not a cohort."""
    text = (
        "Maternal Inclusion Criteria:\n1. Exclusively breastfeeding one infant\n\nInfant Inclusion Criteria:\n"
        "1. Exclusively breastfeeding\n\nMaternal Exclusion Criteria:\n1. BMI <18.5\n\nInfant Exclusion Criteria:\n"
        "1. Preterm\n"
    )
    assert [(a.kind, a.cohort) for a in _atoms(text)] == [
        ("inclusion", "maternal"),
        ("inclusion", "infant"),
        ("exclusion", "maternal"),
        ("exclusion", "infant"),
    ]
    groups = "Inclusion Criteria:\n- Pneumonia\nExclusion Criteria:\nImmunocompromised patients:\n- HIV infection\n"
    assert [a.cohort for a in _atoms(groups)] == [None, None]
    everyone = "Inclusion Criteria:\nFor all patients:\n- Pneumonia\n"
    assert [a.cohort for a in _atoms(everyone)] == [None]


def test_a_relatives_finding_is_not_the_patients() -> None:
    """Chia NCT02443623 and NCT02231892: "a first degree relative who had a heart condition" excluded every patient
    with heart disease. The patient's own findings in the same item stay computable."""
    for text in (
        "Exclusion Criteria:\n- a first degree relative who had a heart condition before the age of 50\n",
        "Exclusion Criteria:\n- First-degree family history of certain neurological disorders\n",
        "Exclusion Criteria:\n- Family history of breast cancer\n",
    ):
        assert _computable(text) == [], text
    assert _computable("Exclusion Criteria:\n- BMI > 30 and family history of diabetes\n") == [("lab.bmi", "gt", 30.0)]
    assert _computable("Exclusion Criteria:\n- Familial adenomatous polyposis\n") == [
        ("condition.familial-adenomatous-polyposis", "present", None)
    ]
    # Chia NCT03260881: the patient's own history decides; the relative's is to confirm when the patient has none
    both = _by_key(
        "Exclusion Criteria:\n- Patients with a personal or family history of medullary thyroid carcinoma\n",
        "condition.medullary-thyroid-carcinoma",
    )
    assert both.computable
    assert [(r.text, r.effect) for r in both.residues] == [("family history", "widens")]


def test_a_definition_in_an_inclusion_is_no_criterion() -> None:
    """NCT04158193 item 6 defines the lymphedema item 1 requires; an exclusion keeps its defined term."""
    text = (
        "Inclusion Criteria:\n- Upper extremity lymphedema is defined a more than 10% volume difference between the "
        "affected and unaffected arms\nExclusion Criteria:\n- Active Hepatitis C is defined by a known positive Hep C "
        "Ab result\n"
    )
    lymphedema = _by_key(text, "condition.lymphedema")
    assert lymphedema.reason == "'is defined' after the term: a definition of it, not a criterion"
    assert _by_key(text, "condition.hepatitis-c").computable


def test_a_conditional_permission_is_a_residue() -> None:
    """NCT05437757: smokers "may still be eligible pending assessment" are to confirm, not simply allowed; a plain
    permission still allows the concept."""
    text = (
        "Exclusion Criteria:\n- Patients with a history of smoking (patients with a history of smoking may still be "
        "eligible pending assessment by investigating team and documentation of rationale)\n"
    )
    smoking = _by_key(text, "condition.tobacco-use")
    assert smoking.computable
    assert [(r.effect, r.reason) for r in smoking.residues] == [
        ("narrows", "a permission ('allowed', 'eligible') to confirm")
    ]
    allowed = "Exclusion Criteria:\n- Hypothyroidism on stable replacement is allowed\n"
    plain = _by_key(allowed, "condition.hypothyroidism")
    assert not plain.computable


def test_allergens_listed_in_parentheses_and_drugs_in_use() -> None:
    """NCT06322316: the drugs in parentheses are the allergy's objects (opioids were excluded as medication use);
    Chia NCT03323047: a drug the patient is "receiving" after an allergy is in use; a clause in parentheses
    (Chia NCT03761914, "(and approved therapies must have included … irinotecan)") names no allergen."""
    listed = (
        "Exclusion Criteria:\n- Known sensitivity or contraindication to drug used in the study (local anesthetics, "
        "opioids).\n"
    )
    assert [(a.concept_key, a.category) for a in _atoms(listed)] == [
        ("medication.local-anesthetics", "allergy"),
        ("medication.opioids", "allergy"),
    ]
    used = "Exclusion Criteria:\n- Allergy to contrast (iodine) or current use of anticoagulants (warfarin)\n"
    assert [a.category for a in _atoms(used) if a.concept_key == "medication.warfarin"] == ["medication"]
    clause = (
        "Inclusion Criteria:\n- intolerance to standard therapies (and approved therapies must have included all the "
        "following a fluoropyrimidine, oxaliplatin, irinotecan, bevacizumab)\n"
    )
    assert [a.category for a in _atoms(clause) if a.concept_key == "medication.irinotecan"] == ["medication"]


def test_a_negative_result_before_a_test_asks_for_its_absence() -> None:
    """Chia NCT00094861, NCT01846507 and corpus NCT00364754: "Negative pregnancy test" read as a test present (a
    positive one) required a pregnant patient. A negative result written before a test read as present/absent
    asks for its absence, also with words between; before another concept the word names a kind."""
    text = (
        "Inclusion Criteria:\n* Negative pregnancy test\n* Negative serum or urine pregnancy test within 72 hours\n"
        "* Negative HIV test\n* positive anti-HBc\n* HER2 negative breast cancer\n"
    )
    atoms = [a for a in _atoms(text) if a.computable]
    assert [(a.concept_key, a.comparator) for a in atoms] == [
        ("lab.pregnancy-test", "absent"),
        ("lab.pregnancy-test", "absent"),
        ("lab.hiv-antibody", "absent"),
        ("lab.anti-hbc", "present"),
        ("condition.her2-negative-breast-cancer", "present"),
    ]
    # the result is not a narrower kind of the test
    assert [r.text for a in atoms[:4] for r in a.residues] == []
    # after the test, with a verb or an abbreviation between (corpus NCT02513394, Chia NCT00650312, NCT02745704)
    after = (
        "Inclusion Criteria:\n* Serum or urine pregnancy test must be negative in premenopausal women\n"
        "* must have negative serum (Beta HCG) pregnancy tests\n* Hepatitis B e antigen (HBeAg)-negative\n"
        "* HIV test is positive\n"
    )
    assert [(a.concept_key, a.comparator) for a in _atoms(after) if a.computable] == [
        ("lab.pregnancy-test", "absent"),
        ("lab.pregnancy-test", "absent"),
        ("lab.hbeag", "absent"),
        ("lab.hiv-antibody", "present"),
    ]


def test_a_disease_word_inside_a_capitalised_name_is_part_of_the_name() -> None:
    """Chia NCT00312429, NCT00500500, NCT01497639: "Cancer and Leukemia Group B" excluded nothing but became
    cancer and leukemia, the NINCDS/ADRDA criteria became stroke. A concept before an instrument's or
    organisation's noun, or after an organisation's noun and "of", belongs to the name; after an instrument's noun
    it is the diagnosis."""
    text = (
        "Inclusion Criteria:\n* Cancer and Leukemia Group B (CALGB) performance status 0-1\n"
        "* Probable Alzheimer's disease according to National Institute of Neurological and Communicative Disorders "
        "and Stroke criteria\n* meets DSM-5 Criteria for Major Depressive Disorder\n* Group I PAH\n"
        "* Body Mass Index (BMI) > 30\nExclusion Criteria:\n* Mattis Dementia Rating Scale score below 120\n"
    )
    keys = [a.concept_key for a in _atoms(text) if a.computable]
    assert keys == [
        "performance.ecog",
        "condition.alzheimers-disease",
        "condition.major-depressive-disorder",
        "condition.pulmonary-hypertension",
        "lab.bmi",
    ]
    # a criterion written all in capitals has no names in it
    shouted = "Exclusion Criteria:\n* History Of Congestive Heart Failure Requiring Evaluation\n"
    assert [a.concept_key for a in _atoms(shouted) if a.computable] == ["condition.heart-failure"]


def test_a_site_after_a_finding_names_the_finding_at_that_site() -> None:
    """Corpus NCT03727126 and NCT01026116: "adenocarcinoma of the breast" was adenocarcinoma at
    any site, "squamous cell carcinoma of the skin" excluded lung squamous cell carcinoma. The lexicon's "<site>
    <finding>" is the concept; findings joined by "or" share the site; a site with no such concept is a residue."""
    text = (
        "Inclusion Criteria:\n* either squamous cell carcinoma or adenocarcinoma in the middle or lower part the "
        "esophagus\n* adenocarcinoma of the prostate\n* stroke in the past 6 months\n"
        "Exclusion Criteria:\n* squamous cell carcinoma of the skin\n"
        "* Prior history of infection in the breast region in the preceding 12 months\n"
    )
    atoms = [a for a in _atoms(text) if a.computable]
    assert [a.concept_key for a in atoms] == [
        "condition.esophagus-squamous-cell-carcinoma",
        "condition.esophagus-adenocarcinoma",
        "condition.prostate-adenocarcinoma",
        "condition.stroke",
        "condition.skin-squamous-cell-carcinoma",
        "condition.infection",
    ]
    assert atoms[3].residues == []  # "in the past 6 months" is no site
    infection = atoms[-1]
    assert [(r.text, r.effect) for r in infection.residues] == [("in the breast", "narrows")]
    assert infection.within_days == 360


def test_every_concept_listed_after_a_comma_and_except_is_an_exception() -> None:
    """Corpus NCT03518606: "Other concurrent malignancies, except ... in situ carcinoma of the cervix, or basal cell
    or squamous cell carcinoma of the skin" made the three exceptions exclusions of their own."""
    text = (
        "Exclusion Criteria:\n* Other concurrent malignancies, except adequately treated cone-biopsied in situ "
        "carcinoma of the cervix, or basal cell or squamous cell carcinoma of the skin\n"
        "* Other malignancy except basal cell carcinoma; diabetes\n"
    )
    atoms = [a for a in _atoms(text) if a.computable]
    assert [a.concept_key for a in atoms] == ["condition.malignancy", "condition.malignancy", "condition.diabetes"]


def test_a_cause_of_a_finding_and_a_justification_are_not_the_finding() -> None:
    """Chia NCT01803438 "reversible causes for AF", NCT02745704 "other factors causing liver diseases", corpus
    NCT05437757 "other cause for secondary/primary immunodeficiency": the cause of a finding is not the finding.
    Chia NCT02231892: a "Justification:" explains the criterion before it and states none of its own."""
    text = (
        "Exclusion Criteria:\n* Subject has a reversible causes for AF like hyperthyroidism\n"
        "* synchronous haematological malignancy or other cause for secondary/primary immunodeficiency\n"
        "* Patients with other factors causing liver diseases\n"
        "* Personal history of stroke. \nJustification: Stroke or head trauma can lower the seizure threshold.\n"
    )
    atoms = _atoms(text)
    assert [a.concept_key for a in atoms if a.computable] == ["condition.hyperthyroidism", "condition.stroke"]
    af = next(a for a in atoms if a.concept_key == "condition.atrial-fibrillation")
    assert af.reason == "'causes for' before the finding: a risk or a cause of the finding is not the finding"
    note = next(a for a in atoms if a.text.startswith("Stroke or head trauma"))
    assert note.reason == "a note explaining the criterion, not a criterion of its own"


def test_a_drug_named_for_its_deficiency_level_or_reaction_is_no_drug_use() -> None:
    """Chia NCT03228498 "folic acid deficiency", NCT02318446 "inborn errors of cobalamin metabolism", NCT03056287
    "frequent insulin reactions", NCT02396420 "known immunosuppression" (a state, not a drug) excluded patients
    taking the drug."""
    text = (
        "Exclusion Criteria:\n* vitamine B12 and folic acid deficiency\n* inborn errors of cobalamin metabolism\n"
        "* frequent insulin reactions\n* known immunosuppression\n* warfarin use\n"
    )
    atoms = _atoms(text)
    # the deficiency is a condition of its own (Mondo/DO "folic acid deficiency"), never the vitamin's use
    assert [a.concept_key for a in atoms if a.computable] == ["condition.folic-acid-deficiency", "medication.warfarin"]
    insulin = next(a for a in atoms if a.concept_key == "medication.insulins")
    assert insulin.reason == "'reactions' after the finding: the statement is about something else"


def test_an_exposure_a_vaccination_and_a_prohibition_among_inclusions() -> None:
    """Chia NCT02689089 "close contact with a case of active TB disease" required TB; NCT01824537 "must not have
    been vaccinated against HPV" excluded HPV infection; corpus NCT00709761 "... use of bisphosphonates ... was not
    permitted" among the inclusions required bisphosphonates."""
    text = (
        "Inclusion Criteria:\n* Children with negative TSTs who have been in close contact with a case of active TB "
        "disease recently\n* Concomitant use of warfarin is not permitted\n"
        "* Prophylactic use of bisphosphonates in subjects without bone disease, except for the treatment of "
        "osteoporosis, was not permitted\n"
        "Exclusion Criteria:\n* Volunteers must not have been vaccinated against HPV-Gardasil-9\n"
        "* Concomitant use of warfarin is not permitted\n"
    )
    atoms = _atoms(text)
    tb = next(a for a in atoms if a.concept_key == "condition.tuberculosis")
    assert tb.reason == "'contact with' before the finding: an exposure or a vaccination is not the finding"
    hpv = next(a for a in atoms if a.concept_key == "condition.human-papillomavirus-infectious-disease")
    assert not hpv.computable
    computable = [(a.kind, a.concept_key, a.comparator) for a in atoms if a.computable]
    assert ("inclusion", "medication.warfarin", "absent") in computable
    assert ("inclusion", "medication.bisphosphonates", "absent") in computable
    assert ("exclusion", "medication.warfarin", "present") in computable


def test_concepts_listed_after_the_following_are_allowed_are_not_excluded() -> None:
    """Corpus NCT03202316: "Any approved anticancer therapy ... is not allowed ...; however, the following are
    allowed: a. endocrine therapy (..., aromatase inhibitor, fulvestrant) b. palliative radiotherapy ... c. stable
    brain metastasis ..." excluded every allowed treatment: the item's first permission (a prohibition) was read
    for all of them. A permission that opens a list allows what it lists; each sentence has its own."""
    text = (
        "Exclusion Criteria:\n* Any approved anticancer therapy for treatment purpose is not allowed, or need to be "
        "stopped at least 2 weeks prior to initiation of study treatment; however, the following are allowed: a. "
        "endocrine therapy, aromatase inhibitor, fulvestrant b. palliative radiotherapy for bone metastases c. stable "
        "brain metastasis\n* Hypothyroidism on stable hormone replacement is allowed. Known HIV infection\n"
    )
    atoms = _atoms(text)
    assert [a.concept_key for a in atoms if a.computable] == ["medication.antineoplastic-agents", "condition.hiv"]
    fulvestrant = next(a for a in atoms if a.concept_key == "medication.fulvestrant")
    assert fulvestrant.reason == "a permission ('allowed'): the listed concept is allowed, not required or excluded"


def test_a_dose_as_a_point_in_time_and_a_requirement_of_patients_who_are() -> None:
    """Corpus NCT03202316 "within 5 months following the last dose of atezolizumab" excluded the trial's own drug;
    NCT01503372 "Female subjects who are lactating should discontinue nursing" required lactation. Without a
    preposition of time the dose dates the use itself; a modal inside a parenthesis is not the requirement's."""
    text = (
        "Inclusion Criteria:\n* Female subjects who are lactating should discontinue nursing prior to the first dose\n"
        "Exclusion Criteria:\n* during treatment or within 5 months following the last dose of atezolizumab\n"
        "* Patients who have received the last administration of an anticancer therapy </= 2 weeks prior to starting "
        "the study drug\n* Women who are pregnant, or who are lactating (though the possibility should be very low)\n"
    )
    atoms = _atoms(text)
    assert [(a.kind, a.concept_key) for a in atoms if a.computable] == [
        ("exclusion", "medication.antineoplastic-agents"),
        ("exclusion", "condition.pregnancy"),
        ("exclusion", "condition.breastfeeding"),
    ]
    atezolizumab = next(a for a in atoms if a.concept_key == "medication.atezolizumab")
    assert atezolizumab.reason is not None and atezolizumab.reason.startswith("'following the last dose of'")


def test_what_may_lead_to_a_finding_and_a_score_off_its_scale() -> None:
    """Chia NCT03120533 "other clinical condition that may lead to bleeding" excluded bleeding; NCT02321202
    "Child-Pugh Score C, ICGR15 > 30%" read Child-Pugh > 30 (off its 5-15 scale): the class decides."""
    text = (
        "Exclusion Criteria:\n* recent trauma or other clinical condition that may lead to bleeding\n"
        "* overt ascites, Child-Pugh Score C, indocyanine green retention rate at 15min (ICGR15)>30%\n"
    )
    atoms = _atoms(text)
    bleeding = next(a for a in atoms if a.concept_key == "condition.bleeding")
    assert bleeding.reason == "'may lead to' before the finding: a risk or a cause of the finding is not the finding"
    child_pugh = next(a for a in atoms if a.concept_key == "performance.child-pugh")
    assert (child_pugh.comparator, child_pugh.value) == ("ge", 10.0)


def test_a_contraindication_to_a_treatment_is_not_its_use() -> None:
    """Corpus NCT01929395 "Contraindication to use of gadolinium based intravenous contrast" excluded patients given
    gadolinium; Chia NCT01728194 "Contraindications to MRI scanning including cardiac pacemaker": the example is
    the finding."""
    text = (
        "Exclusion Criteria:\n* Contraindication to use of gadolinium based intravenous contrast\n"
        "* Contraindications to MRI scanning including cardiac pacemaker\n* Patient is unable to take warfarin\n"
    )
    atoms = _atoms(text)
    assert [a.concept_key for a in atoms if a.computable] == ["procedure.pacemaker"]
    gadolinium = next(a for a in atoms if a.concept_key == "medication.gadolinium")
    assert gadolinium.reason == (
        "'contraindication to' before the treatment: a contraindication to it or its refusal is not its use"
    )
    refused = _by_key("Exclusion Criteria:\n* refusal of insulin\n", "medication.insulins")
    assert not refused.computable


def test_what_disqualifies_among_the_inclusions_is_left_for_review() -> None:
    """Chia NCT02231892: "The following individual laboratory results will independently disqualify individuals:
    Cholesterol >250 mg/dl, Hemoglobin < 10.5 g/dl, ... HCG positive" among the inclusions required a cholesterol
    above 250 and a positive pregnancy test."""
    text = (
        "Inclusion Criteria:\n* Screening tools: blood sample. The following individual laboratory results will "
        "independently disqualify individuals: Cholesterol >250 mg/dl, Hemoglobin < 10.5 g/dl, HCG positive. The MAI "
        "will retain discretion.\n* Hemoglobin >= 9 g/dL\n"
    )
    atoms = _atoms(text)
    assert [(a.concept_key, a.comparator, a.value) for a in atoms if a.computable] == [("lab.hemoglobin", "ge", 9.0)]
    cholesterol = next(a for a in atoms if a.concept_key == "lab.total-cholesterol")
    assert cholesterol.reason == "'disqualify': an exclusion written among the inclusions, left for review"


def test_a_test_named_without_its_result_and_exceptions_in_a_parenthesis() -> None:
    """Chia NCT00650312 "hepatitis B and hepatitis C tests, HIV test" among what a pre-study evaluation comprises
    required hepatitis B and positive tests; corpus NCT03518606 "serum pregnancy test within 14 days" required a
    positive one. Chia NCT02201316 "(with the exception of Gilbert's syndrome or asymptomatic gallstones)" and
    NCT01373684 "(except Telbivudine)" made the exceptions criteria; NCT02973035 "diastolic dysfunction showing
    E/E' > 10" was a diastolic blood pressure."""
    text = (
        "Inclusion Criteria:\n* All subjects should be judged normal and healthy during a pre-study medical "
        "evaluation (physical examination, hepatitis B and hepatitis C tests, HIV test)\n"
        "* Women of childbearing potential: serum pregnancy test within 14 days prior to enrolment\n"
        "* HBV DNA < 200 IU/ml during nucleos(t)ide analogue (except Telbivudine) treatment\n"
        "* Evidence of diastolic dysfunction showing E/E' > 10\n"
        "Exclusion Criteria:\n* Current or chronic history of liver disease, or known hepatic or biliary "
        "abnormalities (with the exception of Gilbert's syndrome or asymptomatic gallstones)\n"
        "* Positive HIV test\n"
    )
    atoms = _atoms(text)
    assert [(a.concept_key, a.comparator) for a in atoms if a.computable] == [
        ("lab.hbv-dna", "lt"),
        ("condition.liver-disease", "present"),
        ("lab.hiv-antibody", "present"),
    ]
    hiv_test = next(a for a in atoms if a.concept_key == "lab.hiv-antibody")
    assert hiv_test.reason == "a test named without its result: that it is done is not the criterion"
    assert not any(a.concept_key in ("medication.telbivudine", "condition.gallstones") for a in atoms)


def test_a_gestational_age_in_weeks_and_sevenths() -> None:
    """Chia NCT02164734 "Gestational age 27 0/7 to 36 6/7 weeks" read 7 to 36 weeks: the lower bound was lost."""
    atom = _atoms("Inclusion Criteria:\n* Gestational age 27 0/7 to 36 6/7 weeks\n")[0]
    expected = ("lab.gestational-age", "between", 27.0, 36.857143)
    assert (atom.concept_key, atom.comparator, atom.value, atom.high) == expected


def test_a_vaccine_against_a_disease_and_a_drug_that_causes_it() -> None:
    """Chia NCT02429583 "History of previous Hepatitis B vaccination(s)" excluded hepatitis B; NCT03373669 "oral
    cholera vaccine" cholera; corpus NCT06974604 "drugs that ... cause Torsades de Pointes" the arrhythmia. Chia
    NCT03026088: "causing symptoms (symptomatic bradycardia)" names the finding in its parenthesis."""
    text = (
        "Exclusion Criteria:\n* History of previous Hepatitis B vaccination(s)\n"
        "* Ever having received oral cholera vaccine\n* Use of drugs known to cause Torsades de Pointes\n"
        "* Slowed heart rate, causing symptoms (symptomatic bradycardia)\n"
    )
    assert [a.concept_key for a in _atoms(text) if a.computable] == ["condition.bradycardia"]


def test_the_patients_on_a_drug_a_permitted_subject_and_an_enhancing_lesion() -> None:
    """Chia NCT01219907 "Patients on trastuzumab must have a baseline LVEF ..." required trastuzumab; corpus
    NCT00709761 "Prior therapy with trastuzumab in the neoadjuvant, adjuvant or metastatic setting was permitted"
    too; Chia NCT03589105 "at least one T1 gadolinium-enhancing lesion" required gadolinium."""
    text = (
        "Inclusion Criteria:\n* Patients on trastuzumab must have a baseline LVEF >= the lower limit of normal\n"
        "* Prior therapy with trastuzumab in the neoadjuvant, adjuvant or metastatic setting was permitted\n"
        "* at least one T1 gadolinium-enhancing lesion\n* Prior trastuzumab\n"
    )
    atoms = _atoms(text)
    assert [(a.concept_key, a.text) for a in atoms if a.computable and a.category == "medication"] == [
        ("medication.trastuzumab", "Prior trastuzumab")
    ]


def test_a_status_defined_in_an_inclusion_is_no_criterion() -> None:
    """Corpus NCT03761914: "TNBC status is defined as estrogen receptor ... negative" required TNBC a second time."""
    atom = _atoms("Inclusion Criteria:\n* TNBC status is defined as estrogen receptor negative\n")[0]
    assert not atom.computable


def test_a_limit_restated_in_square_brackets() -> None:
    """Chia NCT02201316: "estradiol < 40 picograms per mililiter (pg/mL) [<147 picomole per liter]" was left for
    review as several thresholds; the bracket restates the limit in other units."""
    text = "Inclusion Criteria:\n* estradiol < 40 picograms per mililiter (pg/mL) [<147 picomole per liter]\n"
    atom = _atoms(text)[0]
    assert (atom.computable, atom.comparator, atom.value, atom.unit) == (True, "lt", 40.0, "pg/mL")


def test_a_lab_threshold_negated_named_for_patients_or_allowed() -> None:
    """Corpus NCT01147016: "Alkaline phosphatase and AST/ALT may not both be > the ULN" and "Patients with AST/ALT or
    alkaline phosphatase > ULN must have liver imaging ..." required the enzymes above normal; NCT01724606 "Low dose
    warfarin ... with PT-INR <= 1.5 x ULN is permitted" excluded a normal INR; Chia NCT03059069 "AST/ALT > x3 upper
    normal limit" was read as at most three times the limit."""
    text = (
        "Inclusion Criteria:\n* Alkaline phosphatase and AST/ALT may not both be > the ULN\n"
        "* Patients with AST/ALT or alkaline phosphatase > ULN must have liver imaging\n"
        "* Creatinine clearance >= 30 mL/min for subject with creatinine levels > 1.5 x institutional upper limit of "
        "normal (ULN)\n"
        "Exclusion Criteria:\n* Abnormal liver function (AST/ALT > x3 upper normal limit)\n"
        "* Low dose warfarin (1 mg once daily) with PT-INR ≤ 1.5 x ULN is permitted\n"
    )
    labs = [(a.kind, a.concept_key, a.comparator, a.value, a.uln_multiple) for a in _atoms(text) if a.computable]
    assert [x for x in labs if x[1] != "medication.warfarin"] == [
        ("inclusion", "lab.creatinine-clearance", "ge", 30.0, None),
        ("exclusion", "lab.ast", "gt", None, 3.0),
        ("exclusion", "lab.alt", "gt", None, 3.0),
    ]


def test_a_prevented_finding_is_not_required() -> None:
    """Chia NCT01313676 "Female subjects must be post-menopausal or using a highly effective method for avoidance of
    pregnancy" required a pregnancy, and so cancelled the trial's exclusion of pregnant women."""
    text = (
        "Inclusion Criteria:\n* Female subjects must be post-menopausal or using a highly effective method for "
        "avoidance of pregnancy\nExclusion Criteria:\n* Women who are pregnant\n"
    )
    atoms = _atoms(text)
    avoided = next(a for a in atoms if a.kind == "inclusion")
    assert avoided.reason == "'avoidance of' before the finding: its prevention is not the finding"
    assert _computable(text) == [("condition.pregnancy", "present", None)]
    assert next(a for a in atoms if a.kind == "exclusion").computable


def test_an_interaction_with_a_drug_is_not_its_use() -> None:
    """Chia NCT02810704: "... another trial testing a drug ... known to interact with aspirin, warfarin, or
    rivaroxaban" excluded every patient on warfarin or rivaroxaban."""
    text = (
        "Exclusion Criteria:\n* Patients who are concurrently enrolled in another active interventional clinical "
        "trial testing a drug or intervention known or believed to interact with aspirin, warfarin, or rivaroxaban\n"
    )
    atoms = _atoms(text)
    assert not any(a.computable for a in atoms)
    warfarin = next(a for a in atoms if a.concept_key == "medication.warfarin")
    # the list's members share the reading of its first one, aspirin
    assert warfarin.reason == next(a.reason for a in atoms if a.concept_key == "medication.aspirin")


def test_words_before_a_list_apply_to_every_member() -> None:
    """ "High risk of thrombosis, bleeding or stroke": the risk is of all three; before, only the first was left
    for review and the others excluded every patient with a bleeding or a stroke."""
    text = (
        "Exclusion Criteria:\n* High risk of thrombosis, bleeding or stroke\n"
        "* Vaccinated against hepatitis B, influenza or measles\n* History of stroke, myocardial infarction, or heart "
        "failure\n"
    )
    assert _computable(text) == [
        ("condition.stroke", "present", None),
        ("condition.myocardial-infarction", "present", None),
        ("condition.heart-failure", "present", None),
    ]


def test_an_example_after_a_marker_is_the_patients_own() -> None:
    """Chia NCT01728194 "use of drugs known to cause depression, e.g., reserpine" excludes reserpine's use, and
    NCT01803438 "a reversible causes for AF like hyperthyroidism and alcoholism" the patient's own hyperthyroidism
    and alcoholism: the examples are not members of the caused finding's list."""
    text = (
        "Exclusion Criteria:\n* use of drugs known to cause depression, e.g., reserpine, steroids\n"
        "* Subject has a reversible causes for AF like hyperthyroidism and alcoholism.\n"
    )
    keys = [key for key, _, _ in _computable(text)]
    assert "medication.reserpine" in keys
    assert {"condition.hyperthyroidism", "condition.alcohol-dependence"} <= set(keys)
    assert "condition.depression" not in keys


def test_an_intent_to_become_pregnant_is_a_plan() -> None:
    """Chia NCT03328052 "Known pregnancy and/or lactation, or intent to become pregnant during this study"."""
    text = "Exclusion Criteria:\n* Known pregnancy and/or lactation, or intent to become pregnant during this study.\n"
    atoms = _atoms(text)
    assert [a.text for a in atoms if a.computable] == ["Known pregnancy", "lactation"]
    assert atoms[-1].reason == "future plans are not coded"


def test_sub_items_under_the_following_are_exceptions_are_exceptions() -> None:
    """Corpus NCT03518606: the steroids listed under "The following are exceptions to this criterion:" were each an
    exclusion; the lead-in's immunosuppressants keep the exceptions as a residue to confirm."""
    text = (
        "Exclusion Criteria:\n10. Current or prior use of immunosuppressive medication within 14 days before the first "
        "dose of durvalumab. The following are exceptions to this criterion:\n\n"
        "    * Intranasal, inhaled, topical steroids, or local steroid injections\n"
        "    * Steroids as premedication for hypersensitivity reactions (e.g., CT scan premedication)\n"
        "11. Pregnancy\n"
    )
    atoms = _atoms(text)
    subs = [a for a in atoms if a.id.startswith("exc-1.")]
    assert subs and all(a.reason == "an exception to criterion exc-1: to confirm by hand" for a in subs)
    lead = _by_key(text, "medication.immunosuppressants")
    assert lead.computable and lead.within_days == 14
    assert [r.reason for r in lead.residues] == ["the exceptions listed below it"]


def test_an_allowable_list_opening_its_sentence_is_allowed() -> None:
    """Chia NCT02332291: "Occasional use of benzodiazepines or non-benzodiazepine sedatives (such as zolpidem,
    eszopiclone, or zaleplon) during this period is allowable" excluded every one of them."""
    text = (
        "Exclusion Criteria:\n* Use of antidepressant medications in the last 4 weeks. Occasional use of "
        "benzodiazepines or non-benzodiazepine sedatives (such as zolpidem, eszopiclone, or zaleplon) during this "
        "period is allowable.\n"
    )
    assert [key for key, _, _ in _computable(text)] == ["medication.antidepressants"]
    eszopiclone = _by_key(text, "medication.eszopiclone")
    assert eszopiclone.reason is not None and eszopiclone.reason.startswith("a permission ('allowable')")


@pytest.mark.parametrize(
    ("item", "key", "reason"),
    [
        # Chia NCT03004261: the patient's own hepatitis B was excluded
        ("Donor is sero-positive in HBV", "condition.hepatitis-b", "'donor' before the finding: another person's"),
        # Chia NCT01793519: any DMARD in 6 months excluded every patient, in a trial that requires DMARDs
        (
            "Had dose increase of anti-TNF agent or DMARD in the last 6 months",
            "medication.dmards",
            "'dose increase of' before the treatment: a change in its dose or its stopping is not its use",
        ),
        # Chia NCT02284737 and NCT02481518: a planned treatment is no past one
        ("Scheduled major surgery in the next 6 months", "procedure.major-surgery", "future plans are not coded"),
        ("plan for treatment with cisplatin", "medication.cisplatin", "future plans are not coded"),
    ],
)
def test_statements_about_another_person_a_dose_change_or_a_plan(item: str, key: str, reason: str) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert not atom.computable
    assert atom.reason is not None and atom.reason.startswith(reason)


def test_a_living_donor_transplant_is_the_patients_procedure() -> None:
    """Chia NCT02509949 "admitted for living donor renal transplantation": "donor" names the graft's source."""
    atom = _by_key(
        "Inclusion Criteria:\n* admitted for living donor renal transplantation\n", "procedure.kidney-transplant"
    )
    assert atom.reason is None or "another person" not in atom.reason


def test_an_equals_sign_before_a_measured_value_is_a_lost_comparator() -> None:
    """Chia writes a lost "≥"/"≤" as "=" ("Neutrophils=1.5×109/L"): no limit on a measured value is an equality."""
    atom = _by_key("Inclusion Criteria:\n* Neutrophils=1.5×109/L\n", "lab.neutrophils")
    assert not atom.computable
    assert atom.reason == "'=' before a measured value: the comparator (≥ or ≤?) was lost, to confirm"
    spo2 = _by_key("Inclusion Criteria:\n* SpO2 < / = 94% on room air\n", "lab.spo2")
    assert (spo2.computable, spo2.comparator, spo2.value) == (True, "le", 94.0)


def test_the_patients_an_alternative_threshold_applies_to() -> None:
    """Chia NCT02384850 "(patients with Gilbert's syndrome total bilirubin ≤2.5 x ULN)" required Gilbert's
    syndrome; corpus NCT03202316 "Patients receiving therapeutic anticoagulation (such as ... warfarin) should be on
    a stable dose" required anticoagulants."""
    gilbert = (
        "Inclusion Criteria:\n* Total bilirubin ≤ 1.5 x ULN (patients with Gilbert's syndrome total bilirubin ≤2.5 x "
        "ULN)\n"
    )
    assert "condition.gilbert-syndrome" not in [key for key, _, _ in _computable(gilbert)]
    assert ("lab.total-bilirubin", "le", None) in _computable(gilbert)
    anticoagulants = (
        "Inclusion Criteria:\n* Patients receiving therapeutic anticoagulation (such as low-molecular-weight heparin "
        "or warfarin) should be on a stable dose\n"
    )
    assert _computable(anticoagulants) == []
    # the object of the requirement stays the criterion (Chia NCT00461136)
    bp = "Inclusion Criteria:\n* Patients on ongoing hypertensive therapy must have a blood pressure ≥ 135/85 mm Hg\n"
    assert ("lab.systolic-bp", "ge", 135.0) in _computable(bp)


@pytest.mark.parametrize(
    ("item", "key", "word"),
    [
        ("Patients who have a history of psychotropics abuse", "medication.psychotropics", "abuse"),
        ("Known contact with an INH or rifampin resistant case", "medication.rifampin", "resistant"),
        ("Presence of active AIDS-defining opportunistic infections within 12 weeks", "condition.hiv", "defining"),
    ],
)
def test_words_after_a_concept_that_make_it_something_else(item: str, key: str, word: str) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert not atom.computable
    assert atom.reason is not None and atom.reason.startswith(f"'{word}' after the finding")


def test_a_response_to_a_treatment_is_not_its_absence() -> None:
    """Chia NCT02637453 "No response to more than one antiarrhythmic drug" (drug-refractory atrial fibrillation)
    required that the patient never had an antiarrhythmic; corpus NCT05232006 "Prior platinum allowed as long as no
    breast cancer progression" required no breast cancer, in a breast cancer trial."""
    drug = _by_key(
        "Inclusion Criteria:\n* No response to more than one antiarrhythmic drug\n", "medication.antiarrhythmics"
    )
    assert drug.reason == "'no response to' before the treatment: the response to it is not recorded in coded data"
    text = "Inclusion Criteria:\n* Prior platinum allowed as long as no breast cancer progression on the platinum\n"
    assert not _by_key(text, "condition.breast-cancer").computable


def test_a_line_defining_a_class_is_no_criterion() -> None:
    """Chia NCT03026088 lists "NYHA II : Slight limitation of physical activity ..." under "NYHA class II - IV":
    each line required its class alone."""
    text = (
        "Inclusion Criteria:\n* NYHA class II-IV\n  * NYHA II : Slight limitation of physical activity.\n"
        "  * NYHA III:Marked limitation of physical activity.\n"
    )
    atoms = _atoms(text)
    assert [(a.comparator, a.value) for a in atoms if a.computable] == [("ge", 2.0)]
    assert {a.reason for a in atoms if a.id.startswith("inc-1.") and a.concept_key} == {
        "defines a class of the scale, not a criterion"
    }


def test_an_unknown_status_is_not_the_finding() -> None:
    """Chia NCT01815580 "Unaware of HIV status at enrollment" required a positive HIV antibody test."""
    atom = _by_key("Inclusion Criteria:\n* Unaware of HIV status at enrollment\n", "lab.hiv-antibody")
    assert atom.reason == "'unaware of' before the finding: its status is unknown, not present"


def test_a_lead_in_marker_covers_its_list_but_not_its_own_object() -> None:
    """Chia NCT03275584 "contra-indication to: dipyridamole, aminophylline" excluded dipyridamole's users; Chia
    NCT01373684 "causes of liver disease: alcoholic liver disease, hemochromatosis" excludes those diseases."""
    contra = "Exclusion Criteria:\n* Patient with contra-indication to: dipyridamole, aminophylline\n"
    assert _computable(contra) == []
    causes = (
        "Exclusion Criteria:\n* Other acquired or inherited causes of liver disease: alcoholic liver disease, "
        "hemochromatosis\n"
    )
    assert [key for key, _, _ in _computable(causes)] == [
        "condition.alcohol-associated-liver-disease",
        "condition.hemochromatosis",
    ]


def test_a_kind_of_a_finding_narrows_it() -> None:
    """Chia NCT02315287 "secondary forms of diabetes" excluded every patient of a type 2 diabetes trial."""
    atom = _by_key("Exclusion Criteria:\n* secondary forms of diabetes\n", "condition.diabetes")
    assert [(r.effect, r.reason) for r in atom.residues] == [("narrows", "a narrower kind")]
    assert _by_key("Exclusion Criteria:\n* any form of diabetes\n", "condition.diabetes").residues == []


def test_an_item_for_some_patients_only() -> None:
    """Chia NCT02106598 "For melanoma patients: ..." required melanoma of breast and gynaecological cancer patients
    too; "For colorectal cancer patients in the expanded cohorts, no prior irinotecan" applied to every patient."""
    text = "Inclusion Criteria:\n* For colorectal cancer patients in the expanded cohorts, no prior irinotecan\n"
    crc = _by_key(text, "condition.colorectal-cancer")
    assert crc.reason is not None and crc.reason.startswith("names the patients the item applies to")
    irinotecan = _by_key(text, "medication.irinotecan")
    assert irinotecan.reason == "applies only to some patients ('for colorectal cancer patients'): to confirm"
    # an opening that names no subgroup ("For female subjects") changes nothing
    women = "Exclusion Criteria:\n* For female subjects: Subject is pregnant or breastfeeding\n"
    assert _by_key(women, "condition.pregnancy").computable


@pytest.mark.parametrize(
    ("item", "key", "restriction"),
    [
        # corpus NCT03761914 and Chia NCT03062358: every patient with a recorded infection was excluded
        ("Has an active infection requiring systemic therapy", "condition.infection", "requiring systemic therapy"),
        # the lexicon names the restricted finding itself; the unrestricted alternative after "or" stays out
        (
            "Has a history of (non-infectious) pneumonitis that required steroids or current pneumonitis",
            "condition.pneumonitis",
            "that required steroids",
        ),
        ("Renal failure requiring dialysis", "condition.renal-impairment", "requiring dialysis"),
        ("Heart failure requiring hospitalization", "condition.heart-failure", "requiring hospitalization"),
        # Chia NCT03475589, NCT02196285, corpus NCT06974604: a relative clause or a state after the finding; the
        # head may end inside a parenthesis
        (
            "Hypertension (high blood pressure) that can not be controlled by drugs",
            "condition.hypertension",
            "that can not be controlled by drugs",
        ),
        ("bipolar disease under treatment", "condition.bipolar-disorder", "under treatment"),
        (
            "Has active human immunodeficiency virus (HIV) infection that is not well controlled",
            "condition.hiv",
            "that is not well controlled",
        ),
        # Chia NCT02596555: after a procedure too, with the drug it requires named in the clause
        (
            "Artificial heart valves requiring treatment with an anticoagulant",
            "procedure.valve-replacement",
            "requiring treatment with an anticoagulant",
        ),
        # audit round 8: a grade after the finding, and an onset before it
        ("AV block of second or third degree", "condition.atrioventricular-block", "of second"),
        ("Thunderclap onset of the headache", "condition.headache", "Thunderclap onset of the headache"),
        # Chia NCT02766530: a word before a procedure names a narrower kind
        (
            "women who received mechanical valve replacement",
            "procedure.valve-replacement",
            "mechanical valve replacement",
        ),
    ],
)
def test_a_clause_restricting_a_finding_is_a_residue(item: str, key: str, restriction: str) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert atom.computable
    assert [(r.text, r.effect) for r in atom.residues] == [(restriction, "narrows")]


def test_a_required_concept_after_requiring_in_an_inclusion_is_its_own_atom() -> None:
    """Both are required: the dialysis atom decides the restriction, the renal failure atom needs no residue."""
    atoms = _atoms("Inclusion Criteria:\n* Renal failure requiring dialysis\n")
    assert [(a.concept_key, a.computable, a.residues) for a in atoms] == [
        ("condition.renal-impairment", True, []),
        ("procedure.dialysis", True, []),
    ]


def test_a_treatment_written_right_before_a_finding_is_its_cause() -> None:
    """Corpus NCT06974604 "radiation pneumonitis that required steroids" excluded every patient ever irradiated;
    Chia NCT02555163 "History of BCG sepsis" read BCG use."""
    atoms = _atoms("Exclusion Criteria:\n* History of radiation pneumonitis\n* History of BCG sepsis\n")
    assert [(a.concept_key, a.computable) for a in atoms] == [
        ("condition.pneumonitis", True),
        ("condition.sepsis", True),
    ]
    assert [r.text for r in atoms[1].residues] == ["BCG sepsis"]


def test_a_finding_on_a_chronic_treatment_is_restricted_to_it() -> None:
    """Chia NCT03231982 "Renal failure on dialysis": a renal failure alone excluded."""
    atom = _by_key("Exclusion Criteria:\n* Renal failure on dialysis\n", "condition.renal-impairment")
    assert [(r.text, r.effect) for r in atom.residues] == [("on dialysis", "narrows")]


@pytest.mark.parametrize(
    "item",
    [
        # Chia audits: each excluded any record of the drug ever
        "Patients who is undergoing chemotherapy",
        "Take any clonidine",
        "Receive thrombolytic or anticoagulant therapy",
        "preoperative use of gabapentin",
        "Patients being treated with a beta-blocker",
    ],
)
def test_present_tense_use_is_current_use(item: str) -> None:
    (atom, *_) = _atoms(f"Exclusion Criteria:\n* {item}\n")
    assert atom.computable and atom.qualifiers == ["current"]


def test_a_multiple_of_the_institutional_norm_is_a_uln_multiple() -> None:
    """Corpus NCT00184067 "SGOT/SGPT of 2.5 X institutional norm or less" was read as ALT <= 2.5 U/L."""
    atom = _by_key("Inclusion Criteria:\n* SGPT of 2.5 X institutional norm or less\n", "lab.alt")
    assert (atom.comparator, atom.value, atom.uln_multiple) == ("le", None, 2.5)


@pytest.mark.parametrize(
    ("item", "key", "restriction"),
    [
        # Chia NCT03338296, NCT03079141, NCT03036462 (end-of-session audit): the broad finding excluded
        ("Mitral regurgitation moderate or greater", "condition.mitral-valve-insufficiency", "moderate or greater"),
        ("Myopia > 6D", "condition.myopia", "> 6D"),
        ("Anaemia not attributed to iron deficiency", "condition.anemia", "not attributed to iron deficiency"),
    ],
)
def test_a_severity_a_measure_or_an_excluded_cause_of_a_finding_is_a_residue(
    item: str, key: str, restriction: str
) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert atom.computable
    assert [(r.text, r.effect) for r in atom.residues] == [(restriction, "narrows")]


def test_an_age_or_a_duration_beside_a_finding_is_no_measure_of_it() -> None:
    atom = _by_key("Inclusion Criteria:\n* type 2 diabetic, age 18 and over\n", "condition.type-2-diabetes")
    assert atom.residues == []


def test_list_members_share_the_lists_qualifier_across_members_the_lexicon_does_not_know() -> None:
    """Chia NCT03260881 "Current use of ... pramlintide and fixed prandial insulin": the insulin counted ever-use;
    NCT01888965 "No concurrent use of isoniazid, labetolol, trovafloxacin" (labetolol is unknown) likewise."""
    atoms = _atoms("Exclusion Criteria:\n* Current use of thiazolidinediones, pramlintide and fixed prandial insulin\n")
    assert [(a.concept_key, a.qualifiers) for a in atoms] == [
        ("medication.thiazolidinediones", ["current"]),
        ("medication.pramlintide", ["current"]),
        ("medication.insulins", ["current"]),
    ]


def test_the_json_names_the_qualifiers_an_atom_is_read_with() -> None:
    """Reviewers (and users) could not see that "current use" counts only ongoing medications."""
    current = _by_key("Exclusion Criteria:\n* Currently taking warfarin\n", "medication.warfarin")
    assert current.contract()["qualifiers"] == ["current"]
    plain = _by_key("Exclusion Criteria:\n* Diabetes\n", "condition.diabetes")
    assert "qualifiers" not in plain.contract()
    # among the exclusions a drug named with no time is its use now (audit round 8: "lithium", "triptans")
    bare = _by_key("Exclusion Criteria:\n* Warfarin\n", "medication.warfarin")
    assert bare.contract()["qualifiers"] == ["current"]
    required = _by_key("Inclusion Criteria:\n* Warfarin\n", "medication.warfarin")
    assert "qualifiers" not in required.contract()
    # a word of the past anywhere in the item keeps any time (the sample trial: its later list member)
    past = _atoms(
        "Exclusion Criteria:\n* Previous treatment with anti-programmed death receptor-1 (PD-1) or its ligand (PD-L1) "
        "antibodies, anti-cytotoxic T-lymphocyte-associated antigen 4 (CTLA-4) antibodies\n"
    )
    assert "current" not in [q for a in past for q in a.qualifiers]


def test_the_causes_listed_after_a_finding_are_its_causes() -> None:
    """Chia NCT00461136: "not caused by diabetes or hypertension" excluded every hypertensive patient; NCT03211741:
    the macular edema that causes the required visual impairment became an alternative to it."""
    kidney = "Exclusion Criteria:\n- Kidney disease not caused by diabetes or hypertension\n"
    assert _computable(kidney) == [("condition.kidney-disease", "present", None)]
    (atom,) = [a for a in _atoms(kidney) if a.computable]
    assert [(r.text, r.effect) for r in atom.residues] == [("not caused by diabetes or hypertension", "narrows")]
    vision = (
        "Inclusion Criteria:\n- Visual impairment predominantly due to abnormal new vessel ingrowth and/or macular "
        "edema\n"
    )
    (impairment,) = [a for a in _atoms(vision) if a.concept_key]
    assert impairment.concept_key == "condition.visual-impairment" and impairment.any_of is None
    assert [r.text for r in impairment.residues] == [
        "predominantly due to abnormal new vessel ingrowth and/or macular edema"
    ]


def test_a_treatment_or_a_finding_after_a_comma_is_no_cause_of_the_finding_before() -> None:
    """A drug after "due to X or" is a criterion of its own; after a comma the causal words explain another
    finding ("convulsion, paralysis due to ..."), not the one before the comma."""
    heparin = (
        "Exclusion Criteria:\n- Patients receiving therapeutic heparin medication due to chronic coagulation "
        "disorder or anticoagulation medication\n"
    )
    assert [key for key, _, _ in _computable(heparin)] == ["medication.heparin", "medication.anticoagulants"]
    seizure = (
        "Exclusion Criteria:\n- convulsion, paralysis due to intracranial hemorrhage or central nervous system "
        "leukemia at diagnosis\n"
    )
    assert _by_key(seizure, "condition.seizure").residues == []


def test_concepts_before_a_later_sentences_colon_are_criteria() -> None:
    """Corpus NCT06650748: "... autoimmune diseases, including Crohn's disease, ... etc. The following exceptions
    apply: Type I diabetes, ...": the colon made the first sentence a lead-in and its seventeen excluded diseases
    were lost; the listed exceptions are allowed, not excluded."""
    text = (
        "Exclusion Criteria:\n3. History or current presence of autoimmune diseases, including but not limited to "
        "Crohn's disease, ulcerative colitis, autoimmune vasculitis, etc. The following exceptions apply: Type I "
        "diabetes, psoriasis or vitiligo not requiring systemic treatment;\n"
    )
    computable = [key for key, _, _ in _computable(text)]
    assert computable == [
        "condition.autoimmune-disease",
        "condition.crohns-disease",
        "condition.ulcerative-colitis",
        "condition.autoimmune-vasculitis",
    ]
    for key in ("condition.psoriasis", "condition.vitiligo"):
        reason = _by_key(text, key).reason
        assert reason is not None and reason.startswith("a permission ('exceptions apply')"), key
    # a lead-in of the same sentence still names only the tests that follow it
    organ = "Inclusion Criteria:\n- Adequate organ function: hemoglobin >= 9 g/dL\n"
    assert _computable(organ) == [("lab.hemoglobin", "ge", 9.0)]


def test_a_trace_is_no_more_than_a_trace() -> None:
    """Corpus NCT03997370 "Edema beyond trace edema": the edema is to confirm beyond a trace."""
    text = "Exclusion Criteria:\n* Edema beyond trace edema, because this will impact iohexol distribution\n"
    edema = _by_key(text, "condition.edema")
    assert edema.computable and "beyond trace" in [r.text for r in edema.residues]


def test_contraindications_listed_among_the_inclusions_are_left_for_review() -> None:
    """Chia NCT03077204 lists its contraindications under the inclusion heading ("Osteoporosis or osteopenia are
    relative contraindications")."""
    text = (
        "Inclusion Criteria:\n- Osteoporosis or osteopenia are relative contraindications, since this condition may "
        "limit the degree of obtainable correction\n- Type 2 diabetes\n"
    )
    assert _computable(text) == [("condition.type-2-diabetes", "present", None)]
    reason = _by_key(text, "condition.osteoporosis").reason
    assert reason == "'are relative contraindications': an exclusion written among the inclusions, left for review"


def test_a_comparator_written_with_no_is_no_negation() -> None:
    """Chia NCT02041299 "received no less than 20 transfusions" became "no transfusion"; a count of events is not
    decided from coded data, while "at least 1 transfusion" is the transfusion itself. NCT02984475 "equal to or over
    35 kg" is >= 35."""
    text = (
        "Inclusion Criteria:\n* Patients who have received no less than 20 transfusions\n"
        "* Patients who have received at least 1 transfusion\n* Weight: equal to or over 35 kg\n"
    )
    many, one, weight = _atoms(text)
    assert many.comparator == "present" and not many.computable
    assert many.reason == "a count ('20 transfusions') is not decided from coded data"
    assert (one.concept_key, one.comparator, one.computable) == ("procedure.blood-transfusion", "present", True)
    assert (weight.comparator, weight.value) == ("ge", 35.0)


def test_not_eligible_in_parentheses_or_for_a_treatment() -> None:
    """Chia NCT03062358: subtypes "not eligible" in parentheses are excluded, not alternatives of the inclusion
    before the parenthesis; "not eligible for standard therapy" describes the patients required."""
    hcc = (
        "Inclusion Criteria:\n* Hepatocellular carcinoma (fibrolamellar and mixed HCC/cholangiocarcinoma subtypes "
        "are not eligible)\n"
    )
    assert _by_key(hcc, "condition.hepatocellular-carcinoma").computable
    assert _by_key(hcc, "condition.cholangiocarcinoma").reason == (
        "'are not eligible': an exclusion written among the inclusions, left for review"
    )
    aml = "Inclusion Criteria:\n* R/R AML who have failed or are not eligible for standard therapy\n"
    assert _by_key(aml, "condition.acute-myeloid-leukemia").computable


def test_with_after_a_finding_restricts_it() -> None:
    """Chia NCT03079141 "type 2 diabetes mellitus with microalbuminuria" excluded every diabetic; a name that holds
    "with" ("granulomatosis with polyangiitis") and how a diagnosis was made restrict nothing."""
    text = (
        "Exclusion Criteria:\n* type 2 diabetes mellitus with microalbuminuria\n"
        "* granulomatosis with polyangiitis\n"
        "* Primary Sjögren's syndrome with the diagnosis made by the American-European criteria\n"
    )
    diabetes, gpa, sjogren = (a for a in _atoms(text) if a.computable)
    assert [(r.text, r.effect) for r in diabetes.residues] == [("with microalbuminuria", "narrows")]
    assert gpa.residues == []
    assert not any("with" in r.text for r in sjogren.residues)


def test_for_after_a_treatment_names_its_purpose() -> None:
    """Chia NCT02366806 "Patients treated with radiation for palliative intent" excluded any radiotherapy (in a
    breast radiotherapy trial); "for at least 3 months" is a duration, not a purpose."""
    text = (
        "Exclusion Criteria:\n* Patients treated with radiation for palliative intent\n"
        "* anticoagulants for any reason\nInclusion Criteria:\n* No prior chemotherapy for STS\n"
    )
    radiation, anticoagulants, chemotherapy = (a for a in _atoms(text) if a.computable)
    assert [(r.text, r.effect) for r in radiation.residues] == [("for palliative intent", "narrows")]
    assert anticoagulants.residues == []
    assert [(r.text, r.effect) for r in chemotherapy.residues] == [("for STS", "widens")]


def test_how_a_finding_shows_is_no_criterion_of_its_own() -> None:
    """Chia NCT02871206, NCT02762851: "hypersensitivity to eggs manifested as hives, ..., hypotension, or shock"
    excluded every patient with a record of hypotension or shock; a measurement after the words still states one."""
    eggs = (
        "Exclusion Criteria:\n* Known IgE-mediated hypersensitivity to eggs manifested as hives, swelling of the "
        "mouth and throat, difficulty in breathing, hypotension, or shock\n"
    )
    assert _computable(eggs) == []
    diabetes = "Exclusion Criteria:\n* Diabetes characterized by HbA1c > 8%\n"
    assert ("lab.hba1c", "gt", 8.0) in _computable(diabetes)


def test_an_exception_reaches_to_the_next_comma_and_into_its_examples() -> None:
    """Chia NCT02969187 "open abdominal surgeries except simple appendectomy and common OB/GYN procedures in the
    pelvis (hysterectomy, C-section, ...)" excluded hysterectomies; NCT06078384 "except for adequately treated
    basal cell or squamous cell skin cancer" excluded squamous cell skin cancer; NCT01313676 "other than vascular
    disease or COPD" excluded COPD. A relative clause, a closing parenthesis and a comma end the exception; a
    clause that starts with "Exclude" excepts nothing."""
    text = (
        "Exclusion Criteria:\n* Prior open abdominal surgeries except simple appendectomy and common OB/GYN "
        "procedures in the pelvis (hysterectomy, C-section, and oophorectomy, tubal ligation)\n"
        "* History of invasive malignancy <= 3 years prior to signing informed consent except for adequately "
        "treated basal cell or squamous cell skin cancer\n"
        "* Any condition other than the study indication that requires systemic corticosteroids\n"
        "* Exclude patients with active gastrointestinal bleeding\n"
        "* Surgery other than cataract surgery, asthma\n"
    )
    assert [a.concept_key for a in _atoms(text) if a.computable] == ["condition.gi-bleeding", "condition.asthma"]


@pytest.mark.parametrize(
    "item",
    [
        "History of cancer that was diagnosed within 5 years",  # the window is read, the clause only dates it
        "Grade >=2 hypotension (that is, hypotension for which nonurgent intervention is required)",  # "i.e."
        "Patients who have undergone segmental mastectomy",  # how the procedure came about, no narrower kind
    ],
)
def test_words_that_date_confirm_or_explain_restrict_nothing(item: str) -> None:
    atoms = [a for a in _atoms(f"Exclusion Criteria:\n* {item}\n") if a.computable]
    assert len(atoms) == 1
    assert not [r for r in atoms[0].residues if "that" in r.text or "undergone" in r.text]


def test_a_dose_or_duration_before_a_drug_narrows_it() -> None:
    """Chia NCT02894645 "high-dose steroids" counted any prednisone; NCT02552459 "long-term use of analgesics,
    sedatives or NSAIDs" any ibuprofen; NCT00356148 "within prior 3 months" opened no window."""
    text = (
        "Exclusion Criteria:\n* Previous treatment with cytotoxic agents or high-dose steroids\n"
        "* long-term use of analgesics, sedatives or NSAIDs\n"
        "* History of receiving any antibiotics within prior 3 months\n"
    )
    atoms = [a for a in _atoms(text) if a.computable]
    assert [(a.concept_key, [r.text for r in a.residues], a.within_days) for a in atoms] == [
        ("medication.antineoplastic-agents", [], None),
        ("medication.systemic-corticosteroids", ["high-dose steroids"], None),
        ("medication.hypnotics", ["long-term use of analgesics, sedatives"], None),
        ("medication.nsaids", ["long-term use of analgesics, sedatives or NSAIDs"], None),
        ("medication.antibiotics", [], 90),
    ]


def test_ruled_out_is_absent_and_does_not_qualify_is_no_requirement() -> None:
    """Corpus NCT02664558 "V/Q scan that rules out thromboembolic disease" required the disease; NCT05070247
    "Prior chemotherapy in the neoadjuvant/adjuvant setting does not qualify" made it a qualifying alternative."""
    text = (
        "Inclusion Criteria:\n* V/Q scan that rules out thromboembolic disease\n"
        "* Prior chemotherapy in the neoadjuvant/adjuvant setting does not qualify unless progression occurred "
        "within 6 months\n"
    )
    atoms = _atoms(text)
    assert [(a.computable, a.comparator, a.residues) for a in atoms[:1]] == [(True, "absent", [])]
    assert [a.computable for a in atoms[1:]] == [False]


def test_a_concept_coded_by_prefixes_alone_names_them() -> None:
    """Audit round 7: "carcinomatous meningitis" was computable with an empty concept list (its FHIRPath asked for
    ICD-10-CM C79.32 and below)."""
    atom = _atoms("Exclusion Criteria:\n* carcinomatous meningitis\n")[0]
    assert [(c.system, c.code) for c in atom.concepts] == [("http://hl7.org/fhir/sid/icd-10-cm", "C79.32")]


def test_list_members_after_a_plan_or_a_contraindication_share_it() -> None:
    """Corpus NCT06264921 "a candidate for curative treatment through radical surgery and/or radiotherapy, or
    chemotherapy" excluded every patient ever given chemotherapy; NCT03249311 "physical illness contraindicating the
    use of levomilnacipran and duloxetine" excluded duloxetine users."""
    text = (
        "Exclusion Criteria:\n* Locally advanced tumor that is a candidate for curative treatment through radical "
        "surgery and/or radiotherapy, or chemotherapy\n"
        "* physical illness contraindicating the use of levomilnacipran and duloxetine\n"
    )
    assert [(a.concept_key, a.computable) for a in _atoms(text)] == [
        ("procedure.radiotherapy", False),
        ("medication.antineoplastic-agents", False),
        ("medication.levomilnacipran", False),
        ("medication.duloxetine", False),
    ]


def test_the_json_names_the_codes_an_exception_leaves_out() -> None:
    """Audit round 7: reviewers of the JSON could not see that "active malignancies other than AML or MDS" left AML
    and MDS out; a plain atom keeps exactly its fields."""
    atom = _atoms("Exclusion Criteria:\n* Participants with active malignancies other than AML or MDS.\n")[0]
    codes = {c["code"] for c in atom.contract()["excluded_concepts"]}
    assert {"C92.0", "D46", "91861009"} <= codes  # AML (ICD-10-CM and SNOMED CT) and MDS
    assert "excluded_concepts" not in _atoms("Exclusion Criteria:\n* Diabetes\n")[0].contract()


def test_a_member_of_another_kind_does_not_share_the_lists_reading() -> None:
    """Chia NCT03479502 "allergy to Doxycycline or Methylprednisolone,\\npregnancy": pregnancy is no allergy."""
    atoms = _atoms("Exclusion Criteria:\n* allergy to Doxycycline or Methylprednisolone,\r\npregnancy,\r\n")
    pregnancy = next(a for a in atoms if a.category == "pregnancy")
    assert pregnancy.computable and pregnancy.comparator == "present"


def test_findings_listed_after_other_causes_are_causes() -> None:
    """Chia NCT03228498 "cognitive impairment from other causes (i.e., ..., thyroid disorders, metabolic diseases)"
    excluded every patient with any metabolic disease, diabetes and obesity included."""
    atoms = _atoms(
        "Exclusion Criteria:\n* Diagnosis of cognitive impairment from other causes (i.e., vascular dementia, thyroid "
        "disorders, metabolic diseases)\n"
    )
    assert [(a.computable, [r.text for r in a.residues]) for a in atoms] == [
        (True, ["from other causes (i.e., vascular dementia, thyroid disorders, metabolic diseases"])
    ]


@pytest.mark.parametrize(
    ("item", "residue"),
    [
        ("a history of prior thoracic radiotherapy", "thoracic radiotherapy"),  # corpus NCT07188116
        ("Prior WBRT", "WBRT"),
        ("Previous exposure to cytotoxic drugs or pelvic irradiation", "pelvic irradiation"),  # Chia NCT02186782
    ],
)
def test_a_narrower_kind_of_radiotherapy_is_a_residue(item: str, residue: str) -> None:
    """The radiotherapy codes count thoracic or whole-brain radiotherapy, but do not single them out: an exclusion of
    one of them excluded every patient ever irradiated."""
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", "procedure.radiotherapy")
    assert atom.computable and [(r.text, r.effect) for r in atom.residues] == [(residue, "narrows")]


def test_a_narrower_kind_of_bariatric_surgery_is_a_residue() -> None:
    """Audit round 8 (corpus NCT02952963): "RYGB" counted every bariatric operation, banding and sleeve included."""
    atom = _by_key("Inclusion Criteria:\n* Prior RYGB\n", "procedure.bariatric-surgery")
    assert atom.computable and [(r.text, r.effect) for r in atom.residues] == [("RYGB", "narrows")]


@pytest.mark.parametrize(
    ("item", "key", "qualifiers"),
    [
        ("Anticoagulant use (warfarin or heparin)", "medication.anticoagulants", ["current"]),  # corpus NCT01650792
        ("use of warfarin", "medication.warfarin", ["current"]),
        ("History of warfarin use", "medication.warfarin", ["history"]),
        ("Prior warfarin use", "medication.warfarin", ["prior"]),
    ],
)
def test_use_named_with_no_time_is_use_now(item: str, key: str, qualifiers: list[str]) -> None:
    atom = _by_key(f"Exclusion Criteria:\n* {item}\n", key)
    assert atom.qualifiers == qualifiers


def test_the_condition_of_an_instruction_is_no_criterion() -> None:
    """Corpus NCT01142661 "In case AP is >3 x ULN (in absence of liver metastases) ..., the liver-specific AP must
    be separated" required every patient to be free of liver metastases; a threshold's own "(in case of liver
    metastases < 5 x ULN)" stays a residue of the threshold."""
    atoms = _atoms(
        "Inclusion Criteria:\n* In case AP is >3 x ULN (in absence of liver metastases), the liver-specific AP must "
        "be separated from the total\n* serum alanine transaminase (ALT) <= 2.5 x ULN (in case of liver metastases "
        "< 5 x ULN)\n"
    )
    liver = next(a for a in atoms if a.concept_key == "condition.liver-metastases")
    assert not liver.computable and "in case" in (liver.reason or "")
    alt = next(a for a in atoms if a.concept_key == "lab.alt")
    assert alt.computable and alt.uln_multiple == 2.5


def test_a_head_named_again_after_its_exception_is_no_exception_of_itself() -> None:
    """Chia NCT02973035: "A diagnosis of cancer (other than superficial squamous or basal cell skin cancer) in the
    past 3 years or current treatment for the active cancer" excepted every cancer from itself."""
    atom = _atoms(
        "Exclusion Criteria:\n* A diagnosis of cancer (other than superficial squamous or basal cell skin cancer) in "
        "the past 3 years or current treatment for the active cancer\n"
    )[0]
    assert atom.computable and atom.concept_key == "condition.malignancy" and atom.excluded_concept_key is None
    assert "condition.malignancy" not in {c.code for c in atom.excluded_concepts}


def test_recent_without_a_number_stays_to_confirm() -> None:
    """Audit round 8: "recent stent implantation" lost its "recent" when the word was read as neutral."""
    atom = _atoms("Exclusion Criteria:\n* recent stent implantation\n")[0]
    assert atom.computable and [r.text for r in atom.residues] == ["recent stent implantation"]


def test_recently_before_a_treatment_stays_to_confirm() -> None:
    """Audit round 8: "Patient is currently or has recently received chemotherapy" counted chemotherapy at any time;
    a number dates it instead ("within 4 weeks")."""
    undated = _by_key(
        "Exclusion Criteria:\n* Patient is currently or has recently received chemotherapy\n",
        "medication.antineoplastic-agents",
    )
    assert [r.text for r in undated.residues] == ["recently received chemotherapy"]
    dated = _by_key(
        "Exclusion Criteria:\n* Recently received chemotherapy within 4 weeks\n", "medication.antineoplastic-agents"
    )
    assert dated.within_days == 28 and dated.residues == []


def test_a_scale_grading_a_finding_after_a_comma_defines_it() -> None:
    """Audit round 8: "Heart failure, NYHA III/IV" excluded any heart failure; ECOG grades no finding."""
    graded = _atoms("Exclusion Criteria:\n* Heart failure, NYHA III/IV\n")
    assert [(a.concept_key, a.comparator, a.value) for a in graded] == [("performance.nyha", "ge", 3.0)]
    listed = _atoms("Exclusion Criteria:\n* Heart failure, diabetes, ECOG 3\n")
    assert [a.concept_key for a in listed] == ["condition.heart-failure", "condition.diabetes", "performance.ecog"]
    # corpus NCT01503372: the class grades the finding written after it
    after = _atoms(
        "Exclusion Criteria:\n* symptomatic peripheral vascular disease, NYHA III or IV congestive heart failure\n"
    )
    assert [a.concept_key for a in after] == ["condition.peripheral-vascular-disease", "performance.nyha"]


def test_recently_before_a_procedure_and_a_time_scope_stay_to_confirm() -> None:
    """Audit round 8: "Currently or has recently received radiotherapy" counted radiotherapy decades ago; "during the
    current episode" (corpus NCT01728194) is a time the codes do not record."""
    radiotherapy = _by_key(
        "Exclusion Criteria:\n* Currently or has recently received radiotherapy\n", "procedure.radiotherapy"
    )
    assert [r.text for r in radiotherapy.residues] == ["recently received radiotherapy"]
    episode = _by_key(
        "Exclusion Criteria:\n* any use of citalopram or escitalopram during the current episode\n",
        "medication.escitalopram",
    )
    assert [r.text for r in episode.residues] == ["during the current episode"]
