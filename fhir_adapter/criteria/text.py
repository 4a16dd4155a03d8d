"""Normalising criteria text for parsing while keeping a map back to the original offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_SUPERSCRIPT = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9"}
_REPLACE = {
    "×": "x",
    "✕": "x",
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "µ": "u",
    "μ": "u",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "，": ",",
    "：": ":",
    "（": "(",
    "）": ")",
    "＞": ">",
    "＜": "<",
}


_TABLE = str.maketrans(_REPLACE)
_HAS_SUPERSCRIPT = re.compile("[" + "".join(_SUPERSCRIPT) + "]")


@dataclass(frozen=True)
class Normalised:
    """Lower-cased text for matching, and for each of its characters the index in the original."""

    text: str
    origin: tuple[int, ...]
    """``origin[i]`` is the original index of ``text[i]``; one extra entry: the original length."""
    cased: str = ""
    """``text`` with the original letter case (same length and offsets): abbreviations are matched on it."""

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) of the normalised span [start, end)."""
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


# The same text is normalised as a clause, as its item and as a lead-in (a one-clause item is all three): the
# result is immutable, so one copy serves every caller.
@lru_cache(maxsize=4096)
def normalise(raw: str) -> Normalised:
    """Markdown escapes removed, unicode look-alikes folded (``×``→``x``, ``10⁹``→``10^9``, ``µ``→``u``)."""
    if "\\" not in raw and (raw.isascii() or not _HAS_SUPERSCRIPT.search(raw)):  # superscripts are not ASCII
        # one character for one: fold with a table, offsets are the identity
        folded = raw if raw.isascii() else raw.translate(_TABLE)
        lowered = folded.lower()
        if len(lowered) == len(raw):
            return Normalised(lowered, tuple(range(len(raw) + 1)), folded)
    out: list[str] = []
    cased: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(raw):
        nxt = raw[index + 1] if index + 1 < len(raw) else ""
        if char == "\\" and nxt and not nxt.isalnum() and not nxt.isspace():
            continue
        if char in _SUPERSCRIPT:
            prev = out[-1] if out else ""
            pieces = (
                ("^" + _SUPERSCRIPT[char])
                if prev.isdigit() and (len(out) < 2 or out[-2] != "^")
                else _SUPERSCRIPT[char]
            )
            if prev == "^" or (len(out) >= 2 and out[-2] == "^" and prev.isdigit()):
                pieces = _SUPERSCRIPT[char]
            for piece in pieces:
                out.append(piece)
                cased.append(piece)
                origin.append(index)
            continue
        folded = _REPLACE.get(char, char)
        lowered = folded.lower()
        if len(lowered) != 1:
            lowered = folded
        out.append(lowered)
        cased.append(folded if len(lowered) == len(folded) else lowered)
        origin.append(index)
    origin.append(len(raw))
    return Normalised("".join(out), tuple(origin), "".join(cased))
