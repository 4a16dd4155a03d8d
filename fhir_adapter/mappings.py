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

from fhir_adapter import table_cache
from fhir_adapter.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent
# The C safe loader parses the lexicon tables ten times faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PARSER_TAG = f"PyYAML {yaml.__version__} {_YAML_LOADER.__name__}"


@cache
def mappings_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "_mappings", _PACKAGE_DIR.parent / "mappings"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("mapping tables not found (expected fhir_adapter/_mappings or ./mappings)")


@cache
def load_table(name: str) -> dict[str, Any]:
    """The table ``mappings/<name>.yaml`` as a dict (cached in memory, and parsed once per edit of the file: see
    :mod:`fhir_adapter.table_cache`; treat it as read-only)."""
    path = mappings_dir() / f"{name}.yaml"
    try:
        data = table_cache.parsed(name, path.read_bytes(), _PARSER_TAG, _parse_yaml)
    except FileNotFoundError as exc:
        raise ConfigError("mapping table missing", source=str(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", source=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError("a mapping table must be a YAML mapping", source=str(path))
    return data


def _parse_yaml(raw: bytes) -> Any:
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # the newlines read_text() gives
    return yaml.load(text, Loader=_YAML_LOADER)


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
