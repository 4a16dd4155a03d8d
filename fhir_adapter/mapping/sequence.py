"""Which interventions the record says come before which, read from its own text.

Rule: a text (title, summary, description, arm label/description) that says "X followed by Y",
"X, then Y", "X and subsequently Y" or "Y after X" orders its segments; each intervention is placed
in the segment that mentions most of its distinctive words (names, regimen aliases and their
components). Two interventions in different segments are ordered like the segments. Orders that
texts contradict are dropped; interventions no segment prefers are left unordered. Nothing here
knows any particular trial.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from fhir_adapter.mapping.interventions import components, regimen_of

_FORWARD = re.compile(r"\bfollowed by\b|\bthen\b|\bsubsequently\b|\bafter which\b|\bprior to\b|\bbefore\b", re.I)
_BACKWARD = re.compile(r"\bafter\b|\bfollowing\b", re.I)
_ORDERING = re.compile(f"{_FORWARD.pattern}|{_BACKWARD.pattern}", re.I)
_SENTENCE = re.compile(r"(?<=[.;:!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_GENERIC = frozenset(
    {
        "a", "an", "and", "or", "of", "in", "on", "for", "to", "with", "without", "the", "combined", "combination",
        "plus", "group", "arm", "cohort", "therapy", "treatment", "regimen", "dose", "doses", "standard",
        "neoadjuvant", "adjuvant", "sequential", "patients", "participants", "by", "followed", "then",
    }
)


@lru_cache(maxsize=8192)
def words(text: str) -> frozenset[str]:
    """Distinctive lower-case words; hyphenated words also count by their parts (short-course)."""
    found: set[str] = set()
    for word in _WORD.findall(text.lower()):
        found.add(word)
        found.update(word.split("-"))
    return frozenset(w for w in found if w not in _GENERIC and len(w) > 1)


def intervention_words(name: str) -> frozenset[str]:
    vocabulary = words(name)
    for part in components(name):
        vocabulary |= words(part.lookup_name)
    regimen = regimen_of(name)
    if regimen:
        vocabulary |= words(" ".join(regimen[1]))
    return vocabulary


def segments(sentence: str) -> list[str]:
    """Segments of a sentence in time order (reversed around "after"/"following")."""
    forward = [s for s in _FORWARD.split(sentence) if s.strip()]
    if len(forward) > 1:
        return forward
    backward = [s for s in _BACKWARD.split(sentence) if s.strip()]
    return list(reversed(backward)) if len(backward) > 1 else [sentence]


def _best_segment(vocabulary: frozenset[str], parts: list[str]) -> int | None:
    scores = [len(vocabulary & words(part)) for part in parts]
    best = max(scores, default=0)
    if best == 0 or scores.count(best) > 1:
        return None
    return scores.index(best)


@lru_cache(maxsize=1024)
def _ordering_sentences(text: str) -> tuple[list[str], ...]:
    """The segments of each sentence of ``text`` that orders something (cached: the trial's title, summary and
    description are read again for every arm). Treat the lists as read-only."""
    if _ORDERING.search(text) is None:  # most texts order nothing: no sentence to split
        return ()
    found = (segments(sentence) for sentence in _SENTENCE.split(text))
    return tuple(parts for parts in found if len(parts) >= 2)


def ordered_pairs(names: list[str], texts: Iterable[str | None]) -> set[tuple[int, int]]:
    """``(i, j)`` pairs meaning intervention ``names[i]`` comes before ``names[j]``."""
    vocabularies = [intervention_words(n) for n in names]
    pairs: set[tuple[int, int]] = set()
    for text in texts:
        for parts in _ordering_sentences(text or ""):
            places = [_best_segment(v, parts) for v in vocabularies]
            for i, place_i in enumerate(places):
                for j, place_j in enumerate(places):
                    if place_i is not None and place_j is not None and place_i < place_j:
                        pairs.add((i, j))
    return {(i, j) for i, j in pairs if (j, i) not in pairs}
