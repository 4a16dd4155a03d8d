"""The registry's enumerated values (``mappings/ctgov_enums.yaml``): token checks and legacy label tables."""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir_adapter.errors import ConfigError
from fhir_adapter.mappings import load_table

TABLE = "ctgov_enums"
_TABLE_FILE = f"mappings/{TABLE}.yaml"


def _section(name: str) -> dict[str, Any]:
    section = load_table(TABLE).get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"section {name!r} missing or not a mapping", source=_TABLE_FILE)
    return section


def _subsection(section: str, name: str) -> dict[str, Any]:
    table = _section(section).get(name)
    if not isinstance(table, dict):
        raise ConfigError(f"table {name!r} missing or not a mapping", source=_TABLE_FILE, field=section)
    return table


@cache
def enum_tokens(enum: str) -> frozenset[str]:
    """The API v2 tokens of one enum (``overall_status``, ``phase``, ...)."""
    tokens = _section("enums").get(enum)
    if not isinstance(tokens, list):
        raise ConfigError(f"enum {enum!r} missing", source=_TABLE_FILE, field="enums")
    return frozenset(str(token) for token in tokens)


def is_token(enum: str, value: str) -> bool:
    return value in enum_tokens(enum)


def legacy_label(table: str, label: str) -> Any:
    """A legacy-XML label (``Active, not recruiting``) -> its API v2 token(s), or None when unknown."""
    return _subsection("legacy_xml", table).get(" ".join(label.split()).lower())


def registry_page_table(name: str) -> dict[str, Any]:
    return _subsection("registry_page", name)


@cache
def age_units() -> dict[str, str]:
    """Singular lower-case unit word (``year``) -> UCUM unit (``a``)."""
    return {str(word): str(unit) for word, unit in _subsection("age_units", "units").items()}


def unknown_token_warning(field: str, value: str) -> str:
    return f"{field}: unknown value {value!r} kept as given"
