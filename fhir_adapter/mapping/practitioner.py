"""Practitioner + PractitionerRole: study officials, central contacts and site contacts.

The registry names people in one string (often with degrees: "Jane Doe, MD"), so the name is
kept as ``HumanName.text``: splitting it into given/family would be a guess.
"""

from __future__ import annotations

from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, text_concept
from fhir_adapter.mapping.organization import sponsor_role
from fhir_adapter.trial import Person


def official_role(index: int) -> str:
    return f"official-{index}"


def contact_role(index: int) -> str:
    return f"contact-{index}"


def site_contact_role(site_index: int, index: int) -> str:
    return f"site-{site_index}-contact-{index}"


def telecom(person: Person) -> list[JSON | None]:
    phone = f"{person.phone} ext. {person.phone_ext}" if person.phone and person.phone_ext else person.phone
    return [
        {"system": "phone", "value": phone, "use": "work"} if phone else None,
        {"system": "email", "value": person.email, "use": "work"} if person.email else None,
    ]


def person_entries(ctx: MappingContext, role: str, person: Person, location: JSON | None = None) -> list[Entry]:
    """The Practitioner and its PractitionerRole (role text, affiliation, site, telecom)."""
    practitioner = ctx.entry(
        "Practitioner",
        role,
        {"active": True, "name": [{"text": person.name or "Unnamed contact"}]},
    )
    role_body: JSON = {
        "active": True,
        "practitioner": ctx.ref("Practitioner", role, person.name),
        "organization": _affiliation(ctx, person),
        "code": [text_concept(person.role.replace("_", " ").lower().capitalize())] if person.role else None,
        "location": [location] if location else None,
        **ctx.version.contact_points([t for t in telecom(person) if t]),
    }
    return [practitioner, ctx.entry("PractitionerRole", f"{role}-role", role_body)]


def _affiliation(ctx: MappingContext, person: Person) -> JSON | None:
    """The sponsor Organization when the affiliation names it, else a display-only reference."""
    if not person.affiliation:
        return None
    sponsor = ctx.trial.lead_sponsor
    if sponsor and person.affiliation.strip().lower() == sponsor.name.strip().lower():
        return ctx.ref("Organization", sponsor_role(), sponsor.name)
    return {"display": person.affiliation}


def practitioners(ctx: MappingContext) -> list[Entry]:
    entries: list[Entry] = []
    for index, official in enumerate(ctx.trial.officials, 1):
        entries += person_entries(ctx, official_role(index), official)
    for index, contact in enumerate(ctx.trial.central_contacts, 1):
        entries += person_entries(ctx, contact_role(index), contact)
    return entries
