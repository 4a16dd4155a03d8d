"""A phrase index (phrase keys -> concept keys, with every run of leading tokens of a phrase) and the walk that
finds its phrases in a text's tokens: the matching machinery of :meth:`fhir_adapter.terminology.Lexicon.find`.

A phrase is found token by token from each token that may start one; the walk stops as soon as the tokens read so far,
joined, start no phrase, so a lexicon of tens of thousands of phrases costs no more per token than a small one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import compress

from fhir_adapter.errors import ConfigError
from fhir_adapter.phrase_keys import JOINABLE, prefixes


class PhraseIndex:
    """Phrase keys -> concept keys, with the longest phrase length in tokens."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.max_tokens = 0
        self.prefixes: set[str] = set()
        """Every run of leading tokens of a phrase, joined: :meth:`Lexicon.find` stops extending a candidate
        as soon as no phrase starts with it, so a large lexicon costs no more per token than a small one."""

    def add(
        self,
        key: str,
        n_tokens: int,
        concept_key: str,
        *,
        where: str,
        phrase: str = "",
        fold: bool = True,
        found: list[str] | None = None,
    ) -> None:
        """``found``: the phrase's prefixes when the caller has already tokenised it."""
        if not key:
            return
        known = self.keys.get(key)
        if known is not None and known != concept_key:
            raise ConfigError(f"phrase {key!r} names both {known} and {concept_key}", source=where)
        self.keys[key] = concept_key
        self.max_tokens = max(self.max_tokens, n_tokens)
        if found is not None:
            self.prefixes.update(found)
        else:
            self.add_prefixes(phrase or key, fold=fold)

    def add_prefixes(self, phrase: str, *, fold: bool = True) -> None:
        self.prefixes.update(prefixes(phrase, folded=fold))


def phrases_in(
    index: PhraseIndex, words: list[str], gaps: list[str], defined: set[int]
) -> Iterator[tuple[int, int, str]]:
    """:func:`phrases_from` every token, in no order (the candidates are sorted). Most tokens start no phrase:
    C-level passes find the one-token phrases and the tokens a longer phrase may start with; only those are
    walked token by token."""
    keys = index.keys
    every = range(len(words))
    for i in compress(every, map(keys.__contains__, words)):
        yield i, i, keys[words[i]]
    starts = compress(every, map(index.prefixes.__contains__, words))
    yield from phrases_from(index, words, gaps, defined, starts, longer_only=True)


def phrases_from(
    index: PhraseIndex,
    words: list[str],
    gaps: list[str],
    defined: set[int],
    starts: Iterable[int],
    *,
    longer_only: bool = False,
) -> Iterator[tuple[int, int, str]]:
    """(first token, last token, concept key) of every phrase of ``index`` starting at one of the ``starts`` in
    ``words``, the tokens of a text (``gaps``: the texts between them, see
    :func:`~fhir_adapter.phrase_keys.split_tokens`; ``defined``: the abbreviations defined in parentheses, which a
    phrase runs across); ``longer_only``: only the phrases of two tokens or more."""
    keys, prefixes, span, n = index.keys, index.prefixes, index.max_tokens + len(defined), len(words)
    for i in starts:
        first = words[i]
        concept_key = None if longer_only else keys.get(first)
        if concept_key is not None:
            yield i, i, concept_key
        if first not in prefixes:
            continue  # no longer phrase starts with this token
        joined = first
        for j in range(i + 1, min(n, i + span)):
            if j in defined:
                continue  # "computed tomography (CT) contrast" reads as "computed tomography contrast"
            gap = gaps[j]
            if gap != " " and JOINABLE.fullmatch(gap) is None and not (j - 1 in defined and j - 1 > i):
                break  # a defined abbreviation inside the phrase: both parentheses were checked
            joined += words[j]
            concept_key = keys.get(joined)
            if concept_key is not None:
                yield i, j, concept_key
            if joined not in prefixes:
                break  # no longer phrase starts with these tokens
