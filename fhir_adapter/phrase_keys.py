"""How the lexicon compares names: word tokens, folded (lower case, accents removed) and joined.

``PD-1`` = ``PD 1`` = ``PD1``, ``Crohn's`` = ``Crohns``; a phrase whose last word has four letters or more
also matches with a trailing ``s``. Shared by the lexicon (:mod:`fhir_adapter.terminology`) and the
generated tables (:mod:`fhir_adapter.generated_lexicon`), which store these keys precomputed.
"""

from __future__ import annotations

import re
import unicodedata

TOKEN = re.compile(r"[^\W_]+")
JOINABLE = re.compile(r"[\s\-/'’‐‑–_]*")
"""Separators that may sit inside one phrase (anything else, like ``,`` or ``(``, ends it)."""
MAX_PLURAL_STEM = 4


def fold(token: str) -> str:
    if token.isascii():
        return token.lower()
    decomposed = unicodedata.normalize("NFKD", token.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in TOKEN.finditer(text)]


def phrase_key(phrase: str, *, folded: bool = True) -> tuple[str, int]:
    """The lookup key of a phrase (its folded tokens joined) and its number of tokens."""
    toks = [t for _, _, t in tokens(phrase)]
    return ("".join(fold(t) if folded else t for t in toks), len(toks))


def prefixes(phrase: str, *, folded: bool = True) -> list[str]:
    """Every run of leading tokens shorter than the phrase, joined (``pd`` for ``PD-1``): a candidate is
    extended by another token only while it is such a run."""
    out: list[str] = []
    joined = ""
    for _, _, token in tokens(phrase)[:-1]:
        joined += fold(token) if folded else token
        out.append(joined)
    return out


def plural_key(phrase: str, key: str) -> str | None:
    """The key of the phrase's plural when its last word may take one: a trailing ``s`` (``platelet`` ->
    ``platelets``), or ``ies`` for a consonant and ``y`` (``neuropathy`` -> ``neuropathies``)."""
    found = tokens(phrase)
    if not found:
        return None
    last = found[-1][2]
    if len(last) < MAX_PLURAL_STEM or not last.isalpha() or key.endswith("s"):
        return None
    if key.endswith("y") and key[-2:-1] not in ("a", "e", "i", "o", "u"):
        return key[:-1] + "ies"
    return key + "s"


def normalize_name(name: str) -> str:
    """A name as compared by drug look-ups: folded tokens joined (``IL-2`` -> ``il2``)."""
    return phrase_key(name)[0]
