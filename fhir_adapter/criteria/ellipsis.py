"""Shared words: "heart, liver or kidney disease" names three diseases although only "kidney disease" is
written out, and "prostate or breast cancer" two (:func:`shared_tail_matches`). Each organ or system word listed
before a written-out "<organ> <noun>" gets the noun back and is looked up on its own ("heart disease", "liver
disease"); the words of the list are those of ``criteria_phrases.shared_head.words`` (a word outside it, such as
"atrophic" in "metabolic or atrophic skin disease", qualifies the whole phrase and ends the list)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fhir_adapter.criteria.lexicon import Lexicon, named_whole
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
            named = named_whole(lexicon, phrase)
            if named is not None:
                extra.append(ConceptMatch(concept=named, start=start, end=end, phrase=work[start:end]))
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


_CONNECTOR_BEFORE = re.compile(r"(?:\s*,\s*(?:and/or|and|or)?|\s+(?:and/or|or|and|nor)|\s*/)\s*$")
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
_MAX_SHARED_WORDS = 3


def _multiword(work: str, found: list[ConceptMatch]) -> Iterator[tuple[ConceptMatch, list[str]]]:
    """The matches of two words or more, with their words: only they can share some with a neighbour."""
    for m in found:
        piece = work[m.start : m.end]
        if piece.isascii() and piece.isalnum() and piece.islower():
            continue  # one word of [a-z0-9] ("diabetes"), the most common match: no scan
        words = _WORD.findall(work, m.start, m.end)
        if len(words) >= 2:
            yield m, words


def shared_tail_matches(work: str, found: list[ConceptMatch], lexicon: Lexicon) -> list[ConceptMatch]:
    """Concepts that share the last word of the match after them ("prostate or breast cancer" -> prostate cancer,
    "type 1 or type 2 diabetes" -> type 1 diabetes, "acute or chronic pancreatitis" -> acute pancreatitis,
    "spinal cord or cauda equina compression" -> spinal cord compression). The words before the connector, with
    that last word, must name a concept on their own, whole; each new concept spans its own words."""
    extra: list[ConceptMatch] = []
    taken = [(m.start, m.end) for m in found]
    for m, words in _multiword(work, found):
        tail, pos = words[-1], m.start
        while (connector := _connector_before(work, pos)) is not None:
            named = _named_before(work, connector.start(), tail, lexicon)
            if named is None or any(a < named.end and named.start < b for a, b in taken):
                break
            extra.append(named)
            taken.append((named.start, named.end))
            pos = named.start
    return extra


def _connector_before(work: str, pos: int) -> re.Match[str] | None:
    """The list connector that ends at ``pos`` (", ", " or ", "/"), read only when the text before ``pos`` ends
    with one (most matches follow no connector)."""
    if not work[max(0, pos - 12) : pos].rstrip().endswith((",", "or", "and", "/")):
        return None
    return _CONNECTOR_BEFORE.search(work, max(0, pos - 12), pos)


def _named_before(work: str, end: int, tail: str, lexicon: Lexicon) -> ConceptMatch | None:
    """The longest run of up to three words ending at ``end`` that names a concept with ``tail`` after it."""
    spans = [w.span() for w in _WORD.finditer(work, max(0, end - 40), end)]
    if not spans or spans[-1][1] != end:
        return None
    for k in range(min(_MAX_SHARED_WORDS, len(spans)), 0, -1):
        start = spans[-k][0]
        phrase = " ".join(work[a:b] for a, b in spans[-k:]) + " " + tail
        named = named_whole(lexicon, phrase)
        if named is not None:
            return ConceptMatch(concept=named, start=start, end=end, phrase=work[start:end])
    return None


def shared_tail_end(
    work: str, head_start: int, head_end: int, after: list[tuple[int, int]], lexicon: Lexicon
) -> int | None:
    """Where the last word a concept shares with a match after it ends ("prostate" in "prostate, bladder, or rectal
    cancer": after "cancer"), so that the atom's text names the whole finding; None when the concept is whole as
    written. ``after``: the spans of the matches that follow, in order."""
    end = head_end
    for next_start, next_end in after:
        if _CONNECTOR_BEFORE.fullmatch(work, end, next_start) is None:
            return None
        words = _WORD.findall(work, next_start, next_end)
        if len(words) >= 2:
            phrase = f"{work[head_start:head_end]} {words[-1]}"
            return next_end if named_whole(lexicon, phrase) is not None else None
        end = next_end
    return None


_CONNECTOR_AFTER = re.compile(r"\s*(?:,\s*(?:and/or|and|or)?|and/or|or|and|nor|/)\s*")


def shared_lead_matches(work: str, found: list[ConceptMatch], lexicon: Lexicon) -> list[ConceptMatch]:
    """Concepts that share the first words of the match before them ("hepatitis B or C infection" -> hepatitis C,
    "hepatitis B, C or D" -> hepatitis C and D): a word after a connector that, written after those words, names a
    concept on its own; with the word after it when that names it too ("C infection": hepatitis C infection)."""
    extra: list[ConceptMatch] = []
    taken = [(m.start, m.end) for m in found]
    for m, words in _multiword(work, found):
        lead, pos = " ".join(words[:-1]), m.end
        while (connector := _CONNECTOR_AFTER.match(work, pos)) is not None and connector.end() > pos:
            named = _named_after(work, connector.end(), lead, lexicon)
            # it may swallow a broader match after it ("C infection" over "infection"), never start inside one; a
            # word that names a concept alone is that concept ("Heart disease, Cancer" is no heart cancer)
            if named is None or any(a <= named.start < b for a, b in taken) or named_whole(lexicon, named.phrase):
                break
            extra.append(named)
            pos = named.end
    return extra


def _named_after(work: str, start: int, lead: str, lexicon: Lexicon) -> ConceptMatch | None:
    """The one or two words from ``start`` that name a concept with ``lead`` before them (longest first)."""
    spans = [w.span() for w in _WORD.finditer(work, start, start + 40)][:2]
    if not spans or spans[0][0] != start:
        return None
    for k in range(len(spans), 0, -1):
        end = spans[k - 1][1]
        phrase = f"{lead} " + " ".join(work[a:b] for a, b in spans[:k])
        named = named_whole(lexicon, phrase)
        if named is not None:
            return ConceptMatch(concept=named, start=start, end=end, phrase=work[start:end])
    return None
