"""Which concepts a time window dates (``criteria/windows.py``). Sentences from the corpus and the Chia benchmark,
where a window of one statement used to date every concept of the clause."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.compile import compile_text


def _windows(item: str) -> dict[str, int | None]:
    atoms = compile_text(f"Exclusion Criteria:\n* {item}\n").atoms
    return {a.concept_key: a.within_days for a in atoms if a.concept_key is not None}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # a window after a list dates all its members
        (
            "History of myocardial infarction, stroke or transient ischemic attack within 6 months",
            {
                "condition.myocardial-infarction": 180,
                "condition.stroke": 180,
                "condition.transient-cerebral-ischemia": 180,
            },
        ),
        # corpus NCT00364754: the window is the myocardial infarction's; before, every condition of the list had it
        (
            "Clinical evidence of congestive heart failure, recent myocardial infarction within 6 months, uncontrolled "
            "arterial hypertension, unstable angina",
            {
                "condition.heart-failure": None,
                "condition.myocardial-infarction": 180,
                "condition.hypertension": None,
                "condition.intermediate-coronary-syndrome": None,
            },
        ),
        # corpus NCT03761914: a verb starts the steroid statement, whose window does not date the immunodeficiency
        (
            "Has a diagnosis of immunodeficiency or is receiving systemic steroid therapy within 7 days prior to the "
            "first dose",
            {"condition.immunodeficiency": None, "medication.systemic-corticosteroids": 7},
        ),
        # each treatment its own window (corpus NCT03934567)
        (
            "Chemotherapy within 28 days, radiotherapy within 14 days before the first dose",
            {"medication.antineoplastic-agents": 28, "procedure.radiotherapy": 14},
        ),
        # examples of a statement share its window (corpus NCT03202316)
        (
            "Severe infections within 4 weeks prior to initiation of study treatment, including hospitalization for "
            "complications of infection, bacteremia, or severe pneumonia",
            {"condition.infection": 28, "condition.pneumonia": 28},
        ),
        # Chia NCT02431559: a window after ", or," with a comma after it opens the next element, not the one before
        (
            "history of CNS disease, including primary brain tumor, seizures not controlled with standard medical "
            "therapy, any brain metastases, or, within six months prior to Day 1 of this study, history of stroke",
            {
                "condition.brain-tumor": None,
                "condition.brain-metastases": None,
                "condition.stroke": 180,
            },
        ),
        # Chia NCT02704754: "meeting criteria for" opens a statement of its own, whose window dates nothing before it
        (
            "Psychiatric disorders other than insomnia; including bipolar and psychotic disorders and meeting criteria "
            "for DSM-5 moderate alcohol or drug use disorders within the past year",
            {"condition.bipolar-disorder": None, "condition.psychotic-disorder": None},
        ),
        # Chia NCT03338296: "at the time of or within 6 months" is one window
        (
            "Any suicidal ideation with intent with or without a plan, at the time of or within 6 months of Screening",
            {"condition.suicidal-ideation": 180},
        ),
        # Chia NCT02369211: the window of the measured statement at the end of the list is its own
        (
            "Liver disease (known history of hepatitis B or C, cirrhosis, history of alcoholism, ALT/AST greater than "
            "3 times upper limit of normal in the past 3 months)",
            {"condition.liver-disease": None, "condition.liver-cirrhosis": None, "lab.alt": 90, "lab.ast": 90},
        ),
        # a window in hours looks back whole days; corpus NCT03102606: "or received" opens the treatment's statement
        (
            "Has a co-existing active infection or received systemic antibiotics within 72 hours before the first dose",
            {"condition.infection": None, "medication.antibiotics": 3},
        ),
        ("Anti-hypertensive therapy received in the past 12 hours", {"medication.antihypertensives": 1}),
        # Chia NCT00785213: a period in brackets after "recent" is a window
        ("Recent (2-year) history or evidence of alcoholism or drug abuse", {"condition.drug-abuse": 730}),
        # Chia NCT03231982: "within recent 1 year" is a window of a year (it had none)
        ("History of drug or alcohol abuse within recent 1 year", {"condition.substance-related-disorder": 365}),
        # Chia NCT02431559: a window opening a list dates all its members
        (
            "Within six months prior to Day 1 of this study, history of stroke, transient ischemic attack (TIA) or "
            "subarachnoid hemorrhage",
            {
                "condition.stroke": 180,
                "condition.transient-cerebral-ischemia": 180,
                "condition.subarachnoid-hemorrhage": 180,
            },
        ),
    ],
)
def test_a_window_dates_the_concepts_of_its_statement(item: str, expected: dict[str, int | None]) -> None:
    found = _windows(item)
    assert {key: found.get(key, "missing") for key in expected} == expected


def test_a_window_on_another_line_of_the_item_dates_nothing_there() -> None:
    """Chia NCT02862314 (lines of one item without bullets): "surgical interventions within the last 4 days,"
    dated the pregnancy and the tuberculosis of the lines after it."""
    item = "surgical interventions within the last 4 days,\r\ncardiorespiratory arrest,\r\npregnancy,\r\ntuberculosis"
    found = _windows(item)
    assert found.get("condition.pregnancy", "missing") is None
    assert found.get("condition.tuberculosis", "missing") is None


def test_measurements_take_the_clause_window() -> None:
    """Corpus NCT03202316: "(obtained within 14 days prior to the first study treatment)" at the end of the item."""
    item = (
        "Aspartate aminotransferase (AST) and alanine aminotransferase (ALT) <= 2.5 x ULN with the exception: Patients "
        "with liver involvement: AST and/or ALT <= 5 x ULN (obtained within 14 days prior to the first study "
        "treatment)"
    )
    atoms = compile_text(f"Inclusion Criteria:\n* {item}\n").atoms
    assert {a.within_days for a in atoms if a.concept_key in ("lab.ast", "lab.alt")} == {14}


def test_a_window_after_the_trials_treatment_is_no_look_back() -> None:
    """Corpus NCT05581004: "Pregnant or breastfeeding, or intention of becoming pregnant ... within 4 months after the
    final dose": the pregnancy was looked for in the last 120 days only."""
    found = _windows("Pregnant or breastfeeding, or planning a pregnancy within 4 months after the final dose")
    assert found.get("condition.breastfeeding", "missing") is None


