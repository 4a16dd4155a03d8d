"""A clause cut into one statement per concept head: the thresholds each head owns, where its statement starts and
ends, and how it is joined to the head before it (a list member, an "or" alternative, an example)."""

from __future__ import annotations

import re

from fhir_adapter.criteria.head import (
    PRESENCE_CATEGORIES,
    SEPARATOR,
    THRESHOLD_CATEGORIES,
    Head,
    connector_only,
    word_tokens,
)
from fhir_adapter.criteria.numbers import Threshold, find_window
from fhir_adapter.criteria.phrases import Phrases

_OR = re.compile(r"\bor\b|/")
WORD_OR = re.compile(r"\bor\b")

_EXAMPLE_LINK = re.compile(r"\(|(?<![a-z])(?:including|includes?|like|i\.\s?e\.?)(?![a-z])", re.IGNORECASE)
"""Words that make the next concept an example of the one before ("drugs known to cause depression, e.g.,
reserpine", "reversible causes for AF like hyperthyroidism"), not a member of its list."""


def _right_before(head: Head, t: Threshold, work: str) -> bool:
    """The threshold ends right before the head, or in its first words ("30 to 32 *weeks* of gestation")."""
    end = min(t.end, head.start)
    return t.start < head.start and head.start - end <= 15 and not SEPARATOR.search(work[end : head.start])


_CHAIN = re.compile(r"\s*(?:,|and|or)?\s*", re.IGNORECASE)


def _chained_before(head: Head, t: Threshold, thresholds: list[Threshold], work: str) -> bool:
    """A threshold right before the head, or before another one joined to it by "and"/"or" ("<28 weeks and >34
    weeks gestation", "< 18 or > 75 years of age")."""
    if _right_before(head, t, work):
        return True
    following = [u for u in thresholds if t.end <= u.start < head.start]
    if not following or _CHAIN.fullmatch(work[t.end : following[0].start]) is None:
        return False
    return _chained_before(head, following[0], thresholds, work)


def _measures_next(prev: Head, head: Head, t: Threshold, work: str) -> bool:
    """A threshold after a finding and right before a measured head is the measured head's."""
    finding = prev.concept.category in PRESENCE_CATEGORIES and head.concept.category in THRESHOLD_CATEGORIES
    return finding and prev.end <= t.start and _right_before(head, t, work)


def _shared_by_slash(head: Head, nxt: Head, gap: str) -> bool:
    """ "AST/ALT <= 2.5 x ULN": tests written with a slash before one threshold must each meet it (not "or")."""
    both_labs = head.concept.category == nxt.concept.category == "lab"
    return both_labs and not head.thresholds and WORD_OR.search(gap) is None


_LIST_PIECES = re.compile(r"\s*(?:,|/|\band/or\b|\bor\b|\band\b|\bnor\b)\s*", re.IGNORECASE)
_LIST_PIECE_WORDS = 3


def _list_gap(gap: str, vocab: Phrases) -> bool:
    """Whether the words between two heads are short list members the lexicon does not know ("isoniazid,
    labetolol, trovafloxacin"; "pramlintide and fixed prandial insulin"), with no verb, qualifier or negation that
    would start a statement of its own."""
    pieces = _LIST_PIECES.split(gap)
    if len(pieces) < 2 or any(len(word_tokens(p)) > _LIST_PIECE_WORDS for p in pieces):
        return False
    words = word_tokens(gap)
    if any(w in vocab.clause_verbs or w in vocab.subordinate_words for w in words):
        return False
    return not (vocab.any_qualifier.search(gap) or vocab.negation.search(gap))


_PERSON_RELATIVE = re.compile(r"\s*\b(?:who|whom|whose)\b\s*")
"""A relative clause about the patient between two heads ("BMI of 35 or greater who will be undergoing bariatric
surgery"): it opens the next head's statement (no finding is a "who")."""


def segment(work: str, heads: list[Head], thresholds: list[Threshold], start: int, vocab: Phrases) -> int | None:
    """Cut the clause into one segment per head; returns where a trailing concept-less sibling starts."""
    for i, head in enumerate(heads):
        head.seg_start = start if i == 0 else head.seg_start
        limit = heads[i + 1].start if i + 1 < len(heads) else len(work)
        # a threshold before the first head belongs to it only when it is right before it ("7.0 % <= HbA1c"); so
        # does one right before a measured head after a finding ("pregnant women in 30 to 32 weeks of gestation")
        nxt = heads[i + 1] if i + 1 < len(heads) else None
        own = [
            t
            for t in thresholds
            if (head.end <= t.start < limit and not (nxt is not None and _measures_next(head, nxt, t, work)))
            or (
                (i == 0 and start <= t.start < head.start and _chained_before(head, t, thresholds, work))
                or (i > 0 and _measures_next(heads[i - 1], head, t, work))
            )
        ]
        head.thresholds = own
        if i > 0 and any(t.start < head.start for t in own):  # its statement starts at its threshold
            head.seg_start = min(head.seg_start, *[t.start for t in own])
            heads[i - 1].seg_end = min(heads[i - 1].seg_end, head.seg_start)
        after = max([head.end, *[t.end for t in own if t.start >= head.end]])
        if i + 1 < len(heads):
            gap = work[after : heads[i + 1].start]
            sep = SEPARATOR.search(gap) or _PERSON_RELATIVE.search(gap)
            cut = after + sep.start() if sep else heads[i + 1].start
            head.seg_end = cut
            heads[i + 1].seg_start = after + sep.end() if sep else heads[i + 1].start
            heads[i + 1].or_sibling = bool(_OR.search(gap)) and not _shared_by_slash(head, heads[i + 1], gap)
            heads[i + 1].inherits = connector_only(work[head.end : heads[i + 1].start], vocab)
            heads[i + 1].listed_after = heads[i + 1].inherits or _list_gap(work[head.end : heads[i + 1].start], vocab)
            if heads[i + 1].inherits and not _EXAMPLE_LINK.search(gap) and not vocab.example_markers.search(gap):
                heads[i + 1].list_start = head.start if head.list_start is None else head.list_start
        else:
            head.seg_end = len(work)
            tail = work[after:]
            sep = SEPARATOR.match(tail.lstrip())
            if sep and len(word_tokens(tail)) >= 3:
                rest = tail.lstrip()[sep.end() :].lstrip()
                starts_attached = (
                    vocab.modifier.match(rest)
                    or vocab.conditional.match(rest)
                    or find_window(rest[:40]) is not None
                    or vocab.except_words.match(rest)
                )
                if not starts_attached and len(word_tokens(rest)) >= 1:
                    head.seg_end = after + (len(tail) - len(tail.lstrip())) + sep.start()
                    return head.seg_end + sep.end()
    return None
