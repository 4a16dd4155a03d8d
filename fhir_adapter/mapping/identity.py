"""Business identifiers, stable ids and fullUrls: what makes converting twice give the same bytes.

Every resource of a bundle carries one identifier with system
:data:`~fhir_adapter.mapping.canonical.IDENTIFIER_SYSTEM`. Resources of one trial have a value built from the
trial key (the NCT id, else the org study id) and the resource's role in the trial::

    <trial>                          ResearchStudy
    <trial>-plan                     PlanDefinition (the protocol)
    <trial>-intervention-2           ActivityDefinition of the 2nd intervention
    <trial>-intervention-2-component-1   ... of a regimen component
    <trial>-eligibility              Group
    <trial>-eligibility-criteria     EvidenceVariable (R5 with criteria)
    <trial>-site-1-contact-1-role    PractitionerRole (a person's or an office's role in this trial)

Organizations, Locations and Practitioners are the same party across trials: their values are shared keys
(``org:``, ``site:``, ``person:``) built by :mod:`fhir_adapter.mapping.shared`.

The push helper reads it back with :func:`business_identifier` and PUTs at :func:`stable_id`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache
from typing import Any

from fhir_adapter.errors import MappingError
from fhir_adapter.mapping.canonical import CANONICAL_BASE, IDENTIFIER_SYSTEM
from fhir_adapter.trial import TrialRecord

_URN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, IDENTIFIER_SYSTEM)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9\-.]+")
_MAX_ID = 64
_SEARCH_SPECIAL = re.compile(r"[\\|,$]")


def trial_key(trial: TrialRecord) -> str:
    """The value every identifier of this trial starts with."""
    key = trial.nct_id or trial.org_study_id
    if not key:
        raise MappingError("trial has neither an NCT id nor an org study id", source=trial.label, field="nct_id")
    return key


def stable_id(resource_type: str, business_identifier_value: str) -> str:
    """A valid FHIR id (``[A-Za-z0-9\\-.]{1,64}``), the same for the same inputs.

    Readable when the value is short and safe; otherwise a readable prefix plus a hash suffix,
    so two different values never collapse into one id. ``resource_type`` takes part in the hash
    only, so the id of a ResearchStudy ``NCT<8 digits>`` is that NCT number itself.
    """
    cleaned = _ID_UNSAFE.sub("-", business_identifier_value).strip("-.") or "x"
    if cleaned == business_identifier_value and len(cleaned) <= _MAX_ID:
        return cleaned
    digest = hashlib.sha256(f"{resource_type}|{business_identifier_value}".encode()).hexdigest()[:16]
    return f"{cleaned[: _MAX_ID - len(digest) - 1].rstrip('-.')}-{digest}"


@lru_cache(maxsize=65536)
def full_url(resource_type: str, business_identifier_value: str) -> str:
    """``urn:uuid:`` derived (uuid5) from the type and business identifier: no randomness."""
    name = f"{resource_type}|{IDENTIFIER_SYSTEM}|{business_identifier_value}"
    return f"urn:uuid:{_uuid5_text(name)}"


_URN_NAMESPACE_BYTES = _URN_NAMESPACE.bytes
_UUID5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID5_SET = (0x8000 << 48) | (5 << 76)


def _uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(_URN_NAMESPACE, name))`` without building a UUID object (a third of the time; every
    resource and reference of a trial needs one): the same SHA-1, variant and version bits, and text."""
    digest = hashlib.sha1(_URN_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).digest()
    value = (int.from_bytes(digest[:16], "big") & _UUID5_CLEAR) | _UUID5_SET
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def identifier(value: str) -> dict[str, str]:
    return {"system": IDENTIFIER_SYSTEM, "value": value}


def escape_search_value(value: str) -> str:
    """Escape ``\\``, ``|``, ``,`` and ``$`` as FHIR search token values require."""
    if _SEARCH_SPECIAL.search(value) is None:  # the usual case: one search instead of four replacements
        return value
    for char in ("\\", "|", ",", "$"):
        value = value.replace(char, "\\" + char)
    return value


def if_none_exist(value: str, system: str = IDENTIFIER_SYSTEM) -> str:
    """The conditional-create query for a business identifier (``identifier=<system>|<value>``)."""
    return f"identifier={escape_search_value(system)}|{escape_search_value(value)}"


def business_identifier(resource: dict[str, Any]) -> tuple[str, str] | None:
    """``(system, value)`` of the project business identifier of a mapped resource, if it has one."""
    for ident in resource.get("identifier") or []:
        if ident.get("system") == IDENTIFIER_SYSTEM and ident.get("value"):
            return IDENTIFIER_SYSTEM, str(ident["value"])
    return None


def canonical_url(resource_type: str, business_identifier_value: str) -> str:
    return f"{CANONICAL_BASE}/{resource_type}/{stable_id(resource_type, business_identifier_value)}"