def test_an_exposure_in_utero_is_the_mothers() -> None:
    """Chia NCT02851303 (infants): "Primary in-utero drug exposure was opioids" required the infant's opioids."""
    atom = compile_text("Inclusion Criteria:\n* Primary in-utero drug exposure was opioids\n").atoms[0]
    assert atom.reason == "'in-utero' before the finding: the mother's, not the patient's"


def test_a_minimum_time_since_the_event_is_no_look_back() -> None:
    """Chia NCT02952963 "Uncomplicated RYGB performed minimum 3 months prior to the study" admitted only patients
    operated in the last 90 days, the opposite of the criterion."""
    (atom,) = compile_text("Inclusion Criteria:\n* RYGB performed minimum 3 months prior to the study\n").atoms
    assert not atom.computable
    assert atom.reason is not None and atom.reason.startswith("a minimum time since an event")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # Chia NCT02339974: the duration restated in parentheses
        (
            "Evidence of an acute myocardial infarction ≤ 1 month (30 days) before the intended treatment",
            {"condition.myocardial-infarction": 30},
        ),
        # Chia NCT01932996, NCT01373684: "in past", "in previous" without "the"
        ("Current history or in past 6 months of psychotic disorder", {"condition.psychotic-disorder": 180}),
        (
            "malignancy other than skin basocellular carcinoma in previous 5 years",
            {"condition.malignancy": 1825},
        ),
        # Chia NCT03338296: the window dates the words before it, not the disorder after the comma
        (
            "Any history of anorexia or bulimia within 2 years before Screening, Attention Deficit Hyperactivity "
            "Disorder",
            {"condition.attention-deficit-hyperactivity-disorder": None},
        ),
        # ... but one that opens the next element dates it (Chia NCT02431559)
        (
            "any brain metastases, or, within six months prior to Day 1 of this study, history of stroke",
            {"condition.brain-metastases": None, "condition.stroke": 180},
        ),
    ],
)
def test_a_window_dates_the_words_it_belongs_to(item: str, expected: dict[str, int | None]) -> None:
    assert _windows(item) == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # audit round 9: numbers written as words, the digits restated, "no older than", "recent (< 3 months)"
        ("History of malignancy within the past five years", {"condition.malignancy": 1825}),
        ("STEMI or myocardial infarction within six (6) months", {"condition.myocardial-infarction": 180}),
        ("major surgery no older than 30 days", {"procedure.major-surgery": 30}),
        (
            "Recent (< 3 months) acute macrovascular event e.g. acute coronary syndrome or cardiac surgery",
            {"condition.acute-coronary-syndrome": 90, "procedure.cardiac-surgery": 90},
        ),
    ],
)
def test_windows_written_in_words(item: str, expected: dict[str, int | None]) -> None:
    assert _windows(item) == expected


def test_an_upper_bound_is_no_minimum_and_at_least_for_is_one() -> None:
    """Corpus NCT03633331: "no more than two weeks prior" is a window; Chia NCT03376763: "a history of illness for
    at least for 3 years" had become a look-back of 3 years (the opposite)."""
    from fhir_adapter.criteria.numbers import find_min_elapsed

    assert find_min_elapsed("but no more than two weeks prior to registration") is None
    atom = compile_text(
        "Inclusion Criteria:\n* Subjects diagnosed of schizophrenia, and a history of illness for at least for 3 years "
        "prior to screening\n"
    ).atoms[0]
    assert atom.concept_key == "condition.schizophrenia" and not atom.computable
    assert atom.reason is not None and atom.reason.startswith("a minimum time")


def test_prior_to_receiving_the_trial_drug_is_a_time() -> None:
    """Chia NCT03062358: "<4 weeks prior to receiving pembrolizumab" excluded every patient given pembrolizumab;
    after a treatment, "receiving" still says it was given."""
    atoms = {
        a.concept_key: a
        for a in compile_text(
            "Exclusion Criteria:\n* Has hepatitis C in which participants received therapy for HCV <4 weeks prior to "
            "receiving pembrolizumab\n"
        ).atoms
    }
    assert not atoms["medication.pembrolizumab"].computable
    (given,) = compile_text("Inclusion Criteria:\n* disease progression after receiving chemotherapy\n").atoms
    assert given.computable and given.concept_key == "medication.antineoplastic-agents"


def test_a_time_from_another_past_event_is_no_look_back() -> None:
    """Audit round 11 (Chia NCT02762851): "Guillain-Barre syndrome within eight weeks of a previous influenza
    vaccine" became GBS in the last 56 days once "eight" was read; the time is between two past events."""
    (atom,) = compile_text(
        "Exclusion Criteria:\n* Guillain-Barré syndrome within eight weeks of a previous influenza vaccine\n"
    ).atoms
    assert atom.within_days is None and [r.text for r in atom.residues] == [
        "within eight weeks of a previous influenza vaccine"
    ]
