"""Organization: the lead sponsor and the collaborators, one resource per real organisation.

The identifier is the shared ``org:<normalised name>`` key (:mod:`fhir_adapter.mapping.shared`),
so the NCI sponsoring eleven trials is one Organization. The registry gives sponsors no country.
Content is what the organisation is, never what it does in one trial (that is on the ResearchStudy),
so every trial maps it to the same bytes.
"""

from __future__ import annotations

from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, text_concept
from fhir_adapter.mapping.shared import org_key
from fhir_adapter.mapping.tables import agency_class_text
from fhir_adapter.trial import Organization


def sponsor_role() -> str:
    return "sponsor"


def collaborator_role(index: int) -> str:
    return f"collaborator-{index}"


def organization_value(ctx: MappingContext, role: str, org: Organization) -> str:
    """The shared key; the per-trial role value only for a name that normalises to nothing."""
    return org_key(org.name) or ctx.value(role)


def organization_ref(ctx: MappingContext, role: str, org: Organization) -> JSON:
    return ctx.shared_ref("Organization", organization_value(ctx, role, org), org.name)


def organization(ctx: MappingContext, role: str, org: Organization) -> Entry:
    agency = agency_class_text(org.agency_class)
    return ctx.shared_entry(
        "Organization",
        organization_value(ctx, role, org),
        {"active": True, "type": [text_concept(agency)] if agency else None, "name": org.name},
    )


def organizations(ctx: MappingContext) -> list[Entry]:
    found = [organization(ctx, sponsor_role(), ctx.trial.lead_sponsor)] if ctx.trial.lead_sponsor else []
    found += [organization(ctx, collaborator_role(i), c) for i, c in enumerate(ctx.trial.collaborators, 1)]
    return found
