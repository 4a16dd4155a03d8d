from __future__ import annotations

from typing import Any

from ctgov_records import seed_trial
from mapping_helpers import drug_lookup, extension_values, one, unresolved_references

from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria
from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping import to_bundle
from fhir_adapter.trial import AgeBound, Eligibility

LOINC = "http://loinc.org"


def atoms() -> CompiledCriteria:
    return CompiledCriteria(
        trial="NCT06577194",
        atoms=[
            Atom(id="age", kind="inclusion", text="18 Years", comparator="ge", value=18, unit="a", computable=True),
            Atom(
                id="inc-1",
                kind="inclusion",
                text="neutrophil count >= 1.5x10^9/L",
                category="lab",
                concepts=[Coding(system=LOINC, code="751-8", display="Neutrophils")],
                comparator="ge",
                value=1.5,
                unit="10*9/L",
                computable=True,
                fhir_query="Observation?code=http://loinc.org|751-8",
                fhirpath="Observation.value.value >= 1.5",
            ),
            Atom(
                id="inc-2",
                kind="inclusion",
                text="total bilirubin <= 1.5 x ULN",
                category="lab",
                comparator="le",
                uln_multiple=1.5,
                computable=True,
                fhirpath="Observation.value < Observation.referenceRange.high",
            ),
            Atom(
                id="inc-3",
                kind="inclusion",
                text="age 18 to 75",
                comparator="between",
                value=18,
                high=75,
                unit="a",
                computable=True,
                fhir_query="Patient?birthdate=le2000",
            ),
            Atom(
                id="exc-1",
                kind="exclusion",
                text="HIV infection",
                category="infection",
                concepts=[Coding(system="http://snomed.info/sct", code="86406008")],
                comparator="present",
                computable=True,
                fhir_query="Condition?code=http://snomed.info/sct|86406008",
            ),
            Atom(
                id="exc-2",
                kind="exclusion",
                text="complex situations",
                computable=False,
                reason="no computable concept",
            ),
        ],
    )


def group(version: str, criteria: CompiledCriteria | None = None, trial: Any = None) -> dict[str, Any]:
    bundle = to_bundle(trial or seed_trial(), version, criteria, drug_lookup=drug_lookup)  # type: ignore[arg-type]
    return one(bundle, "Group")


def age_range(g: dict[str, Any]) -> dict[str, Any]:
    return next(c["valueRange"] for c in g["characteristic"] if c["code"].get("text") == "Age")


def test_structured_eligibility_r4_and_r5() -> None:
    r4, r5 = group("R4"), group("R5")
    assert r4["actual"] is False and "membership" not in r4
    assert r5["membership"] == "definitional" and "actual" not in r5
    for g in (r4, r5):
        assert g["type"] == "person"
        assert age_range(g)["low"]["value"] == 18 and age_range(g)["high"]["value"] == 75
        assert age_range(g)["low"]["code"] == "a"
        volunteers = next(c for c in g["characteristic"] if c["code"]["text"] == "Accepts healthy volunteers")
        assert volunteers["valueBoolean"] is False


def test_open_age_bounds_and_sex() -> None:
    trial = seed_trial().model_copy(
        update={"eligibility": Eligibility(sex="FEMALE", minimum_age=AgeBound(value=6, unit="mo", raw="6 Months"))}
    )
    g = group("R4", trial=trial)
    assert age_range(g) == {"low": {"value": 6.0, "unit": "mo", "system": C.UCUM, "code": "mo"}}
    sex = next(c for c in g["characteristic"] if c["code"]["text"] == "Sex")
    assert sex["valueCodeableConcept"]["coding"][0]["code"] == "female"


def test_r4_emits_every_atom_except_structured_ones() -> None:
    g = group("R4", atoms())
    emitted = [extension_values(c, C.EXT_CRITERION_ID) for c in g["characteristic"]]
    assert [e[0] for e in emitted if e] == ["inc-1", "inc-2", "inc-3", "exc-1", "exc-2"]


def criterion(g: dict[str, Any], atom_id: str) -> dict[str, Any]:
    return next(c for c in g["characteristic"] if extension_values(c, C.EXT_CRITERION_ID) == [atom_id])


def test_r4_atom_values_exclusion_and_expressions() -> None:
    g = group("R4", atoms())
    neutrophils = criterion(g, "inc-1")
    assert neutrophils["code"]["coding"][0]["code"] == "751-8"
    assert neutrophils["valueQuantity"] == {
        "value": 1.5,
        "unit": "10*9/L",
        "system": C.UCUM,
        "code": "10*9/L",
        "comparator": ">=",
    }
    assert neutrophils["exclude"] is False
    assert extension_values(neutrophils, C.EXT_CRITERION_EXPRESSION) == [
        {"language": "application/x-fhir-query", "expression": "Observation?code=http://loinc.org|751-8"},
        {"language": "text/fhirpath", "expression": "Observation.value.value >= 1.5"},
    ]
    assert criterion(g, "inc-2")["valueQuantity"]["comparator"] == "<="
    assert criterion(g, "inc-3")["valueRange"]["high"]["value"] == 75
    hiv = criterion(g, "exc-1")
    assert hiv["exclude"] is True and hiv["valueBoolean"] is True
    vague = criterion(g, "exc-2")
    assert vague["code"] == {"text": "complex situations"}
    assert extension_values(vague, C.EXT_CRITERION_COMPUTABLE) == [False]
    assert extension_values(vague, C.EXT_CRITERION_NOT_COMPUTABLE_REASON) == ["no computable concept"]
    assert extension_values(vague, C.EXT_CRITERION_TEXT) == ["complex situations"]


def test_r5_criteria_go_to_an_evidence_variable_referenced_from_recruitment() -> None:
    bundle = to_bundle(seed_trial(), "R5", atoms(), drug_lookup=drug_lookup)
    ev = one(bundle, "EvidenceVariable")
    study = one(bundle, "ResearchStudy")
    ev_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is ev)
    assert study["recruitment"]["eligibility"]["reference"] == ev_url
    assert unresolved_references(bundle) == []
    characteristics = {c.get("linkId"): c for c in ev["characteristic"]}
    assert "definitionReference" in ev["characteristic"][0]  # the structured Group
    both = characteristics["inc-1"]["definitionByCombination"]
    assert both["code"] == "all-of"
    assert [s["definitionExpression"]["language"] for s in both["characteristic"]] == [
        "text/x-fhir-query",
        "text/fhirpath",
    ]
    assert characteristics["inc-2"]["definitionExpression"]["language"] == "text/fhirpath"
    assert characteristics["exc-1"]["exclude"] is True
    vague = characteristics["exc-2"]
    assert vague["description"] == "complex situations"
    assert vague["definitionCodeableConcept"] == {"text": "complex situations"}
    assert extension_values(vague, C.EXT_CRITERION_COMPUTABLE) == [False]
    assert "age" not in characteristics
    assert len(one(bundle, "Group")["characteristic"]) == 2  # structured only: age, volunteers
