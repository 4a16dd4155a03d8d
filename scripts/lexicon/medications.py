"""Drug ingredients of the lexicon, generated from the RxNorm codes of the shared value sets.

Patients' medication resources carry RxNorm *product* codes (SCD ``metformin hydrochloride 500 MG Oral
Tablet``, packs), rarely ingredient codes, so an ingredient concept lists both: the ingredient code (IN)
where a source gives one, and every product code of the VSAC expansions whose display names that
ingredient. A combination product counts for each of its ingredients (a patient on amlodipine/benazepril
is on amlodipine and on benazepril).

Sources (``SOURCES``): the VSAC value sets of the 2024 eCQMs (``ecqm-valuesets/external/valueset-*.json``,
RxNorm expansions with display names; RxNorm names are free to use) and US Core's allergy-substance value
set (RxNorm ingredient codes with names). Judgement lives in data, ``mappings/lexicon/medications_curation.yaml``:
salt words, names that are not drugs or are ambiguous, merges, extra synonyms and brand names, and a few
drugs no source codes. No ATC names are copied (ATC codes there are identifiers with our own display).

The hand-curated ``mappings/medications.yaml`` wins: a generated ingredient whose name a curated drug has
is not emitted as a concept of its own; its codes are emitted under the curated key (codings only, no
synonyms), and the loader adds them to the curated concept.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fhir_adapter.phrase_keys import normalize_name

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
VALUE_SETS = "terminology/sources/ecqm-valuesets/external"
US_CORE_SUBSTANCES = f"{VALUE_SETS}/ValueSet-us-core-allergy-substance.json"
SOURCES: list[str] = [f"{VALUE_SETS}/valueset-*.json (the value sets with RxNorm codes)", US_CORE_SUBSTANCES]
ATC_SOURCE = (
    "WHO ATC/DDD index {code} https://atcddd.fhi.no/atc_ddd_index/?code={code}"
    " (mappings/lexicon/medications_curation.yaml)"
)
CURATION = Path(__file__).resolve().parents[2] / "mappings" / "lexicon" / "medications_curation.yaml"
RESOURCE_TYPES = ["MedicationRequest", "MedicationStatement", "MedicationAdministration"]

# RxNorm product names: "[quantity] [qualifiers] ingredient strength UNIT [/ ingredient strength UNIT] dose form
# [Brand]"; packs are "{n (product) / m (product) } Pack".
_STRENGTH = re.compile(r" (?:\d+(?:\.\d+)?|\.\d+) [A-Z%\[][^\s]*")
_UNITS = frozenset({"MG", "ML", "MCG", "UNT", "HR", "DAY", "ACTUAT", "MEQ", "G", "L", "MMOL", "CM2", "SQCM"})
_QUALIFIER = re.compile(r"[\d.,/]+|(?:\d+-)?[A-Z][\w-]*")
"""Leading tokens that are not the ingredient: quantities (``0.5 ML``, ``24 HR``) and RxNorm's capitalised
qualitative distinctions (``Abuse-Deterrent``, ``Sensor``, ``3-Month``); ingredient names are lower case."""
_QUANTITY = re.compile(r"[\d.]+ [A-Z]+")
_BRAND = re.compile(r"\[([^\]]+)\]\s*$")
_BIOSIMILAR = re.compile(r"^(.+)-[a-z]{4}$")
"""FDA biosimilar suffixes (``infliximab-dyyb``): the same drug as the reference product for a criterion."""


@dataclass
class Ingredient:
    """One generated drug, gathered under its common (salt-free) name."""

    name: str
    cased: str | None = None
    """The name as a source writes it (RxNorm keeps capitals such as ``penicillin G``)."""
    variants: set[str] = field(default_factory=set)
    brands: set[str] = field(default_factory=set)
    codings: dict[str, dict[str, str]] = field(default_factory=dict)
    """RxNorm code -> coding entry (the first source, in sorted file order, is kept)."""

    def add(self, code: str, display: str, source: str) -> None:
        self.codings.setdefault(code, {"system": RXNORM, "code": code, "display": display, "source": source})


@dataclass(frozen=True)
class Curation:
    """The judgement calls of medications_curation.yaml."""

    salt_words: frozenset[str]
    name_suffixes: tuple[str, ...]
    never_alone: frozenset[str]
    exclude: frozenset[str]
    ambiguous: frozenset[str]
    merge: dict[str, str]
    extra_synonyms: dict[str, dict[str, Any]]
    """name -> {synonyms, display}: common names and brand names the sources do not spell out."""
    extra_drugs: list[dict[str, Any]]
    atc: dict[str, list[dict[str, str]]]


def load_curation(path: Path = CURATION) -> Curation:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Curation(
        salt_words=frozenset(data["salt_words"]["words"]),
        name_suffixes=tuple(data["name_suffixes"]["suffixes"]),
        never_alone=frozenset(n.lower() for n in data["salt_words"]["never_alone"]),
        exclude=frozenset(e["name"].lower() for e in data["exclude"]),
        ambiguous=frozenset(e["name"].lower() for e in data["ambiguous"]),
        merge={m["name"].lower(): m["into"].lower() for m in data["merge"]},
        extra_synonyms={e["name"].lower(): e for e in data["synonyms"]},
        extra_drugs=list(data["extra_drugs"]),
        atc=_atc_table(data),
    )


def _atc_table(data: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """name -> ATC codes with their source, from the ``atc`` list and the ``atc`` of extra drugs."""
    entries = [(e["name"], e["codes"], None) for e in data.get("atc", [])]
    entries += [(e["name"], e.get("atc", []), e.get("atc_source")) for e in data["extra_drugs"]]
    return {
        name.lower(): [
            {"code": code, "source": f"{source}: {code}" if source else ATC_SOURCE.format(code=code)} for code in codes
        ]
        for name, codes, source in entries
        if codes
    }


# ---------------------------------------------------------------------------------------------
# Names in RxNorm displays


def pack_parts(display: str) -> list[str]:
    """The products inside a pack display (``{21 (A) / 7 (B) } Pack`` -> [A, B]); a product alone otherwise."""
    match = re.fullmatch(r"\{(.*)\}\s*Pack", display.strip())
    if not match:
        return [display]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(match.group(1)):
        if ch == "(":
            depth += 1
            if depth == 1:
                start = i + 1
        elif ch == ")":
            depth -= 1
            part = match.group(1)[start:i]
            # "1 (118 ML) (salicylic acid ...)": a bracketed quantity is not a product
            if depth == 0 and not _QUANTITY.fullmatch(part.strip()):
                parts.append(part)
    return parts


def _strip_qualifiers(text: str) -> str:
    tokens = text.split()
    i = 0
    while i < len(tokens) - 1:
        token = tokens[i]
        is_unit = token.rstrip(",") in _UNITS
        if not is_unit and (token.endswith(",") or not _QUALIFIER.fullmatch(token)):
            break
        i += 1
    return " ".join(tokens[i:])


def product_ingredients(display: str) -> tuple[list[str], str | None]:
    """The ingredient names a product display lists (as written) and its brand (SBD ``[Brand]``), if any.

    A display without a strength is an ingredient (IN) or multiple-ingredient (MIN, ``A / B``) name itself.
    """
    names: list[str] = []
    brand = None
    for product in pack_parts(display):
        product = product.strip()
        if found := _BRAND.search(product):
            brand = found.group(1).strip()
            product = product[: found.start()].strip()
        for component in product.split(" / "):
            component = _strip_qualifiers(component.strip())
            strength = _STRENGTH.search(" " + component)
            name = (" " + component)[: strength.start()] if strength else component
            if name.strip():
                names.append(name.strip())
    return names, brand


def common_name(name: str, cur: Curation) -> str:
    """The name a criterion uses: salt, ester and source suffixes dropped (``heparin sodium, porcine`` -> heparin)."""
    name = " ".join(name.lower().split())
    changed = True
    while changed:
        changed = False
        for suffix in cur.name_suffixes:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)].strip(), True
        if (biosimilar := _BIOSIMILAR.match(name)) and " " not in name:
            name, changed = biosimilar.group(1), True
        words = name.split()
        base = " ".join(words[:-1])
        if len(words) > 1 and words[-1] in cur.salt_words and base not in cur.never_alone:
            name, changed = base, True
    return cur.merge.get(name, name)


# ---------------------------------------------------------------------------------------------
# Reading the sources


def _value_set_files(shared: Path) -> list[Path]:
    return sorted((shared / VALUE_SETS).glob("valueset-*.json"))


def _vsac_codes(path: Path) -> tuple[str, list[dict[str, str]]]:
    """A value set's source label and its RxNorm expansion entries."""
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = [c for c in data.get("expansion", {}).get("contains", []) if c.get("system") == RXNORM]
    return f"VSAC {data['id']} {data.get('title') or data.get('name')}", entries


