"""Topics: words that make an atom not computable, a residue to confirm, or nothing (``not_computable`` in
``mappings/criteria_phrases.yaml``): "participation in another clinical trial", "clinically significant",
"hypersensitivity to any of the components". Which topic a text names, and what it does to an atom."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from fhir_adapter.criteria.head import Head
from fhir_adapter.criteria.model import Residue
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.criteria.source import Source
from fhir_adapter.criteria.topic_table import Topic, text_tokens
from fhir_adapter.terminology import Concept


def topic_of(text: str, vocab: Phrases) -> Topic | None:
    """The first topic whose words the text holds (None for most texts)."""
    if not vocab.any_topic.search(text):
        return None  # one scan for every topic's words first: most atoms have none
    if text.isascii():
        # the text's words, read once: a topic's regexes run only where its words are all there
        for index in vocab.topic_filter.possible(text_tokens(text.lower())):
            topic = vocab.topics[index]
            if all(g.search(text) for g in topic.groups):
                return topic
        return None
    for topic in vocab.topics:
        if topic.matches(text):
            return topic
    return None


def topic_reason(text: str, vocab: Phrases) -> str | None:
    """Why a text that names a topic is left for review."""
    topic = topic_of(text, vocab)
    return topic.reason if topic else None


def apply_topic(
    fields: dict[str, object],
    head: Head,
    segment: tuple[int, int],
    prefix_text: str,
    src: Source,
    within_days: int | None,
    vocab: Phrases,
    notes: Sequence[tuple[int, int]] = (),
    list_start: int | None = None,
) -> None:
    """What a topic phrase in the atom's text does to it: ignored by an explicit threshold, a residue of a
    presence atom, or the reason the atom is left for review. Words inside a note do not count. ``list_start``:
    where the list the head is a later member of starts ("a candidate for radical surgery, radiotherapy, or
    chemotherapy"): words before the head's concept are read from there."""
    work = src.norm.text
    own = unnoted(work, segment[0], notes)[: segment[1] - segment[0]]
    # times of the trial ("at screening", "prior to first dose of study drug") are not its topic
    timeless = vocab.trial_time_point.sub(" ", vocab.current_time.sub(" ", f"{prefix_text} {own}"))
    topic = topic_of(timeless, vocab)
    if topic is None or topic.on_threshold == "always-ignore":
        return
    threshold = fields.get("category") in ("lab", "performance-status") and fields.get("comparator") is not None
    if threshold and topic.on_threshold == "ignore":
        return
    if fields.get("category") == "allergy" and topic.unless_allergy:
        return
    if topic.unless_named_drug and _named_drug(head.concept):
        return
    if topic.on_absence == "ignore" and (fields.get("comparator") == "absent" or fields.get("negated")):
        return
    if topic.window_ok and within_days is not None:
        return
    presence = fields.get("comparator") in ("present", "absent")
    if presence and topic.near_head == "element":
        if _listed_alone(work, head, fields, topic) and not topic.matches(work[head.start : head.end + 15]):
            return  # "no use of contraception, pregnancy or lactation": pregnancy is a criterion of its own
    elif presence and topic.near_head:
        # "before": the words stand before the concept, not in its own name ("lactose intolerance")
        after = head.end + 15 if topic.near_head == "around" else head.start
        if not topic.matches(
            work[min(segment[0], head.start, head.start if list_start is None else list_start) : after]
        ):
            return  # the words are about another part of the statement ("pregnant women ... during the study")
    in_category = fields.get("category") in topic.residue_categories and (
        topic.residue_if is None or bool(topic.residue_if.search(work, segment[0], segment[1]))
    )
    residue = topic.on_presence == "residue" or in_category
    if presence and residue and fields.get("computable"):
        found = next((g.search(work, segment[0], segment[1]) for g in topic.groups), None)
        text = src.clause(found.start(), found.end()) if found else src.clause(head.start, head.end)
        residues = cast(list[Residue], fields["residues"])
        # a severity of the concept narrows its presence and widens its absence ("no severe arrhythmia")
        effect = "widens" if fields.get("comparator") == "absent" else "narrows"
        residues.append(Residue(text=text, effect=effect, reason=topic.reason))
        return
    fields.update(computable=False, reason=topic.reason, residues=[])


def _named_drug(concept: Concept) -> bool:
    return concept.category == "medication" and not concept.members and bool(concept.codings)


_ELEMENT_SEPARATOR = re.compile(r"[,;]|\b(?:or|and|and/or|nor)\b")


def unnoted(work: str, start: int, notes: Sequence[tuple[int, int]]) -> str:
    """``work`` from ``start`` with its notes blanked (same length, so offsets still hold)."""
    text = work[start:]
    for a, b in notes:
        if b > start:
            a, b = max(a, start) - start, b - start
            text = text[:a] + " " * (b - a) + text[b:]
    return text


def _listed_alone(work: str, head: Head, fields: dict[str, object], topic: Topic) -> bool:
    """Whether the concept is listed alone after a separator ("childbearing age, no use of effective
    contraception, pregnancy or lactation": pregnancy and lactation are criteria of their own). Only for the
    topic's residue categories, and never when the concept is negated (the negation may be the sibling's: "no
    use of contraception, pregnancy")."""
    if head.negated or fields.get("category") not in topic.residue_categories:
        return False
    element_start = max((m.end() for m in _ELEMENT_SEPARATOR.finditer(work, 0, head.start)), default=0)
    return len(work[element_start : head.start].split()) <= 1
