"""How the lexicon compares names: word tokens, folded (lower case, accents removed) and joined.

``PD-1`` = ``PD 1`` = ``PD1``, ``Crohn's`` = ``Crohns``; a phrase whose last word has four letters or more
also matches with a trailing ``s``. Shared by the lexicon (:mod:`fhir_adapter.terminology`) and the
generated tables (:mod:`fhir_adapter.generated_lexicon`), which store these keys precomputed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from itertools import accumulate

TOKEN = re.compile(r"[^\W_]+")
_TOKEN_SPLIT = re.compile(r"([^\W_]+)")
_ASCII_TOKEN_SPLIT = re.compile(r"([A-Za-z0-9]+)")
"""``_TOKEN_SPLIT`` for an ASCII text, where a word character other than ``_`` is one of these: a character range
is tested quicker than a Unicode category."""
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


def split_tokens(text: str) -> tuple[list[str], list[str], list[int]]:
    """The tokens of a text, the gaps between them and their bounds, from one C-level split (no match object
    per token): ``gaps[j]`` is the text before token j (``gaps[-1]`` the text after the last one), and token j
    spans ``bounds[2 * j]:bounds[2 * j + 1]``. The same tokens as :func:`tokens`."""
    splitter = _ASCII_TOKEN_SPLIT if text.isascii() else _TOKEN_SPLIT
    parts = splitter.split(text)  # [gap, token, gap, token, ..., gap]: a token is never empty
    return parts[1::2], parts[0::2], list(accumulate(map(len, parts)))


def words(text: str) -> list[str]:
    """The tokens' text alone (one C-level scan: the lexicon build keys thousands of phrases)."""
    return TOKEN.findall(text)


def folded_words(text: str) -> list[str]:
    """:func:`words`, folded (an ASCII text is lower-cased once instead of token by token)."""
    if text.isascii():
        return TOKEN.findall(text.lower())
    return [fold(t) for t in TOKEN.findall(text)]


def phrase_key(phrase: str, *, folded: bool = True) -> tuple[str, int]:
    """The lookup key of a phrase (its folded tokens joined) and its number of tokens."""
    toks = folded_words(phrase) if folded else words(phrase)
    return "".join(toks), len(toks)


def prefixes(phrase: str, *, folded: bool = True) -> list[str]:
    """Every run of leading tokens shorter than the phrase, joined (``pd`` for ``PD-1``): a candidate is
    extended by another token only while it is such a run."""
    return joined_prefixes(folded_words(phrase) if folded else words(phrase))


def joined_prefixes(toks: list[str]) -> list[str]:
    """The runs of leading tokens of an already tokenised phrase (see :func:`prefixes`)."""
    out: list[str] = []
    joined = ""
    for token in toks[:-1]:
        joined += token
        out.append(joined)
    return out


def plural_key(phrase: str, key: str) -> str | None:
    """The key of the phrase's plural when its last word may take one: a trailing ``s`` (``platelet`` ->
    ``platelets``), or ``ies`` for a consonant and ``y`` (``neuropathy`` -> ``neuropathies``)."""
    found = words(phrase)
    if not found:
        return None
    last = found[-1]
    if len(last) < MAX_PLURAL_STEM or not last.isalpha() or key.endswith("s"):
        return None
    if key.endswith("y") and key[-2:-1] not in ("a", "e", "i", "o", "u"):
        return key[:-1] + "ies"
    return key + "s"


def normalize_name(name: str) -> str:
    """A name as compared by drug look-ups: folded tokens joined (``IL-2`` -> ``il2``)."""
    return phrase_key(name)[0]


# Reading a text token by token (:meth:`fhir_adapter.terminology.Lexicon.find`)

_OPEN_PAREN = re.compile(r"\s*\(\s*")
_CLOSE_PAREN = re.compile(r"\s*\)\s*")


def abbreviations_defined(raw: Sequence[str], gaps: Sequence[str]) -> set[int]:
    """Tokens that are an abbreviation defined in parentheses right after its expansion: ``(CT)`` after
    ``computed tomography`` (a phrase may run across such a token as if it were not there), from
    :func:`split_tokens`' tokens and gaps (the gaps are the texts the parentheses are looked for in)."""
    defined: set[int] = set()
    for k in range(1, len(raw) - 1):
        abbreviation = raw[k]
        n = len(abbreviation)
        if not (2 <= n <= k and abbreviation.isupper() and abbreviation.isalpha()):
            continue
        if not (_OPEN_PAREN.fullmatch(gaps[k]) and _CLOSE_PAREN.fullmatch(gaps[k + 1])):
            continue
        if "".join(t[0] for t in raw[k - n : k]).upper() == abbreviation:
            defined.add(k)
    return defined
