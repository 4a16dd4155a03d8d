"""Every generated FHIRPath evaluates with fhirpathpy over a searchset Bundle and gives the right answer."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fakes import FakeLexicon, FakeUnits
from fhirpathpy import evaluate
from fhirpathpy.models import models

from fhir_adapter.criteria.compile import age_atom, compile_text, emit, sex_atom
from fhir_adapter.criteria.fhirpath import fp_string, search_escape
from fhir_adapter.criteria.model import Atom
from fhir_adapter.trial import AgeBound

LEX = FakeLexicon()
UNITS = FakeUnits()
R4 = models["r4"]


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def obs(
    code: str,
    *,
    value: float | None = None,
    unit: str | None = None,
    high: float | None = None,
    answer: str | None = None,
    when: str = "2025-01-01",
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "effectiveDateTime": when,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
    }
    if value is not None:
        resource["valueQuantity"] = {"value": value, "system": "http://unitsofmeasure.org", "code": unit}
    if high is not None:
        resource["referenceRange"] = [{"high": {"value": high}}]
    if answer is not None:
        resource["valueCodeableConcept"] = {"coding": [{"system": "http://loinc.org", "code": answer}]}
    return resource


def condition(system: str, code: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": system, "code": code}]},
        "clinicalStatus": {"coding": [{"code": status}]},
    }


def atom_for(text: str, key: str) -> Atom:
    found = [a for a in compile_text(text, lexicon=LEX, units=UNITS).atoms if a.concept_key == key]
    assert found and found[0].fhirpath, found
    return found[0]


def run(atom: Atom, data: dict[str, Any]) -> list[Any]:
    assert atom.fhirpath
    return list(evaluate(data, atom.fhirpath, {}, R4))


def test_lab_threshold_true_false_and_unit_conversion() -> None:
    atom = atom_for("Inclusion Criteria:\n* ANC ≥ 1.5 x 10^9/L", "lab.neutrophils")
    assert run(atom, bundle(obs("751-8", value=2.0, unit="10*9/L"))) == [True]
    assert run(atom, bundle(obs("751-8", value=1.0, unit="10*9/L"))) == [False]
    assert run(atom, bundle(obs("26499-4", value=1800, unit="/uL"))) == [True]
    assert run(atom, bundle(obs("751-8", value=2.0, unit="mg"))) == []  # unknown unit: no answer
    assert run(atom, bundle()) == []


def test_uln_multiple() -> None:
    atom = atom_for("* AST ≤ 2.5 x ULN", "lab.ast")
    assert run(atom, bundle(obs("1920-8", value=80, unit="U/L", high=40))) == [True]
    assert run(atom, bundle(obs("1920-8", value=120, unit="U/L", high=40))) == [False]


def test_condition_presence_prefix_and_exclusion() -> None:
    atom = atom_for("Inclusion Criteria:\n* rectal adenocarcinoma", "condition.rectal-adenocarcinoma")
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert run(atom, bundle(condition(icd, "C20"))) == [True]
    assert run(atom, bundle(condition(icd, "C18.7"))) == [False]
    assert run(atom, bundle(condition(icd, "C20", status="resolved"))) == [False]
    other = atom_for(
        "Exclusion Criteria:\n* Coexistence of other non-colorectal cancer malignancies", "condition.malignancy"
    )
    assert run(other, bundle(condition(icd, "C50.9"))) == [True]
    assert run(other, bundle(condition(icd, "C18.7"))) == [False]


def test_negated_presence() -> None:
    atom = atom_for("Inclusion Criteria:\n* No history of HIV", "condition.hiv")
    assert run(atom, bundle(condition("http://snomed.info/sct", "86406008"))) == [False]
    assert run(atom, bundle()) == [True]


def test_medication_prefix() -> None:
    atom = atom_for("Exclusion Criteria:\n* prior anti-PD-1 therapy", "medication.pd1-pdl1-inhibitors")
    request = {
        "resourceType": "MedicationRequest",
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01FF02"}]},
    }
    assert run(atom, bundle(request)) == [True]
    request["status"] = "entered-in-error"
    assert run(atom, bundle(request)) == [False]


@pytest.mark.parametrize(
    ("answer", "value", "expected"),
    [("LA9623-5", None, True), ("LA9624-3", None, False), (None, 1, True), (None, 3, False)],
)
def test_ecog(answer: str | None, value: int | None, expected: bool) -> None:
    atom = atom_for("* ECOG performance status score of 0 or 1", "performance.ecog")
    resource = obs("89247-1", answer=answer)
    if value is not None:
        resource["valueInteger"] = value
    assert run(atom, bundle(resource)) == [expected]


def _born(years_ago: int, days: int = 0) -> str:
    today = date.today()
    born = (
        today.replace(year=today.year - years_ago)
        if not (today.month == 2 and today.day == 29)
        else today.replace(year=today.year - years_ago, day=28)
    )
    return date.fromordinal(born.toordinal() + days).isoformat()


@pytest.mark.parametrize(
    ("years_ago", "days", "expected"),
    [(30, 0, True), (18, 0, True), (18, 1, False), (75, 0, True), (76, 1, True), (76, 0, False), (80, 0, False)],
)
def test_age(years_ago: int, days: int, expected: bool) -> None:
    birth = _born(years_ago, days)  # computed when the test runs, like FHIRPath's today() (no race at midnight)
    atom = emit(
        age_atom(AgeBound(value=18, unit="a", raw="18 Years"), AgeBound(value=75, unit="a", raw="75 Years"))
        or pytest.fail(),
        lexicon=LEX,
        units=UNITS,
    )
    assert atom.prefilter == "Patient?birthdate=le{{today() - 18 years}}&birthdate=gt{{today() - 76 years}}"
    assert run(atom, bundle({"resourceType": "Patient", "birthDate": birth})) == [expected]


def test_sex() -> None:
    atom = emit(sex_atom("FEMALE") or pytest.fail(), lexicon=LEX, units=UNITS)
    assert run(atom, bundle({"resourceType": "Patient", "gender": "female"})) == [True]
    assert run(atom, bundle({"resourceType": "Patient", "gender": "male"})) == [False]
    assert atom.fhir_query == "Patient?_id={{%patient.id}}"


def test_escaping() -> None:
    assert search_escape("a,b|c$d\\e") == "a%5C%2Cb%5C%7Cc%5C%24d%5C%5Ce"
    assert fp_string("it's") == "'it\\'s'"


def test_within_days_window() -> None:
    atom = atom_for("Exclusion Criteria:\n* chemotherapy within 28 days", "medication.antineoplastics")
    recent = {
        "resourceType": "MedicationRequest",
        "status": "completed",
        "authoredOn": date.today().isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L01XA01"}]},
    }
    assert run(atom, bundle(recent)) == [True]
    recent["authoredOn"] = "2001-01-01"
    assert run(atom, bundle(recent)) == [False]


def test_histology_from_site_code_and_mcode_extension() -> None:
    """A diagnosis code such as ICD-10 C20 carries no histology: the mCODE extension must supply it."""
    from fhir_adapter.criteria import compile_text as compile_with_real_lexicon

    atoms = compile_with_real_lexicon("Inclusion Criteria:\n* Histologically confirmed rectal adenocarcinoma").atoms
    atom = next(a for a in atoms if a.concept_key == "condition.rectal-adenocarcinoma")
    assert atom.computable and atom.fhirpath and atom.prefilter
    assert "icd-10-cm|C20" in atom.prefilter  # the pre-filter keeps site-coded patients
    site_only = condition("http://hl7.org/fhir/sid/icd-10-cm", "C20")
    with_histology = {
        **site_only,
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior",
                "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "35917007"}]},
            }
        ],
    }
    implied = condition("http://snomed.info/sct", "254582000")
    assert evaluate(bundle(site_only), atom.fhirpath, {}, R4) == [False]
    assert evaluate(bundle(with_histology), atom.fhirpath, {}, R4) == [True]
    assert evaluate(bundle(implied), atom.fhirpath, {}, R4) == [True]


def test_a_class_of_thousands_of_codes_stays_evaluable() -> None:
    """The antineoplastic class lists several hundred RxNorm codes: a flat union of them exceeded fhirpathpy's
    recursion limit (a left-deep chain); the balanced tree evaluates, and to the same answer."""
    from fhir_adapter.criteria.fhirpath import fp_in

    codes = [str(100000 + i) for i in range(3000)]
    expression = f"Coding.where(code in {fp_in(codes)}).exists()"
    for code, expected in (("102999", True), ("99", False)):
        assert evaluate({"resourceType": "Coding", "code": code}, expression) == [expected]
    assert fp_in(["a", "b"]) == "('a' | 'b')"  # short lists stay flat
