"""Thresholds in normalised criteria text: comparators, numbers, units, ranges, ULN/LLN multiples, windows."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import cache

from fhir_adapter.criteria.model import Comparator
from fhir_adapter.criteria.phrases import Phrases, phrases
from fhir_adapter.units import unit_prefix


def _word_number(p: Phrases) -> str:
    """A number written as a word ("two times the upper limit of normal", "within the past five years"), longest
    first ("twenty-four" before "twenty")."""
    return r"(?<![a-z])(?:" + "|".join(sorted(map(re.escape, p.number_words), key=len, reverse=True)) + r")(?![a-z-])"


_RESTATED_COUNT = r"(?:\s*\(\s*\d+\s*\))?"
"""The number restated in digits after its word ("six (6) months")."""
_DECIMAL_COMMA = r"\d+,\d{1,2}(?!\d)(?=\s*(?!(?:or|and|to)(?![a-z]))[a-z%°])"
"""``1,5 mg/dL``: a decimal comma, only before a unit (``ECOG 0,1 or 2`` is a list)."""
_SPACED_THOUSANDS = (
    r"\d{1,3}(?:[ \u00a0\u2009\u202f]\d{3})+(?![\d,.]*\d)"
    r"(?=\s*(?:$|[,;)]|(?!(?:or|and|to)(?![a-z]))[a-z%°/µμ]))"
)
"""``1 500/µL``, ``100 000/mm3``: thousands set off by spaces (SI style), before a unit or at the end."""
_WEEKS_AND_DAYS = r"\d{1,2}[ \u00a0][0-6]/7(?=\s*(?:$|[,;)]|(?:weeks?|wks?|to|and|or|through)(?![a-z])|[-–]))"
"""``27 0/7 weeks``, ``36 6/7``: the obstetric notation of a gestational age, weeks and sevenths (days)."""
NUM = (
    r"(?:" + _WEEKS_AND_DAYS + "|"
    r"(?:" + _DECIMAL_COMMA + "|" + _SPACED_THOUSANDS + r"|\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    r"(?![\d,.]*\d)(?!\s*(?:st|nd|rd|th)(?![a-z]))"
)
"""A number; not an ordinal (``85th percentile``)."""
_SCI = r"(?:\s*[x*]\s*10\s*(?:\^|\*\*?|e)?\s*\(?\s*\d{1,2}\s*\)?)"
_PER = r"(?:\s*(?:cells?\s*)?/\s*(?:cubic\s+mm|cu\.?\s*mm|[a-z]{1,3}(?:\^?\(?[23]\)?)?)(?:\s*/\s*1\.73\s*m\^?\(?2\)?)?)"
NOT_UNIT = r"(?!(?:or|and|to|of|in|for|at|on|the|if|with|without|per|x|times|than|from|unless|except)(?![a-z]))"
_SIMPLE = (
    r"(?:\s*(?:%|" + NOT_UNIT + r"[a-z]{1,6}(?:\s*/\s*[a-z]{1,5}\d?){0,2}"
    r"(?:\s*/\s*1\.73\s*m\^?\(?2\)?(?:\s*bsa)?)?)(?![\w]))"
)
UNIT = rf"(?:{_SCI}{_PER}?|{_PER}|{_SIMPLE})"


@dataclass(frozen=True)
class Threshold:
    start: int
    end: int
    comparator: Comparator
    value: float | None = None
    high: float | None = None
    unit_raw: str | None = None
    """The unit as written (normalised text), e.g. ``x10^9/l``."""
    unit_span: tuple[int, int] | None = None
    """Where the unit is in the normalised text (to read it back with its original case)."""
    uln: float | None = None
    lln: float | None = None
    num_end: int | None = None
    """End of the number the unit follows (the high end of a range)."""


@dataclass(frozen=True)
class Patterns:
    limit: re.Pattern[str]
    bare_limit: re.Pattern[str]
    prefix: re.Pattern[str]
    range: re.Pattern[str]
    postfix: re.Pattern[str]
    window: re.Pattern[str]
    window_recent: re.Pattern[str]
    """ "Recent (2-year) history of drug abuse": a window written as a period in brackets after "recent"."""
    window_after: re.Pattern[str]
    reversed: re.Pattern[str]
    any_comparator: re.Pattern[str]
    """A comparator phrase anywhere: ``prefix`` needs one (a quick test before its scan)."""
    any_postfix: re.Pattern[str]
    """A postfix comparator anywhere: ``postfix`` needs one (most texts have none)."""
    window_range: re.Pattern[str]
    """A window between two times ("within the past 6 to 60 months"): a minimum time since the event too."""
    elapsed_span: re.Pattern[str]
    """A number of time units (compiled once, not per call of :func:`find_min_elapsed`)."""
    any_time_unit: re.Pattern[str]
    """A time unit anywhere: ``window``, ``window_after`` and ``elapsed_span`` each need one."""


def _multiple(vocab: Phrases) -> str:
    """Between a multiple and ULN: "x", "×", "times (the)", "-fold", or just a space (symbols: no word bounds)."""
    words = sorted(vocab.multiple_words, key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(w) for w in word.split()) for word in words)
    return rf"(?:\s*(?:{body})\s*|\s+)"


_RESTATED_SYMBOL = r"(?:\(\s*(?:[<>]=?|=<|=>|≤|≥)\s*\)\s*)?"
"""A comparator's symbol restated in brackets after its words ("less than or equal to (=<) 40 percent")."""


