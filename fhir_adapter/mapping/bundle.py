"""Assembling the transaction Bundle: entries, fullUrls, conditional creates, validation."""

from __future__ import annotations

from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.errors import MappingError
from fhir_adapter.mapping.activity_definition import activity_definitions
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON
from fhir_adapter.mapping.evidence_variable import evidence_variable
from fhir_adapter.mapping.group import group
from fhir_adapter.mapping.identity import if_none_exist
from fhir_adapter.mapping.location import locations
from fhir_adapter.mapping.organization import organizations
from fhir_adapter.mapping.plan_definition import plan_definition
from fhir_adapter.mapping.practitioner import practitioners
from fhir_adapter.mapping.research_study import research_study
from fhir_adapter.mapping.results import result_entries
from fhir_adapter.mapping.shared import is_shared_value
from fhir_adapter.mapping.site_study import site_studies
from fhir_adapter.mapping.validation import validate


def entries(ctx: MappingContext, criteria: CompiledCriteria | None) -> list[Entry]:
    """Every resource of the trial, in a fixed order (study, protocol, eligibility, posted results, parties, sites,
    site studies)."""
    # R5 puts the atoms into an EvidenceVariable; R4 into the Group (see versions.py / group.py).
    use_variable = criteria is not None and ctx.version.name == "R5"
    definitions, mapped = activity_definitions(ctx)
    found = [research_study(ctx, mapped, with_criteria_variable=use_variable), plan_definition(ctx, mapped)]
    found += definitions
    found.append(group(ctx, criteria, with_atoms=not use_variable))
    if use_variable and criteria is not None:
        found.append(evidence_variable(ctx, criteria))
    found += result_entries(ctx)
    found += organizations(ctx) + practitioners(ctx) + locations(ctx) + site_studies(ctx)
    return _unique(found, ctx.trial.label)


def _unique(found: list[Entry], label: str) -> list[Entry]:
    """Each business identifier once: a shared party named twice in one trial (a sponsor that is also a
    collaborator, an investigator at 25 sites) keeps its first entry, because a transaction with two
    entries of the same conditional identity fails on servers. Two per-trial entries with one
    identifier are a bug."""
    seen: set[str] = set()
    kept: list[Entry] = []
    for entry in found:
        if entry.full_url in seen:
            if not is_shared_value(entry.identifier_value):
                raise MappingError("two resources got the same business identifier", source=label, field=entry.label)
            continue
        seen.add(entry.full_url)
        kept.append(entry)
    return kept


def bundle_entry(entry: Entry) -> JSON:
    return {
        "fullUrl": entry.full_url,
        "resource": entry.resource,
        "request": {
            "method": "POST",
            "url": entry.resource_type,
            "ifNoneExist": if_none_exist(entry.identifier_value),
        },
    }


def transaction(ctx: MappingContext, criteria: CompiledCriteria | None, *, validated: bool = True) -> JSON:
    found = entries(ctx, criteria)
    if validated:
        for entry in found:
            validate(entry.resource, ctx.version, f"{ctx.trial.label}: {entry.label}")
    return {"resourceType": "Bundle", "type": "transaction", "entry": [bundle_entry(e) for e in found]}
