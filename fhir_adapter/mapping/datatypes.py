"""Small builders for FHIR datatypes (plain JSON dicts) and the final clean-up of a resource."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def coding(system: str, entry: JSON) -> JSON:
    """A Coding from a table entry ``{code, display}``."""
    return {"system": system, "code": str(entry["code"]), "display": entry.get("display")}


def concept(text: str | None, codings: list[JSON] | None = None) -> JSON:
    return {"coding": codings or None, "text": text}


def text_concept(text: str) -> JSON:
    return {"text": text}


def reference(full_url: str, display: str | None = None) -> JSON:
    return {"reference": full_url, "display": display}


def extension(url: str, **value: Any) -> JSON:
    """``extension(URL, valueString="x")`` -> ``{"url": URL, "valueString": "x"}``."""
    return {"url": url, **value}


def string_extension(url: str, value: str | None) -> JSON | None:
    return {"url": url, "valueString": value} if value else None


def period(start: str | None, end: str | None) -> JSON:
    return {"start": start, "end": end}


def prune(value: Any) -> Any:
    """Drop None, empty strings, lists and dicts (recursively); keep False and 0; strip strings."""
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            item = prune(item)
            if item is not None and item != "" and item != [] and item != {}:
                cleaned[key] = item
        return cleaned
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if v is not None and v != "" and v != [] and v != {}]
    if isinstance(value, str):
        return value.strip()
    return value


def finish(resource_type: str, body: JSON) -> JSON:
    """The resource as JSON: ``resourceType`` first, nothing empty."""
    cleaned = prune(body)
    cleaned.pop("resourceType", None)
    return {"resourceType": resource_type, **cleaned}
