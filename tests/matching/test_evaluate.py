"""One test per evaluation rule, with hand-built concepts (independent of the shipped lexicon tables)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from fhir_adapter.criteria.model import Atom, Coding
from fhir_adapter.errors import InputError
from fhir_adapter.matching import EvalContext, Matcher, MatchOptions, evaluate_atom
from fhir_adapter.matching.evaluate import age_on
from fhir_adapter.terminology import CodePrefix, Concept, Lexicon

LOINC, SCT, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
ICD10CM, ATC, RXNORM = (
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://www.whocc.no/atc",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
)
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
AS_OF = date(2024, 6, 1)

CONCEPTS = [
    Concept(
        key="lab.neutrophils",
        category="lab",
        display="neutrophils",
        unit="10*9/L",
        codings=(Coding(system=LOINC, code="751-8"), Coding(system=LOINC, code="26499-4")),
    ),
    Concept(
        key="lab.bilirubin",
        category="lab",
        display="total bilirubin",
        unit="mg/dL",
        codings=(Coding(system=LOINC, code="1975-2"), Coding(system=LOINC, code="14631-6")),
    ),
    Concept(
        key="performance.ecog",
        category="performance-status",
        display="ECOG",
        codings=(Coding(system=LOINC, code="89247-1"),),
        answers={f"{LOINC}|LA9622-7": 0, f"{LOINC}|LA9623-5": 1, f"{LOINC}|LA9624-3": 2, f"{SCT}|422512005": 1},
    ),
    Concept(
        key="condition.ra",
        category="condition",
        display="rheumatoid arthritis",
        codings=(Coding(system=SCT, code="69896004"), Coding(system=ICD10CM, code="M06.9")),
    ),
    Concept(
        key="condition.rectal-adenocarcinoma",
        category="condition",
        display="rectal adenocarcinoma",
        codings=(Coding(system=SCT, code="254582000"),),
        site_codings=(Coding(system=ICD10CM, code="C20"), Coding(system=SCT, code="363351006")),
        morphology_codings=(Coding(system=ICDO3, code="8140/3"), Coding(system=SCT, code="1187332001")),
    ),
    Concept(
        key="condition.pregnancy",
        category="pregnancy",
        display="pregnancy",
        codings=(Coding(system=SCT, code="77386006"), Coding(system=LOINC, code="82810-3")),
    ),
    Concept(
        key="medication.pembrolizumab",
        category="medication",
        display="pembrolizumab",
        codings=(Coding(system=RXNORM, code="1547545"),),
        synonyms=("keytruda",),
    ),
    Concept(
        key="medication.pd1",
        category="medication",
        display="PD-1/PD-L1 inhibitors",
        code_prefixes=(CodePrefix(system=ATC, prefix="L01FF"),),
        members=("medication.pembrolizumab",),
    ),
    Concept(
        key="medication.prednisone",
        category="medication",
        display="prednisone",
        codings=(Coding(system=RXNORM, code="8640"),),
    ),
    Concept(key="medication.hydrocortisone", category="medication", display="hydrocortisone"),
    Concept(
        key="medication.steroids",
        category="medication",
        display="systemic corticosteroids",
        systemic_only=True,
        code_prefixes=(CodePrefix(system=ATC, prefix="H02AB"),),
        members=("medication.prednisone", "medication.hydrocortisone"),
    ),
]
TOPICAL = Coding(system=SCT, code="6064005", display="Topical route")
VOCAB = Lexicon(CONCEPTS, [TOPICAL], ["cream", "ointment"])
FACTORS = {("10*3/uL", "10*9/L"): 1.0, ("umol/L", "mg/dL"): 1 / 17.104, ("mg/dL", "umol/L"): 17.104}


def convert(value: float, from_unit: str, to_unit: str, concept_key: str | None = None) -> float | None:
    if from_unit == to_unit:
        return value
    factor = FACTORS.get((from_unit, to_unit))
    return None if factor is None else value * factor


class MemData:
    def __init__(self, *resources: dict[str, Any], patient: dict[str, Any] | None = None) -> None:
        self.pat = patient or {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01", "gender": "female"}
        self.res = list(resources)

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        return self.pat if patient_id == self.pat["id"] else None

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        return [r for r in self.res if r["resourceType"] == resource_type]

    def patient_ids(self) -> list[str]:
        return [self.pat["id"]]

    def resolve(self, reference: str) -> dict[str, Any] | None:
        return None


def ctx(**options: Any) -> EvalContext:
    return EvalContext(
        as_of=AS_OF, options=MatchOptions(**options), vocabulary=VOCAB, convert=convert, normalize_unit=lambda t: t
    )


def atom(key: str, kind: str = "inclusion", **fields: Any) -> Atom:
    concept = VOCAB.get(key)
    fields.setdefault("computable", True)
    return Atom(
        id=fields.pop("id", "a1"),
        kind=kind,
        text=key,
        category=concept.category,
        concept_key=key,
        concepts=list(concept.codings),
        **fields,
    )


def obs(
    code: str,
    value: Any = None,
    unit: str | None = None,
    when: str = "2024-05-20",
    oid: str = "o1",
    system: str = LOINC,
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "effectiveDateTime": when,
    }
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    resource.update(extra)
    return resource


def cond(
    system: str,
    code: str,
    status: str | None = "active",
    verification: str | None = "confirmed",
    cid: str = "c1",
    onset: str = "2023-01-01",
    **extra: Any,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": system, "code": code}]},
        "onsetDateTime": onset,
    }
    if status:
        resource["clinicalStatus"] = {"coding": [{"code": status}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"code": verification}]}
    resource.update(extra)
    return resource


def med(
    text: str,
    *,
    coding: tuple[str, str] | None = None,
    route: Coding | None = None,
    mid: str = "m1",
    when: str = "2022-01-01",
    status: str = "completed",
) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if coding:
        concept["coding"] = [{"system": coding[0], "code": coding[1], "display": text}]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "medicationCodeableConcept": concept,
        "authoredOn": when,
    }
    if route:
        resource["dosageInstruction"] = [{"route": {"coding": [route.model_dump(exclude_none=True)]}}]
    return resource


def run(a: Atom, *resources: dict[str, Any], **options: Any) -> Any:
    return evaluate_atom(a, MemData(*resources), "p1", ctx(**options))


NEUT = {"comparator": "ge", "value": 1.5, "unit": "10*9/L"}


# -- labs -----------------------------------------------------------------------------------------------------


def test_lab_met_with_reason_and_evidence() -> None:
    result = run(atom("lab.neutrophils", **NEUT), obs("751-8", 2.1, "10*9/L", when="2024-01-03"), recency_days=365)
    assert result.result == "met"
    assert result.reason == "neutrophils 2.1 × 10⁹/L on 2024-01-03; required ≥ 1.5 × 10⁹/L → met"
    assert (result.evidence[0].value, result.evidence[0].unit) == (2.1, "10*9/L")  # raw values for machines
    assert result.evidence[0].reference == "Observation/o1"
    assert (result.evidence[0].value, result.evidence[0].unit, result.evidence[0].date) == (2.1, "10*9/L", "2024-01-03")


def test_lab_boundary_is_met_and_below_is_not_met() -> None:
    assert run(atom("lab.neutrophils", **NEUT), obs("751-8", 1.5, "10*9/L")).result == "met"
    assert run(atom("lab.neutrophils", **NEUT), obs("751-8", 1.49, "10*9/L")).result == "not-met"


def test_lab_most_recent_value_wins_and_future_values_are_ignored() -> None:
    result = run(
        atom("lab.neutrophils", **NEUT),
        obs("751-8", 1.0, "10*9/L", when="2024-04-01", oid="old"),
        obs("26499-4", 3.0, "10*9/L", when="2024-05-01", oid="new"),
        obs("751-8", 0.5, "10*9/L", when="2024-07-01", oid="future"),
    )
    assert result.result == "met"
    assert [e.reference for e in result.evidence] == ["Observation/new"]


def test_lab_recency_window_default_option_and_atom_within_days() -> None:
    stale = obs("751-8", 2.0, "10*9/L", when="2024-01-01")
    result = run(atom("lab.neutrophils", **NEUT), stale)
    assert result.result == "unknown"
    assert "older than 90 days" in result.reason
    assert run(atom("lab.neutrophils", **NEUT), stale, recency_days=200).result == "met"
    assert (
        run(
            atom("lab.neutrophils", within_days=10, **NEUT),
            obs("751-8", 2.0, "10*9/L", when="2024-05-01"),
            recency_days=200,
        ).result
        == "unknown"
    )


def test_lab_unit_conversion_and_unconvertible_unit() -> None:
    result = run(atom("lab.neutrophils", **NEUT), obs("751-8", 1.8, "10*3/uL"))
    assert result.result == "met"
    assert result.evidence[0].unit == "10*9/L"
    unknown = run(atom("lab.neutrophils", **NEUT), obs("751-8", 1800, "/mm3"))
    assert unknown.result == "unknown"
    assert "cannot convert /mm³ to 10⁹/L" in unknown.reason
    assert unknown.need == "neutrophils in 10⁹/L"


def test_lab_missing_and_entered_in_error_are_unknown() -> None:
    assert run(atom("lab.neutrophils", **NEUT)).result == "unknown"
    wrong = obs("751-8", 2.0, "10*9/L", status="entered-in-error")
    assert run(atom("lab.neutrophils", **NEUT), wrong).result == "unknown"


def test_uln_multiple_uses_the_observations_own_reference_range() -> None:
    bili = atom("lab.bilirubin", comparator="le", uln_multiple=1.5)
    ranged = obs("14631-6", 30, "umol/L", referenceRange=[{"high": {"value": 21, "unit": "umol/L", "code": "umol/L"}}])
    result = run(bili, ranged)
    assert result.result == "met"  # 30 <= 31.5
    assert "required ≤ 1.5 × ULN (31.5 µmol/L)" in result.reason
    high = obs("14631-6", 32, "umol/L", referenceRange=[{"high": {"value": 21, "unit": "umol/L", "code": "umol/L"}}])
    assert run(bili, high).result == "not-met"
    # range in mg/dL, value in umol/L: the range is converted to the value's unit
    mixed = obs("14631-6", 30, "umol/L", referenceRange=[{"high": {"value": 1.2, "unit": "mg/dL", "code": "mg/dL"}}])
    assert run(bili, mixed).result == "met"  # 1.2 mg/dL = 20.5 umol/L, ×1.5 = 30.8


def test_uln_without_reference_range_is_unknown_never_a_guess() -> None:
    result = run(atom("lab.bilirubin", comparator="le", uln_multiple=1.5), obs("1975-2", 0.4, "mg/dL"))
    assert result.result == "unknown"
    assert "no reference range" in result.reason


# -- ECOG ---------------------------------------------------------------------------------------------------------


ECOG = {"comparator": "le", "value": 1}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"valueInteger": 1}, "met"),
        ({"valueInteger": 2}, "not-met"),
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9622-7"}]}}, "met"),
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9624-3"}]}}, "not-met"),
        ({"valueQuantity": {"value": 1}}, "met"),
    ],
)
def test_ecog_value_forms(extra: dict[str, Any], expected: str) -> None:
    assert run(atom("performance.ecog", **ECOG), obs("89247-1", **extra)).result == expected


def test_ecog_recorded_as_snomed_grade_finding_code() -> None:
    result = run(atom("performance.ecog", **ECOG), obs("422512005", system=SCT))
    assert result.result == "met"
    assert result.evidence[0].value == 1


# -- conditions -----------------------------------------------------------------------------------------------------


def test_condition_active_counts_and_exclusion_met() -> None:
    result = run(atom("condition.ra", kind="exclusion"), cond(SCT, "69896004"))
    assert result.result == "met"
    assert result.reason == "rheumatoid arthritis present (Condition/c1)"


def test_condition_any_coding_icd10_only() -> None:
    assert run(atom("condition.ra", kind="exclusion"), cond(ICD10CM, "M06.9")).result == "met"


def test_condition_refuted_and_entered_in_error_are_ignored() -> None:
    for verification in ("refuted", "entered-in-error"):
        result = run(atom("condition.ra", kind="exclusion"), cond(SCT, "69896004", verification=verification))
        assert result.result == "not-met"
        assert result.reason == "no documented rheumatoid arthritis"


def test_condition_resolved_counts_only_for_history() -> None:
    resolved = cond(SCT, "69896004", status="resolved")
    active_only = run(atom("condition.ra", kind="exclusion"), resolved)
    assert active_only.result == "not-met"
    assert "recorded as resolved/inactive: Condition/c1" in active_only.reason
    assert run(atom("condition.ra", kind="exclusion", qualifiers=["history"]), resolved).result == "met"
    # a required diagnosis recorded as resolved is evidence to look at, never "not documented"
    required = run(atom("condition.ra", kind="inclusion"), resolved)
    assert (required.result, [e.reference for e in required.evidence]) == ("unknown", ["Condition/c1"])
    assert required.need == "whether rheumatoid arthritis is current"


def test_condition_abated_or_future_onset_does_not_count() -> None:
    abated = cond(SCT, "69896004", abatementDateTime="2024-01-01")
    assert run(atom("condition.ra", kind="exclusion"), abated).result == "not-met"
    future = cond(SCT, "69896004", onset="2024-12-01")
    assert run(atom("condition.ra", kind="exclusion"), future).result == "not-met"


def test_condition_without_clinical_status_counts_as_active() -> None:
    assert run(atom("condition.ra", kind="exclusion"), cond(SCT, "69896004", status=None)).result == "met"


def test_tentative_counts_only_for_suspected() -> None:
    provisional = cond(SCT, "69896004", verification="provisional")
    assert run(atom("condition.ra", kind="exclusion"), provisional).result == "not-met"
    assert run(atom("condition.ra", kind="exclusion", qualifiers=["suspected"]), provisional).result == "met"


def test_uncontrolled_present_is_unknown() -> None:
    result = run(atom("condition.ra", kind="exclusion", qualifiers=["uncontrolled"]), cond(SCT, "69896004"))
    assert result.result == "unknown"
    assert "uncontrolled is not coded" in result.reason


def test_missing_required_diagnosis_is_unknown() -> None:
    result = run(atom("condition.rectal-adenocarcinoma"))
    assert result.result == "unknown"
    assert result.reason.startswith("no documented rectal adenocarcinoma (required")


HISTOLOGY_URL = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"


def test_histology_site_code_alone_is_unknown() -> None:
    result = run(atom("condition.rectal-adenocarcinoma"), cond(ICD10CM, "C20"))
    assert result.result == "unknown"
    assert result.reason == "diagnosis code carries no histology (Condition/c1)"


def test_histology_site_code_plus_mcode_extension_is_met() -> None:
    ext = [{"url": HISTOLOGY_URL, "valueCodeableConcept": {"coding": [{"system": ICDO3, "code": "8140/3"}]}}]
    assert run(atom("condition.rectal-adenocarcinoma"), cond(ICD10CM, "C20", extension=ext)).result == "met"
    other = [{"url": HISTOLOGY_URL, "valueCodeableConcept": {"coding": [{"system": ICDO3, "code": "8070/3"}]}}]
    assert run(atom("condition.rectal-adenocarcinoma"), cond(ICD10CM, "C20", extension=other)).result == "unknown"


def test_histology_own_snomed_code_is_met() -> None:
    assert run(atom("condition.rectal-adenocarcinoma"), cond(SCT, "254582000")).result == "met"


def test_pregnancy_by_status_observation_and_stale_condition() -> None:
    exc = atom("condition.pregnancy", kind="exclusion")
    positive = obs(
        "82810-3", when="2024-05-25", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA15173-0"}]}
    )
    assert run(exc, positive).result == "met"
    negative = obs(
        "82810-3", when="2024-05-25", valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA26683-5"}]}
    )
    assert run(exc, negative).result == "not-met"
    stale = run(exc, cond(SCT, "77386006", onset="2022-01-01"))
    assert stale.result == "unknown"
    assert "over 300 days" in stale.reason


# -- medications -----------------------------------------------------------------------------------------------------


def test_medication_class_by_atc_prefix() -> None:
    result = run(atom("medication.pd1", kind="exclusion"), med("Keytruda 25 mg/ml", coding=(ATC, "L01FF02")))
    assert result.result == "met"
    assert result.evidence[0].reference == "MedicationRequest/m1"


def test_medication_member_ingredient_code_and_text_fallback_for_scd_products() -> None:
    assert run(atom("medication.pd1", kind="exclusion"), med("x", coding=(RXNORM, "1547545"))).result == "met"
    scd = med("pembrolizumab 25 MG/ML Injectable Solution", coding=(RXNORM, "1657748"))
    assert run(atom("medication.pd1", kind="exclusion"), scd).result == "met"
    assert run(atom("medication.pd1", kind="exclusion"), med("KEYTRUDA infusion")).result == "met"
    # word boundaries: a name inside another word does not count
    assert (
        run(atom("medication.prednisone", kind="exclusion"), med("methylprednisone-like product")).result == "not-met"
    )


def test_medication_status_and_date_filters() -> None:
    exc = atom("medication.pd1", kind="exclusion")
    assert run(exc, med("pembrolizumab", status="entered-in-error")).result == "not-met"
    assert run(exc, med("pembrolizumab", status="cancelled")).result == "not-met"
    assert run(exc, med("pembrolizumab", when="2025-01-01")).result == "not-met"
    recent_only = atom("medication.pd1", kind="exclusion", within_days=30)
    assert run(recent_only, med("pembrolizumab", when="2024-01-01")).result == "not-met"
    assert run(recent_only, med("pembrolizumab", when="2024-05-15")).result == "met"


def test_current_use_counts_only_a_medication_going_on() -> None:
    """ "Current use of pembrolizumab": an order completed or stopped is no current use (the compiled FHIRPath asks
    the same statuses, from ``current_status`` in mappings/matching.yaml)."""
    current = atom("medication.pd1", kind="exclusion", qualifiers=["current"])
    assert run(current, med("pembrolizumab", status="active")).result == "met"
    stopped = run(current, med("pembrolizumab", status="stopped"))
    assert stopped.result == "not-met"
    assert "not current" in stopped.reason
    assert run(atom("medication.pd1", kind="exclusion"), med("pembrolizumab", status="stopped")).result == "met"


def test_systemic_only_class_ignores_topical_routes_and_dose_forms() -> None:
    steroids = atom("medication.steroids", kind="exclusion")
    cream = run(steroids, med("Hydrocortisone 10 MG/ML Topical Cream", coding=(RXNORM, "106258")))
    assert cream.result == "not-met"
    assert "not systemic" in cream.reason
    assert run(steroids, med("prednisone 5 mg", route=TOPICAL)).result == "not-met"
    assert run(steroids, med("prednisone 5 MG Oral Tablet", coding=(RXNORM, "312617"))).result == "met"
    assert run(steroids, med("Dexamethasone", coding=(ATC, "H02AB02"))).result == "met"


def test_medication_reference_to_contained_medication() -> None:
    resource = med("ignored")
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "#med"}
    resource["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med",
            "code": {"coding": [{"system": ATC, "code": "L01FF01", "display": "nivolumab"}]},
        }
    ]
    assert run(atom("medication.pd1", kind="exclusion"), resource).result == "met"


# -- demographics, non-computable, patient ------------------------------------------------------------------------


def test_age_exact_birthday_arithmetic() -> None:
    assert age_on(date(1949, 6, 1), AS_OF) == 75
    assert age_on(date(1949, 6, 2), AS_OF) == 74
    assert age_on(date(1948, 6, 1), AS_OF) == 76
    age = Atom(
        id="age",
        kind="inclusion",
        text="18-75",
        category="demographic",
        comparator="between",
        value=18,
        high=75,
        unit="a",
        computable=True,
    )
    for birth, expected in (
        ("1949-06-01", "met"),
        ("1948-06-01", "not-met"),
        ("2006-06-01", "met"),
        ("2006-06-02", "not-met"),
    ):
        data = MemData(patient={"resourceType": "Patient", "id": "p1", "birthDate": birth})
        assert evaluate_atom(age, data, "p1", ctx()).result == expected, birth


def test_sex() -> None:
    sex = Atom(
        id="sex",
        kind="inclusion",
        text="female",
        category="demographic",
        comparator="eq",
        value="female",
        computable=True,
    )
    assert evaluate_atom(sex, MemData(), "p1", ctx()).result == "met"
    male = MemData(patient={"resourceType": "Patient", "id": "p1", "gender": "male"})
    assert evaluate_atom(sex, male, "p1", ctx()).result == "not-met"


def test_non_computable_is_review() -> None:
    a = Atom(id="exc-7", kind="exclusion", text="toxicity", computable=False, reason="grade of a toxicity")
    result = evaluate_atom(a, MemData(), "p1", ctx())
    assert (result.result, result.reason) == ("review", "not evaluated: grade of a toxicity")


def test_unknown_patient_raises_input_error() -> None:
    with pytest.raises(InputError, match="no such patient"):
        Matcher([], as_of=AS_OF, context=ctx()).evaluate(MemData(), "nobody")


# -- the trial's index condition, closed-world -----------------------------------------------------------------


class CompleteData(MemData):
    """A source that returned the patient's record completely (as a local export does)."""

    def complete(self, resource_type: str) -> bool:
        return True


