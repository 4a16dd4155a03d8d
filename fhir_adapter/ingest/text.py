"""Text helpers shared by the parsers: markdown unescaping, age bounds, registry dates."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from fhir_adapter.errors import InputError
from fhir_adapter.ingest.vocab import age_units
from fhir_adapter.trial import AgeBound

# CommonMark: a backslash before any ASCII punctuation character is an escape.
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+([A-Za-z]+)\s*$")
_OPEN_AGE = {"", "N/A", "NA", "NONE"}
_ISO_PARTIAL_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_LEGACY_DATE_FORMATS = (("%B %d, %Y", "%Y-%m-%d"), ("%B %Y", "%Y-%m"), ("%Y", "%Y"))
NCT_ID = re.compile(r"^NCT\d{8}$", re.IGNORECASE)

_T = TypeVar("_T")


def parse_field(parse: Callable[[str], _T], raw: str | None, *, source: str, field: str) -> _T | None:
    """``parse(raw)``, None when the field is absent; the parser's ValueError as an InputError naming the field."""
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        raise InputError(str(exc), source=source, field=field) from exc


def unescape_markdown(text: str) -> str:
    r"""Remove the registry's markdown escapes: ``\>=`` -> ``>=``, ``10\^9/L`` -> ``10^9/L``."""
    return _MARKDOWN_ESCAPE.sub(r"\1", text)


def parse_age(raw: str) -> AgeBound | None:
    """``"18 Years"`` -> AgeBound(18, "a"); ``"N/A"`` or empty -> None (an open bound).

    Raises ValueError for text that is not an age (the caller names the field).
    """
    if raw.strip().upper() in _OPEN_AGE:
        return None
    match = _AGE.match(raw)
    if not match:
        raise ValueError(f"not an age: {raw!r}")
    number, word = match.groups()
    unit = age_units().get(word.lower().removesuffix("s"))
    if unit is None:
        raise ValueError(f"unknown age unit {word!r} in {raw!r}")
    return AgeBound(value=float(number), unit=unit, raw=raw)


def is_age(raw: str) -> bool:
    try:
        parse_age(raw)
    except ValueError:
        return False
    return True


def check_partial_date(raw: str) -> str:
    """A ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` date, returned as given; ValueError otherwise."""
    if not _ISO_PARTIAL_DATE.match(raw):
        raise ValueError(f"not a date (YYYY, YYYY-MM or YYYY-MM-DD): {raw!r}")
    return raw


def is_partial_date(raw: str) -> bool:
    return bool(_ISO_PARTIAL_DATE.match(raw))


def legacy_date(raw: str) -> str:
    """The legacy XML's ``"August 2015"`` / ``"July 31, 2015"`` as ``2015-08`` / ``2015-07-31``."""
    text = " ".join(raw.split())
    if is_partial_date(text):
        return text
    for parse_format, iso_format in _LEGACY_DATE_FORMATS:
        try:
            return datetime.strptime(text, parse_format).strftime(iso_format)
        except ValueError:
            continue
    raise ValueError(f"not a date: {raw!r}")