def _us_core_codes(shared: Path) -> tuple[str, list[dict[str, str]]]:
    data = json.loads((shared / US_CORE_SUBSTANCES).read_text(encoding="utf-8"))
    entries = [c for inc in data["compose"]["include"] if inc["system"] == RXNORM for c in inc.get("concept", [])]
    return f"US Core {data['version']} ValueSet us-core-allergy-substance (RxNorm ingredients)", entries


def substance_names(display: str) -> list[str]:
    """The ingredient names of a US Core substance (``Amoxicillin / Clavulanate``): names, not product strings."""
    return [" ".join(part.split()) for part in display.split(" / ") if part.strip()]


def collect(shared: Path, cur: Curation) -> dict[str, Ingredient]:
    """Every ingredient named in the sources, by common name, with its codes."""
    found: dict[str, Ingredient] = {}
    sources = [(*_vsac_codes(p), True) for p in _value_set_files(shared)] + [(*_us_core_codes(shared), False)]
    for source, entries, products in sources:
        for entry in sorted(entries, key=lambda e: e["code"]):
            names, brand = (
                product_ingredients(entry["display"]) if products else (substance_names(entry["display"]), None)
            )
            for written in dict.fromkeys(names):
                raw = written.lower()
                if raw in cur.exclude:
                    continue
                name = common_name(raw, cur)
                if name in cur.exclude:
                    continue
                ingredient = found.setdefault(name, Ingredient(name))
                if ingredient.cased is None and raw.startswith(name):
                    ingredient.cased = written[: len(name)]
                ingredient.variants.add(raw)
                if brand:
                    ingredient.brands.add(brand.lower())
                ingredient.add(entry["code"], entry["display"], source)
    return found


