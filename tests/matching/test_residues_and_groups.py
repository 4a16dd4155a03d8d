"""Residues and any-of groups in the one evaluator and the verdict (issue: criteria that generalise, part 2)."""

from __future__ import annotations

from test_evaluate import ICD10CM, LOINC, SCT, UCUM, MemData, atom, cond, convert, ctx, obs

from fhir_adapter.criteria.model import Atom, Coding, Residue
from fhir_adapter.matching import EvalContext, Matcher, MatchOptions, evaluate_atom
from fhir_adapter.terminology import Concept, Lexicon

WIDENS_5_ULN = Residue(
    text="≤ 5 × ULN with liver metastases",
    effect="widens",
    reason="an alternative threshold for some patients",
    comparator="le",
    uln_multiple=5.0,
)


def _bilirubin(value: float, high: float = 1.2) -> dict[str, object]:
    return obs("1975-2", value, "mg/dL", referenceRange=[{"high": {"value": high, "unit": "mg/dL"}}])


def test_widening_residue_turns_a_failed_threshold_into_unknown() -> None:
    main = atom("lab.bilirubin", comparator="le", uln_multiple=2.5, residues=[WIDENS_5_ULN])
    result = evaluate_atom(main, MemData(_bilirubin(4.0)), "p1", ctx())  # 3.3 x ULN: fails 2.5, passes 5
    assert result.result == "unknown"
    assert "to confirm: ≤ 5 × ULN with liver metastases" in result.reason


def test_widening_residue_keeps_not_met_when_its_own_threshold_fails_too() -> None:
    main = atom("lab.bilirubin", comparator="le", uln_multiple=2.5, residues=[WIDENS_5_ULN])
    assert evaluate_atom(main, MemData(_bilirubin(7.0)), "p1", ctx()).result == "not-met"  # 5.8 x ULN
    assert evaluate_atom(main, MemData(_bilirubin(1.0)), "p1", ctx()).result == "met"


def test_narrowing_residue_makes_a_found_exclusion_unknown_and_leaves_absence_decisive() -> None:
    narrows = Residue(text="uncontrolled", effect="narrows", reason="'uncontrolled' is not recorded in coded data")
    excluded = atom("condition.ra", kind="exclusion", comparator="present", residues=[narrows])
    found = evaluate_atom(excluded, MemData(cond(SCT, "69896004")), "p1", ctx())
    assert found.result == "unknown" and "uncontrolled" in found.reason
    assert evaluate_atom(excluded, MemData(), "p1", ctx()).result == "not-met"


def test_any_of_inclusion_is_met_when_one_member_is_met() -> None:
    first = atom("lab.bilirubin", id="inc-1a", comparator="le", value=1.5, unit="mg/dL", any_of="inc-1a-any")
    second = atom("condition.ra", id="inc-1b", comparator="present", any_of="inc-1a-any")
    matcher = Matcher([first, second], as_of=ctx().as_of, context=ctx())
    high_bilirubin_with_ra = MemData(_bilirubin(3.0), cond(ICD10CM, "M06.9"))
    assert matcher.evaluate(high_bilirubin_with_ra, "p1").verdict == "eligible"
    no_diagnosis = MemData(_bilirubin(3.0))  # the diagnosis member is unknown (no record), not not-met
    assert matcher.evaluate(no_diagnosis, "p1").verdict == "needs-review"
    labs = [
        first,
        atom("lab.neutrophils", id="inc-1b", comparator="ge", value=1.5, unit="10*9/L", any_of="inc-1a-any"),
    ]
    both_fail = MemData(_bilirubin(3.0), obs("751-8", 1.0, "10*9/L", oid="o2"))
    result = Matcher(labs, as_of=ctx().as_of, context=ctx()).evaluate(both_fail, "p1")
    assert result.verdict == "ineligible" and "any of" in result.reason


