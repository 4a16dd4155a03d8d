"""Words for people: units, comparators and open items as a research coordinator reads them.

The tables live in ``mappings/words.yaml``; the JSON contract keeps the raw values (UCUM codes,
``le``/``ge``), this module only writes the text (``1.5 × 10⁹/L``, ``≤``, "76 years").
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fhir_adapter.mappings import load_table

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_POWER = re.compile(r"10\*(-?\d+)")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=[A-Za-z\[])")
_SQUARE = re.compile(r"(?<=[a-z])([23])(?![0-9])")
_ANNOTATION = re.compile(r"\{[^}]*\}")


@cache
def _table() -> dict[str, Any]:
    return load_table("words")


@cache
def unit_text(unit: str | None) -> str:
    """The print form of a UCUM unit (``10*9/L`` → ``10⁹/L``, ``a`` → ``years``, ``umol/L`` → ``µmol/L``)."""
    if not unit:
        return ""
    known = _table()["units"]
    if unit in known:
        return str(known[unit])
    text = _POWER.sub(lambda m: "10" + m.group(1).translate(_SUPERSCRIPT), unit)
    text = _MICRO.sub("µ", text)
    text = _ANNOTATION.sub("", text).replace("[", "").replace("]", "")
    text = _SQUARE.sub(lambda m: "²" if m.group(1) == "2" else "³", text)
    return text.strip()


def number(value: float) -> str:
    """A number without a useless ``.0`` (``1.5``, ``100``)."""
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def quantity(value: float, unit: str | None) -> str:
    """``1.5 × 10⁹/L``, ``76 years``, ``25 U/L``, ``2`` (a score)."""
    return number(value) + _joiner(unit)


@cache
def _joiner(unit: str | None) -> str:
    """What follows the number: ``" × 10⁹/L"`` (10*9/L), ``"%"``, ``" years"``, or nothing."""
    shown = unit_text(unit)
    if not shown or shown.startswith("%"):
        return shown
    return f" × {shown}" if _POWER.match(unit or "") else f" {shown}"


def comparator(code: str | None) -> str:
    """``le`` → ``≤``; unknown codes are returned as they are."""
    if not code:
        return ""
    return str(_table()["comparators"].get(code, code))


def open_item(kind: str, **fields: Any) -> str:
    """What to obtain for an undecided criterion, from the ``open_items`` template of ``kind``."""
    return _open_item(kind, tuple(sorted(fields.items())))


@cache
def _open_item(kind: str, fields: tuple[tuple[str, Any], ...]) -> str:
    templates = _table()["open_items"]
    template = str(templates.get(kind, templates["other"]))
    return " ".join(template.format_map(_Defaulting(fields)).split())


def reason_codes() -> dict[str, str]:
    """The verdict reason codes of the JSON contract, with their meaning."""
    return {str(k): str(v) for k, v in _table()["reason_codes"].items()}


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (ESC sequences from hostile data) shown as ``\\x1b``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""
