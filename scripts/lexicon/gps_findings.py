"""Condition concepts for the disorders and findings that only the SNOMED CT Global Patient Set names.

The Disease Ontology names diseases; criteria also name signs, symptoms and states ("ascites", "syncope",
"coma", "hyperkalemia", "miscarriage") that no DO or Mondo term carries. The GPS (CC BY 4.0) has them, with
their SNOMED CT codes and names. Each becomes a concept here when nothing else in the lexicon names it:

* a **disorder** whose name (the fully specified name without its tag) no concept already uses and whose words
  hold no name of another concept (so "severe persistent asthma" stays the lexicon's asthma with its narrower
  kind to confirm, see ``fhir_adapter/criteria/narrower.py``, rather than a concept of its own that records
  coded only "asthma" would never meet);
* a **finding** on the same terms, and only when ICD-10-CM has a code of exactly its name, which sets the
  clinical findings ("fever", "dyspnea", "chest pain") apart from the social and behavioural ones;
* its codes are the GPS codes of that name and the ICD-10-CM codes whose description (or description before
  ", unspecified") is that name, validated with ``simple-icd-10-cm``;
* names the curation stop-lists (``gps_stop_names``: "cyst", "wound", "pain"), that spell a coordination or
  a cause ("AND", "/", "due to", "with"), a test result ("receptor positive"), a negation ("absent") or an allergic
  reaction (the allergen is the criterion) are left out: a criterion does not write them so, or its own words
  must decide them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import simple_icd_10_cm as cm  # type: ignore[import-untyped]

GPS_ORIGIN = "GPS name no DO or Mondo term has"
ICD_MATCH = "ICD-10-CM April 2026 description equals the SNOMED CT name"
TAGGED = re.compile(r"^(?P<name>.*) \((?P<tag>disorder|finding)\)$")
COMPOUND = re.compile(r" AND | OR |/| - |\b(?:due to|caused by|with|without|following|secondary to)\b")
RESULT_OR_NEGATION = re.compile(
    r"\b(?:positive|negative|receptor|normal|absent|absence|lack|no|not|never)\b", re.IGNORECASE
)
"""A test result ("estrogen receptor positive tumor": statuses are Observations, not Conditions) or a negation
the criteria's own negation words must keep ("absence of ...")."""
REACTION = re.compile(r"allerg|hypersensitiv|intoleran", re.IGNORECASE)
"""An allergy or intolerance: what it is *to* is the criterion (an AllergyIntolerance atom of the allergen),
which a concept named "allergic reaction" would hide."""
INFECTIOUS = re.compile(r"\b(?:infect\w*|sepsis|septic|abscess\w*)\b|mycosis\b|candidiasis\b|itis caused by", re.I)
UNSPECIFIED = ", unspecified"


@cache
def icd_by_name() -> dict[str, frozenset[str]]:
    """Lower-case ICD-10-CM description (and the part before ", unspecified") -> its codes (no chapters or
    blocks; the caller drops residual "Other ..." subcategories)."""
    found: dict[str, set[str]] = defaultdict(set)
    for code in cm.get_all_codes(with_dots=True):
        if cm.is_chapter_or_block(code):
            continue
        name = str(cm.get_description(code)).lower()
        found[name].add(code)
        if name.endswith(UNSPECIFIED):
            found[name.removesuffix(UNSPECIFIED)].add(code)
    return {name: frozenset(codes) for name, codes in found.items()}


def gps_names(shared: Path, gps_path: str) -> dict[str, tuple[str, list[str]]]:
    """Name -> (tag, GPS codes) of the GPS disorders and findings (the first tag met stands for the name)."""
    data = json.loads((shared / gps_path).read_text(encoding="utf-8"))
    names: dict[str, tuple[str, list[str]]] = {}
    for include in data["compose"]["include"]:
        for concept in include["concept"]:
            match = TAGGED.match(str(concept["display"]))
            if match:
                names.setdefault(match["name"], (match["tag"], []))[1].append(str(concept["code"]))
    return names


def never_its_own(name: str) -> bool:
    """A coordination or a cause, a test result, a negation or an allergic reaction (see the module docstring)."""
    return any(pattern.search(name) for pattern in (COMPOUND, RESULT_OR_NEGATION, REACTION))


def _holds_a_name(words: list[str], taken: frozenset[str], key: Callable[[str], str]) -> bool:
    """Whether any run of the words is a name the lexicon already has."""
    return any(key(" ".join(words[i:j])) in taken for i in range(len(words)) for j in range(i + 1, len(words) + 1))


def candidates(
    shared: Path,
    gps_path: str,
    taken: frozenset[str],
    owned: frozenset[str],
    stop: frozenset[str],
    key: Callable[[str], str],
) -> Iterable[tuple[str, str, list[str], list[str]]]:
    """(name, category, SNOMED CT codes, ICD-10-CM codes) of each new concept, sorted by name.
    ``taken``: folded keys of every name the lexicon has; ``owned``: SNOMED CT codes some concept carries;
    ``key``: the folding of names."""
    icd = icd_by_name()
    for name, (tag, codes) in sorted(gps_names(shared, gps_path).items()):
        if never_its_own(name) or key(name) in stop or any(code in owned for code in codes):
            continue
        if _holds_a_name(re.findall(r"[\w'-]+", name), taken, key):
            continue
        icd_codes = sorted(icd.get(name.lower(), ()))
        if tag == "finding" and not icd_codes:
            continue
        category = "infection" if INFECTIOUS.search(name) else "condition"
        yield name, category, sorted(codes, key=int), icd_codes
