"""Phrase lists compiled as regular expressions: one alternation per list, built as a trie so that a list of
hundreds of phrases costs one scan (the longest phrase that matches wins)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""
"""Trie key marking that a phrase ends at this node."""


def _trie_regex(units: list[list[str]]) -> str:
    """A regular expression matching exactly the given sequences of regex units, as a trie: shared prefixes
    are tested once, so hundreds of phrases cost about as much as one ("at least" | "at most" ->
    ``at\\s+(?:least|most)``). A phrase that can continue is tried longest first (greedy optional group)."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for sequence in units:
        node = trie
        for unit in sequence:
            node = node.setdefault(unit, {})
        node[_END] = {}
    return _emit(trie)


def _emit(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
    ends = _END in node
    branches = [unit + _emit(child) for unit, child in sorted(node.items()) if unit != _END]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"
    return body


def _units(phrase: str) -> list[str]:
    """A phrase as regex units: one escaped character each, any run of spaces as ``\\s+``."""
    out: list[str] = []
    for index, word in enumerate(phrase.split()):
        if index:
            out.append(r"\s+")
        out.extend(re.escape(ch) for ch in word)
    return out


def phrase_pattern(phrases: Iterable[str]) -> str:
    """An alternation of ``phrases`` (the longest that matches wins), bounded by non-word characters where
    they are words, compiled as a trie."""
    classes: dict[tuple[bool, bool], list[list[str]]] = {}
    for phrase in {" ".join(p.lower().split()) for p in phrases if p and p.strip()}:
        key = (phrase[0].isalnum(), phrase[-1].isalnum())
        classes.setdefault(key, []).append(_units(phrase))
    parts = []
    for (left, right), units in sorted(classes.items(), reverse=True):
        body = _trie_regex(units)
        parts.append(("(?<![\\w])" if left else "") + f"(?:{body})" + ("(?![\\w])" if right else ""))
    return "(?:" + "|".join(parts) + ")" if parts else "(?!)"


def compile_phrases(phrases: Iterable[str]) -> re.Pattern[str]:
    return re.compile(phrase_pattern(phrases), re.IGNORECASE)


def phrase_needles(phrases: Iterable[str]) -> tuple[str, ...] | None:
    """The first words of the phrases, as :func:`phrase_pattern` spells them (lower case): the pattern can match
    an ASCII text only where ``text.lower()`` contains one of them, a test much cheaper than the regex. None when a
    phrase is not ASCII (a case-insensitive match of a non-ASCII letter may be an ASCII one: "ſ" matches "s")."""
    spelled = {" ".join(p.lower().split()) for p in phrases if p and p.strip()}
    if not all(p.isascii() for p in spelled):
        return None
    return tuple(sorted({p.split()[0] for p in spelled}))
