"""A generated narrative (``text``, status ``generated``) for every mapped resource.

A short XHTML summary built from the finished resource, so a person browsing the server reads what the
resource is: its title and a few key facts per resource type. Every value is escaped (``&``, ``<``,
``>``) and stripped of the control characters XML forbids; only ``div``, ``p``, ``b``, ``ul`` and ``li``
are used (FHIR's safe XHTML subset). Cheap by design: a handful of string joins per resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from typing import Any

from fhir_adapter.mapping.datatypes import JSON

XHTML = '<div xmlns="http://www.w3.org/1999/xhtml">'
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPECIAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f&<>]")
_MAX_ITEMS = 8
_MAX_CHARS = 300


def safe_text(text: Any, limit: int | None = None) -> str:
    """``text`` escaped for XHTML, without the control characters XML forbids, cut at ``limit`` characters."""
    value = text if type(text) is str else str(text)
    plain = _SPECIAL.search(value) is None  # most texts: nothing to remove or escape (one search, not four passes)
    value = value.strip() if plain else _CONTROL.sub("", value).strip()
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value if plain else escape(value, quote=False)


def _safe(text: Any) -> str:
    return safe_text(text, _MAX_CHARS)


def _concept_text(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    if value.get("text"):
        return str(value["text"])
    for found in value.get("coding") or []:
        if found.get("display") or found.get("code"):
            return str(found.get("display") or found.get("code"))
    return None


def _concepts(values: Any) -> list[str]:
    return [t for t in (_concept_text(v) for v in values or []) if t]


def _period(value: Any) -> str | None:
    if not isinstance(value, dict) or not (value.get("start") or value.get("end")):
        return None
    return f"{value.get('start') or '?'} to {value.get('end') or '?'}"


def _display(value: Any) -> str | None:
    return str(value["display"]) if isinstance(value, dict) and value.get("display") else None


def _official_id(resource: JSON) -> str | None:
    for identifier in resource.get("identifier") or []:
        if identifier.get("use") == "official":
            return str(identifier.get("value"))
    return None


def _study_status(resource: JSON) -> str | None:
    states = [t for p in resource.get("progressStatus") or [] if (t := _concept_text(p.get("state")))]
    states = [s for s in states if s != "Overall Study"]
    return ", ".join(states) if states else resource.get("status")


def _study(resource: JSON) -> list[tuple[str, Any]]:
    return [
        ("Registry id", _official_id(resource)),
        ("Part of", _display((resource.get("partOf") or [None])[0])),
        ("Status", _study_status(resource)),
        ("Phase", _concept_text(resource.get("phase"))),
        ("Purpose", _concept_text(resource.get("primaryPurposeType"))),
        ("Conditions", _concepts(resource.get("condition"))),
        ("Interventions", _concepts(resource.get("focus")) or _concepts(
            [f.get("concept") for f in resource.get("focus") or [] if isinstance(f, dict)])),
        ("Period", _period(resource.get("period"))),
        ("Sites", [d for s in resource.get("site") or [] if (d := _display(s))]),
    ]


def _plan(resource: JSON) -> list[tuple[str, Any]]:
    return [("Type", _concept_text(resource.get("type"))),
            ("Arms", [a.get("title") for a in resource.get("action") or [] if a.get("title")])]


def _activity(resource: JSON) -> list[tuple[str, Any]]:
    code = resource.get("productCodeableConcept") or resource.get("code")
    codes = [f"{c.get('display') or c.get('code')} ({c.get('code')})" for c in (code or {}).get("coding") or []]
    return [("Kind", resource.get("kind")), ("Codes", codes)]


def _group(resource: JSON) -> list[tuple[str, Any]]:
    return [("Summary", resource.get("description")),
            ("Characteristics", len(resource.get("characteristic") or []) or None)]


def _variable(resource: JSON) -> list[tuple[str, Any]]:
    return [("Criteria", len(resource.get("characteristic") or []) or None)]


def _location(resource: JSON) -> list[tuple[str, Any]]:
    return [("Address", (resource.get("address") or {}).get("text"))]


def _role(resource: JSON) -> list[tuple[str, Any]]:
    return [("Practitioner", _display(resource.get("practitioner"))),
            ("Organization", _display(resource.get("organization"))),
            ("Role", _concepts(resource.get("code")))]


_FACTS: dict[str, Callable[[JSON], list[tuple[str, Any]]]] = {
    "ResearchStudy": _study,
    "PlanDefinition": _plan,
    "ActivityDefinition": _activity,
    "Group": _group,
    "EvidenceVariable": _variable,
    "Location": _location,
    "PractitionerRole": _role,
}


def _title(resource: JSON) -> str:
    for key in ("title", "name"):
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and isinstance(value[0], dict) and value[0].get("text"):
            return str(value[0]["text"])
    if resource.get("resourceType") == "PractitionerRole":
        return _display(resource.get("practitioner")) or "Practitioner role"
    return str(resource.get("resourceType"))


def _item(label: str, value: Any) -> str | None:
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, list):
        shown = [_safe(v) for v in value[:_MAX_ITEMS]]
        more = f" (and {len(value) - _MAX_ITEMS} more)" if len(value) > _MAX_ITEMS else ""
        return f"<li><b>{label}</b>: {'; '.join(shown)}{more}</li>"
    return f"<li><b>{label}</b>: {_safe(value)}</li>"


def narrative(resource: JSON) -> JSON:
    """``{"status": "generated", "div": ...}`` for a finished resource."""
    builder = _FACTS.get(str(resource.get("resourceType")))
    facts = builder(resource) if builder else []
    items = [i for label, value in facts if (i := _item(label, value))]
    body = f"<ul>{''.join(items)}</ul>" if items else ""
    title = f"{_safe(resource.get('resourceType'))}: {_safe(_title(resource))}"
    return {"status": "generated", "div": f"{XHTML}<p><b>{title}</b></p>{body}</div>"}


def with_narrative(resource: JSON) -> JSON:
    """The resource with ``text`` placed after ``resourceType``."""
    rest = {k: v for k, v in resource.items() if k not in ("resourceType", "text")}
    return {"resourceType": resource["resourceType"], "text": narrative(resource), **rest}
