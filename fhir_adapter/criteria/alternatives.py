"""Lead-ins whose sub-items are alternatives ("At least one of the following:", "Meet at least 3 of 5 ATP III
criteria:"): how many of the sub-items must hold."""

from __future__ import annotations

import re
from functools import cache

from fhir_adapter.criteria.phrases import phrases
from fhir_adapter.criteria.text import normalise


def alternatives_count(text: str) -> int | None:
    """How many of the sub-items must hold when the lead-in makes them alternatives ("At least one of the
    following:" 1, "Meet at least 3 of 5 ATP III criteria:" 3); None when they all must."""
    work = normalise(text).text
    for opener in _openers():
        found = opener.search(work)
        if found is None:
            continue
        number = found.groupdict().get("n")
        if number is None:
            return 1
        return int(number) if number.isdigit() else phrases().number_words.get(number)
    return None


@cache
def _openers() -> tuple[re.Pattern[str], ...]:
    """One pattern per template of ``alternative_openers`` ("at least {n} of"), longest first."""
    p = phrases()
    number = "(?P<n>\\d+|" + "|".join(sorted(p.number_words, key=len, reverse=True)) + ")"
    templates = sorted(p.alternative_openers, key=len, reverse=True)
    return tuple(
        re.compile("(?<![a-z])" + re.escape(t).replace(re.escape("{n}"), number) + "(?![a-z])") for t in templates
    )
