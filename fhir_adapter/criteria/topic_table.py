"""The rows of ``not_computable`` in ``mappings/criteria_phrases.yaml`` (topics: statements the compiler never
makes computable, with their reason), their quick token filter, and the category hints of statements without a
concept."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_adapter.criteria.model import Category
from fhir_adapter.phrase_keys import TOKEN


@dataclass(frozen=True)
class Topic:
    reason: str
    groups: tuple[re.Pattern[str], ...]
    """Every group must match (``any_of`` is one group, ``all_of`` several)."""
    on_threshold: str = "refuse"
    """``ignore``: an atom with an explicit threshold ("severe anemia (Hb < 8 g/dL)", "ALT at screening
    <= 2.5 x ULN") is decided by its threshold, so the topic's words do not matter."""
    on_presence: str = "refuse"
    on_absence: str = "refuse"
    """``ignore``: the topic does not touch an atom that requires the finding absent ("healthy volunteers
    without diabetes": only a required finding is made optional by the healthy volunteers)."""
    unless_allergy: bool = False
    """The topic does not apply to an allergy atom (an allergy to a coded drug is an AllergyIntolerance)."""
    unless_named_drug: bool = False
    """The topic does not apply when the atom names a coded drug of its own ("hypersensitivity to any of the
    components of oxaliplatin": an allergy to oxaliplatin, not to unnamed trial drugs)."""
    window_ok: bool = False
    """The topic does not apply when the atom has a time window ("within 4 weeks before the first dose")."""
    near_head: str = ""
    """The topic applies to a presence atom only when its words come before the concept in the atom ("scheduled
    for mastectomy", "participating in a trial of a drug for diabetes"), not after it ("breast cancer patients
    scheduled for surgery", "pregnant women ... during the study"): ``before``, or ``around`` (also right after
    it: "pregnancy is expected"), or ``element`` (in the concept's own list element, around it: "no use of
    contraception, pregnancy or lactation" leaves pregnancy and lactation computable)."""
    residue_categories: tuple[str, ...] = ()
    residue_if: re.Pattern[str] | None = None
    """With ``residue_categories``: only when the atom also names one of these words ("a negative pregnancy test")."""
    """Categories for which the topic is a residue rather than a refusal ("women of childbearing potential must
    have a negative pregnancy test": the test stays computable)."""
    """``residue``: for a presence atom the words narrow the finding ("clinically significant X"): the atom
    stays computable and the words become a residue to confirm when the finding is present."""

    needles: tuple[tuple[str, ...] | None, ...] = ()
    """For each group, its :func:`phrase_needles` (a quick test for ASCII texts)."""

    def matches(self, text: str, lowered: str | None = None) -> bool:
        """``lowered``: ``text.lower()`` when ``text`` is ASCII, to rule out most topics without their regexes."""
        if lowered is not None:
            contains = lowered.__contains__  # map() over a bound method: no generator frame per needle
            for needles in self.needles:
                if needles is not None and not any(map(contains, needles)):
                    return False
        return all(g.search(text) for g in self.groups)


def text_tokens(lowered: str) -> frozenset[str]:
    """The word tokens of a text in lower case (what :class:`TopicFilter` looks up)."""
    return frozenset(TOKEN.findall(lowered))


@dataclass(frozen=True)
class TopicFilter:
    """Which topics an ASCII text may match, from its word tokens alone.

    A match of a :func:`phrase_pattern` in an ASCII text holds every word token of the matched phrase as a whole
    token of ``text.lower()``: the phrase's own characters, its ``\\s+`` and its word bounds stand around each of
    them. So a group (one phrase list) is possible only where all the tokens of one of its phrases are among the
    text's; a topic only where each of its groups is. A necessary condition, decided with set look-ups instead of
    twenty topics' scans; the topic's regexes decide."""

    by_first: dict[str, tuple[tuple[int, int, frozenset[str]], ...]]
    """First token of a phrase -> (topic index, group index, the phrase's tokens) of each phrase starting so."""
    always: frozenset[tuple[int, int]]
    """(topic, group) pairs the tokens cannot rule out: a non-ASCII phrase, or one without a word token."""
    groups: tuple[int, ...]
    """Each topic's number of groups."""

    @classmethod
    def of(cls, groups_of_topics: list[list[list[str]]]) -> TopicFilter:
        by_first: dict[str, list[tuple[int, int, frozenset[str]]]] = {}
        always: set[tuple[int, int]] = set()
        for t, groups in enumerate(groups_of_topics):
            for g, group in enumerate(groups):
                for phrase in {" ".join(str(p).lower().split()) for p in group if p and str(p).strip()}:
                    toks = TOKEN.findall(phrase)
                    if not phrase.isascii() or not toks:
                        always.add((t, g))
                        continue
                    by_first.setdefault(toks[0], []).append((t, g, frozenset(toks)))
        return cls(
            by_first={k: tuple(v) for k, v in by_first.items()},
            always=frozenset(always),
            groups=tuple(len(groups) for groups in groups_of_topics),
        )

    def possible(self, tokens: frozenset[str]) -> list[int]:
        """The topics (indices, in order) an ASCII text with these :func:`text_tokens` may match."""
        found = set(self.always)
        for token in tokens.intersection(self.by_first):
            for t, g, needed in self.by_first[token]:
                if needed <= tokens:
                    found.add((t, g))
        return sorted({t for t, _ in found if all((t, g) in found for g in range(self.groups[t]))})


@dataclass(frozen=True)
class CategoryHint:
    category: Category
    pattern: re.Pattern[str]
