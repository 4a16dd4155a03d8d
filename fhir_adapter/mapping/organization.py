"""Organization: the lead sponsor and the collaborators."""

from __future__ import annotations

from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import text_concept
from fhir_adapter.mapping.tables import agency_class_text
from fhir_adapter.trial import Organization


def sponsor_role() -> str:
    return "sponsor"


def collaborator_role(index: int) -> str:
    return f"collaborator-{index}"


def organization(ctx: MappingContext, role: str, org: Organization) -> Entry:
    agency = agency_class_text(org.agency_class)
    return ctx.entry(
        "Organization",
        role,
        {"active": True, "type": [text_concept(agency)] if agency else None, "name": org.name},
    )


def organizations(ctx: MappingContext) -> list[Entry]:
    found = [organization(ctx, sponsor_role(), ctx.trial.lead_sponsor)] if ctx.trial.lead_sponsor else []
    found += [organization(ctx, collaborator_role(i), c) for i, c in enumerate(ctx.trial.collaborators, 1)]
    return found
