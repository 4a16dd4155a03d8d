"""Which concepts of a clause a time window dates.

"Myocardial infarction, stroke or TIA within 6 months" dates all three. In "a diagnosis of immunodeficiency or is
receiving systemic steroid therapy within 7 days" it dates the therapy only, and in "anaphylaxis in the past six
weeks, pregnancy, ..." (lines of one item) not the pregnancy. A head takes the first window of its own statement
after it, else the nearest window before it in that statement; without one, the first window after it with no
statement boundary between (a clause break, a line break, a verb or a subordinate word), else the nearest window
before it that the head is an example of ("severe infections within 4 weeks, including ... bacteremia"), else the
window of the list member right before it ("within six months, history of CVA, TIA or subarachnoid hemorrhage"), else a
window that opens the clause ("Within 6 months before enrolment: myocardial infarction, stroke"). Measurements take
the clause's window wherever it stands ("(obtained within 14 days prior to the first study treatment)").
"""

from __future__ import annotations

import re

from fhir_adapter.criteria.head import Head, word_tokens
from fhir_adapter.criteria.phrases import Phrases

Window = tuple[int, int, int]
"""(start, end, days) in the clause's normalised text."""

_EXAMPLES = re.compile(r"(?<![a-z])(?:including|includes?|such as|e\.\s?g\.?|i\.\s?e\.?|like)(?![a-z])")
"""Words after which the next concepts are examples of the one before."""

_BREAK = re.compile(r"[;:\n\r]|\.\s")

_LIST_GO_ON = re.compile(r"\s*(?:,|(?:or|and)(?![a-z]))")
_LIST_GO_ON_WORDS = 4

_CLAUSE_WIDE = frozenset({"lab", "performance-status"})
"""Measurements: a window anywhere in the clause says when they are taken, for all of them."""


def head_windows(work: str, heads: list[Head], windows: list[Window], vocab: Phrases) -> list[int | None]:
    """The look-back window in days of each head (None: no window dates it)."""
    if not windows or not heads:
        return [None] * len(heads)
    opening = _opening_window(work, heads[0], windows)
    out: list[int | None] = []
    for head in heads:
        days = _own_window(work, head, windows)
        if days is None:
            days = _window_after(work, head, heads, windows, vocab)
        if days is None:
            days = _window_before(work, head, windows, vocab)
        if days is None and head.inherits and out:
            days = out[-1]  # "within six months ..., history of CVA, TIA or subarachnoid hemorrhage"
        if days is None and head.concept.category in _CLAUSE_WIDE:
            days = windows[0][2]
        out.append(days if days is not None else opening)
    return out


def _own_window(work: str, head: Head, windows: list[Window]) -> int | None:
    """The window of the head's own statement: the nearest after the head, else the nearest before it."""
    end = max(head.seg_end, head.end)
    after = [days for start, _, days in windows if head.end <= start < end]
    if after:
        return after[0]
    before = [(start, end, days) for start, end, days in windows if head.seg_start <= start < head.start]
    if not before or _BREAK.search(work, before[-1][1], head.start):  # a line of its own: "...,\r\npregnancy"
        return None
    start, end, days = before[-1]
    if _dates_words_before(work, head.seg_start, start, end, head.start):
        return None  # "anorexia or bulimia within 2 years before Screening, ADHD": the words before it are dated
    return days


def _dates_words_before(work: str, seg_start: int, start: int, end: int, head_start: int) -> bool:
    """A window after words of the head's segment, a comma between it and the head: it dates those words. Not a
    window that opens the next element (", or, within six months prior to Day 1, history of stroke") nor one in
    parentheses ("Current use (any use in the past 4 weeks, ...) of any psychotropic")."""
    if "," not in work[end:head_start] or not word_tokens(work[seg_start:start]):
        return False
    in_parentheses = work.count("(", seg_start, start) > work.count(")", seg_start, start)
    return not in_parentheses and _OPENS_NEXT.search(work, max(0, start - 12), start) is None


def _ends_statement(text: str, vocab: Phrases) -> bool:
    """Whether a statement ends in ``text`` (the words between a head and a window)."""
    if _BREAK.search(text):
        return True
    words = word_tokens(text)
    return any(w in vocab.clause_verbs or (w in vocab.subordinate_words and w != "but") for w in words)


def _window_after(work: str, head: Head, heads: list[Head], windows: list[Window], vocab: Phrases) -> int | None:
    """ "myocardial infarction, stroke or TIA within 6 months": the first window after the head, in its statement,
    when it ends the list ("congestive heart failure, myocardial infarction within 6 months, unstable angina": the
    window is the infarction's)."""
    for start, end, days in windows:
        if start < head.end:
            continue
        if _ends_statement(work[head.end : start], vocab):
            return None
        measured = [h for h in heads if h is not head and h.thresholds and h.concept.category in _CLAUSE_WIDE]
        if any(head.end <= h.start and h.end <= start for h in measured):
            return None  # "..., alcoholism, ALT > 3 x ULN in the past 3 months": the measured statement's window
        later = next((h for h in heads if h.start >= end), None)
        if _OPENS_NEXT.search(work, max(head.end, start - 12), start) and later and "," in work[end : later.start]:
            return None  # "any brain metastases, or, within six months prior to Day 1, history of stroke"
        return None if later is not None and _continues_list(work[end : later.start], vocab) else days
    return None


_OPENS_NEXT = re.compile(r",\s*\b(?:and/or|or|and)\s*,?\s*$", re.IGNORECASE)
"""A list conjunction right before a window: with a comma after the window, it opens the next element."""


def _continues_list(gap: str, vocab: Phrases) -> bool:
    """Whether the words after a window go on with the list (", uncontrolled arterial hypertension"), rather than
    with the window's reference point ("prior to receiving study treatment, during treatment")."""
    return (
        _LIST_GO_ON.match(gap) is not None
        and len(word_tokens(gap)) <= _LIST_GO_ON_WORDS
        and not _ends_statement(gap, vocab)
    )


def _window_before(work: str, head: Head, windows: list[Window], vocab: Phrases) -> int | None:
    """ "severe infections within 4 weeks, including ... bacteremia": the window of the statement the head gives
    an example of."""
    before = [w for w in windows if w[1] <= head.start]
    if not before:
        return None
    _, end, days = before[-1]
    gap = work[end : head.start]
    return days if _EXAMPLES.search(gap) and not _ends_statement(gap, vocab) else None


def _opening_window(work: str, first: Head, windows: list[Window]) -> int | None:
    """A window before the first head that opens the clause, or ends its lead-in with a colon."""
    for start, end, days in windows:
        if start >= first.start:
            return None
        if not word_tokens(work[:start]) or work[end : first.start].strip().endswith(":"):
            return days
    return None
