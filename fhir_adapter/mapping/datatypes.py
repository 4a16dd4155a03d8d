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
        return _prune_dict(value)
    if isinstance(value, list):
        return _prune_list(value)
    if isinstance(value, str):
        return value.strip()
    return value


# The two loops below are prune's hot path (every node of every resource): they dispatch on the exact type of
# the commonest items (a string is stripped, a dict or list pruned, and kept when not empty; a number or boolean
# kept as it is) without going through prune; anything else (a subclass) goes through prune and _kept.
_KEPT_AS_IS = frozenset({bool, int, float})


def _prune_dict(value: dict[Any, Any]) -> JSON:
    cleaned = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            item = item.strip()
        elif kind is dict:
            item = _prune_dict(item)
        elif kind is list:
            item = _prune_list(item)
        elif item is None:
            continue
        elif kind in _KEPT_AS_IS:
            cleaned[key] = item
            continue
        else:
            item = prune(item)
            if _kept(item):
                cleaned[key] = item
            continue
        if item:
            cleaned[key] = item
    return cleaned


def _prune_list(value: list[Any]) -> list[Any]:
    cleaned = []
    for item in value:
        kind = type(item)
        if kind is str:
            item = item.strip()
        elif kind is dict:
            item = _prune_dict(item)
        elif kind is list:
            item = _prune_list(item)
        elif item is None:
            continue
        elif kind in _KEPT_AS_IS:
            cleaned.append(item)
            continue
        else:
            item = prune(item)
            if _kept(item):
                cleaned.append(item)
            continue
        if item:
            cleaned.append(item)
    return cleaned


def _kept(item: Any) -> bool:
    """Not empty: a pruned dict, list or string is kept when it has content; any other value unless it equals
    one of them (None never reaches here)."""
    if type(item) in (dict, list, str):
        return bool(item)
    return bool(item != "" and item != [] and item != {})


def finish(resource_type: str, body: JSON) -> JSON:
    """The resource as JSON: ``resourceType`` first, nothing empty."""
    cleaned = prune(body)
    cleaned.pop("resourceType", None)
    return {"resourceType": resource_type, **cleaned}
