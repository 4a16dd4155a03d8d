"""The entries of ``mappings/criteria_phrases.yaml`` read into patterns: word lists, named tables, topic groups, and
the patterns built from several of them (routes, exceptions, dose references, trial time points, abbreviation
senses). :func:`fhir_adapter.criteria.phrases.phrases` assembles them into the vocabulary."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fhir_adapter.criteria.patterns import phrase_pattern
from fhir_adapter.errors import ConfigError


def word_list(table: dict[str, Any], key: str) -> list[str]:
    value = table.get(key)
    if not isinstance(value, list):
        raise ConfigError(f"criteria_phrases.{key} must be a list")
    return [str(v).lower() for v in value]


def by_name(table: dict[str, Any], key: str) -> dict[str, list[str]]:
    value = table.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"criteria_phrases.{key} must be a mapping")
    return {str(k): [str(v).lower() for v in vs] for k, vs in value.items()}


def topic_groups(entry: dict[str, Any]) -> list[list[str]]:
    return [list(g) for g in entry["all_of"]] if "all_of" in entry else [list(entry["any_of"])]


def except_words(t: dict[str, Any]) -> re.Pattern[str]:
    """Exception words, except where they introduce examples ("including, but not limited to:" is no "X but not Y")."""
    examples = phrase_pattern(word_list(t, "not_exception_phrases"))
    return re.compile(f"(?!{examples})" + phrase_pattern(word_list(t, "except_words")), re.IGNORECASE)


def route_words(t: dict[str, Any]) -> list[str]:
    return [*word_list(t, "systemic_route_words"), *word_list(t, "local_route_words")]


def routes(words: Iterable[str], end: str) -> re.Pattern[str]:
    """One or more route words joined by "or"/"and"/","/"/", then ``end`` (the space before the drug)."""
    route = phrase_pattern(words)
    joined = rf"{route}(?:\s*(?:,|/|\bor\b|\band\b|\band/or\b)\s*{route})*"
    return re.compile(rf"{joined}(?:\s+(?:use|administration|treatment|therapy)\s+(?:of|with))?{end}", re.IGNORECASE)


def right_after(words: Iterable[str]) -> re.Pattern[str]:
    """These words right after a concept, a hyphen allowed between ("gadolinium-enhancing")."""
    return re.compile(r"\s*-?\s*" + phrase_pattern(words), re.IGNORECASE)


def abbreviation_sense(entry: dict[str, Any]) -> tuple[str, str, re.Pattern[str], str]:
    """One row of ``abbreviation_senses``: the words after the abbreviation (past a closing parenthesis)."""
    words = phrase_pattern(str(w) for w in entry["followed_by"])
    after = re.compile(r"\s*\)?\s*(?:" + words + ")", re.IGNORECASE)
    return str(entry["abbreviation"]), str(entry["concept"]), after, str(entry["otherwise"])


def trial_time_point(t: dict[str, Any]) -> re.Pattern[str]:
    """A point of a treatment, then the trial's own product ("first dose of study drug")."""
    points = by_name(t, "dose_reference_before")["points"]
    return re.compile(
        rf"{phrase_pattern(points)}\s+(?:the\s+)?{phrase_pattern(word_list(t, 'trial_products'))}", re.IGNORECASE
    )


def dose_reference(t: dict[str, Any]) -> re.Pattern[str]:
    """A preposition of time and a point of a treatment ("following the last dose of")."""
    table = by_name(t, "dose_reference_before")
    # the trial's product may stand between ("from the start of study treatment with pembrolizumab")
    product = rf"(?:\s+(?:the\s+)?{phrase_pattern(word_list(t, 'trial_products'))}\s+(?:with|of))?"
    starting = rf"{phrase_pattern(table['before_only'])}\s+{phrase_pattern(table['start_verbs'])}"
    return re.compile(
        rf"{phrase_pattern(table['prepositions'])}\s+(?:the\s+)?{phrase_pattern(table['points'])}{product}|{starting}",
        re.IGNORECASE,
    )


def abbreviation_end(t: dict[str, Any]) -> re.Pattern[str]:
    """A text ending in an abbreviation ("e.g"), a single letter ("U.S") or a dotted word, before a full stop."""
    listed = "|".join(re.escape(a) for a in word_list(t, "sentence_abbreviations"))
    return re.compile(rf"(?:\b(?:{listed})|\b[A-Za-z]|\.[A-Za-z])$", re.IGNORECASE)
