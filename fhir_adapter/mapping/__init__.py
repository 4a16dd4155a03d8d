"""Mapping a :class:`~fhir_adapter.trial.TrialRecord` to FHIR R4 or R5 in one transaction Bundle.

Public API:

* :func:`to_bundle` - the Bundle (JSON-ready dict, every resource validated with fhir.resources).
* :func:`stable_id` - a deterministic FHIR id for a business identifier (for PUT at stable ids).
* :func:`business_identifier` / :func:`entry_business_identifier` - read back the project
  identifier (system ``http://fhir-adapter.org/fhir/identifier``) of a resource or Bundle entry;
  every resource of the Bundle has exactly one (see :mod:`fhir_adapter.mapping.identity`).

The Bundle is byte-for-byte reproducible: fullUrls are uuid5 of the business identifier, nothing
depends on time or randomness, and entries come in a fixed order.
"""

from __future__ import annotations

from typing import Any

from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.mapping.bundle import transaction
from fhir_adapter.mapping.canonical import IDENTIFIER_SYSTEM
from fhir_adapter.mapping.context import MappingContext
from fhir_adapter.mapping.identity import business_identifier, if_none_exist, stable_id
from fhir_adapter.mapping.interventions import DrugLookup, default_drug_lookup
from fhir_adapter.mapping.versions import FhirVersion, flavor
from fhir_adapter.trial import TrialRecord

__all__ = [
    "IDENTIFIER_SYSTEM",
    "DrugLookup",
    "FhirVersion",
    "business_identifier",
    "entry_business_identifier",
    "if_none_exist",
    "stable_id",
    "to_bundle",
]


def to_bundle(
    trial: TrialRecord,
    fhir_version: FhirVersion = "R4",
    criteria: CompiledCriteria | None = None,
    *,
    drug_lookup: DrugLookup | None = None,
    validate: bool = True,
) -> dict[str, Any]:
    """The trial as a transaction Bundle (POST + ifNoneExist on the business identifier).

    ``criteria`` (from the criteria compiler) adds every atom: R4 as Group characteristics, R5 as an
    EvidenceVariable. ``drug_lookup`` codes drug interventions (default: the lexicon's lookup).
    Raises MappingError naming the resource and element when a resource does not validate.
    """
    ctx = MappingContext(trial, flavor(fhir_version), drug_lookup or default_drug_lookup())
    return transaction(ctx, criteria, validated=validate)


def entry_business_identifier(entry: dict[str, Any]) -> tuple[str, str, str]:
    """``(resourceType, system, value)`` of a Bundle entry's business identifier; the push helper
    PUTs at ``<resourceType>/<stable_id(resourceType, value)>`` when a server cannot search identifiers."""
    resource = entry["resource"]
    found = business_identifier(resource)
    if found is None:
        raise KeyError(f"entry {entry.get('fullUrl')} has no {IDENTIFIER_SYSTEM} identifier")
    return str(resource["resourceType"]), found[0], found[1]
