"""Typed access to the mapping tables this package owns (``mappings/*.yaml``).

A table that lacks an expected key raises ConfigError naming the table and the key.
"""

from __future__ import annotations

from typing import Any

from fhir_adapter.errors import ConfigError
from fhir_adapter.mappings import load_table

JSON = dict[str, Any]


def section(table: str, key: str) -> Any:
    data = load_table(table)
    if key not in data:
        raise ConfigError(f"missing key {key!r}", source=f"mappings/{table}.yaml", field=key)
    return data[key]


def lookup(table: str, key: str, token: str | None) -> JSON | None:
    """The entry for a registry token in ``table.key`` (None when absent or not listed)."""
    if not token:
        return None
    entries = section(table, key)
    entry = entries.get(token)
    return entry if isinstance(entry, dict) else None


def label(axis: str, token: str) -> str:
    """Display label of a study design token; the raw token when the table does not list it."""
    labels = section("study_design", "labels").get(axis, {})
    return str(labels.get(token, token))


def axis_title(axis: str) -> str:
    return str(section("study_design", "axis_titles").get(axis, axis))


def agency_class_text(token: str | None) -> str | None:
    if not token:
        return None
    return f"{section('agency_class', 'classes').get(token, token)} ({token})"