def _decide(data: MemData, **options: Any) -> Any:
    index = atom("condition.ra", id="inc-1", index=True)
    matcher = Matcher([index, atom("lab.neutrophils", id="inc-2", **NEUT)], as_of=AS_OF, context=ctx(**options))
    return matcher.evaluate(data, "p1")


def test_index_condition_absent_from_a_complete_record_is_not_a_candidate() -> None:
    result = _decide(CompleteData())
    assert (result.verdict, result.reason_code) == ("ineligible", "not-a-candidate")
    assert result.criteria[0].result == "not-met"
    assert result.reason == "not a candidate: no record of rheumatoid arthritis in the patient's complete problem list"


def test_index_condition_stays_unknown_when_open_world_or_recorded_somehow() -> None:
    # a source that does not say it is complete, or the user says it is not
    assert _decide(MemData()).reason_code == "needs-review"
    assert _decide(CompleteData(), open_world_diagnosis=True).reason_code == "needs-review"
    # resolved, or refuted: still no current diagnosis; resolved is a record to look at, refuted is not
    resolved = _decide(CompleteData(cond(SCT, "69896004", status="resolved")))
    assert resolved.reason_code == "needs-review"
    assert "whether rheumatoid arthritis is current" in resolved.open_items
    refuted = _decide(CompleteData(cond(SCT, "69896004", verification="refuted")))
    assert refuted.reason_code == "not-a-candidate"
    # documented: decided as usual
    assert _decide(CompleteData(cond(SCT, "69896004"))).criteria[0].result == "met"


