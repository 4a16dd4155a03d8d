"""One construct at a time: headings, bullets, comparators, units, ULN, ranges, negation, windows."""

from __future__ import annotations

import pytest
from fakes import FakeLexicon, FakeUnits

from fhir_adapter.criteria.compile import age_atom, compile_text, sex_atom
from fhir_adapter.criteria.model import Atom
from fhir_adapter.criteria.numbers import find_thresholds, find_window
from fhir_adapter.criteria.split import split_items
from fhir_adapter.criteria.text import normalise
from fhir_adapter.trial import AgeBound

LEX = FakeLexicon()
UNITS = FakeUnits()


def atoms(text: str) -> list[Atom]:
    return compile_text(text, lexicon=LEX, units=UNITS).atoms


def one(text: str) -> Atom:
    found = [a for a in atoms(text) if a.concept_key]
    assert len(found) == 1, [a.model_dump() for a in found]
    return found[0]


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Inclusion Criteria:\n* a\n\nExclusion Criteria:\n* b", ["inclusion", "exclusion"]),
        ("* INCLUSION CRITERIA:\n\n* a\n* EXCLUSION CRITERIA:\n* b", ["inclusion", "exclusion"]),
        ("Key Inclusion Criteria\n- a\nKey exclusion criteria\n- b", ["inclusion", "exclusion"]),
        (
            "DISEASE CHARACTERISTICS:\n* a\nPATIENT CHARACTERISTICS:\n* b\nPRIOR CONCURRENT THERAPY:\n* c",
            ["inclusion", "inclusion", "inclusion"],
        ),
        ("Exclusion:\n1. a\n2. b", ["exclusion", "exclusion"]),
        ("no heading at all\nExclusion Criteria:\n• b", ["inclusion", "exclusion"]),
        ("Phase 1: Exclusion Criteria:\n1) a", ["exclusion"]),
        ("Inclusion Criteria:\r\n* a\r\nExclusion Criteria:\r\n* b\r\n", ["inclusion", "exclusion"]),
    ],
)
def test_headings(text: str, kinds: list[str]) -> None:
    assert [i.kind for i in split_items(text)] == kinds


def test_nested_bullets_get_dotted_ids() -> None:
    text = (
        "Inclusion Criteria:\n\n1. Adequate organ function:\n\n"
        "   a) hemoglobin >= 9 g/dL\n   b) ANC >= 1.5 x 10^9/L\n2. ECOG 0-1"
    )
    items = split_items(text)
    assert [i.id for i in items] == ["inc-1", "inc-1.1", "inc-1.2", "inc-2"]
    found = {a.id: a for a in atoms(text)}
    assert found["inc-1"].reason == "introduces the sub-items that follow"
    assert (found["inc-1.1"].concept_key, found["inc-1.1"].value, found["inc-1.1"].unit) == (
        "lab.hemoglobin",
        9,
        "g/dL",
    )
    assert found["inc-2"].comparator == "le" and found["inc-2"].value == 1


def test_bullet_styles_and_markdown_escapes() -> None:
    text = "Exclusion Criteria:\n\\- HIV\n• pregnancy\ni. diabetes\n(a) hypertension"
    assert [a.concept_key for a in atoms(text)] == [
        "condition.hiv",
        "condition.pregnancy",
        "condition.diabetes",
        "condition.hypertension",
    ]


@pytest.mark.parametrize(
    ("phrase", "comparator", "value"),
    [
        (">= 100", "ge", 100),
        ("≥ 100", "ge", 100),
        ("\\>= 100", "ge", 100),
        ("=> 100", "ge", 100),
        ("at least 100", "ge", 100),
        ("greater than 100", "gt", 100),
        ("more than 100", "gt", 100),
        ("above 100", "gt", 100),
        ("> 100", "gt", 100),
        ("no more than 100", "le", 100),
        ("not exceeding 100", "le", 100),
        ("not more than 100", "le", 100),
        ("≤ 100", "le", 100),
        ("<= 100", "le", 100),
        ("=< 100", "le", 100),
        ("up to 100", "le", 100),
        ("less than 100", "lt", 100),
        ("below 100", "lt", 100),
        ("< 100", "lt", 100),
        ("greater than/equal to 100", "ge", 100),
        ("less than/equal to 100", "le", 100),
        (">/= 100", "ge", 100),
        ("</= 100", "le", 100),
    ],
)
def test_comparator_phrasings(phrase: str, comparator: str, value: float) -> None:
    atom = one(f"Inclusion Criteria:\n* platelets {phrase} x 10^9/L")
    assert (atom.comparator, atom.value, atom.unit, atom.computable) == (comparator, value, "10*9/L", True)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1.5x10^9/L", 1.5),
        ("1.5 × 10⁹/L", 1.5),
        ("1.5×10\\^9/L", 1.5),
        ("1.5 x 10^3/uL", 1.5),
        ("1,500/mm3", 1.5),
        ("1500/mm³", 1.5),
        ("1500/µL", 1.5),
        ("1.5 x 10*3/uL", 1.5),
    ],
)
def test_unit_forms_convert_to_canonical(written: str, value: float) -> None:
    atom = one(f"Inclusion Criteria:\n* ANC ≥ {written}")
    assert (atom.value, atom.unit, atom.computable) == (pytest.approx(value), "10*9/L", True)


