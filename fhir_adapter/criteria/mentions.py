"""The concepts a clause names: lexicon matches read in their context.

A bare "cancer" after a site word is not "any malignancy"; a word joined by a hyphen ("pre-gestational diabetes")
makes a compound that names something else; "non-colorectal cancer" names an excepted concept; a disease word inside
the name of an equation, classification or instrument ("Modification of Diet in Renal Disease") is none; organ words
that share a noun ("heart, liver or kidney disease") name one concept each. Overlapping matches keep the longest.
"""

from __future__ import annotations

import re
from itertools import pairwise

from fhir_adapter.criteria.ellipsis import shared_head_matches, shared_lead_matches, shared_tail_matches
from fhir_adapter.criteria.lexicon import Lexicon
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.criteria.sites import with_sites
from fhir_adapter.terminology import ConceptMatch


def _drop_overlaps(matches: list[ConceptMatch]) -> list[ConceptMatch]:
    if all(a.start < b.start and a.end <= b.start for a, b in pairwise(matches)):
        return list(matches)  # already in text order without overlaps (the lexicon's own answer): nothing to drop
    kept: list[ConceptMatch] = []
    for m in sorted(matches, key=lambda m: (m.start, -(m.end - m.start))):
        if kept and m.start < kept[-1].end:
            continue
        kept.append(m)
    return kept


_NON = re.compile(r"(?<![a-z])non-(?=[a-z])")


_NON_CASED = re.compile(r"(?<![A-Za-z])([Nn][Oo][Nn])-(?=[A-Za-z])")


_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z0-9]*)[\s-]*$")  # not across a comma: "Heart disease, Cancer"


def _names_a_specific_disease(work: str, match: ConceptMatch, p: Phrases) -> bool:
    """A bare "cancer" after a site or type word ("prostate cancer") is not "any malignancy"."""
    if match.concept.key not in p.site_specific_concepts or match.phrase.lower() not in p.site_specific_nouns:
        return False
    before = _WORD_BEFORE.search(work[: match.start])
    return before is not None and before.group(1).lower() not in p.generic_modifiers


_HYPHEN_PREFIX = re.compile(r"[a-z]{2,}-$")
"""A word joined to the match by a hyphen ("pre-gestational diabetes", "post-transplant"): a compound that
names something else ("non-" is handled apart: "non-colorectal cancer" is an excepted concept)."""


def _in_compound(work: str, match: ConceptMatch) -> bool:
    before = work[max(0, match.start - 12) : match.start]
    # the hyphen ends the text (``$`` also allows a last newline): most matches have none before them
    return before.endswith(("-", "-\n")) and bool(_HYPHEN_PREFIX.search(before)) and not before.endswith("non-")


_CAPITALISED_RUN = re.compile(
    r"[A-Z][\w'’]*(?:-[\w'’]+)*(?:\s+(?:(?:of|and|for|in|the|on|&)\s+)*[A-Z][\w'’]*(?:-[\w'’]+)*)+"
)
_CAPITALISED_WORD = re.compile(r"[A-Z][\w'’]*(?:-[\w'’]+)*")
_FUNCTION_WORD_NEXT = re.compile(r"\s+(?:of|for|on|in)\s")
_LETTERED_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_NAMED_CATEGORIES = frozenset({"condition", "infection", "medication", "procedure", "pregnancy", "allergy"})
"""What a name's words may look like ("Hospital Anxiety and Depression Scale"); a score or lab named by the name
itself ("Body Mass Index") is the concept, not a part of the name."""


def _capitalised_name_spans(cased: str, p: Phrases) -> list[tuple[int, int]]:
    """Where the words of a capitalised name lie that are part of it (``name_nouns`` in criteria_phrases.yaml)."""
    words = _LETTERED_WORD.findall(cased)
    if not words or sum(w[0].isupper() for w in words) >= 0.8 * len(words):
        return []  # a criterion written all in capitals: its capitals are no name
    spans: list[tuple[int, int]] = []
    for run in _CAPITALISED_RUN.finditer(cased):
        nouns = list(_CAPITALISED_WORD.finditer(run.group(0)))
        if len(nouns) < 3:
            continue
        for noun in nouns:
            word = noun.group(0).lower()
            if word in p.name_nouns or word in p.organisation_nouns:
                spans.append((run.start(), run.start() + noun.start()))
            if word in p.organisation_nouns and _FUNCTION_WORD_NEXT.match(run.group(0), noun.end()):
                spans.append((run.start() + noun.end(), run.end()))  # "Institute of ...", not "Group I PAH"
    return spans


