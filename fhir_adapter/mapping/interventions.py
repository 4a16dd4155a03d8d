"""Reading intervention names: combination splitting, regimen expansion, procedure and drug codes.

Pure functions over the text of the record and the tables ``regimens.yaml`` and
``procedures.yaml``; the drug lexicon is an injected :data:`DrugLookup`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from fhir_adapter.mapping.datatypes import JSON
from fhir_adapter.mapping.tables import section
from fhir_adapter.terminology import Concept

DrugLookup = Callable[[str], Concept | None]
"""Name -> lexicon concept (ATC/RxNorm codings), or None when the lexicon does not know it."""

_COMBINATION_SPLIT = re.compile(
    r"\s*(?:\+|,|;|\bcombined with\b|\bin combination with\b|\bplus\b|\band\b|\bwith\b)\s*", re.I
)
_TYPE_PREFIX = re.compile(r"^(?:drug|biological|radiation|procedure|device|behavioral|other|genetic)\s*:\s*", re.I)


@dataclass(frozen=True)
class Component:
    """One agent of an intervention: the name as written and the name to look up."""

    written: str
    lookup_name: str
    regimen: str | None = None


def strip_type_prefix(name: str) -> str:
    """``Drug: Capecitabine`` (armGroups[].interventionNames) -> ``Capecitabine``."""
    return _TYPE_PREFIX.sub("", name).strip()


@cache
def _regimen_aliases() -> dict[str, tuple[str, list[str]]]:
    aliases: dict[str, tuple[str, list[str]]] = {}
    for key, entry in section("regimens", "regimens").items():
        for alias in entry["aliases"]:
            aliases[alias.lower()] = (key, list(entry["components"]))
    return aliases


@cache
def _drug_aliases() -> dict[str, str]:
    return {alias.lower(): str(entry["name"]) for alias, entry in section("regimens", "drug_aliases").items()}


def regimen_of(part: str) -> tuple[str, list[str]] | None:
    """The regimen named (as a whole word) in ``part``, with its component drug names."""
    for word in re.findall(r"[a-z0-9]+", part.lower()):
        if word in _regimen_aliases():
            return _regimen_aliases()[word]
    return None


def components(name: str) -> list[Component]:
    """Agents of an intervention name: split on ``+``, ``combined with``, ``and``, ``plus``, ``,``
    and expand regimen names (CAPOX -> capecitabine, oxaliplatin). A name without separators and
    regimens is one component."""
    found: list[Component] = []
    for part in (p.strip() for p in _COMBINATION_SPLIT.split(strip_type_prefix(name))):
        if not part:
            continue
        regimen = regimen_of(part)
        if regimen:
            found.extend(Component(written=drug, lookup_name=drug, regimen=regimen[0]) for drug in regimen[1])
        else:
            found.append(Component(written=part, lookup_name=_drug_aliases().get(part.lower(), part)))
    return _unique(found)


def _unique(items: list[Component]) -> list[Component]:
    seen: set[str] = set()
    unique: list[Component] = []
    for item in items:
        if item.lookup_name.lower() not in seen:
            seen.add(item.lookup_name.lower())
            unique.append(item)
    return unique


def procedure_coding(name: str) -> JSON | None:
    """SNOMED CT coding of the first procedure whose synonym occurs in ``name`` (procedures.yaml)."""
    text = name.lower()
    system = section("procedures", "system")
    for entry in section("procedures", "procedures").values():
        if any(re.search(rf"\b{re.escape(s)}\b", text) for s in entry["synonyms"]):
            return {"system": system, "code": str(entry["code"]), "display": entry["display"]}
    return None


def drug_codings(concept: Concept | None) -> list[JSON]:
    if concept is None:
        return []
    return [{"system": c.system, "code": c.code, "display": c.display} for c in concept.codings]


def default_drug_lookup() -> DrugLookup:
    """The lexicon's drug lookup (fhir_adapter.terminology.find_drug)."""
    from fhir_adapter.terminology import find_drug

    return find_drug
