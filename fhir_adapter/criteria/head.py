"""The concept heads of a clause, the spans of their statements and the words between them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fhir_adapter.criteria.model import Coding, Qualifier
from fhir_adapter.criteria.numbers import Threshold
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.terminology import Concept

AGE_CONCEPT = Coding(system="http://loinc.org", code="30525-0", display="Age")

PRESENCE_CATEGORIES: frozenset[str] = frozenset(
    {"condition", "infection", "pregnancy", "medication", "procedure", "allergy"}
)


SEPARATOR = re.compile(r",|;|/|\bor\b|\band\b|\bnor\b", re.IGNORECASE)


WORD = re.compile(r"[a-z0-9][a-z0-9'\-.]*|[,/()&]", re.IGNORECASE)


@dataclass
class Head:
    """A concept that gets its own atom, with everything attached to it."""

    concept: Concept
    start: int
    end: int
    phrase: str
    seg_start: int = 0
    seg_end: int = 0
    thresholds: list[Threshold] = field(default_factory=list)
    shared_threshold: Threshold | None = None
    qualifiers: list[Qualifier] = field(default_factory=list)
    negated: bool = False
    excluded: list[Concept] = field(default_factory=list)
    modifiers: list[str] = field(default_factory=list)
    or_sibling: bool = False
    inherits: bool = False
    listed_after: bool = False
    """A member of the same list as the head before it, with short members the lexicon does not know between them
    ("pramlintide and fixed prandial insulin"): it shares that head's qualifiers ("Current use of ...")."""
    list_start: int | None = None
    """Start of the first head of the list this head is joined to by connectors only: words before the list apply
    to every member ("high risk of thrombosis, bleeding or stroke")."""
    absent: bool = False
    """Written as "non-X" with nothing broader after it ("non-pregnant"): the absence of X."""
    narrowed_exception: bool = False
    """An exception names a narrower kind of a concept ("excluding in-situ cervical cancer"): a residue."""
    modifier_end: int | None = None
    """End of the last concept that restricts this head ("stroke *due to atrial fibrillation*")."""
    cause_category: str | None = None
    """The category of the concept a causal word made this head's cause ("kidney disease not caused by
    *diabetes*"): a concept of that category listed right after it is another cause ("... or hypertension")."""
    site_end: int | None = None
    """End of a site written after the finding that no lexicon concept combines with it ("infection *in the breast
    region*"): a residue."""


def word_tokens(text: str) -> list[str]:
    return [t.strip(".").lower() for t in WORD.findall(text) if t.strip(".")]


def connector_only(gap: str, vocab: Phrases) -> bool:
    return all(tok in vocab.list_connector for tok in word_tokens(gap))


def open_paren_before(text: str, index: int, floor: int) -> int | None:
    """The unclosed "(" nearest before ``index`` (not before ``floor``), found by jumping from parenthesis to
    parenthesis (``rfind``) rather than reading every character back."""
    depth = 0
    end = index
    while True:
        opening = text.rfind("(", floor, end)
        if opening < 0:
            return None
        closing = text.rfind(")", opening + 1, end)
        if closing >= 0:
            depth += 1  # a ")" after the nearest "(": skip back over it
            end = closing
            continue
        if depth == 0:
            return opening
        depth -= 1
        end = opening


THRESHOLD_CATEGORIES = ("lab", "performance-status")


@dataclass(frozen=True)
class Draft:
    """An atom before ids and queries: its span in the criteria text and its fields."""

    start: int
    end: int
    fields: dict[str, object]


_LEADING_CONNECTOR = re.compile(r"(?:[\s,:;/)]+|(?:or|and|and/or|nor)\b)+")
_CONNECTOR_STARTS = frozenset(",:;/)oan")


def trim_span(work: str, start: int, end: int) -> tuple[int, int]:
    """No leading connectors ("or", ","), no trailing punctuation, no unbalanced closing parenthesis."""
    # a connector starts with a blank, one of ",:;/)" or the "o", "a" or "n" of a word: most spans start otherwise
    at = max(start, 0)  # where ``match`` starts reading
    first = work[at : at + 1] if at < end else ""
    lead = _LEADING_CONNECTOR.match(work, start, end) if first.isspace() or first in _CONNECTOR_STARTS else None
    if lead:
        start = lead.end()
    while end > start and (work[end - 1].isspace() or work[end - 1] in ",:;/(."):
        end -= 1
    if end > start and work[end - 1] == ")" and work.count("(", start, end) < work.count(")", start, end):
        end -= 1
        while end > start and (work[end - 1].isspace() or work[end - 1] in ",:;/."):
            end -= 1
    return start, end
