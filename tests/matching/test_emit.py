"""--emit-fhir: ResearchSubject candidates and a Group, as a transaction, in R4 and R5."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_adapter.errors import MappingError
from fhir_adapter.matching.emit import IDENTIFIER_SYSTEM, candidates_bundle, validate_bundle
from fhir_adapter.matching.model import PatientResult, ScreenResult

RESULT = ScreenResult(
    trial="NCT01234567",
    as_of=date(2024, 6, 1),
    patients=[
        PatientResult(patient="Patient/a", verdict="eligible", reason="ok"),
        PatientResult(patient="Patient/b", verdict="needs-review", reason="ANC unknown"),
        PatientResult(patient="Patient/c", verdict="ineligible", reason="no"),
    ],
)


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_bundle_validates_and_lists_only_candidates(version: str) -> None:
    bundle = candidates_bundle(RESULT, fhir_version=version)  # type: ignore[arg-type]
    validate_bundle(bundle, fhir_version=version)  # type: ignore[arg-type]
    assert bundle["type"] == "transaction"
    subjects = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ResearchSubject"]
    groups = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Group"]
    field = "individual" if version == "R4" else "subject"
    assert [s[field]["reference"] for s in subjects] == ["Patient/a", "Patient/b"]
    assert all(s["study"]["identifier"] == {"system": "https://clinicaltrials.gov", "value": "NCT01234567"}
               for s in subjects)
    assert len(groups) == 1 and groups[0]["type"] == "person" and groups[0]["quantity"] == 2
    assert [m["entity"]["reference"] for m in groups[0]["member"]] == ["Patient/a", "Patient/b"]


def test_r4_and_r5_differences() -> None:
    r4 = candidates_bundle(RESULT, fhir_version="R4")
    r5 = candidates_bundle(RESULT, fhir_version="R5")
    assert r4["entry"][0]["resource"]["status"] == "candidate"
    assert "progress" not in r4["entry"][0]["resource"]
    progress = r5["entry"][0]["resource"]["progress"][0]
    assert progress["subjectState"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/research-subject-state", "code": "candidate",
        "display": "Candidate",
    }
    assert progress["type"]["coding"][0]["code"] == "Enrollment"
    assert r4["entry"][-1]["resource"]["actual"] is True and "membership" not in r4["entry"][-1]["resource"]
    assert r5["entry"][-1]["resource"]["membership"] == "enumerated" and "actual" not in r5["entry"][-1]["resource"]


def test_entries_are_conditional_and_deterministic() -> None:
    first, again = candidates_bundle(RESULT), candidates_bundle(RESULT)
    assert first == again
    for entry in first["entry"]:
        key = entry["fullUrl"].removeprefix("urn:uuid:")
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["ifNoneExist"] == f"identifier={IDENTIFIER_SYSTEM}|{key}"
        assert entry["resource"]["identifier"] == [{"system": IDENTIFIER_SYSTEM, "value": key}]
    other_day = candidates_bundle(RESULT.model_copy(update={"as_of": date(2024, 7, 1)}))
    assert {e["fullUrl"] for e in other_day["entry"]}.isdisjoint({e["fullUrl"] for e in first["entry"]})


def test_invalid_bundle_is_a_mapping_error() -> None:
    bundle = candidates_bundle(RESULT, fhir_version="R5")
    bundle["entry"][0]["resource"]["progress"][0]["startDate"] = "June"
    with pytest.raises(MappingError, match="startDate"):
        validate_bundle(bundle, fhir_version="R5")
