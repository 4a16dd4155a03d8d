"""The structure of real eligibility text: residues, any-of groups, ranges, units, reconciling exclusions
with the trial's required findings, and the lint (issue: criteria that generalise, part 2). Sentences
come from the shared corpus, the Chia benchmark or the issue text; the shipped lexicon is used."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_adapter.criteria.compile import compile_text, compile_trial
from fhir_adapter.criteria.lint import lint
from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.criteria.split import split_items
from fhir_adapter.trial import Eligibility, TrialRecord


def _atoms(text: str) -> list[Atom]:
    return compile_text(text).atoms


def _one(text: str, key: str) -> Atom:
    return next(a for a in _atoms(text) if a.concept_key == key)


@pytest.mark.parametrize(
    ("text", "key", "comparator", "value", "high", "unit"),
    [
        ("Exclusion Criteria:\n- 7.0 % ≤ HbA1c ≤ 10.5 %", "lab.hba1c", "between", 7.0, 10.5, "%"),
        ("Exclusion Criteria:\n- HbA1c ≥ 7.0% and ≤ 10.5%", "lab.hba1c", "between", 7.0, 10.5, "%"),
        (
            "Inclusion Criteria:\n- creatinine clearance more or equal to 30 mL/min",
            "lab.creatinine-clearance",
            "ge",
            30.0,
            None,
            "mL/min",
        ),
        ("Inclusion Criteria:\n- serum creatinine ≤ 1,5 mg/dL", "lab.creatinine", "le", 1.5, None, "mg/dL"),
        ("Inclusion Criteria:\n- Platelets >150,000", "lab.platelets", "gt", 150.0, None, "10*9/L"),
        # Chia NCT03026088: the symbol restated in brackets hid the threshold
        (
            "Inclusion Criteria:\n- Left ventricular ejection fraction (LVEF) less than or equal to (=<) 40 percent "
            "(%).",
            "lab.lvef",
            "le",
            40.0,
            None,
            "%",
        ),
    ],
)
def test_thresholds(text: str, key: str, comparator: str, value: float, high: float | None, unit: str) -> None:
    atom = _one(text, key)
    assert (atom.computable, atom.comparator, atom.value, atom.high, atom.unit) == (
        True,
        comparator,
        value,
        high,
        unit,
    )


@pytest.mark.parametrize(
    "text",
    ["Inclusion Criteria:\n- 7.0 % ≤ HbA1c ≤ 10.5 %", "Inclusion Criteria:\n- HbA1c ≥ 7.0% and < 10.5%"],
)
def test_inclusion_range_is_two_requirements_with_their_own_strictness(text: str) -> None:
    found = [(a.comparator, a.value, a.unit) for a in _atoms(text) if a.computable]
    upper = "lt" if "< 10.5" in text else "le"
    assert found == [("ge", 7.0, "%"), (upper, 10.5, "%")]


def test_ordinal_percentile_is_not_a_number() -> None:
    atoms = _atoms("Inclusion Criteria:\n- BMI > 85th percentile for age")
    assert not any(a.computable and a.value == 85 for a in atoms)


def test_decimal_comma_in_a_list_is_not_a_decimal() -> None:
    atom = _one("Inclusion Criteria:\n- ECOG performance status 0,1 or 2", "performance.ecog")
    assert (atom.comparator, atom.value) == ("le", 2)


def test_refusal_is_not_poisoned_by_a_sibling_condition() -> None:
    text = "Inclusion Criteria:\n- Total bilirubin ≤ 1.5 × ULN (≤ 3 × ULN for Gilbert's syndrome)"
    atom = _one(text, "lab.total-bilirubin")
    assert atom.computable and atom.uln_multiple == 1.5
    assert [(r.effect, r.uln_multiple) for r in atom.residues] == [("widens", 3.0)]
    text = "Exclusion Criteria:\n- Severe anemia (hemoglobin < 8 g/dL)"
    hemoglobin = _one(text, "lab.hemoglobin")
    assert (hemoglobin.computable, hemoglobin.comparator, hemoglobin.value) == (True, "lt", 8.0)


def test_screening_time_does_not_refuse_a_lab() -> None:
    atom = _one("Inclusion Criteria:\n- Hemoglobin ≥ 10 g/dL at screening", "lab.hemoglobin")
    assert atom.computable and atom.value == 10


def test_residue_texts_are_substrings() -> None:
    text = (
        "Exclusion Criteria:\n- History of malignancy except basal cell carcinoma of the skin\n"
        "- Patients with active CNS metastases. Patients with stable CNS disease are eligible\n"
    )
    residues = [r for a in _atoms(text) for r in a.residues]
    assert residues and all(r.text in text for r in residues)


def _trial(criteria: str) -> TrialRecord:
    return TrialRecord(nct_id="NCT00000000", source_format="ctgov-json", eligibility=Eligibility(criteria=criteria))


def test_exclusion_of_the_trials_own_disease_means_another_one() -> None:
    """The dangerous case: an exclusion every included patient meets."""
    compiled = compile_trial(
        _trial("Inclusion Criteria:\n- Rectal cancer\nExclusion Criteria:\n- Other malignancy within 5 years\n")
    )
    other = next(a for a in compiled.atoms if a.concept_key == "condition.malignancy")
    assert other.computable and any(c.code == "C20" for c in other.excluded_concepts)
    assert other.residues and other.residues[0].effect == "narrows"
    assert lint(compiled) == []


def test_exclusion_of_a_required_finding_is_left_for_review() -> None:
    compiled = compile_trial(
        _trial("Inclusion Criteria:\n- Breastfeeding women\nExclusion Criteria:\n- breastfeeding problems\n")
    )
    excluded = [a for a in compiled.atoms if a.kind == "exclusion" and a.concept_key == "condition.breastfeeding"]
    assert excluded and not excluded[0].computable and "requires" in (excluded[0].reason or "")


def test_lint_reports_a_contradiction() -> None:
    inc = Atom(
        id="inc-1",
        kind="inclusion",
        text="HIV",
        category="infection",
        concept_key="condition.hiv",
        comparator="present",
        computable=True,
    )
    exc = inc.model_copy(update={"id": "exc-1", "kind": "exclusion"})
    lab_inc = Atom(
        id="inc-2",
        kind="inclusion",
        text="ALT",
        category="lab",
        concept_key="lab.alt",
        comparator="ge",
        uln_multiple=3.0,
        computable=True,
    )
    lab_exc = lab_inc.model_copy(update={"id": "exc-2", "kind": "exclusion", "comparator": "gt", "uln_multiple": 2.0})
    found = lint(CompiledCriteria(trial="T", atoms=[inc, exc, lab_inc, lab_exc]))
    assert [(f.inclusion, f.exclusion) for f in found] == [("inc-1", "exc-1"), ("inc-2", "exc-2")]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_any_text_gives_atoms_whose_texts_and_residues_are_substrings(text: str) -> None:
    for atom in _atoms(text):
        assert atom.text in text
        assert all(r.text in text for r in atom.residues)


def test_text_age_that_restates_the_structured_limits_is_stated_once() -> None:
    from fhir_adapter.trial import AgeBound

    trial = _trial("Inclusion Criteria:\n- Age ≥ 18 years\n- Age 18 to 40 years for the expansion cohort\n")
    trial.eligibility.minimum_age = AgeBound(value=18, unit="a", raw="18 Years")
    atoms = compile_trial(trial).atoms
    restated = next(a for a in atoms if a.text == "Age ≥ 18 years")
    assert not restated.computable and "structured age" in (restated.reason or "")
    tighter = next(a for a in atoms if a.text.startswith("Age 18 to 40"))
    assert tighter.computable and (tighter.value, tighter.high) == (18, 40)


def test_text_age_outside_the_structured_limits_is_another_persons() -> None:
    """NCT06082921 (mother-infant dyad, women aged 18 or more): read as the patient's age, the infant's age made
    every mother ineligible."""
    from fhir_adapter.trial import AgeBound

    trial = _trial(
        "Maternal Inclusion Criteria:\n1. Infant aged between 6 and 12 weeks at enrollment\n2. Age 18 to 40 years\n"
    )
    trial.eligibility.minimum_age = AgeBound(value=18, unit="a", raw="18 Years")
    atoms = compile_trial(trial).atoms
    infant = next(a for a in atoms if a.text.startswith("Infant aged"))
    assert (infant.unit, infant.value, infant.high) == ("wk", 6, 12)
    assert not infant.computable and "another person's age" in (infant.reason or "")
    assert next(a for a in atoms if a.text == "Age 18 to 40 years").computable


def test_a_statement_made_twice_in_one_item_is_one_criterion() -> None:
    """Chia NCT02888704: AST and ALT each named twice; the second of each is left for review naming the first,
    and its residues join the first."""
    text = (
        "Exclusion Criteria:\n- Subjects who aspartate transaminase/alkaline transaminase (AST/ALT) value is more "
        "than three times of the upper limit of the normal range at screening test\n- AST > 5 x ULN\n"
    )
    atoms = [a for a in compile_trial(_trial(text)).atoms if a.concept_key in ("lab.ast", "lab.alt")]
    first_item = [a for a in atoms if a.id.startswith("exc-1")]
    assert sorted(a.concept_key or "" for a in first_item if a.computable) == ["lab.alt", "lab.ast"]
    again = [a for a in first_item if (a.reason or "").startswith("states again what exc-1")]
    assert again and not any(a.computable for a in again)
    assert next(a for a in atoms if a.id == "exc-2").computable  # another item states its own limit


def test_context_words_make_no_finding() -> None:
    atoms = _atoms("Exclusion Criteria:\n- Mom following vegetarian diet during pregnancy or lactation\n")
    assert not any(a.computable for a in atoms)
    atoms = _atoms("Inclusion Criteria:\n- Breast cancer surgery with or without chemotherapy\n")
    assert not any(a.concept_key == "medication.antineoplastic-agents" and a.computable for a in atoms)
    atoms = _atoms("Inclusion Criteria:\n- All women who reported a singleton pregnancy between 1991-2001\n")
    assert not any(a.computable for a in atoms)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # real wording from the Chia split and the corpus
        (
            "Exclusion Criteria:\n- Elevated liver enzymes\n",
            [("lab.ast", "gt", None, 1.0), ("lab.alt", "gt", None, 1.0)],
        ),
        ("Exclusion Criteria:\n- LFTs > 3Xnormal\n", [("lab.ast", "gt", None, 3.0), ("lab.alt", "gt", None, 3.0)]),
        (
            "Exclusion Criteria:\n- Subjects who creatinine value is more than two times of the upper limit of the "
            "normal range\n",
            [("lab.creatinine", "gt", None, 2.0)],
        ),
        (
            "Exclusion Criteria:\n- A glomerular filtration rate of 60 cc per minute or less\n",
            [("lab.egfr", "le", 60.0, None)],
        ),
        (
            "Exclusion Criteria:\n- blood pressure > 160/100 mmHg\n",
            [("lab.systolic-bp", "gt", 160.0, None), ("lab.diastolic-bp", "gt", 100.0, None)],
        ),
    ],
)
def test_lab_readings(text: str, expected: list[tuple[str, str, float | None, float | None]]) -> None:
    found = [(a.concept_key, a.comparator, a.value, a.uln_multiple) for a in _atoms(text) if a.computable]
    assert found == expected


def test_blood_pressure_range_gives_each_component_its_range() -> None:
    text = "Inclusion Criteria:\n- blood pressure ≥ 135/85 mm Hg and lower than 170/105 mm Hg\n"
    found = [(a.concept_key, a.comparator, a.value) for a in _atoms(text) if a.computable]
    assert found == [
        ("lab.systolic-bp", "ge", 135.0),
        ("lab.systolic-bp", "lt", 170.0),
        ("lab.diastolic-bp", "ge", 85.0),
        ("lab.diastolic-bp", "lt", 105.0),
    ]
    excluded = "Exclusion Criteria:\n- blood pressure ≥ 135/85 mm Hg and lower than 170/105 mm Hg\n"
    found = [(a.concept_key, a.comparator, a.value, a.high) for a in _atoms(excluded) if a.computable]
    assert found == [("lab.systolic-bp", "between", 135.0, 170.0), ("lab.diastolic-bp", "between", 85.0, 105.0)]


def test_inclusion_reading_either_component_is_an_any_of_group() -> None:
    atoms = [a for a in _atoms("Inclusion Criteria:\n- blood pressure ≥ 135/85 mm Hg\n") if a.computable]
    assert len(atoms) == 2 and atoms[0].any_of == atoms[1].any_of is not None


def test_repeated_measurement_is_a_residue() -> None:
    text = "Exclusion Criteria:\n- a fasting glucose value above 126 mg/dl on at least 2 occasions\n"
    atom = _one(text, "lab.fasting-glucose")
    assert atom.computable and (atom.comparator, atom.value) == ("gt", 126.0)
    assert [r.reason for r in atom.residues] == ["the number of measurements is not checked"]


@pytest.mark.parametrize(
    ("heading", "cohort"),
    [
        ("Phase 1: Inclusion Criteria:", "phase 1"),
        ("Inclusion Criteria Phase 2", "phase 2"),
        ("Additional inclusion criteria for subjects of cohort 1:", "cohort 1"),
        ("Phase 2a Expansion Group 1 (Extremity STS): Inclusion", "phase 2a group 1"),
    ],
)
def test_cohort_headings(heading: str, cohort: str) -> None:
    atoms = _atoms(f"{heading}\n\n1. Hemoglobin ≥ 9 g/dL\n")
    assert [(a.kind, a.cohort) for a in atoms] == [("inclusion", cohort)]


def test_score_classes() -> None:
    text = "Exclusion Criteria:\n- NYHA class III or IV heart failure\n- Child-Pugh class C cirrhosis\n"
    atoms = _atoms(text)
    nyha = _one(text, "performance.nyha")
    assert (nyha.comparator, nyha.value) == ("ge", 3.0)
    assert (_one(text, "performance.child-pugh").comparator, _one(text, "performance.child-pugh").value) == ("ge", 10)
    # "class III or IV heart failure": the noun is what the classes grade, no finding of its own (read alone,
    # "IV heart failure" excluded every heart failure)
    assert nyha.text == "NYHA class III or IV heart failure"
    assert not any(a.concept_key == "condition.heart-failure" for a in atoms)
    text = "Exclusion Criteria:\n- congestive heart failure NYHA class III or IV\n"
    failure = _one(text, "condition.heart-failure")
    assert failure.residues and failure.residues[0].reason == "excluded only with this threshold"


def test_allergy_after_the_drug_and_over_a_list() -> None:
    text = (
        "Exclusion Criteria:\n- Have a history of ketamine allergy\n- Known allergy to local anesthetics or opioids\n"
    )
    found = [(a.concept_key, a.category) for a in _atoms(text) if a.computable]
    assert found == [
        ("medication.ketamine", "allergy"),
        ("medication.local-anesthetics", "allergy"),
        ("medication.opioids", "allergy"),
    ]


def test_allergens_that_are_not_drugs_only_in_an_allergy_clause() -> None:
    text = (
        "Exclusion Criteria:\n- History of allergic reactions to CT contrast, iodine, or shellfish\n- Nickel allergy\n"
        "- Egg retrieval planned within 3 months\n"
    )
    found = [(a.concept_key, a.category, a.resource_types) for a in _atoms(text) if a.computable]
    assert ("allergen.shellfish", "allergy", ["AllergyIntolerance"]) in found
    assert ("allergen.nickel", "allergy", ["AllergyIntolerance"]) in found
    assert not any(key == "allergen.egg" for key, _, _ in found)


def test_a_bare_name_over_a_bullet_list_is_a_subheading() -> None:
    """Corpus NCT00109785 (PDQ style): "PRIOR CONCURRENT THERAPY: / Chemotherapy / * Not specified" required
    chemotherapy, endocrine therapy and radiotherapy. A bare name of at most four words over bullets heads them."""
    text = (
        "Inclusion Criteria:\n\nPRIOR CONCURRENT THERAPY:\n\nChemotherapy\n\n* Not specified\n\nEndocrine therapy\n\n"
        "* No prior endocrine therapy\n\nRadiotherapy\n\n* Not specified\n"
    )
    atoms = compile_text(text).atoms
    assert [(a.concept_key, a.comparator) for a in atoms if a.computable] == [("medication.hormonal-therapy", "absent")]
    assert [item.context for item in split_items(text)] == ["chemotherapy", "endocrine therapy", "radiotherapy"]


def test_a_threshold_between_a_finding_and_a_measurement_is_the_measurements() -> None:
    """Chia NCT01312012 "pregnant women in 30 to 32 weeks of gestation": the weeks were the pregnancy's, and the
    gestational age had no threshold."""
    atoms = _atoms("Inclusion Criteria:\n- pregnant women in 30 to 32 weeks of gestation, with positive HBsAg\n")
    age = next(a for a in atoms if a.concept_key == "lab.gestational-age")
    assert (age.computable, age.comparator, age.value, age.high, age.text) == (
        True,
        "between",
        30.0,
        32.0,
        "30 to 32 weeks of gestation",
    )
    assert next(a for a in atoms if a.concept_key == "condition.pregnancy").comparator == "present"


def test_thresholds_chained_before_their_test() -> None:
    """Chia NCT02632266 "Newborn infants <28 weeks and >34 weeks gestation" lost the lower limit."""
    atoms = _atoms("Exclusion Criteria:\n- Newborn infants <28 weeks and >34 weeks gestation\n")
    assert [(a.comparator, a.value) for a in atoms if a.computable] == [("lt", 28.0), ("gt", 34.0)]


def test_a_lead_in_naming_the_test_is_in_the_atoms_text() -> None:
    """Chia "Body mass index (BMI): 18 ≤ BMI ≤ 32 kg/m²": the atoms' text starts with the test's name."""
    atoms = _atoms("Inclusion Criteria:\n- Body mass index (BMI): 18 ≤ BMI ≤ 32 kg/m²\n")
    assert {a.text for a in atoms} == {"Body mass index (BMI): 18 ≤ BMI ≤ 32 kg/m²"}


def test_a_unit_cut_short_at_one_end_of_a_range_is_the_other_ends() -> None:
    """Chia NCT02408120 "Blood glucose levels between >140 mg and <400 mg/dL": "mg" alone is no concentration."""
    atoms = _atoms("Inclusion Criteria:\n- Blood glucose levels between >140 mg and <400 mg/dL\n")
    assert [(a.computable, a.comparator, a.value, a.unit) for a in atoms] == [
        (True, "gt", 140.0, "mg/dL"),
        (True, "lt", 400.0, "mg/dL"),
    ]


def test_lines_below_an_unbulleted_lead_in_of_alternatives_are_its_sub_items() -> None:
    """Chia NCT01084993 "At least two of the following additional criteria" over plain lines required each of
    diabetes and a creatinine clearance < 60 mL/min; registries also write "At least one of the following:" over
    a bullet list after a blank line. A blank line ends the alternatives."""
    flat = compile_text(
        "Inclusion Criteria:\n\nAge 18 or older\r\nAt least two of the following additional criteria\r\n"
        "Diabetes\r\nCreatinine clearance <60mL/min\r\n\nExclusion Criteria:\n\nPregnancy\r\n"
    ).atoms
    assert [(a.id, a.computable) for a in flat] == [
        ("inc-1", True),
        ("inc-2", False),
        ("inc-2.1", False),
        ("inc-2.2", False),
        ("exc-1", True),
    ]
    bulleted = compile_text(
        "Inclusion Criteria:\n\nAt least one of the following:\n\n* Diabetes\n* Hypertension\n\nAge over 18\n"
    ).atoms
    assert [(a.id, a.any_of) for a in bulleted if a.computable] == [
        ("inc-1.1", "inc-1-any"),
        ("inc-1.2", "inc-1-any"),
        ("inc-2", None),
    ]


def test_yrs_old_is_an_age() -> None:
    """Chia NCT01084993 "At least 70 yrs old" was a lab with no concept."""
    atom = compile_text("Inclusion Criteria:\n* At least 70 yrs old\n").atoms[0]
    assert (atom.category, atom.comparator, atom.value, atom.computable) == ("demographic", "ge", 70.0, True)
