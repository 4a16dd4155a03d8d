"""The clause a criterion is read in and its item, normalised, with the way back to the criteria text (residues
quote it), and what the whole item says (its permissions, exception, condition, a minimum time since an event),
read once for all its atoms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from fhir_adapter.criteria.head import Head, trim_span
from fhir_adapter.criteria.numbers import find_min_elapsed
from fhir_adapter.criteria.phrases import phrases, search_exception
from fhir_adapter.criteria.split import Item
from fhir_adapter.criteria.text import Normalised, normalise


@dataclass(frozen=True)
class ItemFacts:
    """What the whole item says, read once for all its atoms."""

    min_elapsed: bool
    """A minimum time since an event that is not part of an exception or permission ("unless stable for 4
    weeks" belongs to the exception, which is a residue)."""
    permission: re.Match[str] | None
    permissions: tuple[re.Match[str], ...]
    """Every permission of the item, in order (one item may prohibit one thing and allow others)."""
    exception: re.Match[str] | None
    condition: re.Match[str] | None


_ITEM_CONDITION = re.compile(r"(?<![a-z])(?:if|unless)(?![a-z])")


@lru_cache(maxsize=256)
def _item_reading(item_text: str) -> tuple[Normalised, ItemFacts]:
    item_norm = normalise(item_text)
    vocab = phrases()
    work = item_norm.text
    elapsed = find_min_elapsed(work)
    permissions = tuple(vocab.permission.finditer(work))
    permission = permissions[0] if permissions else None
    exception = search_exception(vocab, work)
    condition = _ITEM_CONDITION.search(work) if "if" in work or "unless" in work else None  # (quicker test)
    residue_starts = [m.start() for m in (permission, exception, condition) if m is not None]
    facts = ItemFacts(
        min_elapsed=elapsed is not None and not any(start < elapsed[0] for start in residue_starts),
        permission=permission,
        permissions=permissions,
        exception=exception,
        condition=condition,
    )
    return item_norm, facts


def clause_source(text: str, clause_start: int, norm: Normalised, item: Item) -> Source:
    item_norm, facts = _item_reading(text[item.start : item.end])
    return Source(text, clause_start, norm, item.start, item_norm, facts)


@dataclass(frozen=True)
class Source:
    """A clause and its item, normalised, with the way back to the criteria text (residues quote it)."""

    text: str
    clause_start: int
    norm: Normalised
    item_start: int
    item_norm: Normalised
    item_facts: ItemFacts

    def clause(self, start: int, end: int) -> str:
        a, b = self.norm.span(*trim_span(self.norm.text, start, end))
        return self.text[self.clause_start + a : self.clause_start + b]

    def item(self, start: int, end: int) -> str:
        a, b = self.item_norm.span(*trim_span(self.item_norm.text, start, end))
        return self.text[self.item_start + a : self.item_start + b]


def head_offset(head: Head, src: Source) -> int:
    """The head's position in the item's normalised text (the clause sits at its offset in the item)."""
    clause_in_item = src.item_norm.text.find(src.norm.text)
    return (clause_in_item if clause_in_item >= 0 else 0) + head.start


def sentence(text: str, pos: int) -> tuple[int, int]:
    """The sentence of ``text`` around ``pos`` ("Patients with stable CNS disease are eligible")."""
    stop_before = text.rfind(". ", 0, pos)
    start = max(stop_before + 2 if stop_before >= 0 else 0, text.rfind(";", 0, pos) + 1)
    stop = re.search(r"\.\s|\.$|;", text[pos:])
    return start, pos + stop.start() if stop else len(text)


def same_sentence(text: str, a: int, b: int) -> bool:
    """Whether two offsets of the item lie in one sentence (no ". " or ";" between them)."""
    lo, hi = min(a, b), max(a, b)
    return not re.search(r"\.\s|;", text[lo:hi])