# ---------------------------------------------------------------------------------------------
# Concepts


def slug(name: str) -> str:
    return "medication." + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _curated_phrases(curated: dict[str, dict[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """Normalised names of curated single drugs (-> their key) and every other curated phrase."""
    drugs: dict[str, str] = {}
    others: set[str] = set()
    for table in curated.values():
        for key, entry in (table.get("concepts") or {}).items():
            phrases = [entry["display"], *entry.get("synonyms", []), *entry.get("abbreviations", [])]
            is_drug = entry.get("category") == "medication" and not entry.get("members")
            for phrase in phrases:
                if is_drug:
                    drugs.setdefault(normalize_name(phrase), key)
                else:
                    others.add(normalize_name(phrase))
    return drugs, others


def _names(ingredient: Ingredient, cur: Curation) -> list[str]:
    extra = cur.extra_synonyms.get(ingredient.name, {}).get("synonyms", [])
    names = [ingredient.name, *sorted(ingredient.variants), *extra, *sorted(ingredient.brands)]
    return list(dict.fromkeys(n.lower() for n in names if n.lower() not in cur.ambiguous))


def _sentence_case(name: str) -> str:
    """``Ascorbic Acid`` (US Core title case) -> ``ascorbic acid``; ``penicillin G`` and ``BCG`` keep capitals."""
    return re.sub(
        r"[A-Za-z]{2,}", lambda m: m.group() if m.group().isupper() and len(m.group()) <= 4 else m.group().lower(), name
    )


def _display(name: str, cased: str | None, cur: Curation) -> str:
    written = cur.extra_synonyms.get(name, {}).get("display") or _sentence_case(cased or name)
    display = written[:1].upper() + written[1:]
    # An ambiguous name (a lab analyte, an everyday word) must not be matched in text: the concept keeps its
    # codes for class membership under a display that names it as a drug (the display is a phrase too).
    return f"{display} (medication)" if name in cur.ambiguous else display


def _atc_codings(name: str, display: str, cur: Curation) -> list[dict[str, str]]:
    """ATC codes the curation gives (identifiers only: the display is ours, the ingredient's name)."""
    return [
        {"system": ATC, "code": c["code"], "display": display, "source": c["source"]} for c in cur.atc.get(name, [])
    ]


def _concept(name: str, display: str, synonyms: list[str], codings: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "category": "medication",
        "display": display,
        "synonyms": synonyms,
        "codings": codings,
        "resource_types": list(RESOURCE_TYPES),
    }


def _sorted_codings(codings: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    return [codings[c] for c in sorted(codings, key=lambda c: (len(c), c))]


def _ingredient_concept(ingredient: Ingredient, cur: Curation, taken: set[str]) -> dict[str, Any]:
    """The concept of a source ingredient; names a curated concept owns (``taken``) are left out."""
    display = _display(ingredient.name, ingredient.cased, cur)
    synonyms = [s for s in _names(ingredient, cur) if normalize_name(s) not in taken]
    codings = _atc_codings(ingredient.name, display, cur) + _sorted_codings(ingredient.codings)
    return _concept(ingredient.name, display, synonyms, codings)


def _extra_drug(entry: dict[str, Any], cur: Curation, taken: set[str]) -> tuple[str, dict[str, Any]]:
    """A drug the sources do not code, named by the curation (name-only, or with ATC codes)."""
    name = entry["name"].lower()
    display = _display(name, entry.get("display"), cur)
    names = dict.fromkeys([name, *(s.lower() for s in entry.get("synonyms", []))])
    synonyms = [s for s in names if normalize_name(s) not in taken and s not in cur.ambiguous]
    return name, _concept(name, display, synonyms, _atc_codings(name, display, cur) + _rxnorm_codings(entry))


def _rxnorm_codings(entry: dict[str, Any]) -> list[dict[str, str]]:
    """RxNorm ingredient codes the curation gives for a drug the shared sources lack, each with the public file it
    was read in (``rxnorm_source``) and the display written there."""
    return [
        {"system": RXNORM, "code": str(code), "display": entry["rxnorm_display"], "source": entry["rxnorm_source"]}
        for code in entry.get("rxnorm", [])
    ]


def _supplement(entry: dict[str, Any], codings: dict[str, dict[str, str]]) -> dict[str, Any] | None:
    """Codes of the sources that a curated drug lacks (codings only, no phrase a criterion would use)."""
    known = {c["code"] for c in entry.get("codings", []) if c["system"] == RXNORM}
    extra = {code: c for code, c in codings.items() if code not in known}
    if not extra:
        return None
    return {
        "category": "medication",
        "display": f"{entry['display']} (RxNorm products)",
        "synonyms": [],
        "codings": _sorted_codings(extra),
        "resource_types": list(RESOURCE_TYPES),
    }


def build(shared: Path, curated: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cur = load_curation()
    curated_drugs, other_phrases = _curated_phrases(curated)
    taken = other_phrases | set(curated_drugs)
    curated_meds = curated.get("medications", {}).get("concepts", {})
    concepts: dict[str, dict[str, Any]] = {}
    supplements: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for name, ingredient in sorted(collect(shared, cur).items()):
        owner = curated_drugs.get(normalize_name(name))
        if owner is not None:  # a curated drug already: its codes supplement the curated concept
            for code, coding in ingredient.codings.items():
                supplements[owner].setdefault(code, coding)
        elif normalize_name(name) not in other_phrases or name in cur.ambiguous:
            # (a curated lab, condition or class owns the plain word: skipped, unless the curation kept the drug
            # under a display that names it as a medication)
            concepts[slug(name)] = _ingredient_concept(ingredient, cur, taken)
    for entry in cur.extra_drugs:
        name, concept = _extra_drug(entry, cur, taken)
        if normalize_name(name) not in taken and slug(name) not in concepts:
            concepts[slug(name)] = concept
    for key, codings in sorted(supplements.items()):
        if (supplement := _supplement(curated_meds[key], codings)) is not None:
            concepts[key] = supplement  # same key as the curated drug: the loader adds these codes to it
    _check_members(curated_meds, concepts)
    return concepts


def _check_members(curated_meds: dict[str, dict[str, Any]], concepts: dict[str, dict[str, Any]]) -> None:
    """Fail the build when a curated class names a drug that is neither curated nor generated."""
    for key, entry in curated_meds.items():
        for member in entry.get("members", []):
            if member not in curated_meds and member not in concepts:
                raise ValueError(f"{key}: member {member} is neither curated nor generated")