def _outside_names(found: list[ConceptMatch], spans: list[tuple[int, int]]) -> list[ConceptMatch]:
    return [
        m
        for m in found
        if m.concept.category not in _NAMED_CATEGORIES or not any(a <= m.start and m.end <= b for a, b in spans)
    ]


def _in_situ(work: str, found: list[ConceptMatch], lexicon: Lexicon, p: Phrases) -> list[ConceptMatch]:
    """ "cervical carcinoma in situ": a cancer's name before "in situ" names an in situ neoplasm, not the invasive
    cancer its codes mean. The match becomes the in situ concept over "in situ", so the name before it is its
    narrower kind to confirm."""
    in_situ = lexicon.get(p.in_situ_concept) if p.in_situ_concept else None
    if in_situ is None:
        return found
    read: list[ConceptMatch] = []
    for m in found:
        after = p.in_situ_after.match(work, m.end)
        if after is None or m.concept.key == in_situ.key or m.concept.category != "condition":
            read.append(m)
            continue
        start = after.end() - len(after.group(0).lstrip())
        read.append(ConceptMatch(concept=in_situ, start=start, end=after.end(), phrase=work[start : after.end()]))
    return read


def _abbreviation_senses(work: str, found: list[ConceptMatch], lexicon: Lexicon, p: Phrases) -> list[ConceptMatch]:
    """ "ASA I-II" is the anaesthesia score, "ASA, clopidogrel or ticlopidine" aspirin: an abbreviation of two senses
    reads as the one the words after it call for (``abbreviation_senses``)."""
    read: list[ConceptMatch] = []
    for m in found:
        for abbreviation, concept_key, after, otherwise in p.abbreviation_senses:
            if m.phrase != abbreviation or m.concept.key != concept_key or after.match(work, m.end):
                continue
            other = lexicon.get(otherwise)
            if other is not None:
                m = ConceptMatch(concept=other, start=m.start, end=m.end, phrase=m.phrase)
        read.append(m)
    return read


def find_concepts(work: str, lexicon: Lexicon, p: Phrases, cased: str | None = None) -> list[ConceptMatch]:
    """Lexicon matches, plus concepts written right after "non-" ("non-colorectal cancer"). The lexicon reads
    ``cased`` (the same text with its letter case, so that "MS" or "eGFR" match as written)."""
    source = cased if cased and len(cased) == len(work) else work
    found = [
        m
        for m in lexicon.find(source)
        if 0 <= m.start < m.end <= len(work) and not _names_a_specific_disease(work, m, p) and not _in_compound(work, m)
    ]
    starts = {m.end() for m in _NON.finditer(work)} if "non-" in work else set()  # (the test is quicker)
    if starts:
        spaced = _NON.sub("non ", work) if source is work else _NON_CASED.sub(r"\1 ", source)
        found.extend(m for m in lexicon.find(spaced) if m.start in starts and 0 <= m.start < m.end <= len(work))
    names = [m.span() for m in p.proper_names.finditer(work)] if found else []  # (no match to drop: no scan)
    if names:  # "Modification of Diet in Renal Disease": an equation's name, not kidney disease
        found = [m for m in found if not any(a <= m.start and m.end <= b for a, b in names)]
    if found and cased and source is cased:  # "Hospital Anxiety and Depression Scale": a scale, not depression
        found = _outside_names(found, _capitalised_name_spans(cased, p))
    found = _drop_overlaps(_in_situ(work, found, lexicon, p) if "situ" in work else found)
    found = _abbreviation_senses(work, found, lexicon, p) if p.abbreviation_senses else found
    shared = shared_head_matches(work, found, lexicon, p)
    if shared:
        found = _drop_overlaps(found + shared)
    more = shared_tail_matches(work, found, lexicon) + shared_lead_matches(work, found, lexicon)
    found = _drop_overlaps(found + more) if more else found
    return _drop_overlaps(with_sites(work, found, lexicon, p))