def test_two_values_on_one_day_give_one_answer_in_any_order() -> None:
    """Servers and files return resources in different orders: the later timestamp, then the higher id, wins."""
    morning = obs("751-8", 1.0, "10*9/L", when="2024-05-20T08:00:00Z", oid="o-a")
    evening = obs("751-8", 2.0, "10*9/L", when="2024-05-20T18:00:00Z", oid="o-b")
    for order in ((morning, evening), (evening, morning)):
        assert run(atom("lab.neutrophils", **NEUT), *order).evidence[0].reference == "Observation/o-b"
    same_time = [obs("751-8", v, "10*9/L", when="2024-05-20", oid=f"o-{i}") for i, v in enumerate((1.0, 2.0))]
    for order in (same_time, same_time[::-1]):
        assert run(atom("lab.neutrophils", **NEUT), *order).evidence[0].reference == "Observation/o-1"


def test_an_impossible_reference_range_is_never_used_for_a_uln_multiple() -> None:
    bilirubin = obs("1975-2", 30, "umol/L", referenceRange=[{"low": {"value": 21, "unit": "umol/L"},
                                                               "high": {"value": 5, "unit": "umol/L"}}])
    result = run(atom("lab.bilirubin", comparator="le", uln_multiple=1.5, unit="umol/L"), bilirubin)
    assert result.result == "unknown"
    assert "a reference range with low above high (ULN unknown)" in result.reason


def test_a_provisional_index_diagnosis_is_a_record_to_confirm_not_no_record() -> None:
    provisional = _decide(CompleteData(cond(SCT, "69896004", verification="provisional")))
    assert provisional.reason_code == "needs-review"
    assert "confirmation of rheumatoid arthritis" in provisional.open_items


def test_an_unreadable_value_or_date_is_reported_as_such_not_as_no_value() -> None:
    bad_value = obs("751-8", None, when="2024-05-20")
    bad_value["valueQuantity"] = {"value": "abc", "unit": "10*9/L"}
    bad_date = obs("751-8", 2.0, "10*9/L", when="1990-02-30", oid="o2")
    for resource in (bad_value, bad_date):
        result = run(atom("lab.neutrophils", **NEUT), resource)
        assert result.result == "unknown"
        assert "recorded, but its value or date cannot be read" in result.reason
        assert result.need == "a readable neutrophils value"
    assert run(atom("lab.neutrophils", **NEUT)).reason.startswith("no neutrophils value recorded")
