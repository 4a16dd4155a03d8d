"""Location: one per real site (shared ``site:`` key, :mod:`fhir_adapter.mapping.shared`), with
address and geo position.

A Location holds only what the site is; what it does in one trial stays with the trial: the site's
recruitment status travels on the ResearchStudy's ``site`` reference (extension
``registry-site-status``) and the site contacts' telecom on their PractitionerRoles. So every trial
maps a site to the same bytes. A site without a facility name keeps a per-trial key (``NCT...-site-3``):
a city alone does not identify a site.
"""

from __future__ import annotations

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, extension, text_concept
from fhir_adapter.mapping.practitioner import person_entries, site_contact_role
from fhir_adapter.mapping.shared import site_key
from fhir_adapter.trial import Location


def site_role(index: int) -> str:
    return f"site-{index}"


def site_value(ctx: MappingContext, index: int, site: Location) -> str:
    return site_key(site.facility, site.city, site.country, site.zip) or ctx.value(site_role(index))


def site_ref(ctx: MappingContext, index: int, site: Location) -> JSON:
    """The ResearchStudy.site reference, carrying the site's recruitment status in this trial."""
    ref = ctx.shared_ref("Location", site_value(ctx, index, site), site.facility)
    if site.status:
        ref = {"extension": [extension(C.EXT_SITE_STATUS, valueString=site.status)], **ref}
    return ref


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
    return ctx.shared_entry(
        "Location",
        site_value(ctx, index, site),
        {
            "status": "active",
            "name": site.facility or ", ".join(p for p in (site.city, site.country) if p) or f"Site {index}",
            "mode": "instance",
            "type": [text_concept("Clinical trial site")],
            "address": _address(site),
            "position": {"longitude": site.geo.lon, "latitude": site.geo.lat} if site.geo else None,
        },
    )


def locations(ctx: MappingContext) -> list[Entry]:
    entries: list[Entry] = []
    for index, site in enumerate(ctx.trial.locations, 1):
        entries.append(location(ctx, index, site))
        ref = ctx.shared_ref("Location", site_value(ctx, index, site), site.facility)
        for contact_index, person in enumerate(site.contacts, 1):
            entries += person_entries(ctx, site_contact_role(index, contact_index), person, ref)
    return entries