def test_a_member_left_for_review_keeps_its_group_open() -> None:
    """Audit round 10: "diet alone, oral antidiabetics or insulin" was failed by a patient on no drug, the member
    left for review (diet) being ignored: the group is unknown while such a member may hold."""
    first = atom("lab.bilirubin", id="inc-1a", comparator="le", value=1.5, unit="mg/dL", any_of="inc-1a-any")
    review = Atom.model_validate(
        {"id": "inc-1b", "kind": "inclusion", "text": "diet alone", "computable": False, "reason": "not coded",
         "any_of": "inc-1a-any"}
    )  # fmt: skip
    result = Matcher([first, review], as_of=ctx().as_of, context=ctx()).evaluate(MemData(_bilirubin(3.0)), "p1")
    assert result.verdict == "needs-review"


def test_plain_atoms_are_unchanged_by_groups() -> None:
    plain = atom("lab.bilirubin", comparator="le", value=1.5, unit="mg/dL")
    assert Matcher([plain], as_of=ctx().as_of, context=ctx()).evaluate(MemData(_bilirubin(3.0)), "p1").verdict == (
        "ineligible"
    )


def test_a_patient_is_eligible_when_eligible_for_one_cohort() -> None:
    shared = atom("lab.neutrophils", id="inc-1", comparator="ge", value=1.5, unit="10*9/L")
    phase1 = atom("lab.bilirubin", id="inc-2", comparator="le", value=1.0, unit="mg/dL", cohort="phase 1")
    phase2 = atom("lab.bilirubin", id="inc-3", comparator="le", value=3.0, unit="mg/dL", cohort="phase 2")
    matcher = Matcher([shared, phase1, phase2], as_of=ctx().as_of, context=ctx())
    result = matcher.evaluate(MemData(_bilirubin(2.0), obs("751-8", 2.0, "10*9/L", oid="o2")), "p1")
    assert (result.verdict, result.cohorts) == ("eligible", ["phase 2"])
    assert "(cohort phase 2)" in result.reason and result.contract()["cohorts"] == ["phase 2"]
    low_neutrophils = MemData(_bilirubin(0.5), obs("751-8", 1.0, "10*9/L", oid="o2"))
    failed = matcher.evaluate(low_neutrophils, "p1")
    assert failed.verdict == "ineligible" and "inc-1" in failed.reason


