"""A lab threshold that is not the lab's value: a change in the measurement ("change in weight of more than 5 kg")
is left for review. Sentences from the Chia benchmark and the corpus, or written the way their criteria are."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.compile import compile_text


@pytest.mark.parametrize(
    ("item", "key", "change"),
    [
        # Chia NCT03338296: the exclusion was "body weight > 5 kg", which every adult meets
        (
            "Significant change in diet or level of physical activity within 1 month before dosing or change in weight "
            "of more than 5 kg",
            "lab.body-weight",
            "change in",
        ),
        ("An increase in serum creatinine of >= 0.3 mg/dL within 48 hours", "lab.creatinine", "increase in"),
        ("Weight gain > 5 kg in the last 3 months", "lab.body-weight", "gain"),
        ("Serum creatinine increase of more than 0.5 mg/dl", "lab.creatinine", "increase"),
        ("eGFR decline of more than 30% over 12 months", "lab.egfr", "decline"),
    ],
)
def test_a_change_in_a_measurement_is_not_its_value(item: str, key: str, change: str) -> None:
    atom = next(a for a in compile_text(f"Exclusion Criteria:\n* {item}\n").atoms if a.concept_key == key)
    assert not atom.computable
    assert atom.reason == f"'{change}': a change in the measurement is not its value, not compared"


def test_a_raised_value_is_still_the_value() -> None:
    """ "ALT increased" is the CTCAE name of a raised ALT: the threshold is its value."""
    atom = compile_text("Exclusion Criteria:\n* ALT increased > 3 x ULN\n").atoms[0]
    assert (atom.computable, atom.concept_key, atom.comparator, atom.uln_multiple) == (True, "lab.alt", "gt", 3.0)


def test_tests_joined_by_a_slash_before_one_threshold_must_each_meet_it() -> None:
    """ "AST/ALT <10x ULN" was an any-of group: one normal value was enough. Two thresholds stay alternatives."""
    both = compile_text("Inclusion Criteria:\n* AST/ALT <10x ULN\n").atoms
    assert [(a.concept_key, a.uln_multiple, a.any_of) for a in both] == [
        ("lab.ast", 10.0, None),
        ("lab.alt", 10.0, None),
    ]
    either = compile_text(
        "Inclusion Criteria:\n* Serum creatinine ≤1.5 mg/dL / creatinine clearance ≥40 mL/min\n"
    ).atoms
    assert len({a.any_of for a in either}) == 1 and either[0].any_of is not None


def test_a_ratio_of_two_tests_is_neither_value() -> None:
    """Chia NCT01313676 "(FEV1)/(forced vital capacity)FVC ratio of <=0.70" asked FEV1 <= 0.7 L and FVC <= 0.7 L."""
    text = (
        "Inclusion Criteria:\n* forced expiratory volume in 1 second (FEV1)/(forced vital capacity)FVC ratio of "
        "<=0.70\n"
    )
    assert not any(a.computable for a in compile_text(text).atoms)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("NYHA Class II or higher", ("performance.nyha", "ge", 2.0, None)),
        ("GGT 3 times higher than normal", ("lab.ggt", "gt", None, 3.0)),
        (
            "Serum creatinine below the upper limit of the institutional normal range",
            ("lab.creatinine", "lt", None, 1.0),
        ),
    ],
)
def test_numbers_written_in_words(item: str, expected: tuple[object, ...]) -> None:
    """Chia NCT02431559 and NCT03472508; "creatinine" holds the word "nine", which was read as a multiple."""
    atom = compile_text(f"Exclusion Criteria:\n* {item}\n").atoms[0]
    assert (atom.concept_key, atom.comparator, atom.value, atom.uln_multiple) == expected


@pytest.mark.parametrize(
    ("item", "key", "marker"),
    [
        # corpus NCT05070247: Child-Pugh <= 7 was required of every participant of the basket trial
        ("For participants with HCC only: Child-Pugh ≤7 (A or B7)", "performance.child-pugh", "for participants with"),
        # Chia NCT02456129: FSH > 40 IU/L was required of every woman
        ("In women < 65 years old, FSH > 40 IU/L", "lab.fsh", "in women"),
    ],
)
def test_a_threshold_for_some_patients_only(item: str, key: str, marker: str) -> None:
    atom = next(a for a in compile_text(f"Inclusion Criteria:\n* {item}\n").atoms if a.concept_key == key)
    assert not atom.computable
    assert atom.reason == f"the threshold applies only to some patients ('{marker}'): to confirm"


def test_a_condition_in_closed_brackets_is_not_the_concepts() -> None:
    """Chia NCT02596555 "Pregnancy (a negative ... test should be available for women of child-bearing potential)
    or lactation": the lactation is excluded for everyone."""
    text = (
        "Exclusion Criteria:\n* Pregnancy (a negative serum or urine pregnancy test should be available in women of "
        "child-bearing potential before study inclusion) or lactation\n"
    )
    lactation = next(a for a in compile_text(text).atoms if a.concept_key == "condition.breastfeeding")
    assert lactation.computable


@pytest.mark.parametrize(
    ("item", "subject"),
    [
        # corpus NCT01147016: Gilbert's disease was required of every patient, and so was bilirubin > ULN
        (
            "Total bilirubin must be =< the upper limit of normal (ULN) for the lab unless the patient has a grade 1 "
            "bilirubin elevation (> ULN to 1.5 x ULN) resulting from Gilbert's disease",
            "condition.gilbert-syndrome",
        ),
        # corpus NCT03202316: "no therapeutic anticoagulation" was required although the next item allows it
        (
            "International normalized ratio (INR) and activated partial thromboplastin time (aPTT) =< 1.5 x ULN for "
            "patients who do not receive therapeutic anticoagulation",
            "medication.anticoagulants",
        ),
        # corpus NCT03202316: bone metastases alone met the alkaline phosphatase group
        (
            "Alkaline phosphatase =< 2.5 x ULN with the exception: Patients with documented liver involvement or bone "
            "metastases: alkaline phosphatase =< 5 x ULN",
            "condition.bone-metastases",
        ),
    ],
)
def test_the_patients_another_limit_applies_to_are_no_criterion(item: str, subject: str) -> None:
    atoms = compile_text(f"Inclusion Criteria:\n* {item}\n").atoms
    named = next(a for a in atoms if a.concept_key == subject)
    assert not named.computable and "names the patients" in (named.reason or "")
    first = atoms[0]
    assert first.computable and first.category == "lab" and first.comparator == "le"
    # the same test again after the marker describes those patients: no second limit for everyone
    assert [a.comparator for a in atoms[1:] if a.computable and a.concept_key == first.concept_key] == []