@cache
def patterns() -> Patterns:
    p = phrases()
    cmp = p.comparator_re
    words = _word_number(p)
    count = rf"(?:\d+|{words}){_RESTATED_COUNT}"
    limit = rf"(?P<uln>{p.uln_re})|(?P<lln>{p.lln_re})"
    # after a multiple the phrase may be glued to it ("3Xnormal", "2.5xULN")
    boundary = r"(?<![\w])"
    glued = rf"(?P<uln>{p.uln_re.replace(boundary, '')})|(?P<lln>{p.lln_re.replace(boundary, '')})"
    return Patterns(
        limit=re.compile(
            # a multiplication sign may come before the multiple too ("AST/ALT > x3 upper normal limit")
            rf"(?:(?P<cmp>{cmp})\s*{_RESTATED_SYMBOL}(?:[x×*]\s*)?)?(?P<mult>{NUM}|{words}){_multiple(p)}"
            # "3 times higher than normal": the comparator between the multiple and the limit
            rf"(?:(?P<mid>higher\s+than|greater\s+than|more\s+than|above|lower\s+than|less\s+than|below)\s+)?"
            rf"(?:the\s+)?"
            rf"(?:institutional\s+|normal\s+)?(?:{glued})"
            rf"(?:\s*(?P<post>{p.postfix_re}))?",
            re.IGNORECASE,
        ),
        bare_limit=re.compile(rf"(?P<cmp>{cmp})\s*(?:the\s+)?(?:institutional\s+)?(?:{limit})", re.IGNORECASE),
        prefix=re.compile(
            rf"(?P<cmp>{cmp})\s*{_RESTATED_SYMBOL}(?:(?:a|the)\s+)?(?P<num>{NUM})(?P<unit>{UNIT})?"
            rf"(?:\s*(?:{p.range_separator_re})\s*(?P<high>{NUM})(?P<unit2>{UNIT})?)?",
            re.IGNORECASE,
        ),
        range=re.compile(
            rf"(?:(?P<open>between|from)\s+)?(?<![\d.,])(?P<num>{NUM})(?P<unit>{UNIT})?\s*"
            rf"(?P<sep>-|~|to|and)\s*(?P<high>{NUM})(?![\d.])(?P<unit2>{UNIT})?",
            re.IGNORECASE,
        ),
        postfix=re.compile(
            rf"(?<![\d.,])(?P<num>{NUM})(?:(?P<unit>{UNIT})|\s+[a-z][a-z./ ]{{0,24}}?)?\s*(?:(?:of\s+age|old)\s+)?"
            rf"(?P<post>{p.postfix_re})",
            re.IGNORECASE,
        ),
        window=re.compile(
            rf"(?P<open>{p.window_opener_re})\s*(?P<num>{count})?\s*"
            rf"(?P<unit>{p.time_unit_re})",
            re.IGNORECASE,
        ),
        reversed=re.compile(
            rf"(?<![\d.,])(?P<num>{NUM})(?P<unit>{UNIT})?\s*(?P<cmp><=|=<|≤|<(?!=)|>=|=>|≥|>(?!=))\s*(?=[a-z(])",
            re.IGNORECASE,
        ),
        window_recent=re.compile(
            # "recent (< 3 months)", "recently (within 6 months)"
            rf"\b(?:recent(?:ly)?|last|latest)\s*\(\s*(?:(?:<|≤|<=|less\s+than|within|in\s+the\s+(?:past|last))\s*)?"
            rf"(?P<num>{count})\s*-?\s*(?P<unit>{p.time_unit_re})\s*\)",
            re.IGNORECASE,
        ),
        window_after=re.compile(
            # "1 month (30 days) before": the duration restated in parentheses
            rf"(?<![\w.])(?P<num>{count})\s*(?P<unit>{p.time_unit_re})\s*(?:\([^()]{{1,20}}\)\s*)?"
            rf"(?:{p.window_closer_re})",
            re.IGNORECASE,
        ),
        # The same sub-patterns as in ``prefix`` and ``postfix`` (their word bounds look at the same text), so
        # no match of those is possible where these find nothing.
        any_comparator=re.compile(cmp, re.IGNORECASE),
        any_postfix=re.compile(p.postfix_re, re.IGNORECASE),
        window_range=re.compile(
            rf"(?:{p.window_opener_re})\s*(?:{count})\s*(?:to|-|–|and)\s*\d+\s*(?:{p.time_unit_re})",
            re.IGNORECASE,
        ),
        elapsed_span=re.compile(rf"(?:{count})\s*(?:{p.time_unit_re})", re.IGNORECASE),
        any_time_unit=re.compile(p.time_unit_re, re.IGNORECASE),
    )


