"""Location: one per registry site, with address, geo position and the site contacts' telecom."""

from __future__ import annotations

from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, text_concept
from fhir_adapter.mapping.practitioner import person_entries, site_contact_role, telecom
from fhir_adapter.trial import Location


def site_role(index: int) -> str:
    return f"site-{index}"


def _address(site: Location) -> JSON:
    parts = [site.city, site.state, site.zip, site.country]
    return {
        "text": ", ".join(p for p in parts if p) or None,
        "city": site.city,
        "state": site.state,
        "postalCode": site.zip,
        "country": site.country,
    }


def location(ctx: MappingContext, index: int, site: Location) -> Entry:
    contact_telecom = [t for person in site.contacts for t in telecom(person) if t]
    return ctx.entry(
        "Location",
        site_role(index),
        {
            "status": "active",
            "name": site.facility or ", ".join(p for p in (site.city, site.country) if p) or f"Site {index}",
            # the site's own recruitment status has no Location element: keep it visible as text
            "description": f"Site recruitment status: {site.status}" if site.status else None,
            "mode": "instance",
            "type": [text_concept("Clinical trial site")],
            **ctx.version.contact_points(contact_telecom),
            "address": _address(site),
            "position": {"longitude": site.geo.lon, "latitude": site.geo.lat} if site.geo else None,
        },
    )


def locations(ctx: MappingContext) -> list[Entry]:
    entries: list[Entry] = []
    for index, site in enumerate(ctx.trial.locations, 1):
        entries.append(location(ctx, index, site))
        site_ref = ctx.ref("Location", site_role(index), site.facility)
        for contact_index, person in enumerate(site.contacts, 1):
            entries += person_entries(ctx, site_contact_role(index, contact_index), person, site_ref)
    return entries