def test_mass_units_and_unknown_units() -> None:
    assert one("* hemoglobin ≥ 90 g/L").value == pytest.approx(9.0)
    atom = one("* hemoglobin ≥ 900")
    assert (atom.computable, atom.reason) == (False, "ambiguous unit (none given)")
    atom = one("* hemoglobin ≥ 9 furlongs/fortnight")
    assert not atom.computable and atom.reason and atom.reason.startswith("ambiguous unit")


@pytest.mark.parametrize(
    ("phrase", "multiple"),
    [
        ("≤ 1.5× upper limit of normal (UNL)", 1.5),
        ("<= 2.5 x ULN", 2.5),
        ("≤ 3 times the upper limit of normal", 3),
        ("≤ ULN", 1.0),
        ("no more than 2 times ULN", 2),
        ("≤ 1.5 ULN", 1.5),
    ],
)
def test_uln_multiples(phrase: str, multiple: float) -> None:
    atom = one(f"* total bilirubin {phrase}")
    assert (atom.comparator, atom.uln_multiple, atom.computable) == ("le", multiple, True)


def test_lln_multiple() -> None:
    atom = one("* hemoglobin ≥ 1 x LLN")
    assert (atom.comparator, atom.lln_multiple) == ("ge", 1)


def test_shared_comparator_for_two_tests() -> None:
    found = atoms("Inclusion Criteria:\n* AST and ALT <= 2.5x ULN")
    assert [(a.id, a.concept_key, a.uln_multiple) for a in found] == [
        ("inc-1a", "lab.ast", 2.5),
        ("inc-1b", "lab.alt", 2.5),
    ]
    assert all(a.text in "AST and ALT <= 2.5x ULN" for a in found)


def test_semicolon_split() -> None:
    found = atoms("* neutrophil count ≥ 1.5×10^9/L; platelet count ≥ 75×10^9/L")
    assert [(a.concept_key, a.value) for a in found] == [("lab.neutrophils", 1.5), ("lab.platelets", 75)]


def test_unitless_threshold_takes_the_one_plausible_unit() -> None:
    """'platelets > 100,000' can only be per microlitre; 'hemoglobin >= 9' is read in the canonical g/dL."""
    atom = compile_text("Inclusion Criteria:\n* platelets > 100,000").atoms[0]
    assert (atom.computable, atom.comparator, atom.value, atom.unit) == (True, "gt", 100.0, "10*9/L")
    atom = compile_text("Inclusion Criteria:\n* hemoglobin >= 9").atoms[0]
    assert (atom.computable, atom.value, atom.unit) == (True, 9.0, "g/dL")
    atom = compile_text("Inclusion Criteria:\n* hemoglobin >= 900").atoms[0]
    assert (atom.computable, atom.reason) == (False, "ambiguous unit (none given)")


def test_conditional_threshold_is_a_residue_with_its_own_limit() -> None:
    found = atoms("* ALT ≤ 2.5 x ULN, or ≤ 5 x ULN if liver metastases")
    assert len(found) == 1 and found[0].computable and found[0].uln_multiple == 2.5
    (residue,) = found[0].residues
    assert (residue.effect, residue.comparator, residue.uln_multiple) == ("widens", "le", 5.0)
    assert "liver metastases" in residue.text


@pytest.mark.parametrize(
    ("text", "comparator", "value"),
    [
        ("ECOG performance status score of 0 or 1", "le", 1),
        ("ECOG 0-1", "le", 1),
        ("ECOG ≤ 1", "le", 1),
        ("ECOG performance status of 0, 1, or 2", "le", 2),
        ("Karnofsky ≥ 70", "ge", 70),
        ("Karnofsky 80-100%", "ge", 80),
    ],
)
def test_performance_scores(text: str, comparator: str, value: float) -> None:
    atom = one(f"* {text}")
    assert (atom.category, atom.comparator, atom.value, atom.computable) == (
        "performance-status",
        comparator,
        value,
        True,
    )


