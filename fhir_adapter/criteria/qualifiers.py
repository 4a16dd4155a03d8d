"""The qualifiers and negation of a concept, read from the words around it ("no history of", "active",
"HIV negative", "Negative pregnancy test"), and the qualifiers a lead-in line states for its sub-items."""

from __future__ import annotations

import re
from functools import lru_cache

from fhir_adapter.criteria.head import Head, open_paren_before
from fhir_adapter.criteria.model import FINDING_CATEGORIES, Kind, Qualifier
from fhir_adapter.criteria.phrases import Phrases, phrases, remembered
from fhir_adapter.criteria.text import normalise


def _qualifiers(window: str, vocab: Phrases) -> list[Qualifier]:
    return list(remembered(vocab, "qualifiers", window, _read_qualifiers))


def _read_qualifiers(window: str, vocab: Phrases) -> tuple[Qualifier, ...]:
    if not vocab.any_qualifier.search(window):
        return ()
    found: list[Qualifier] = []
    for qualifier, pattern in vocab.qualifiers:
        if pattern.search(window) and qualifier not in found:
            found.append(qualifier)
    return tuple(found)


def _negated(window: str, vocab: Phrases) -> bool:
    return remembered(vocab, "negated", window, _read_negation)


def _read_negation(window: str, vocab: Phrases) -> bool:
    cleaned = vocab.not_exception.sub(" ", window)  # "including, but not limited to" negates nothing
    cleaned = vocab.negated_comparator.sub(" ", cleaned)  # "received no less than 20 transfusions": a count
    for qualifier, pattern in vocab.qualifiers:
        if qualifier == "uncontrolled":
            cleaned = pattern.sub(" ", cleaned)
    return bool(vocab.negation.search(cleaned))


_ABBREVIATION_AFTER = re.compile(r"\s*\([^()]{1,15}\)")
"""An abbreviation in parentheses right after a concept ("Hepatitis B e antigen (HBeAg)-negative")."""


def _negated_after(work: str, head: Head, vocab: Phrases) -> bool:
    """ "HIV negative", "HBsAg-negative", "(HBeAg)-negative"; for a test read as present/absent also "pregnancy
    test must be negative"."""
    end = head.end
    abbreviation = _ABBREVIATION_AFTER.match(work, end)
    if abbreviation is not None:
        end = abbreviation.end()
    after = work[end : end + 14]
    if vocab.postfix_negation.match(after.lstrip(" -)")) or vocab.postfix_negation.match(after):
        return True
    return head.concept.is_presence_test and vocab.negative_result_after.match(work, end) is not None


def _negative_result(window: str, work: str, head: Head, vocab: Phrases) -> bool:
    """ "Negative serum or urine pregnancy test": a test read as present/absent, a negative result before it; or a
    finding named with its test after it ("negative hepatitis B serology", "negative hepatitis studies")."""
    if vocab.result_negation.search(window) is None:
        return False
    if head.concept.is_presence_test:
        return True
    tested = vocab.test_nouns.match(work[head.end : head.end + 24].lstrip(" -"))
    return head.concept.category in FINDING_CATEGORIES and tested is not None


def attach_qualifiers(work: str, heads: list[Head], clause_start: int, vocab: Phrases) -> None:
    """Each head's qualifiers ("active", "history of") and negation, from the words before it in its segment."""
    for i, head in enumerate(heads):
        window = work[head.seg_start : head.start]
        if i > 0 and head.seg_start >= head.start:
            # no separator before this head ("hemoglobin >= 9 g/dL independent of transfusion"): its words are
            # those after the previous head's statement
            previous = heads[i - 1]
            window = work[max([previous.end, *(t.end for t in previous.thresholds)]) : head.start]
        paren = open_paren_before(work, head.start, clause_start)
        if paren is not None:
            window = work[max(clause_start, paren - 80) : paren] + " " + window
        own = _qualifiers(window, vocab)
        inherent = _qualifiers(head.phrase, vocab)
        if i > 0 and head.inherits and not own:
            own = list(heads[i - 1].qualifiers)
            head.negated = heads[i - 1].negated
        else:
            if i > 0 and head.listed_after and not own:  # the list's qualifiers, not its negation
                own = list(heads[i - 1].qualifiers)
            head.negated = _negated(window, vocab)
        if _negated_after(work, head, vocab):
            head.negated = True
        head.negated = head.negated or head.absent or _negative_result(window, work, head, vocab)
        head.qualifiers = own + [q for q in inherent if q not in own]
        if _use_now(work, head, window, vocab):
            head.qualifiers.append("current")
        if "recurrent" in inherent:
            head.modifiers.append("inherent:recurrent")


TIME_QUALIFIERS = frozenset({"prior", "history", "current"})
"""Qualifiers that say when a treatment counts; a drug named with none of them is read by the rules below."""


def _use_now(work: str, head: Head, window: str, vocab: Phrases) -> bool:
    """ "Anticoagulant use (warfarin or heparin)", "chronic opiate use": a drug's use named with no time is its use
    now, as "taking" or "use of" is ("history of opiate use" is dated by "history")."""
    if head.concept.category != "medication" or TIME_QUALIFIERS & set(head.qualifiers):
        return False
    return vocab.use_after.match(work, head.end) is not None or vocab.use_before.search(window) is not None


def lead_in_qualifiers(text: str) -> list[Qualifier]:
    """The qualifiers a lead-in line states ("History of any of the following:")."""
    return list(_lead_in_qualifiers(text))


@lru_cache(maxsize=1024)
def _lead_in_qualifiers(text: str) -> tuple[Qualifier, ...]:
    return tuple(_qualifiers(normalise(text).text, phrases()))


def time_of_fields(fields: dict[str, object], kind: Kind, item_text: str, vocab: Phrases) -> None:
    """The time qualifiers an atom's fields get once its window is known: a windowed finding is an event, a drug
    named with no time among the exclusions is current use."""
    _dated_event(fields)
    _undated_use(fields, kind, item_text, vocab)


_STATUS_QUALIFIERS = frozenset({"active", "current", "history", "prior", "uncontrolled"})


def _dated_event(fields: dict[str, object]) -> None:
    """ "Myocardial infarction within the past 6 months": a finding dated by a window is an event in it, whatever
    its record's status says now (an MI recorded as resolved last month still excludes); unless the words ask
    for an active or current one."""
    qualifiers = fields.get("qualifiers")
    if (
        fields.get("within_days") is not None
        and fields.get("category") in FINDING_CATEGORIES
        and isinstance(qualifiers, list)
        and not _STATUS_QUALIFIERS & set(qualifiers)
    ):
        qualifiers.append("prior")


def _undated_use(fields: dict[str, object], kind: Kind, item_text: str, vocab: Phrases) -> None:
    """Among the exclusions a drug named with no time at all in its whole item ("lithium", "triptans",
    "H1-receptor antagonists" under the medicines not to take with the study drug) is its use now, as the drugs
    such lists name are those taken alongside: counting any record ever would exclude everyone once treated. Any
    word of the past in the item ("Previous treatment with anti-PD-1 ..., anti-CTLA-4 antibodies") leaves it
    as it is. (An allergy to a drug is no use of it.)"""
    qualifiers = fields.get("qualifiers")
    if (
        kind == "exclusion"
        and fields.get("category") == "medication"
        and isinstance(qualifiers, list)
        and not TIME_QUALIFIERS & set(qualifiers)
        and not vocab.past_words.search(item_text)
    ):
        qualifiers.append("current")
