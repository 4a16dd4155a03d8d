"""The FHIRPath filters on a record's status and date that the compiled expressions apply, read from
``mappings/matching.yaml`` as the matcher reads them (one table for both, so they cannot disagree)."""

from __future__ import annotations

from functools import lru_cache

from fhir_adapter.criteria.fhirpath import fp_in
from fhir_adapter.criteria.model import Atom
from fhir_adapter.mappings import load_table

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")


def matching_table() -> dict[str, object]:
    try:
        return load_table("matching")
    except Exception:  # the matching tables are optional for the compiler
        return {}


def table_list(table: dict[str, object], *path: str, default: tuple[str, ...] = ()) -> list[str]:
    node: object = table
    for key in path:
        if not isinstance(node, dict):
            return list(default)
        node = node.get(key)
    return [str(v) for v in node] if isinstance(node, list) else list(default)


def excluded_status(resource_type: str) -> list[str]:
    defaults = {
        "Observation": ("entered-in-error", "cancelled", "registered"),
        "MedicationRequest": ("entered-in-error", "cancelled", "draft"),
        "MedicationStatement": ("entered-in-error", "not-taken", "intended"),
        "MedicationAdministration": ("entered-in-error", "not-done"),
        "Procedure": ("entered-in-error", "not-done", "preparation"),
    }
    return table_list(matching_table(), "excluded_status", resource_type, default=defaults.get(resource_type, ()))


@lru_cache(maxsize=64)
def status_ok(resource_type: str) -> str | None:
    excluded = excluded_status(resource_type)
    return f"(status in {fp_in(excluded)}).not()" if excluded else None


def window(atom: Atom, date_path: str) -> str | None:
    if atom.within_days is None:
        return None
    return f"({date_path}) >= today() - {atom.within_days} days"


def use_window(atom: Atom, resource_type: str) -> str | None:
    """A medication used within the window: dated in it, or still going on (an order written before the window
    whose status says it is current), as the matcher reads it."""
    dated = window(atom, date_path(resource_type))
    if dated is None:
        return None
    going_on = table_list(matching_table(), "current_status", resource_type, default=("active",))
    return f"({dated} or status in {fp_in(going_on)})"


def condition_status(atom: Atom) -> str:
    return condition_status_for(tuple(atom.qualifiers))


@lru_cache(maxsize=64)
def condition_status_for(qualifiers: tuple[str, ...]) -> str:
    table = matching_table()
    active = table_list(table, "condition", "active_clinical_status", default=("active", "recurrence", "relapse"))
    inactive = table_list(table, "condition", "inactive_clinical_status", default=("inactive", "remission", "resolved"))
    refuted = table_list(table, "condition", "excluded_verification_status", default=("refuted", "entered-in-error"))
    tentative = table_list(
        table, "condition", "tentative_verification_status", default=("unconfirmed", "provisional", "differential")
    )
    excluded_verification = refuted + ([] if "suspected" in qualifiers else tentative)
    parts = [f"verificationStatus.coding.where(code in {fp_in(excluded_verification)}).empty()"]
    if {"history", "prior"} & set(qualifiers):
        pass  # as the matcher: resolved ones count too ("current or past history of alcoholism")
    elif "active" in qualifiers or "current" in qualifiers:
        parts.append(f"clinicalStatus.coding.where(code in {fp_in(active)}).exists()")
    else:
        parts.append(f"clinicalStatus.coding.where(code in {fp_in(inactive)}).empty()")
    return " and ".join(parts)


def resource_status(resource_type: str, atom: Atom) -> str | None:
    if resource_type == "Condition":
        return condition_status(atom)
    if resource_type == "AllergyIntolerance":
        table = matching_table()
        refuted = table_list(table, "allergy", "excluded_verification_status", default=("refuted", "entered-in-error"))
        return f"verificationStatus.coding.where(code in {fp_in(refuted)}).empty()"
    if resource_type in MEDICATION_TYPES and "current" in atom.qualifiers:
        return f"status in {fp_in(table_list(matching_table(), 'current_status', resource_type, default=('active',)))}"
    if resource_type == "Immunization":
        return "status = 'completed'"
    return status_ok(resource_type)


def date_path(resource_type: str) -> str:
    return {
        "Condition": "onset.ofType(dateTime) | recordedDate",
        "MedicationRequest": "authoredOn",
        "MedicationStatement": "effective.ofType(dateTime) | effective.ofType(Period).end | dateAsserted",
        "MedicationAdministration": "effective.ofType(dateTime) | effective.ofType(Period).end",
        "Procedure": "performed.ofType(dateTime) | performed.ofType(Period).end",
        "AllergyIntolerance": "onset.ofType(dateTime) | recordedDate",
        "Immunization": "occurrence.ofType(dateTime)",
    }[resource_type]
