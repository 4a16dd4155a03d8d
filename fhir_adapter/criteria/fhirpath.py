"""FHIRPath and FHIR search building blocks for compiled atoms.

Evaluation context (documented contract): every ``Atom.fhirpath`` is evaluated with the **searchset
Bundle** returned by ``Atom.fhir_query`` as its root (``entry.resource`` are the patient's resources).
Lab and score queries sort by ``-date``, so ``first()`` is the most recent result. Time is relative to
``today()``; to screen "as of" another date, substitute ``today()`` (a plain text replacement).
A FHIRPath returns true when the *statement* holds (for an exclusion atom: the patient is excluded);
an empty result means "unknown" (no usable data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import quote

from fhir_adapter.criteria.model import Coding, Comparator
from fhir_adapter.terminology import CodePrefix

PATIENT = "{{%patient.id}}"
FHIRPATH_OPERATORS: dict[str, str] = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "eq": "="}


def fp_string(value: str) -> str:
    """A FHIRPath string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def fp_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


_STRING_ESCAPED = ("\\", "'", "\n", "\r")


_FLAT_UNION = 32
"""Longer lists are written as a balanced tree of unions: a flat ``'a' | 'b' | ...`` parses as a left-deep chain,
one level per item, and a drug class of several hundred codes exceeds the recursion limit of engines such as
fhirpathpy; nested halves need a few levels for thousands of items."""


def fp_in(values: Iterable[str]) -> str:
    """``('a' | 'b')`` for ``x in (...)``."""
    listed = list(values)
    plain = "".join(listed)
    if any(char in plain for char in _STRING_ESCAPED):
        return _union_tree([fp_string(v) for v in listed])
    if len(listed) <= _FLAT_UNION:  # nothing to escape (codes): one join, not a call each
        return "('" + "' | '".join(listed) + "')" if listed else "()"
    return _union_tree([f"'{v}'" for v in listed])


def _union_tree(literals: list[str]) -> str:
    """``((a | b) | (c | d))``: halves united, so the nesting grows with the logarithm of the length."""
    if len(literals) <= _FLAT_UNION:
        return "(" + " | ".join(literals) + ")"
    half = len(literals) // 2
    return f"({_union_tree(literals[:half])} | {_union_tree(literals[half:])})"


_SEARCH_SAFE = re.compile(r"[A-Za-z0-9_.\-~:/]*")
"""What :func:`search_escape` leaves as it is (``quote``'s safe characters; none of them is escaped)."""


def search_escape(value: str) -> str:
    """FHIR search value escaping (``\\`` ``,`` ``|`` ``$``) then URL encoding."""
    if _SEARCH_SAFE.fullmatch(value):
        return value  # most codes and systems (a class lists hundreds of them)
    escaped = value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")
    return quote(escaped, safe=":/.-_~")


def search_token(coding: Coding) -> str:
    return f"{search_escape(coding.system)}|{search_escape(coding.code)}"


_Memo = dict[tuple[int, int], tuple[object, object, str | None]]
_MEMO_SIZE = 4096
_TOKEN_LISTS: _Memo = {}
_CODING_FILTERS: _Memo = {}


def _remembered(memo: _Memo, codings: Sequence[Coding], prefixes: Sequence[CodePrefix]) -> tuple[bool, str | None]:
    """The result for these very sequences (a concept's tuples: the same objects for every atom on it), found
    by identity, so that a class's hundreds of codes are not turned into a cache key again for every atom. Only
    tuples (immutable) are remembered; the memo holds them, so their ids cannot be reused while they are in it."""
    if type(codings) is not tuple or type(prefixes) is not tuple:
        return False, None
    hit = memo.get((id(codings), id(prefixes)))
    if hit is not None and hit[0] is codings and hit[1] is prefixes:
        return True, hit[2]
    return False, None


def _remember(memo: _Memo, codings: Sequence[Coding], prefixes: Sequence[CodePrefix], result: str | None) -> None:
    if type(codings) is tuple and type(prefixes) is tuple:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[(id(codings), id(prefixes))] = (codings, prefixes, result)


def token_list(codings: Sequence[Coding]) -> str:
    found, result = _remembered(_TOKEN_LISTS, codings, ())
    if found and result is not None:
        return result
    result = _token_list(tuple((c.system, c.code) for c in codings))
    _remember(_TOKEN_LISTS, codings, (), result)
    return result


@lru_cache(maxsize=8192)
def _token_list(codings: tuple[tuple[str, str], ...]) -> str:
    """(A class's hundreds of codes make the same search parameter for every atom on it.)"""
    return ",".join(dict.fromkeys(f"{search_escape(system)}|{search_escape(code)}" for system, code in codings))


def coding_filter(codings: Sequence[Coding], prefixes: Sequence[CodePrefix] = ()) -> str | None:
    """A boolean over one Coding: system/code in the list, or code starting with a listed prefix."""
    found, result = _remembered(_CODING_FILTERS, codings, prefixes)
    if found:
        return result
    result = _coding_filter(tuple((c.system, c.code) for c in codings), tuple((p.system, p.prefix) for p in prefixes))
    _remember(_CODING_FILTERS, codings, prefixes, result)
    return result


@lru_cache(maxsize=8192)
def _coding_filter(codings: tuple[tuple[str, str], ...], prefixes: tuple[tuple[str, str], ...]) -> str | None:
    """(A drug class lists hundreds of codes; the same filter serves every atom on it.)"""
    by_system: dict[str, dict[str, None]] = {}
    for system, code in codings:
        by_system.setdefault(system, {})[code] = None
    parts: list[str] = []
    for system, found in by_system.items():
        codes = list(found)
        test = f"code = {fp_string(codes[0])}" if len(codes) == 1 else f"code in {fp_in(codes)}"
        parts.append(f"(system = {fp_string(system)} and {test})")
    for system, prefix in prefixes:
        parts.append(f"(system = {fp_string(system)} and code.startsWith({fp_string(prefix)}))")
    if not parts:
        return None
    return " or ".join(parts)


def compare(expression: str, comparator: Comparator, value: str, high: str | None = None) -> str:
    if comparator == "between":
        return f"(({expression}) >= {value} and ({expression}) <= {high})"
    return f"({expression}) {FHIRPATH_OPERATORS[comparator]} {value}"
