"""Loads the YAML mapping tables of ``mappings/`` once.

The tables ship inside the wheel as ``fhir_adapter/_mappings`` (see pyproject.toml); in a
source checkout or an editable install they are read from the top-level ``mappings/``.
Every table is a mapping; each code entry in it carries a ``source:`` naming where the
code was verified (checked by :func:`missing_sources` in the tests).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from fhir_adapter.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent
# The C safe loader parses the lexicon tables ten times faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def mappings_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "_mappings", _PACKAGE_DIR.parent / "mappings"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("mapping tables not found (expected fhir_adapter/_mappings or ./mappings)")


@cache
def load_table(name: str) -> dict[str, Any]:
    """The table ``mappings/<name>.yaml`` as a dict (cached; treat it as read-only)."""
    path = mappings_dir() / f"{name}.yaml"
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError as exc:
        raise ConfigError("mapping table missing", source=str(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", source=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError("a mapping table must be a YAML mapping", source=str(path))
    return data


def table_names() -> list[str]:
    return sorted(p.stem for p in mappings_dir().glob("*.yaml"))


def missing_sources(node: Any, path: str = "") -> list[str]:
    """Paths of code entries (dicts with a ``code`` key) that lack a ``source``."""
    found: list[str] = []
    if isinstance(node, dict):
        if "code" in node and not node.get("source"):
            found.append(path or "<root>")
        for key, value in node.items():
            found.extend(missing_sources(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(missing_sources(value, f"{path}[{index}]"))
    return found
