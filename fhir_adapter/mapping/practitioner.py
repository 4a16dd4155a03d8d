"""Practitioner + PractitionerRole: study officials, central contacts and site contacts.

The registry names people in one string (often with degrees: "Jane Doe, MD"), so the name is
kept as ``HumanName.text``: splitting it into given/family would be a guess.

A Practitioner is one real person (shared ``person:`` key, :mod:`fhir_adapter.mapping.shared`);
the PractitionerRole is per trial and per place (its role, site and telecom). A contact whose name
is an office or a role ("Site Public Contact") is no person: it becomes a PractitionerRole with
its telecom and no Practitioner.
"""

from __future__ import annotations

from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, text_concept
from fhir_adapter.mapping.organization import organization_ref, sponsor_role
from fhir_adapter.mapping.shared import is_office, org_key, person_key
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


def practitioner_value(ctx: MappingContext, role: str, person: Person) -> str | None:
    """The shared person key; None for an office; the per-trial role value for a nameless contact."""
    if is_office(person.name):
        return None
    return person_key(person.name, person.affiliation, ctx.key) or ctx.value(role)


def _role_code(person: Person) -> list[JSON]:
    role = text_concept(person.role.replace("_", " ").lower().capitalize()) if person.role else None
    if is_office(person.name):
        return [c for c in (text_concept(str(person.name)), role) if c]
    return [role] if role else []


def person_entries(ctx: MappingContext, role: str, person: Person, location: JSON | None = None) -> list[Entry]:
    """The Practitioner (unless the contact is an office) and its PractitionerRole (role text,
    affiliation, site, telecom)."""
    value = practitioner_value(ctx, role, person)
    found: list[Entry] = []
    if value is not None:
        found.append(ctx.shared_entry(
            "Practitioner", value, {"active": True, "name": [{"text": person.name or "Unnamed contact"}]}
        ))
    role_body: JSON = {
        "active": True,
        "practitioner": ctx.shared_ref("Practitioner", value, person.name) if value is not None else None,
        "organization": _affiliation(ctx, person),
        "code": _role_code(person) or None,
        "location": [location] if location else None,
        **ctx.version.contact_points([t for t in telecom(person) if t]),
    }
    return [*found, ctx.entry("PractitionerRole", f"{role}-role", role_body)]


def _affiliation(ctx: MappingContext, person: Person) -> JSON | None:
    """The sponsor Organization when the affiliation names it, else a display-only reference."""
    if not person.affiliation:
        return None
    sponsor = ctx.trial.lead_sponsor
    if sponsor and org_key(person.affiliation) is not None and org_key(person.affiliation) == org_key(sponsor.name):
        return organization_ref(ctx, sponsor_role(), sponsor)
    return {"display": person.affiliation}


def practitioners(ctx: MappingContext) -> list[Entry]:
    entries: list[Entry] = []
    for index, official in enumerate(ctx.trial.officials, 1):
        entries += person_entries(ctx, official_role(index), official)
    for index, contact in enumerate(ctx.trial.central_contacts, 1):
        entries += person_entries(ctx, contact_role(index), contact)
    return entries
