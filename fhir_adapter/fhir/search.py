"""Search parameters: FHIR value escaping, query building, and URL masking for logs.

Pure functions; the client turns their output into requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SearchParams = Mapping[str, str | Sequence[str]]
"""Parameter name → one value, or several values (sent as repeated parameters, i.e. AND)."""

_ESCAPED = ("\\", ",", "|", "$")

# Parameters whose value names a patient wherever they appear.
_PATIENT_PARAMS = frozenset({"patient", "subject", "beneficiary", "individual", "member", "requester", "performer"})
# On a Patient search every value identifies someone, except these result-shaping parameters.
_SAFE_PARAMS = frozenset(
    {"_count", "_offset", "_summary", "_elements", "_sort", "_include", "_revinclude", "_total", "_format",
     "_getpagesoffset", "_pretty", "page"}
)
_PATIENT_PATH = re.compile(r"(?<![A-Za-z])(Patient/)[^/?#]+")
MASK = "***"


def escape_search_value(value: str) -> str:
    """Escape one raw value so ``\\``, ``,``, ``|`` and ``$`` are taken literally by the server.

    ``escape_search_value("a,b")`` → ``a\\,b``. Join several escaped values with ``,`` for OR,
    and a system and a code with ``|`` for a token (``token_value``).
    """
    for char in _ESCAPED:
        value = value.replace(char, "\\" + char)
    return value


def token_value(system: str | None, code: str) -> str:
    """``system|code`` with both halves escaped (``|code`` when system is ``""``, ``code`` when None)."""
    if system is None:
        return escape_search_value(code)
    return f"{escape_search_value(system)}|{escape_search_value(code)}"


def query_items(params: SearchParams | None) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs in order; a sequence value gives one pair per element."""
    items: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if isinstance(value, str):
            items.append((name, value))
        else:
            items.extend((name, v) for v in value)
    return items


def _base_name(param: str) -> str:
    """``subject:Patient.identifier`` → ``subject``."""
    return re.split(r"[:.]", param, maxsplit=1)[0].lower()


def mask_url(url: str) -> str:
    """The URL with patient ids and patient search values replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    path = _PATIENT_PATH.sub(lambda m: m.group(1) + MASK, parts.path)
    patient_search = bool(re.search(r"(^|/)Patient/?$", parts.path))
    masked: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        base = _base_name(name)
        hide = (
            base in _PATIENT_PARAMS
            or "Patient/" in value
            or (patient_search and name not in _SAFE_PARAMS)
            or (base == "_has" and "patient" in name.lower())
        )
        masked.append((name, MASK if hide else value))
    query = urlencode(masked, safe="*:,|/")
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))