def to_number(text: str) -> float:
    weeks_and_days = re.fullmatch(r"(\d{1,2})[ \u00a0]([0-6])/7", text)
    if weeks_and_days:  # "27 0/7" (weeks) is 27 weeks, "36 6/7" 36 weeks and 6 days
        return round(int(weeks_and_days.group(1)) + int(weeks_and_days.group(2)) / 7, 6)
    word = phrases().number_words.get(text.lower())
    if word is not None:
        return float(word)
    if re.fullmatch(r"\d+,\d{1,2}", text):
        return float(text.replace(",", "."))  # a decimal comma
    return float(re.sub(r"[,\s\u00a0\u2009\u202f]", "", text))


def _unit(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(text.split())
    return cleaned or None


def _unit_span(m: re.Match[str], *groups: str) -> tuple[int, int] | None:
    for group in groups:
        if m.group(group):
            start, end = m.span(group)
            while start < end and m.string[start].isspace():
                start += 1
            return start, end
    return None


_REVERSED: dict[str, Comparator] = {
    "<=": "ge",
    "=<": "ge",
    "≤": "ge",
    "<": "gt",
    ">=": "le",
    "=>": "le",
    "≥": "le",
    ">": "lt",
}


def _comparator(phrase: str, vocab: Phrases) -> Comparator:
    key = " ".join(phrase.lower().split())
    return vocab.prefix_comparators.get(key) or vocab.postfix_comparators.get(key) or "eq"


def _limit(m: re.Match[str], comp: Comparator, multiple: float) -> Threshold:
    """A multiple of the upper or lower limit of normal (``uln``/``lln`` group)."""
    return Threshold(
        m.start(), m.end(), comp, uln=multiple if m.group("uln") else None, lln=multiple if m.group("lln") else None
    )


def _single(m: re.Match[str], comp: Comparator) -> Threshold:
    """One value with its comparator: ``num`` and an optional ``unit``."""
    return Threshold(
        m.start(),
        m.end(),
        comp,
        to_number(m.group("num")),
        unit_raw=_unit(m.group("unit")),
        unit_span=_unit_span(m, "unit"),
        num_end=m.end("num"),
    )


def _between(m: re.Match[str], low: float, high: float) -> Threshold:
    """A range; its unit is the one after the high value, else the one after the low value."""
    unit = _unit(m.group("unit2")) or _unit(m.group("unit"))
    return Threshold(
        m.start(), m.end(), "between", low, high, unit, _unit_span(m, "unit2", "unit"), num_end=m.end("high")
    )


def find_thresholds(text: str) -> list[Threshold]:
    """Every threshold in normalised ``text``, left to right, without overlaps (ULN forms win)."""
    p = phrases()
    pats = patterns()
    found: list[Threshold] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    def add(t: Threshold) -> None:
        found.append(t)
        taken.append((t.start, t.end))

    limits = _has_limit_word(text)
    first_digit = _ANY_DIGIT.search(text)
    if first_digit is None and not ("times" in text and _DIGIT.search(text)):
        # no number: only "<= ULN"-like limits can be there
        if limits:
            for m in pats.bare_limit.finditer(text):
                if free(m.start(), m.end()):
                    add(_limit(m, _comparator(m.group("cmp"), p), 1.0))
        return found
    for m in pats.limit.finditer(text) if limits else ():
        if not free(m.start(), m.end()):
            continue
        if m.group("cmp"):
            comp = _comparator(m.group("cmp"), p)
        elif m.group("mid"):
            comp = _comparator(m.group("mid"), p)
        elif m.group("post"):
            comp = _comparator(m.group("post"), p)
        else:
            comp = "le" if m.group("uln") else "ge"
        add(_limit(m, comp, to_number(m.group("mult"))))
    # ``bare_limit`` and ``prefix`` start with a comparator phrase: neither matches before the first one, so
    # their scans start there (``pos`` keeps the text before it visible to the look-behinds)
    first_cmp = pats.any_comparator.search(text)
    cmp_from = first_cmp.start() if first_cmp is not None else len(text)
    for m in pats.bare_limit.finditer(text, cmp_from) if limits and first_cmp is not None else ():
        if free(m.start(), m.end()):
            add(_limit(m, _comparator(m.group("cmp"), p), 1.0))
    for m in pats.prefix.finditer(text, cmp_from) if first_cmp is not None else ():
        if not free(m.start(), m.end()):
            continue
        if m.group("high"):
            add(_between(m, to_number(m.group("num")), to_number(m.group("high"))))
        else:
            add(_single(m, _comparator(m.group("cmp"), p)))
    # ``reversed``, ``postfix`` and ``range`` start with a number (or "between"/"from" and spaces before it): their
    # scans start at the first digit, or where such words before it may start (``num_from``, ``range_from``)
    num_from, range_from = _number_starts(text, first_digit.start()) if first_digit is not None else (-1, -1)
    for m in pats.reversed.finditer(text, num_from) if num_from >= 0 and _SYMBOL.search(text) else ():
        # "7.0 % <= HbA1c <= 10.5 %": the number is a bound on what follows the comparator
        if free(m.start(), m.end()):
            add(_single(m, _REVERSED[m.group("cmp")]))
    for m in pats.postfix.finditer(text, num_from) if num_from >= 0 and pats.any_postfix.search(text) else ():
        if free(m.start(), m.end()):
            add(_single(m, _comparator(m.group("post"), p)))
    for m in pats.range.finditer(text, range_from) if range_from >= 0 and _TWO_NUMBERS.search(text, num_from) else ():
        if not free(m.start(), m.end()):
            continue
        if m.group("sep") == "and" and not m.group("open"):
            continue
        low, high = to_number(m.group("num")), to_number(m.group("high"))
        if high <= low:
            continue
        add(_between(m, low, high))
    return sorted((_longest_unit(text, t) for t in found), key=lambda t: t.start)


_DIGIT = re.compile(r"\d|(?<![a-z])(?:one|two|three|four|five|six|seven|eight|nine|ten)\s+times")
_ANY_DIGIT = re.compile(r"\d")
"""A digit alone: a character-class scan (much quicker than ``_DIGIT``, which needs "times" for its words)."""
_SYMBOL = re.compile(r"[<>≤≥=]")
_TWO_NUMBERS = re.compile(r"\d\D+\d")
"""Two runs of digits: a range needs them (its numbers hold digits, its separator none), so most texts with one
number skip its scan."""
_LIMIT_WORDS = ("uln", "lln", "unl", "limit", "norm")  # "norm" also finds "normal"
_LIMIT_WORD = re.compile("|".join(_LIMIT_WORDS), re.IGNORECASE)
_OPENERS = 7
"""The longest word that may open a range before its number ("between")."""


def _has_limit_word(text: str) -> bool:
    """``_LIMIT_WORD`` anywhere. In an ASCII text case folds stay within ASCII, so substring tests of its lower case
    say the same (outside ASCII a "ı" or "K" may match an ASCII letter: the regex decides)."""
    if text.isascii():
        return any(map(text.lower().__contains__, _LIMIT_WORDS))
    return _LIMIT_WORD.search(text) is not None


def _number_starts(text: str, digit: int) -> tuple[int, int]:
    """Where a match starting with a number can start, given the first digit (a number may open with "."), and
    where a range can (its "between" or "from" and the spaces after it may come before that number)."""
    start = max(0, digit - 1)
    opener = start
    while opener > 0 and text[opener - 1].isspace():
        opener -= 1
    return start, max(0, opener - _OPENERS)


_MORE_UNIT = re.compile(
    r"[a-z/°%(\[^.\-]|\s*[(\[]|\s+(?:per|of|hg|mercury|cubic|squared|m2|m²|minutes?|min|liters?|litres?|deciliters?"
    r"|decilitres?|dl|ml|l|mm|kg|g|meters?|units?|cells|copies|beats|log|international|milli|micro|iu|u)(?![a-z])"
)
"""What may continue a unit the grammar stopped short of ("umol per liter", "kilogram (kg)")."""
READING = re.compile(r"\s*/\s*(\d{2,3}(?:\.\d+)?)(?![\d.])")
"""The second number of a two-part reading ("140/90")."""


def _longest_unit(text: str, t: Threshold) -> Threshold:
    """The threshold with the longest unit the unit tables read after its number ("kilograms (kg)",
    "beats per minute", "umol per liter"), where the grammar's own unit pattern stopped short."""
    if t.num_end is None or t.uln is not None or t.lln is not None:
        return t
    reading = READING.match(text, t.num_end)
    if reading is not None:  # "140/90 mmHg": the unit follows the second number; the span covers both
        unit = unit_prefix(text[reading.end() : reading.end() + 60])
        end = reading.end() + (unit[1] if unit else 0)
        span = (reading.end() + len(text[reading.end() : end]) - len(text[reading.end() : end].lstrip()), end)
        raw = " ".join(text[span[0] : span[1]].split()) or None
        return replace(t, end=max(t.end, end), unit_raw=raw, unit_span=span if raw else None)
    if t.unit_span is not None and not _MORE_UNIT.match(text, t.unit_span[1]):
        return t  # the grammar read the whole unit (nothing unit-like follows it)
    found = unit_prefix(text[t.num_end : t.num_end + 60])
    if found is None:
        return t
    _, length = found
    rest = text[t.num_end : t.num_end + length]
    start = t.num_end + len(rest) - len(rest.lstrip())
    end = t.num_end + length
    if t.unit_span is not None and end <= t.unit_span[1]:
        return t
    return replace(t, unit_raw=" ".join(text[start:end].split()), unit_span=(start, end), end=max(t.end, end))


def count_value(raw: str) -> int:
    """The number of a time count: digits, or a number word with its digits perhaps restated ("six (6)")."""
    digits = re.search(r"\d+", raw)
    return int(digits.group(0)) if digits is not None else phrases().number_words[raw.split()[0].lower()]


def find_window(text: str) -> tuple[int, int, int] | None:
    """(start, end, days) of the first time window ("within 28 days", "in the past 6 months", "4 weeks prior to")."""
    windows = find_windows(text)
    return windows[0] if windows else None


_PAST_EVENT_AFTER = re.compile(r"\s+(?:of|after|following)\s+(?:(?:a|an|the|their|any)\s+)?(?:previous|prior|past)\b")
"""A window counted from another past event ("Guillain-Barre syndrome within eight weeks of a previous influenza
vaccine"): a time between two events of the record, no look-back from the trial (its words stay a residue)."""


def find_windows(text: str) -> list[tuple[int, int, int]]:
    """(start, end, days) of every time window, in text order."""
    p = phrases()
    pats = patterns()
    if not pats.any_time_unit.search(text):
        return []  # most clauses name no time unit
    candidates: list[tuple[int, int, int]] = []
    for m in pats.window.finditer(text):
        raw = m.group("num")
        if raw is None and not m.group("open").startswith(("in the", "during", "over", "within the")):
            continue
        if p.future_reference.match(text, m.end()) or _PAST_EVENT_AFTER.match(text, m.end()):
            continue  # "within 4 months after the final dose": a time after the trial's treatment, no look-back
        number = 1 if raw is None else count_value(raw)
        candidates.append((m.start(), m.end(), _days(number, p.time_units[m.group("unit").lower()])))
    for m in [*pats.window_after.finditer(text), *pats.window_recent.finditer(text)]:
        candidates.append(
            (m.start(), m.end(), _days(count_value(m.group("num")), p.time_units[m.group("unit").lower()]))
        )
    # "within 6 weeks before randomization" is read by both patterns: one window, the first read of it
    kept: list[tuple[int, int, int]] = []
    for window in sorted(candidates):
        if kept and window[0] < kept[-1][1]:
            continue
        kept.append(window)
    return kept


def _days(number: int, per_unit: float) -> int:
    """Whole days of a window, at least one ("within 12 hours" looks back a day)."""
    return max(1, math.ceil(round(number * per_unit, 3)))  # 72 hours of 0.041667 days: 3 days


def find_min_elapsed(text: str) -> tuple[int, int] | None:
    """(start, end) of a minimum time since an event ("at least 4 weeks prior", "more than 5 years ago",
    "disease-free for 5 years"): a lower bound on elapsed time, which ``within_days`` cannot state."""
    p = phrases()
    pats = patterns()
    if not pats.any_time_unit.search(text):
        return None
    for m in [*pats.window_after.finditer(text), *pats.elapsed_span.finditer(text)]:
        if p.min_elapsed.search(text[max(0, m.start() - 30) : m.start()]):
            return m.start(), m.end()
    ranged = pats.window_range.search(text)  # "within the past 6 to 60 months": at least 6 months ago
    return ranged.span() if ranged is not None else None
