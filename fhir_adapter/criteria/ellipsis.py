"""Shared head nouns: "heart, liver or kidney disease" names three diseases although only "kidney disease" is
written out. Each organ or system word listed before a written-out "<organ> <noun>" gets the noun back and is
looked up on its own ("heart disease", "liver disease"); the words of the list are those of
``criteria_phrases.shared_head.words`` (a word outside it, such as "atrophic" in "metabolic or atrophic skin
disease", qualifies the whole phrase and ends the list)."""

from __future__ import annotations

import re

from fhir_adapter.criteria.lexicon import Lexicon
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.terminology import ConceptMatch

_WRITTEN_OUT = re.compile(r"([a-z][a-z-]*)\s+([a-z]+)")
_LISTED_BEFORE = re.compile(r"([a-z][a-z-]*)\s*(?:,\s*(?:and/or|and|or)?|and/or|or|and|/)\s*$")


def shared_head_matches(work: str, found: list[ConceptMatch], lexicon: Lexicon, p: Phrases) -> list[ConceptMatch]:
    """Concepts named by organ words that share the noun of the match after them ("heart, liver or kidney
    disease" -> heart disease, liver disease), each spanning its organ word."""
    extra: list[ConceptMatch] = []
    taken = [(m.start, m.end) for m in found]
    for m in found:
        written = _WRITTEN_OUT.fullmatch(work, m.start, m.end)
        if written is None or written.group(1) not in p.shared_head_words:
            continue
        if written.group(2) not in p.shared_head_nouns:
            continue
        noun, pos = written.group(2), m.start
        while (listed := _LISTED_BEFORE.search(work, max(0, pos - 40), pos)) is not None:
            word = listed.group(1)
            start, end = listed.start(1), listed.end(1)
            if word not in p.shared_head_words or any(a < end and start < b for a, b in taken):
                break
            phrase = f"{word} {noun}"
            named = [c for c in lexicon.find(phrase) if c.start == 0 and c.end == len(phrase)]
            if named:
                extra.append(ConceptMatch(concept=named[0].concept, start=start, end=end, phrase=work[start:end]))
            pos = start
    return extra


_LIST_AFTER = re.compile(r"(?:\s*(?:,\s*(?:and/or|and|or)?|and/or|or|and|/)\s*[a-z][a-z-]*)+\s+([a-z]+)")


def shared_noun_end(work: str, start: int, end: int, p: Phrases) -> int | None:
    """Where the noun a listed organ word shares ends ("heart" in "heart, liver or kidney disease": after
    "disease"), so that the atom's text names the whole finding; None for any other head."""
    if work[start:end] not in p.shared_head_words:
        return None
    found = _LIST_AFTER.match(work, end)
    return found.end() if found is not None and found.group(1) in p.shared_head_nouns else None
