"""The generated lexicon tables (``mappings/lexicon/<area>.tsv``): written by ``scripts/build_lexicon.py``,
read by :func:`fhir_adapter.terminology.lexicon`.

A table is one line per row, tab-separated, sorted, so that it loads in a few milliseconds and diffs well:

* ``#\tgenerated_by\t...`` and ``#\tsource\t<path>``: provenance;
* ``concept\t<key>\t<entry as JSON>``: a concept in the schema of the hand-curated tables (every code with
  its ``source``); parsed only when the concept is first used;
* ``phrase\t<folded key>\t<concept key>``, ``exact\t<key>\t<concept key>`` (abbreviations, exact case),
  ``drug\t<name>\t<concept key>``, ``prefix\t<folded|exact>\t<joined leading tokens>``, ``tokens\t<n>``:
  the phrase index, precomputed with :mod:`fhir_adapter.phrase_keys`.

A phrase that two generated concepts share names neither of them (precision first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fhir_adapter.concepts import Concept
from fhir_adapter.criteria.model import Coding
from fhir_adapter.phrase_keys import normalize_name, phrase_key, plural_key, prefixes


@dataclass
class GeneratedTable:
    """A parsed table: raw concept entries (JSON text by key) and the precomputed phrase index."""

    entries: dict[str, str] = field(default_factory=dict)
    folded: dict[str, str] = field(default_factory=dict)
    exact: dict[str, str] = field(default_factory=dict)
    drugs: dict[str, str] = field(default_factory=dict)
    folded_prefixes: set[str] = field(default_factory=set)
    exact_prefixes: set[str] = field(default_factory=set)
    max_tokens: int = 0


def _unique(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """key -> concept for keys that name one concept only."""
    seen: dict[str, str] = {}
    ambiguous: set[str] = set()
    for key, concept in pairs:
        if key in seen and seen[key] != concept:
            ambiguous.add(key)
        seen.setdefault(key, concept)
    return {k: v for k, v in seen.items() if k not in ambiguous}


def index_rows(concepts: dict[str, dict[str, Any]]) -> list[str]:
    """The index lines of a table's concepts."""
    folded: list[tuple[str, str]] = []
    exact: list[tuple[str, str]] = []
    drugs: list[tuple[str, str]] = []
    folded_prefixes: set[str] = set()
    exact_prefixes: set[str] = set()
    max_tokens = 0
    for key in sorted(concepts):
        entry = concepts[key]
        phrases = [str(entry["display"]).lower(), *(str(s).lower() for s in entry.get("synonyms", ()))]
        for phrase in phrases:
            joined, n = phrase_key(phrase)
            if not joined:
                continue
            max_tokens = max(max_tokens, n)
            folded.append((joined, key))
            folded_prefixes.update(prefixes(phrase))
            plural = plural_key(phrase, joined)
            if plural:
                folded.append((plural, key))
        for abbreviation in entry.get("abbreviations", ()):
            joined, n = phrase_key(str(abbreviation), folded=False)
            if joined:
                max_tokens = max(max_tokens, n)
                exact.append((joined, key))
                exact_prefixes.update(prefixes(str(abbreviation), folded=False))
        if entry.get("category") == "medication" and not entry.get("members"):
            drugs.extend((normalize_name(p), key) for p in [*phrases, *entry.get("abbreviations", ())])
    rows = [f"tokens\t{max_tokens}"]
    rows += [f"phrase\t{k}\t{v}" for k, v in sorted(_unique(folded).items())]
    rows += [f"exact\t{k}\t{v}" for k, v in sorted(_unique(exact).items())]
    rows += [f"drug\t{k}\t{v}" for k, v in sorted(_unique(drugs).items()) if k]
    rows += [f"prefix\tfolded\t{p}" for p in sorted(folded_prefixes)]
    rows += [f"prefix\texact\t{p}" for p in sorted(exact_prefixes)]
    return rows


