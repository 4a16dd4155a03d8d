"""A body site written after a finding ("adenocarcinoma of the prostate", "infection in the breast region").

The lexicon names site-specific findings site first ("prostate adenocarcinoma", "skin squamous cell carcinoma"), so
a finding followed by "of/in (the) <site>" is looked up again as "<site> <finding>": when that names a concept, the
criterion is about it, not the finding at any site. When it names none but the words are a site the lexicon knows
(it names a "<site> cancer" or "<site> disease"), the site stays a residue to confirm (see ``residues.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_adapter.criteria.lexicon import Lexicon, named_whole
from fhir_adapter.criteria.model import FINDING_CATEGORIES
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.terminology import Concept, ConceptMatch

_SITE_WORDS = re.compile(
    r"\s+(?:of|in|involving|affecting|to)\s+(?:the\s+|a\s+)?((?:[a-z][\w'-]*)(?:\s+[a-z][\w'-]*){0,5})"
)
"""The words after the preposition, up to six, to the first punctuation."""


@dataclass(frozen=True)
class Site:
    words: str
    end: int
    """End of the site's words in the text."""
    concept: Concept | None
    """The site-specific concept ("<site> <finding>"), None when the lexicon has none."""


def _candidates(words: list[tuple[str, int]], stop: frozenset[str]) -> list[tuple[str, int]]:
    """Runs of up to three words (longest first, then leftmost), with the end of the last, none a stop word at
    either end ("middle or lower part the esophagus" offers "esophagus")."""
    runs: list[tuple[str, int]] = []
    for size in (3, 2, 1):
        for i in range(len(words) - size + 1):
            run = words[i : i + size]
            if run[0][0] in stop or run[-1][0] in stop:
                continue
            runs.append((" ".join(w for w, _ in run), run[-1][1]))
    return runs


def site_after(work: str, concept: Concept, phrase: str, end: int, lexicon: Lexicon, p: Phrases) -> Site | None:
    """The site written right after a finding (named ``phrase``, ending at ``end``), with the site-specific concept
    when the lexicon has one."""
    if concept.category not in FINDING_CATEGORIES:
        return None
    found = _SITE_WORDS.match(work, end)
    if found is None:
        return None
    words = [(w.group(0), found.start(1) + w.end()) for w in re.finditer(r"[a-z][\w'-]*", found.group(1))]
    runs = _candidates(words, p.site_stop_words)
    for site, site_end in runs:
        named = _sited(lexicon, site, phrase, concept)
        if named is not None:
            return Site(site, site_end, named)
    for site, site_end in runs:
        if site in phrase:
            return None  # "breast cancer in the left breast": the finding names its site already
        if any(named_whole(lexicon, f"{site} {noun}") is not None for noun in p.site_probe_nouns):
            return Site(site, site_end, None)
    return None


def _sited(lexicon: Lexicon, site: str, phrase: str, concept: Concept) -> Concept | None:
    """The concept "<site> <finding>" names, when it is another finding than the finding's own."""
    named = named_whole(lexicon, f"{site} {phrase}")
    if named is None or named.key == concept.key or named.category not in FINDING_CATEGORIES:
        return None
    return named


_SHARED_SITE_GAP = re.compile(r"\s*(?:,\s*)?(?:or|and|and/or)\s+")


def with_sites(work: str, found: list[ConceptMatch], lexicon: Lexicon, p: Phrases) -> list[ConceptMatch]:
    """``found`` with each finding followed by a site replaced by the site-specific concept, where there is one
    ("adenocarcinoma in the lower part of the esophagus" is esophageal adenocarcinoma). A finding joined to the next
    by "or"/"and" shares its site ("squamous cell carcinoma or adenocarcinoma of the esophagus")."""
    out = list(found)
    shared: Site | None = None
    for i in range(len(out) - 1, -1, -1):
        m = out[i]
        site = site_after(work, m.concept, m.phrase, m.end, lexicon, p)
        if site is not None and i + 1 < len(found) and found[i + 1].start < site.end:
            site = None  # "cancers of triple-negative breast cancer": the words after "of" name their own concept
        if site is not None and site.concept is not None:
            out[i] = ConceptMatch(concept=site.concept, start=m.start, end=site.end, phrase=work[m.start : site.end])
        elif shared is not None and i + 1 < len(out) and _SHARED_SITE_GAP.fullmatch(work, m.end, found[i + 1].start):
            named = _sited(lexicon, shared.words, m.phrase, m.concept)
            if named is not None:
                out[i] = ConceptMatch(concept=named, start=m.start, end=m.end, phrase=m.phrase)
                site = Site(shared.words, shared.end, named)
        shared = site if site is not None and site.concept is not None else None
    return out
