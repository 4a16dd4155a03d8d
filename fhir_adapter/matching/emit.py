"""Screening results as FHIR: ResearchSubject candidates and a Group listing them, in a transaction Bundle.

Only eligible and needs-review patients become subjects (a pre-screening result: their state is
``candidate`` in both versions). Every entry is created with ``ifNoneExist`` on a business identifier
derived from (trial, patient, as-of date), and its ``fullUrl`` is a deterministic ``urn:uuid``, so
pushing the same screening twice creates nothing new.

All R4/R5 differences live in :data:`_SHAPES` and :func:`_subject_fields` / :func:`_group_fields`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from fhir_adapter.errors import MappingError
from fhir_adapter.matching.model import PatientResult, ScreenResult
from fhir_adapter.matching.spill import with_verdicts

FhirVersion = Literal["R4", "R5"]

CTGOV_SYSTEM = "https://clinicaltrials.gov"
IDENTIFIER_SYSTEM = "urn:fhir-adapter:screening"
"""System of the business identifiers of the emitted resources (values are UUIDs derived from the inputs)."""
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, IDENTIFIER_SYSTEM)
_NCT = re.compile(r"^NCT\d{8}$")
_CANDIDATE_VERDICTS = ("eligible", "needs-review")


@dataclass(frozen=True)
class _Shape:
    """What differs between R4 and R5 for the resources emitted here."""

    subject_field: str
    group_membership: tuple[str, Any]


_SHAPES: dict[FhirVersion, _Shape] = {
    "R4": _Shape(subject_field="individual", group_membership=("actual", True)),
    "R5": _Shape(subject_field="subject", group_membership=("membership", "enumerated")),
}

_R5_PROGRESS = {
    "type": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/research-subject-state-type",
                "code": "Enrollment",
                "display": "Enrollment status",
            }
        ]
    },
    "subjectState": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/research-subject-state",
                "code": "candidate",
                "display": "Candidate",
            }
        ]
    },
}


def _subject_fields(version: FhirVersion, patient_ref: str, as_of: str) -> dict[str, Any]:
    """The version-specific part of a candidate ResearchSubject."""
    shape = _SHAPES[version]
    fields: dict[str, Any] = {shape.subject_field: {"reference": patient_ref}}
    if version == "R4":
        fields["status"] = "candidate"
    else:
        fields["status"] = "active"  # R5 status is the publication status of the record
        fields["progress"] = [{**_R5_PROGRESS, "startDate": as_of}]
    return fields


def _group_fields(version: FhirVersion) -> dict[str, Any]:
    name, value = _SHAPES[version].group_membership
    return {name: value}


def business_uuid(*parts: str) -> str:
    """A UUID determined by ``parts`` (same inputs, same UUID)."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def study_reference(trial: str) -> dict[str, Any]:
    """A logical reference to the ResearchStudy by its registry identifier (works on any server)."""
    identifier: dict[str, str] = {"value": trial}
    if _NCT.match(trial):
        identifier = {"system": CTGOV_SYSTEM, "value": trial}
    return {"type": "ResearchStudy", "identifier": identifier, "display": trial}


def _entry(resource_type: str, key: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{key}",
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource_type,
            "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|{key}",
        },
    }


def candidate_subject(version: FhirVersion, trial: str, patient_ref: str, as_of: str) -> dict[str, Any]:
    """A candidate ResearchSubject for ``patient_ref`` in ``trial``, with its business identifier (also what a
    CDS Hooks card suggests creating)."""
    key = business_uuid("ResearchSubject", trial, patient_ref, as_of)
    return {
        "resourceType": "ResearchSubject",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": key}],
        **_subject_fields(version, patient_ref, as_of),
        "study": study_reference(trial),
    }


def _subject_entry(version: FhirVersion, trial: str, as_of: str, patient: PatientResult) -> dict[str, Any]:
    resource = candidate_subject(version, trial, patient.patient, as_of)
    return _entry("ResearchSubject", resource["identifier"][0]["value"], resource)


def _group_entry(version: FhirVersion, trial: str, as_of: str, patients: list[PatientResult]) -> dict[str, Any]:
    key = business_uuid("Group", trial, as_of)
    resource: dict[str, Any] = {
        "resourceType": "Group",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": key}],
        "type": "person",
        **_group_fields(version),
        "name": f"Screening candidates for {trial} as of {as_of}",
        "quantity": len(patients),
        "member": [{"entity": {"reference": p.patient}} for p in patients],
    }
    return _entry("Group", key, resource)


def candidates(result: ScreenResult) -> list[PatientResult]:
    """The eligible and needs-review patients, in the result's order."""
    return with_verdicts(result.patients, _CANDIDATE_VERDICTS)  # a spilled screen reads only theirs


def candidates_bundle(result: ScreenResult, *, fhir_version: FhirVersion = "R4") -> dict[str, Any]:
    """A transaction Bundle: one ResearchSubject per candidate and one Group listing them."""
    as_of = result.as_of.isoformat()
    chosen = candidates(result)
    entries = [_subject_entry(fhir_version, result.trial, as_of, p) for p in chosen]
    entries.append(_group_entry(fhir_version, result.trial, as_of, chosen))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def validate_bundle(bundle: dict[str, Any], *, fhir_version: FhirVersion) -> None:
    """Validate with fhir.resources (R4B models for R4); raises :class:`MappingError` naming the element."""
    from fhir.resources.bundle import Bundle as BundleR5
    from fhir.resources.R4B.bundle import Bundle as BundleR4B

    model: Any = BundleR4B if fhir_version == "R4" else BundleR5
    try:
        model.model_validate(bundle)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise MappingError(str(first.get("msg", "invalid")), source=f"Bundle ({fhir_version})", field=where) from exc