@pytest.mark.parametrize(
    ("text", "comparator", "value", "high"),
    [
        ("Age 18-75 years", "between", 18, 75),
        ("aged 18 to 75 years", "between", 18, 75),
        ("age between 18 and 75", "between", 18, 75),
        ("at least 18 years of age", "ge", 18, None),
        ("18 years of age and older", "ge", 18, None),
        ("age > 18 years", "ge", 18, None),  # 18 years and 6 months is older than 18 years
        ("age < 75 years", "le", 74, None),
    ],
)
def test_age_in_text(text: str, comparator: str, value: float, high: float | None) -> None:
    atom = atoms(f"* {text}")[0]
    assert (atom.category, atom.comparator, atom.value, atom.high, atom.unit) == (
        "demographic",
        comparator,
        value,
        high,
        "a",
    )
    assert atom.computable and atom.fhirpath


def test_negation_and_qualifiers() -> None:
    atom = one("Inclusion Criteria:\n* No history of HIV")
    assert (atom.comparator, atom.negated) == ("absent", True)
    assert atom.fhirpath and atom.fhirpath.endswith(".empty()")
    assert one("* without diabetes").comparator == "absent"
    assert one("* HIV negative").comparator == "absent"
    assert one("Exclusion Criteria:\n* active autoimmune disease").qualifiers == ["active"]
    assert "suspected" in one("* known or suspected HIV").qualifiers


@pytest.mark.parametrize(
    ("phrase", "days"),
    [
        ("within 28 days", 28),
        ("in the past 6 months", 180),
        ("within 4 weeks", 28),
        ("within the last 2 years", 730),
        ("4 weeks prior to", 28),
    ],
)
def test_time_windows(phrase: str, days: int) -> None:
    assert find_window(normalise(phrase).text) == (0, len(normalise(phrase).text), days)
    atom = one(f"Exclusion Criteria:\n* chemotherapy {phrase} enrolment")
    assert atom.within_days == days


def test_inclusion_alternatives_are_an_any_of_group() -> None:
    found = atoms("Inclusion Criteria:\n* diabetes or hypertension")
    assert [a.computable for a in found] == [True, True]
    assert found[0].any_of == found[1].any_of == f"{found[0].id}-any"
    assert found[0].contract()["group"] == {"type": "any-of", "id": found[0].any_of}
    both = atoms("Inclusion Criteria:\n* diabetes and hypertension")
    assert all(a.computable and a.any_of is None for a in both)
    excluded = atoms("Exclusion Criteria:\n* diabetes or hypertension")
    assert all(a.computable and a.any_of is None for a in excluded)


def test_lab_alternatives_are_an_any_of_group() -> None:
    found = atoms("Inclusion Criteria:\n* Creatinine ≤ 1.5 × ULN or creatinine clearance ≥ 60 mL/min")
    assert [(a.concept_key, a.comparator) for a in found] == [
        ("lab.creatinine", "le"),
        ("lab.creatinine-clearance", "ge"),
    ]
    assert all(a.computable for a in found) and found[0].any_of == found[1].any_of is not None
    two_sided = compile_text("Exclusion Criteria:\n* Serum potassium < 3.5 or > 5.1 mmol/L").atoms
    assert [(a.comparator, a.value, a.unit) for a in two_sided if a.computable] == [
        ("lt", 3.5, "mmol/L"),
        ("gt", 5.1, "mmol/L"),
    ]


def test_consent_and_unknown_concepts() -> None:
    atom = atoms("* Able to sign informed consent")[0]
    assert (atom.computable, atom.reason) == (False, "consent/compliance")
    atom = atoms("* Frobnication syndrome of the left elbow")[0]
    assert atom.reason == "concept not in lexicon: Frobnication syndrome of the left elbow".lower() or (
        atom.reason and atom.reason.startswith("concept not in lexicon")
    )


def test_ranges_and_thresholds_parse() -> None:
    assert find_thresholds("between 18 and 75")[0].comparator == "between"
    assert find_thresholds("18 to 75")[0].high == 75
    assert find_thresholds("anti-pd-1 and ctla-4") == []


def test_structured_atoms() -> None:
    atom = age_atom(AgeBound(value=18, unit="a", raw="18 Years"), AgeBound(value=75, unit="a", raw="75 Years"))
    assert atom and (atom.comparator, atom.value, atom.high, atom.unit) == ("between", 18, 75, "a")
    months = age_atom(AgeBound(value=6, unit="mo", raw="6 Months"), AgeBound(value=17, unit="a", raw="17 Years"))
    assert months and (months.unit, months.value, months.high) == ("mo", 6, 215)
    assert sex_atom("ALL") is None
    sex = sex_atom("FEMALE")
    assert sex and (sex.comparator, sex.value) == ("eq", "female")


def test_age_outside_a_range_is_not_an_inverted_range() -> None:
    atom = atoms("Exclusion Criteria:\n* Age <18 years or >65 years")[0]
    assert atom.category == "demographic" and not atom.computable
    assert atom.comparator is None and atom.high is None
    assert atom.reason and "outside a range" in atom.reason
