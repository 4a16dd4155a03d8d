"""Whom an item applies to: an item that opens with the patients it concerns ("For melanoma patients: ...")."""

from __future__ import annotations

import re
from functools import lru_cache

from fhir_adapter.criteria.head import Head, word_tokens
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.criteria.source import Source, head_offset


@lru_cache(maxsize=4)
def _for_some(nouns: frozenset[str]) -> re.Pattern[str]:
    """ "For <a few words> patients": an item's opening words that name the patients it applies to."""
    alternation = "|".join(sorted(nouns, key=len, reverse=True))
    return re.compile(rf"\W*(?:for|in)\s+(?:the\s+)?((?:[\w'/-]+\s+){{1,5}}?)(?:{alternation})(?![\w-])")


def subgroup_scope(head: Head, src: Source, vocab: Phrases) -> str | None:
    """ "For melanoma patients: ...", "For colorectal cancer patients in the expanded cohorts, no prior irinotecan":
    an item opening with the patients it applies to. Its finding names them (no requirement), and its other
    criteria hold for them only: both are left for review."""
    found = _for_some(vocab.cohort_nouns).match(src.item_norm.text) if vocab.cohort_nouns else None
    if found is None or all(w in vocab.cohort_neutral_words for w in word_tokens(found.group(1))):
        return None
    scope = src.item_norm.text[: found.end()].strip()
    if head_offset(head, src) < found.end():
        return f"names the patients the item applies to ('{scope}'): not a requirement of every patient"
    return f"applies only to some patients ('{scope}'): to confirm"