def test_a_component_of_a_panel_is_read_as_a_measurement() -> None:
    """Blood pressure recorded as the US Core panel 85354-9 with systolic/diastolic components."""
    systolic = Concept(
        key="lab.systolic-bp", category="lab", display="systolic blood pressure", unit="mm[Hg]",
        codings=(Coding(system=LOINC, code="8480-6"),),
    )
    vocabulary = Lexicon([systolic], [], [])
    context = EvalContext(
        as_of=ctx().as_of, options=MatchOptions(), vocabulary=vocabulary, convert=convert,
        normalize_unit=lambda t: t,
    )
    panel = obs("85354-9", oid="bp1")
    panel["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
         "valueQuantity": {"value": 150, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
         "valueQuantity": {"value": 95, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
    ]
    limit = Atom(id="inc-1", kind="inclusion", text="SBP <= 140 mmHg", category="lab", concept_key="lab.systolic-bp",
                 concepts=[Coding(system=LOINC, code="8480-6")], comparator="le", value=140.0, unit="mm[Hg]",
                 computable=True)
    result = evaluate_atom(limit, MemData(panel), "p1", context)
    assert result.result == "not-met" and result.evidence[0].reference == "Observation/bp1"


def test_a_narrower_kind_coded_as_such_settles_its_residue() -> None:
    """"Seropositive rheumatoid arthritis" read as RA with the narrower kind to confirm: a record coded with the
    narrower kind's own code is decided, any other RA record stays to confirm."""
    narrower = Residue(
        text="seropositive rheumatoid arthritis",
        effect="narrows",
        reason="a narrower kind",
        codes=(Coding(system=SCT, code="239791005"),),
    )
    excluded = atom("condition.ra", kind="exclusion", comparator="present", residues=[narrower])
    exact = evaluate_atom(excluded, MemData(cond(SCT, "239791005")), "p1", ctx())
    assert exact.result == "met"
    broader = evaluate_atom(excluded, MemData(cond(ICD10CM, "M06.9")), "p1", ctx())
    assert broader.result == "unknown" and "seropositive rheumatoid arthritis (a narrower kind)" in broader.reason
    assert evaluate_atom(excluded, MemData(), "p1", ctx()).result == "not-met"


def test_a_required_absence_of_a_narrower_kind_leaves_the_broader_finding_to_confirm() -> None:
    """Chia NCT03004261 "no severe arrhythmia": met by no record of the finding; any recorded RA (perhaps not the
    seropositive kind) is to confirm; a record of the narrower kind itself fails the inclusion."""
    narrower = Residue(
        text="seropositive rheumatoid arthritis",
        effect="widens",
        reason="a narrower kind",
        codes=(Coding(system=SCT, code="239791005"),),
    )
    required = atom("condition.ra", kind="inclusion", comparator="absent", residues=[narrower])
    assert evaluate_atom(required, MemData(), "p1", ctx()).result == "met"
    broader = evaluate_atom(required, MemData(cond(ICD10CM, "M06.9")), "p1", ctx())
    assert broader.result == "unknown" and "seropositive rheumatoid arthritis" in broader.reason
    assert evaluate_atom(required, MemData(cond(SCT, "239791005")), "p1", ctx()).result == "not-met"


def test_the_compiler_widens_a_required_absence_by_the_words_that_narrow_its_finding() -> None:
    from fhir_adapter.criteria.compile import compile_text

    atoms = compile_text("Inclusion Criteria:\n* No severe arrhythmia\n* no uncontrolled hypertension\n").atoms
    assert [(a.comparator, [(r.text, r.effect) for r in a.residues]) for a in atoms] == [
        ("absent", [("severe", "widens")]),
        ("absent", [("uncontrolled", "widens")]),
    ]


def test_an_ifcc_hba1c_value_is_compared_with_a_percent_threshold() -> None:
    """A European record: HbA1c 59261-8 in mmol/mol against "HbA1c <= 7.0 %" (53 mmol/mol is 6.999 %)."""
    from fhir_adapter import units
    from fhir_adapter.criteria.compile import compile_text

    (limit,) = [a for a in compile_text("Inclusion Criteria:\n- HbA1c ≤ 7.0%\n").atoms if a.computable]
    assert "59261-8" in {c.code for c in limit.concepts}
    real_units = EvalContext(
        as_of=ctx().as_of, options=MatchOptions(), vocabulary=ctx().vocabulary, convert=units.convert,
        normalize_unit=units.normalize_unit,
    )
    met = evaluate_atom(limit, MemData(obs("59261-8", 53, "mmol/mol")), "p1", real_units)
    assert met.result == "met"
    failed = evaluate_atom(limit, MemData(obs("59261-8", 64, "mmol/mol")), "p1", real_units)  # 8.0 %
    assert failed.result == "not-met"


def test_a_cancer_named_with_its_site_is_unknown_on_a_site_code_alone() -> None:
    """"Adenocarcinoma of the esophagus" (the shipped lexicon's esophageal adenocarcinoma): a record coded C15.5
    (the site only, as ICD-10-CM codes cancers) leaves the histology to confirm; no record leaves it unknown too,
    and a lung adenocarcinoma does not meet it."""
    from fhir_adapter.criteria.compile import compile_text
    from fhir_adapter.terminology import lexicon

    compiled = compile_text("Inclusion Criteria:\n* adenocarcinoma of the esophagus\n").atoms
    assert [a.concept_key for a in compiled] == ["condition.esophagus-adenocarcinoma"]
    shipped = EvalContext(
        as_of=ctx().as_of, options=MatchOptions(), vocabulary=lexicon(), convert=convert, normalize_unit=lambda t: t
    )
    site_only = evaluate_atom(compiled[0], MemData(cond(ICD10CM, "C15.5")), "p1", shipped)
    assert site_only.result == "unknown" and site_only.reason == "diagnosis code carries no histology (Condition/c1)"
    lung = evaluate_atom(compiled[0], MemData(cond(ICD10CM, "C34.90")), "p1", shipped)
    assert lung.result == "unknown" and "no documented" in lung.reason