def render(area: str, sources: Iterable[str], concepts: dict[str, dict[str, Any]]) -> str:
    """The table's text (deterministic: the same concepts give the same bytes)."""
    lines = [f"#\tgenerated_by\tscripts/build_lexicon.py ({area})"]
    lines += [f"#\tsource\t{s}" for s in sorted(sources)]
    for key in sorted(concepts):
        body = json.dumps(concepts[key], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        lines.append(f"concept\t{key}\t{body}")
    lines += index_rows(concepts)
    return "\n".join(lines) + "\n"


def parse(text: str) -> GeneratedTable:
    """A table's text -> :class:`GeneratedTable` (concept entries stay JSON text until used)."""
    table = GeneratedTable()
    targets = {"phrase": table.folded, "exact": table.exact, "drug": table.drugs, "concept": table.entries}
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        if kind in targets:
            key, _, value = rest.partition("\t")
            targets[kind][key] = value
        elif kind == "prefix":
            which, _, joined = rest.partition("\t")
            (table.folded_prefixes if which == "folded" else table.exact_prefixes).add(joined)
        elif kind == "tokens":
            table.max_tokens = int(rest)
    return table


def entries(text: str) -> dict[str, dict[str, Any]]:
    """Every concept entry of a table, parsed (for tests and tools)."""
    return {key: json.loads(raw) for key, raw in parse(text).entries.items()}


# ---------------------------------------------------------------------------------------------
# Reading a table into the lexicon (:class:`fhir_adapter.terminology.Lexicon`)


def add_new(target: dict[str, str], pairs: dict[str, str], keep: Callable[[str], bool]) -> None:
    """``target.setdefault(key, value)`` for each pair whose value is kept, in one comprehension (tens of
    thousands of phrases per generated table; the keys of ``pairs`` are unique, so those already in ``target``
    before are the only ones to skip)."""
    target.update({k: v for k, v in pairs.items() if keep(v) and k not in target})


_validate_coding = Coding.__pydantic_validator__.validate_python
"""pydantic-core's validator itself (``Coding(...)`` adds a Python ``__init__`` around it): thousands of codes."""


def coding_from_entry(entry: dict[str, Any]) -> Coding:
    coding: Coding = _validate_coding(
        {"system": entry["system"], "code": entry["code"], "display": entry.get("display")}
    )
    return coding


_validate_concept = Concept.__pydantic_validator__.validate_python


def concept_from_entry(key: str, raw: dict[str, Any]) -> Concept:
    """A concept of a generated table, read without the table schema (``terminology._ConceptEntry``): the build
    script wrote it from the schema, and ``tests/test_lexicon_build.py`` validates every entry with it.

    Built by pydantic-core's validator in one call, codes included (their dicts become :class:`Coding` and
    :class:`CodePrefix` in Rust): faster than ``model_construct``, a Python loop over the fields. Every field
    is passed, as ``model_construct`` set them (``model_fields_set`` lists them all, ``display`` too)."""
    concept: Concept = _validate_concept(
        {
            "key": key,
            "category": raw["category"],
            "display": raw["display"],
            "synonyms": tuple(s.lower() for s in raw.get("synonyms", ())),
            "abbreviations": tuple(raw.get("abbreviations", ())),
            "narrower_names": (),
            "codings": [
                {"system": c["system"], "code": c["code"], "display": c.get("display")} for c in raw.get("codings", ())
            ],
            "code_prefixes": [{"system": p["system"], "prefix": p["prefix"]} for p in raw.get("code_prefixes", ())],
            "resource_types": tuple(raw.get("resource_types", ())),
            "unit": raw.get("unit"),
            "answers": {},
            "site_codings": [
                {"system": c["system"], "code": c["code"], "display": c.get("display")}
                for c in raw.get("site_codings", ())
            ],
            "morphology_codings": (),
            "systemic_only": bool(raw.get("systemic_only", False)),
            "members": tuple(raw.get("members", ())),
            "conversions": (),
            "plausible": None,
            "scale": None,
            "classes": {},
            "components": (),
            "by_unit": {},
        }
    )
    return concept
