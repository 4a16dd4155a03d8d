"""Condition concepts of the lexicon, generated from open terminology sources (all of medicine).

Run through ``python scripts/build_lexicon.py conditions`` (writes ``mappings/lexicon/conditions.tsv``).

Where each part of a concept comes from:

* **Names** -- Human Disease Ontology (DO, CC0): the label and the EXACT synonyms of the ``.obo`` subsets;
  the Mondo label of the exactly matching Mondo term (Mondo Disease Ontology, CC BY 4.0); DO terms missing
  from DO come from Mondo alone (a Mondo term with a SNOMED CT or ICD-10-CM match and no DO match).
* **Codes** -- DO cross-references (ICD-10-CM, SNOMED CT identifiers) and the Mondo exact matches to SNOMED CT
  and ICD-10-CM, for the term itself and, with a bounded fan-out, for its DO subclasses (so "heart failure"
  also matches a patient coded with a specific kind of heart failure); VSAC value sets from the 2024 eCQMs,
  linked to concepts by hand in the curation file.
* **Names of codes** -- a SNOMED CT code is named (FSN) only when it is in the SNOMED CT Global Patient Set
  (CC BY 4.0); any other SNOMED CT code is emitted as an identifier only (``outside_free_set``) named after the
  DO/Mondo term or not at all. ICD-10-CM codes are validated and named with ``simple-icd-10-cm``.
* **Judgement** -- ``mappings/lexicon/conditions_curation.yaml``: the stop list (ordinary words, ambiguous
  abbreviations, misleading synonyms), extra synonyms and abbreviations, value-set links, concepts the
  ontologies lack, spelling variants.

Precision comes first: a phrase that names two generated concepts names neither (unless it is the preferred
label of one of them); a code that the sources give to many unrelated terms (a catch-all such as "other
specified congenital malformation syndromes") is given to none; a term does not repeat a code its DO ancestor
already has (the code then says nothing about the narrower term, e.g. a site code for a histology).
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import simple_icd_10_cm as cm  # type: ignore[import-untyped]
import yaml

from lexicon import gps_findings

ROOT = Path(__file__).resolve().parents[2]
CURATION_PATH = ROOT / "mappings" / "lexicon" / "conditions_curation.yaml"

SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"

DO_DIR = "terminology/sources/disease-ontology"
MONDO_DIR = "terminology/sources/mondo"
VSAC_DIR = "terminology/sources/ecqm-valuesets/external"
DO_TSV = f"{DO_DIR}/HumanDO.tsv"
DO_XREF = f"{DO_DIR}/allXREFinDO.tsv"
DO_OBO = tuple(
    f"{DO_DIR}/{name}"
    for name in ("NCIthesaurus.obo", "DO_rare_slim.obo", "DO_cancer_slim.obo", "DO_infectious_disease_slim.obo")
)
MONDO_DOID = f"{MONDO_DIR}/mondo_exactmatch_doid.sssom.tsv"
MONDO_SCT = f"{MONDO_DIR}/mondo_exactmatch_sctid.sssom.tsv"
MONDO_ICD = f"{MONDO_DIR}/mondo_exactmatch_icd10cm.sssom.tsv"
GPS = "terminology/sources/snomed-gps/ValueSet-snomed-intl-gps.json"

ICD_NAME = "ICD-10-CM April 2026 (simple-icd-10-cm 1.5.0)"
GPS_NAME = "SNOMED CT GPS 2020"
OUTSIDE_GPS = "outside SNOMED CT GPS: identifier only"

CANCER_ROOT = "DOID:162"
"""DO 'cancer'. ICD-10-CM codes a malignant neoplasm by its site, not its histology, so a cancer term with no
ICD-10-CM code of its own ("esophagus adenocarcinoma"; codes of its subclasses do not count) takes its site's
codes from its nearest DO ancestors that have some ("esophagus cancer": C15) as ``site_codings``: a record coded
with the site alone leaves the histology to confirm."""
SITE_ANCESTOR_LEVELS = 3
ILL_DEFINED_SITES = ("C76", "C77", "C78", "C79", "C80", *(f"C{n}" for n in range(81, 97)))
"""Ill-defined, secondary and unspecified sites, and the lymphoid and haematopoietic neoplasms (C81-C96, coded
by type, not site): no site of a histology."""
MAX_SITE_CATEGORIES = 4
"""More ICD-10-CM categories than this are an organ system (C15-C26 for the digestive organs), not a site."""
HEMATOLOGIC_CANCER = "DOID:2531"
"""DO 'hematologic cancer': coded by type in ICD-10-CM, so its terms take no site codes."""
CODED_BY_TYPE = re.compile(r"\b(?:lymphomas?|leuka?emias?|myelomas?)\b")
"""Terms so named are coded by type wherever they are ("breast lymphoma" is C83-C85, not C50)."""
INFECTIOUS_ROOT = "DOID:0050117"
"""DO 'disease by infectious agent': its subtree (and the infectious slim) are category ``infection``."""
MAX_WORDS = 8
MIN_LETTERS = 3
ABBREVIATION = re.compile(r"[A-Z][A-Za-z0-9]{1,5}")
"""A name written like this with at least two capitals (``CKD``, ``HbSS``, ``T2DM``) is an abbreviation."""
BAD_NAME = re.compile(r"[()\[\],;:\"?!]|\b(?:nos|unspecified|other|not otherwise specified|nec)\b", re.IGNORECASE)
"""Names with these are index entries or classification residues, not what a criterion writes."""


def _load_curation() -> dict[str, Any]:
    data = yaml.safe_load(CURATION_PATH.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{CURATION_PATH}: expected a mapping")
    return data


def _valueset_oids(curation: dict[str, Any]) -> list[str]:
    oids: set[str] = set()
    for entry in [*curation.get("concepts", {}).values(), *curation.get("extra_concepts", {}).values()]:
        oids.update(str(o) for o in (entry or {}).get("valuesets", []))
    return sorted(oids)


def _vsac_path(oid: str) -> str:
    return f"{VSAC_DIR}/valueset-{oid}.json"


SOURCES: list[str] = [
    DO_TSV,
    DO_XREF,
    *DO_OBO,
    MONDO_DOID,
    MONDO_SCT,
    MONDO_ICD,
    GPS,
    *(_vsac_path(oid) for oid in _valueset_oids(_load_curation())),
]


# ---------------------------------------------------------------------------------------------
# Phrase keys (the same folding as fhir_adapter.terminology, so collisions are judged as the matcher sees them)

_TOKEN = re.compile(r"[^\W_]+")


def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def phrase_key(phrase: str) -> str:
    """Case-insensitive key of a phrase: folded tokens joined (``Crohn's`` = ``crohns``, ``HIV-1`` = ``hiv1``)."""
    return "".join(_fold(t) for t in _TOKEN.findall(phrase))


def exact_key(abbreviation: str) -> str:
    return "".join(_TOKEN.findall(abbreviation))


def _plural_variants(key: str, phrase: str) -> set[str]:
    """The keys the matcher indexes for a phrase: itself and its plural (:func:`fhir_adapter.phrase_keys.plural_key`:
    an 's', or 'ies' after a consonant and 'y', when the last word has 4+ letters)."""
    tokens = _TOKEN.findall(phrase)
    if not tokens or len(tokens[-1]) < 4 or not tokens[-1].isalpha() or key.endswith("s"):
        return {key}
    if key.endswith("y") and key[-2:-1] not in ("a", "e", "i", "o", "u"):
        return {key, key[:-1] + "ies"}
    return {key, key + "s"}


# ---------------------------------------------------------------------------------------------
# Source readers


@dataclass
class Term:
    """A disease of the DO (``DOID:...``) or, when DO lacks it, of Mondo (``MONDO:...``)."""

    id: str
    label: str
    parents: set[str] = field(default_factory=set)
    synonyms: list[str] = field(default_factory=list)
    mondo: list[str] = field(default_factory=list)
    infectious: bool = False


def _tsv(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader((line for line in handle if not line.startswith("#")), delimiter="\t")
        next(rows, None)  # header
        yield from rows


def _read_do(shared: Path) -> dict[str, Term]:
    """DO terms with their parents (HumanDO.tsv names parents by label; labels are unique)."""
    rows = list(_tsv(shared / DO_TSV))
    by_label = {row[1]: row[0] for row in rows}
    terms: dict[str, Term] = {}
    for doid, label, parent in rows:
        term = terms.setdefault(doid, Term(doid, label))
        if parent in by_label:
            term.parents.add(by_label[parent])
    return terms


def _read_obo(shared: Path, terms: dict[str, Term]) -> None:
    """EXACT synonyms and the infectious-disease slim from the .obo subsets."""
    synonym = re.compile(r'^synonym: "(.*)" EXACT')
    for name in DO_OBO:
        current: Term | None = None
        for line in (shared / name).read_text(encoding="utf-8").splitlines():
            if line.startswith("id: "):
                current = terms.get(line[4:].strip())
            elif current is None:
                continue
            elif match := synonym.match(line):
                if match.group(1) not in current.synonyms:
                    current.synonyms.append(match.group(1))
            elif line.strip() == "subset: DO_infectious_disease_slim":
                current.infectious = True


def _read_mondo(path: Path) -> list[tuple[str, str, str]]:
    """(Mondo id, Mondo label, matched id) of an SSSOM exact-match file."""
    return [(row[0], row[1], row[3]) for row in _tsv(path) if len(row) > 3 and row[2] == "skos:exactMatch"]


def _read_gps(shared: Path) -> dict[str, str]:
    data = json.loads((shared / GPS).read_text(encoding="utf-8"))
    return {c["code"]: c["display"] for include in data["compose"]["include"] for c in include["concept"]}


CONDITION_TAGS = ("(disorder)", "(finding)", "(situation)")
"""GPS concepts that can code a Condition; DO sometimes cross-references a morphology (2092003 melanoma)."""


def _not_a_condition(code: str, gps: dict[str, str]) -> bool:
    return code in gps and not gps[code].endswith(CONDITION_TAGS)


@dataclass(frozen=True)
class ValueSet:
    oid: str
    title: str
    codes: tuple[tuple[str, str, str], ...]
    """(system, code, display) of the expansion, SNOMED CT and ICD-10-CM only."""


def _read_valueset(shared: Path, oid: str) -> ValueSet:
    data = json.loads((shared / _vsac_path(oid)).read_text(encoding="utf-8"))
    codes = tuple(
        sorted(
            (c["system"], c["code"], c.get("display", ""))
            for c in data.get("expansion", {}).get("contains", [])
            if c["system"] in (SCT, ICD)
        )
    )
    return ValueSet(oid, data.get("title") or data.get("name", oid), codes)


# ---------------------------------------------------------------------------------------------
# Codes


def _icd_codes(raw: str) -> tuple[list[str], str]:
    """Valid ICD-10-CM codes for a cross-reference, and a note when they are the categories of a block
    (``E08-E13``): a block is a broad grouping, weaker evidence than a code (see :func:`_drop_shared_codes`)."""
    raw = raw.strip().upper()
    if "-" in raw:
        first, _, last = raw.partition("-")
        if first == last:  # Mondo writes a single category as a block ("B20-B20")
            raw = first
        elif cm.is_valid_item(raw) and cm.is_block(raw):
            return [c for c in cm.get_children(raw) if cm.is_category(c)], f" (block {raw})"
        else:
            return [], ""
    if not cm.is_valid_item(raw):
        return [], ""
    return ([cm.add_dot(raw)] if "." not in raw and len(raw) > 3 else [raw]), ""


@cache
def _icd_description(code: str) -> str:
    return str(cm.get_description(code))


def _icd_is_residual(code: str) -> bool:
    """An 'Other ...' or '... not elsewhere classified' subcategory holds many diseases: it identifies none of
    them (a rare syndrome cross-referenced to Q87.89). Categories (``M06 Other rheumatoid arthritis``) are kept."""
    if "." not in code:
        return False
    description = _icd_description(code).lower()
    return description.startswith("other ") or "not elsewhere classified" in description


@dataclass
class CodeBook:
    """Codes of one term or concept: (system, code) -> where each came from, and the term it names."""

    origins: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    names: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, system: str, code: str, origin: str, name: str | None = None) -> None:
        self.origins[(system, code)].add(origin)
        if name and (system, code) not in self.names:
            self.names[(system, code)] = name

    def merge(self, other: CodeBook, *, note: str = "") -> None:
        for ref, origins in other.origins.items():
            for origin in origins:
                self.add(ref[0], ref[1], origin + note, other.names.get(ref))

    def discard(self, ref: tuple[str, str]) -> None:
        self.origins.pop(ref, None)
        self.names.pop(ref, None)


def _term_codes(
    shared: Path, terms: dict[str, Term], mondo_of: dict[str, list[str]], gps: dict[str, str]
) -> dict[str, CodeBook]:
    """Each term's own codes: DO cross-references plus the exact matches of its Mondo term."""
    books: dict[str, CodeBook] = defaultdict(CodeBook)
    for doid, _label, xref in _tsv(shared / DO_XREF):
        term = terms.get(doid)
        if term is None:
            continue
        prefix, _, code = xref.partition(":")
        if prefix == "ICD10CM":
            icds, note = _icd_codes(code)
            for icd in icds:
                books[doid].add(ICD, icd, f"DO {doid}{note}")
        elif prefix.startswith("SNOMEDCT") and code.isdigit():
            books[doid].add(SCT, code, f"DO {doid}", term.label)
    by_mondo: dict[str, list[str]] = defaultdict(list)
    for term_id, mondos in mondo_of.items():
        for mondo in mondos:
            by_mondo[mondo].append(term_id)
    for mondo, _label, target in _read_mondo(shared / MONDO_SCT):
        for term_id in by_mondo.get(mondo, []):
            books[term_id].add(SCT, target.removeprefix("SCTID:"), f"Mondo {mondo}", terms[term_id].label)
    for mondo, _label, target in _read_mondo(shared / MONDO_ICD):
        for term_id in by_mondo.get(mondo, []):
            icds, note = _icd_codes(target.removeprefix("ICD10CM:"))
            for icd in icds:
                books[term_id].add(ICD, icd, f"Mondo {mondo}{note}")
    for book in books.values():
        for ref in [r for r in book.origins if r[0] == ICD and _icd_is_residual(r[1])]:
            book.discard(ref)
        for ref in [r for r in book.origins if r[0] == SCT and _not_a_condition(r[1], gps)]:
            book.discard(ref)
    return books


class Hierarchy:
    """DO subclass links (Mondo-only terms have none)."""

    def __init__(self, terms: dict[str, Term]):
        self._parents = {t.id: t.parents for t in terms.values()}
        self._children: dict[str, set[str]] = defaultdict(set)
        for term in terms.values():
            for parent in term.parents:
                self._children[parent].add(term.id)
        self._up: dict[str, frozenset[str]] = {}
        self._down: dict[str, frozenset[str]] = {}

    def parents(self, term_id: str) -> frozenset[str]:
        return frozenset(self._parents.get(term_id, ()))

    def ancestors(self, term_id: str) -> frozenset[str]:
        if term_id not in self._up:
            self._up[term_id] = self._closure(term_id, self._parents)
        return self._up[term_id]

    def descendants(self, term_id: str) -> frozenset[str]:
        if term_id not in self._down:
            self._down[term_id] = self._closure(term_id, self._children)
        return self._down[term_id]

    @staticmethod
    def _closure(start: str, links: dict[str, set[str]]) -> frozenset[str]:
        seen: set[str] = set()
        stack = list(links.get(start, ()))
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(links.get(node, ()))
        return frozenset(seen)


def _code_name(ref: tuple[str, str], gps: dict[str, str]) -> str:
    """The folded name of a code (ICD-10-CM description, GPS FSN without its semantic tag), '' if unknown."""
    system, code = ref
    if system == ICD:
        return phrase_key(_icd_description(code))
    return phrase_key(re.sub(r" \([^()]*\)$", "", gps.get(code, ""))) if code in gps else ""


def _drop_shared_codes(
    books: dict[str, CodeBook], hierarchy: Hierarchy, names: dict[str, set[str]], gps: dict[str, str], max_owners: int
) -> None:
    """Precision rules for the terms' own codes.

    A code that a term shares with one of its DO ancestors stays with the ancestor only: it cannot tell the
    narrower term apart (DO gives "dilated cardiomyopathy 1I" the code of "dilated cardiomyopathy"), unless the
    code is named like the narrower term (D70 "Neutropenia" for neutropenia under agranulocytosis). An ancestor
    that has the code only as part of a block (Mondo's F30-F39 for "mood disorder") does not count. A code still
    held by more than ``max_owners`` unrelated terms is a catch-all and is given to none of them.
    """
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for term_id, book in books.items():
        for ref in book.origins:
            owners[ref].add(term_id)
    for ref, holders in owners.items():
        strong = {t for t in holders if any("(block " not in o for o in books[t].origins[ref])}
        keep = {t for t in holders if not hierarchy.ancestors(t) & strong or _code_name(ref, gps) in names[t]}
        for term_id in holders - keep:
            books[term_id].discard(ref)
        if len(keep & strong) > max_owners:
            for term_id in keep & strong:
                books[term_id].discard(ref)


# ---------------------------------------------------------------------------------------------
# Names


@dataclass(frozen=True)
class Rules:
    """The judgement of the curation file that applies to every name."""

    stop: frozenset[str]
    """Folded keys that are never a generated name (phrase or abbreviation, whatever the case)."""
    short: frozenset[str]
    """Three-letter abbreviations the sources may give (the others collide with other clinical acronyms)."""
    spelling: tuple[tuple[re.Pattern[str], str], ...]
    """US -> British spelling rewrites (``anemia`` -> ``anaemia``), added as variants."""


def _rules(curation: dict[str, Any]) -> Rules:
    stop = frozenset(phrase_key(str(n)) for n in curation.get("stop_names", {}))
    short = frozenset(str(n) for n in curation.get("allowed_short_abbreviations", {}))
    spelling = tuple((re.compile(str(e["us"])), str(e["uk"])) for e in curation.get("spelling_variants", []))
    return Rules(stop, short, spelling)


def _is_abbreviation(name: str) -> bool:
    return bool(ABBREVIATION.fullmatch(name)) and sum(ch.isupper() for ch in name) >= 2


def _usable_phrase(name: str, rules: Rules) -> bool:
    """A lower-case phrase a criterion could write: not an index entry, not too long, not an ordinary word."""
    letters = sum(ch.isalpha() for ch in name)
    return (
        not BAD_NAME.search(name)
        and len(name.split()) <= MAX_WORDS
        and letters >= MIN_LETTERS
        and phrase_key(name) not in rules.stop
    )


def _variants(name: str, rules: Rules) -> list[str]:
    """The name, its eponym variants (``Alzheimer's disease`` / ``Alzheimer disease``) and British spellings."""
    found = [name]
    eponym = re.match(r"^(.*\b[A-Z][a-z]+)'s( .+)$", name)
    if eponym:
        found.append(eponym.group(1) + eponym.group(2))
    elif bare := re.match(r"^([A-Z][a-z]+)( (?:disease|syndrome|disorder)\b.*)$", name):
        found.append(bare.group(1) + "'s" + bare.group(2))
    for variant in list(found):
        british = variant.lower()
        for pattern, replacement in rules.spelling:
            british = pattern.sub(replacement, british)
        if british != variant.lower():
            found.append(british)
    return found


def _usable_abbreviation(name: str, rules: Rules) -> bool:
    """Four characters or more unless stop-listed; three only when allowed; two never (only by hand)."""
    if phrase_key(name) in rules.stop or len(name) < MIN_LETTERS:
        return False
    return len(name) > MIN_LETTERS or name in rules.short


def _split_names(names: Iterable[str], rules: Rules) -> tuple[list[str], list[str]]:
    """Lower-case phrases and exact-case abbreviations of a term's names (and their variants)."""
    phrases: list[str] = []
    abbreviations: list[str] = []
    for raw in names:
        name = " ".join(raw.split())
        if _is_abbreviation(name):
            if _usable_abbreviation(name, rules):
                abbreviations.append(name)
            continue
        for variant in _variants(name, rules):
            phrase = variant.lower()
            if _usable_phrase(phrase, rules) and phrase not in phrases:
                phrases.append(phrase)
    return phrases, sorted(set(abbreviations))


# ---------------------------------------------------------------------------------------------
# Concepts


LABEL, HAND, SOURCE = 3, 2, 1
"""Name priorities when two concepts claim one phrase: a preferred label beats a hand-added synonym, which
beats a synonym of the sources; between equals the phrase goes to neither."""


@dataclass
class Draft:
    """A concept being built: names (with priorities) and codes, before shared names are resolved."""

    label: str
    category: str
    phrases: dict[str, int]
    abbreviations: dict[str, int]
    book: CodeBook = field(default_factory=CodeBook)
    valuesets: list[ValueSet] = field(default_factory=list)
    prefixes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """ICD-10-CM prefixes given by hand, with their sources."""
    site_codes: dict[str, set[str]] = field(default_factory=dict)
    """ICD-10-CM codes of the site of a cancer histology (see ``CANCER_ROOT``), with their sources."""
    key: str = ""
    display: str = ""

    @property
    def label_key(self) -> str:
        return phrase_key(self.label)

    def claims(self) -> Iterator[tuple[str, int]]:
        """Every folded key the matcher would index for this concept, with the priority of its name."""
        for phrase, priority in self.phrases.items():
            for key in _plural_variants(phrase_key(phrase), phrase):
                yield key, priority
        for abbreviation, priority in self.abbreviations.items():
            yield phrase_key(abbreviation), priority

    def drop_names(self, keys: set[str]) -> None:
        self.phrases = {p: v for p, v in self.phrases.items() if phrase_key(p) not in keys}
        self.abbreviations = {a: v for a, v in self.abbreviations.items() if phrase_key(a) not in keys}


def _slug(label: str) -> str:
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", label.lower()) if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "-", folded.replace("'", "")).strip("-")


def _display(label: str) -> str:
    """DO labels are lower case; a display starts with a capital unless the label starts with a code (``mTOR``)."""
    if len(label) > 1 and label[0].islower() and not label[1].isupper():
        return label[0].upper() + label[1:]
    return label


@dataclass(frozen=True)
class Curated:
    """What the hand-curated tables already name: their keys, phrase keys and abbreviations."""

    keys: frozenset[str]
    phrases: frozenset[str]
    """Folded keys of every curated phrase and abbreviation (with the plural the matcher adds)."""
    abbreviations: frozenset[str]
    condition_phrases: frozenset[str]
    """Folded keys of the curated condition concepts' names: a term named so *is* that concept."""


def _curated(curated: dict[str, dict[str, Any]]) -> Curated:
    keys: set[str] = set()
    phrases: set[str] = set()
    abbreviations: set[str] = set()
    condition_phrases: set[str] = set()
    for table in curated.values():
        for key, entry in (table.get("concepts") or {}).items():
            keys.add(str(key))
            names = [str(entry.get("display", "")), *map(str, entry.get("synonyms", []))]
            folded: set[str] = set()
            for name in names:
                folded |= _plural_variants(phrase_key(name), name)
            for abbreviation in map(str, entry.get("abbreviations", [])):
                abbreviations.add(exact_key(abbreviation))
                folded.add(phrase_key(abbreviation))
            folded.discard("")
            phrases |= folded
            if entry.get("category") in ("condition", "infection", "pregnancy"):
                condition_phrases |= folded
    return Curated(frozenset(keys), frozenset(phrases), frozenset(abbreviations), frozenset(condition_phrases))


def _named(
    term: Term, mondo_labels: list[str], hand: dict[str, Any], rules: Rules
) -> tuple[dict[str, int], dict[str, int]]:
    """A term's phrases and abbreviations with their priorities (hand-added names bypass the stop list)."""
    phrases, abbreviations = _split_names([term.label, *term.synonyms, *mondo_labels], rules)
    dropped = {phrase_key(str(n)) for n in hand.get("drop_synonyms", [])}
    named = {p: (LABEL if p == term.label.lower() else SOURCE) for p in phrases if phrase_key(p) not in dropped}
    named.update({str(s).lower(): HAND for s in hand.get("synonyms", [])})
    abbrs = {a: SOURCE for a in abbreviations if phrase_key(a) not in dropped}
    abbrs.update({str(a): HAND for a in hand.get("abbreviations", [])})
    return named, abbrs


def _category(term: Term, hierarchy: Hierarchy) -> str:
    """``infection`` for the DO infectious-disease slim and subtree; a Mondo-only term (no DO parents) when its
    name says so ("cytomegalovirus infection")."""
    if term.infectious or INFECTIOUS_ROOT in hierarchy.ancestors(term.id):
        return "infection"
    if term.id.startswith("MONDO:") and re.search(r"\binfect(?:ion|ious)\b", term.label):
        return "infection"
    return "condition"


@dataclass(frozen=True)
class Sources:
    """Everything read from shared/."""

    terms: dict[str, Term]
    mondo_labels: dict[str, list[str]]
    books: dict[str, CodeBook]
    hierarchy: Hierarchy
    gps: dict[str, str]
    valuesets: dict[str, ValueSet]


def _read_sources(shared: Path, curation: dict[str, Any]) -> Sources:
    terms = _read_do(shared)
    _read_obo(shared, terms)
    mondo_of: dict[str, list[str]] = defaultdict(list)
    mondo_labels: dict[str, list[str]] = defaultdict(list)
    for mondo, label, doid in _read_mondo(shared / MONDO_DOID):
        if doid in terms:
            mondo_of[doid].append(mondo)
            mondo_labels[doid].append(label)
    _add_mondo_only(shared, terms, mondo_of)
    hierarchy = Hierarchy(terms)
    gps = _read_gps(shared)
    books = _term_codes(shared, terms, mondo_of, gps)
    names = {t.id: {phrase_key(n) for n in [t.label, *t.synonyms, *mondo_labels.get(t.id, [])]} for t in terms.values()}
    _drop_shared_codes(books, hierarchy, names, gps, int(curation.get("max_code_owners", 2)))
    valuesets = {oid: _read_valueset(shared, oid) for oid in _valueset_oids(curation)}
    return Sources(terms, mondo_labels, books, hierarchy, gps, valuesets)


def _add_mondo_only(shared: Path, terms: dict[str, Term], mondo_of: dict[str, list[str]]) -> None:
    """Mondo terms with a SNOMED CT or ICD-10-CM match but no DO match (DO lacks "heart failure"). A Mondo term
    labelled like a DO term is that term (Mondo's "meningitis" has no DO match although DO has "meningitis"): its
    codes join the DO term's, since two concepts of one name would cancel each other's name out."""
    matched = {m for mondos in mondo_of.values() for m in mondos}
    do_by_label = {phrase_key(t.label): t.id for t in terms.values()}
    for path in (MONDO_SCT, MONDO_ICD):
        for mondo, label, _target in _read_mondo(shared / path):
            if mondo in matched or mondo in terms:
                continue
            same_name = do_by_label.get(phrase_key(label))
            if same_name is not None:
                mondo_of[same_name].append(mondo)
                matched.add(mondo)
                continue
            terms[mondo] = Term(mondo, label)
            mondo_of[mondo].append(mondo)


def _term_drafts(src: Sources, curation: dict[str, Any], rules: Rules) -> dict[str, Draft]:
    hand_all: dict[str, Any] = curation.get("concepts", {}) or {}
    dropped = set(curation.get("drop_terms", {}) or {})
    max_descendants = int(curation.get("max_descendants", 40))
    max_subclass_codes = int(curation.get("max_subclass_codes", 60))
    drafts: dict[str, Draft] = {}
    for term_id in sorted(src.terms):
        term = src.terms[term_id]
        if term_id in dropped:
            continue
        hand = hand_all.get(term_id) or {}
        if hand.get("label", term.label) != term.label:
            raise ValueError(f"curation: {term_id} is {term.label!r} in the sources, not {hand['label']!r}")
        phrases, abbreviations = _named(term, src.mondo_labels.get(term_id, []), hand, rules)
        draft = Draft(term.label, str(hand.get("category", _category(term, src.hierarchy))), phrases, abbreviations)
        draft.book.merge(src.books.get(term_id, CodeBook()))
        if not hand.get("own_codes_only", False):  # a class whose subclasses are not what criteria mean by it
            draft.book.merge(_subclass_codes(term_id, src, max_descendants, max_subclass_codes), note=" (subclass)")
        _drop_hand_codes(draft, hand)
        _add_hand_codes(draft, hand, src)
        draft.site_codes = _site_codes(term_id, draft, src)
        drafts[term_id] = draft
    missing = set(hand_all) - set(drafts)
    if missing:
        raise ValueError(f"curation: unknown or dropped terms {sorted(missing)}")
    return drafts


def _site_codes(term_id: str, draft: Draft, src: Sources) -> dict[str, set[str]]:
    """The ICD-10-CM codes of a cancer term's site, from its nearest DO ancestors with codes, when the term has no
    ICD-10-CM code of its own (see ``CANCER_ROOT``); none when they are not all malignant neoplasms of a
    defined site."""
    ancestors = src.hierarchy.ancestors(term_id)
    if CANCER_ROOT not in ancestors or HEMATOLOGIC_CANCER in ancestors or CODED_BY_TYPE.search(draft.label):
        return {}
    # its own ICD-10-CM codes, not those of its subclasses ("inflammatory breast carcinoma": C50.A names no site
    # of "breast adenocarcinoma" as a whole)
    if any(system == ICD for system, _ in src.books.get(term_id, CodeBook()).origins):
        return {}
    if draft.prefixes:
        return {}
    level = src.hierarchy.parents(term_id)
    seen: set[str] = set()
    for _ in range(SITE_ANCESTOR_LEVELS):
        found: dict[str, set[str]] = defaultdict(set)
        for ancestor in sorted(level):
            for (system, code), origins in src.books.get(ancestor, CodeBook()).origins.items():
                if system == ICD:
                    found[code] |= {f"{origin} (site of {term_id})" for origin in origins}
        if found:
            defined = all(c.startswith("C") and not c.startswith(ILL_DEFINED_SITES) for c in found)
            one_site = len({c[:3] for c in found}) <= MAX_SITE_CATEGORIES  # not an organ system's cancers
            return dict(found) if defined and one_site else {}
        seen |= level
        level = frozenset(p for t in level for p in src.hierarchy.parents(t)) - seen
    return {}


def _subclass_codes(term_id: str, src: Sources, max_descendants: int, max_codes: int) -> CodeBook:
    """The codes of a term's DO subclasses, so "heart failure" matches "diastolic heart failure". All or
    nothing: a broad class (more subclasses or codes than the bounds) keeps its own codes only."""
    descendants = src.hierarchy.descendants(term_id)
    book = CodeBook()
    if len(descendants) > max_descendants:
        return book
    for sub in sorted(descendants):
        book.merge(src.books.get(sub, CodeBook()))
    return book if len(book.origins) <= max_codes else CodeBook()


def _drop_hand_codes(draft: Draft, hand: dict[str, Any]) -> None:
    """Source codes the curation removes ("Occlusion of artery" is no peripheral vascular disease of criteria)."""
    for code in map(str, hand.get("drop_codes", [])):
        found = [key for key in draft.book.origins if key[1] == code]
        if not found:
            raise ValueError(f"curation: drop_codes {code} ({draft.label}) is not among its source codes")
        for key in found:
            del draft.book.origins[key]


def _add_hand_codes(draft: Draft, hand: dict[str, Any], src: Sources) -> None:
    """Codes the curation adds: value sets, single codes and ICD-10-CM prefixes (each with its source).
    A hand-written code must exist: SNOMED CT codes in the GPS, ICD-10-CM codes in the April 2026 release."""
    draft.valuesets = [src.valuesets[str(oid)] for oid in hand.get("valuesets", [])]
    for coding in hand.get("codings", []):
        system, code = str(coding["system"]), str(coding["code"])
        if (system == SCT and code not in src.gps) or (system == ICD and not cm.is_valid_item(code)):
            raise ValueError(f"curation: {system} {code} ({draft.label}) is not in the sources")
        draft.book.add(system, code, str(coding["source"]))
    for word in map(str, hand.get("gps_kinds", [])):
        _add_gps_kinds(draft, word, [str(w) for w in hand.get("gps_kinds_except", [])], src.gps)
    for prefix in hand.get("code_prefixes", []):
        code = str(prefix["prefix"])
        if not cm.is_valid_item(code) or len(code) < 3:
            raise ValueError(f"curation: ICD-10-CM {code} ({draft.label}) is not a category or subcategory")
        draft.prefixes[code].add(str(prefix["source"]))


def _add_gps_kinds(draft: Draft, word: str, unless: list[str], gps: dict[str, str]) -> None:
    """``gps_kinds``: the GPS disorders whose name holds ``word`` are kinds of the concept ("Closed fracture of
    femur" is a bone fracture): their codes count, so a record coded with the narrower kind meets the broad
    criterion (the lexicon has no SNOMED CT hierarchy). Coordinations, causes, results and negations are left out,
    and so are names holding a word of ``unless`` (a fractured tooth is no bone fracture)."""
    pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
    other = re.compile(r"\b(?:" + "|".join(map(re.escape, unless)) + r")\b", re.IGNORECASE) if unless else None
    found = 0
    for code, display in sorted(gps.items(), key=lambda item: int(item[0])):
        match = gps_findings.TAGGED.match(display)
        if match is None or match["tag"] != "disorder" or not pattern.search(match["name"]):
            continue
        if gps_findings.never_its_own(match["name"]) or (other is not None and other.search(match["name"])):
            continue
        draft.book.add(SCT, code, f"SNOMED CT GPS 2020: a kind of {draft.label} (its name holds '{word}')")
        found += 1
    if not found:
        raise ValueError(f"curation: gps_kinds {word!r} ({draft.label}) names no GPS disorder")


def _extra_drafts(src: Sources, curation: dict[str, Any]) -> dict[str, Draft]:
    """Concepts the ontologies lack ("deep vein thrombosis", "sepsis"), defined in the curation file."""
    drafts: dict[str, Draft] = {}
    for key, entry in sorted((curation.get("extra_concepts") or {}).items()):
        display = str(entry["display"])
        phrases = {display.lower(): LABEL, **{str(s).lower(): HAND for s in entry.get("synonyms", [])}}
        abbreviations = {str(a): HAND for a in entry.get("abbreviations", [])}
        draft = Draft(display, str(entry.get("category", "condition")), phrases, abbreviations)
        for term_id in entry.get("terms", []):
            draft.book.merge(src.books.get(str(term_id), CodeBook()))
        _add_hand_codes(draft, entry, src)
        draft.key = str(key)
        draft.display = display
        drafts[f"extra:{key}"] = draft
    return drafts


def _gps_drafts(shared: Path, drafts: dict[str, Draft], known: Curated, curation: dict[str, Any]) -> dict[str, Draft]:
    """Disorders and findings only the SNOMED CT GPS names (see ``gps_findings``), as concepts of their own."""
    taken = set(known.phrases)
    owned: set[str] = set()
    for draft in drafts.values():
        taken.update(key for key, _priority in draft.claims())
        owned.update(code for system, code in draft.book.origins if system == SCT)
    stop = frozenset(phrase_key(str(n)) for n in curation.get("gps_stop_names", {}))
    found: dict[str, Draft] = {}
    for name, category, sct_codes, icd_codes in gps_findings.candidates(
        shared, GPS, frozenset(taken), frozenset(owned), stop, phrase_key
    ):
        draft = Draft(name, category, {name.lower(): LABEL}, {})
        for code in sct_codes:
            draft.book.add(SCT, code, gps_findings.GPS_ORIGIN)
        for code in icd_codes:
            if not _icd_is_residual(code):
                draft.book.add(ICD, code, gps_findings.ICD_MATCH)
        found[f"gps:{sct_codes[0]}"] = draft
    return found


# ---------------------------------------------------------------------------------------------
# Shared names


def _against_curated(drafts: dict[str, Draft], curated: Curated) -> dict[str, Draft]:
    """Leave the curated tables alone: a term named like a curated condition *is* that concept (left out);
    other names a curated concept already uses are dropped; so is a concept whose label one uses."""
    kept: dict[str, Draft] = {}
    for draft_id, draft in drafts.items():
        own = [p for p, priority in draft.phrases.items() if priority != HAND]
        if not draft_id.startswith("extra:") and any(phrase_key(p) in curated.condition_phrases for p in own):
            continue
        if draft.label_key in curated.phrases:
            continue
        draft.drop_names({key for key, _ in draft.claims() if key in curated.phrases})
        kept[draft_id] = draft
    return kept


def _resolve_shared(drafts: dict[str, Draft]) -> None:
    """A phrase claimed by several concepts goes to the one with the strongest claim, or to none."""
    claims: dict[str, dict[str, int]] = defaultdict(dict)
    for draft_id, draft in drafts.items():
        for key, priority in draft.claims():
            claims[key][draft_id] = max(priority, claims[key].get(draft_id, 0))
    losers: dict[str, set[str]] = defaultdict(set)
    for key, holders in claims.items():
        if len(holders) < 2:
            continue
        best = max(holders.values())
        top = [d for d, priority in holders.items() if priority == best]
        for draft_id in holders:
            if len(top) > 1 or draft_id != top[0]:
                losers[draft_id].add(key)
    for draft_id, keys in losers.items():
        drafts[draft_id].drop_names(keys)


def _assign_keys(drafts: dict[str, Draft], taken: frozenset[str]) -> None:
    """``condition.<slug of the label>``; a slug that two terms (or a curated concept) share gets the term id."""
    slugs: dict[str, list[str]] = defaultdict(list)
    for draft_id, draft in drafts.items():
        if not draft.key:
            slugs[f"condition.{_slug(draft.label)}"].append(draft_id)
    for key, draft_ids in slugs.items():
        for draft_id in draft_ids:
            unique = len(draft_ids) == 1 and key not in taken
            drafts[draft_id].key = key if unique else f"{key}-{_slug(draft_id)}"
            drafts[draft_id].display = _display(drafts[draft_id].label)


# ---------------------------------------------------------------------------------------------
# Output


def _icd_leaves(code: str) -> frozenset[str]:
    return frozenset(d for d in cm.get_descendants(code) if cm.is_leaf(d))


_LEAVES: dict[str, frozenset[str]] = {}


def _compress_icd(codes: set[str]) -> tuple[set[str], set[str]]:
    """(prefixes, exact codes) covering a value set's ICD-10-CM codes: a category or subcategory whose every
    billable code is in the set becomes one prefix (the set lists E11.9, E11.65 ... -> E11)."""
    prefixes: set[str] = set()
    exact: set[str] = set()
    for code in codes:
        best = None
        parent = cm.get_parent(code)
        while parent and not cm.is_chapter_or_block(parent):
            if parent not in _LEAVES:
                _LEAVES[parent] = _icd_leaves(parent)
            if not _LEAVES[parent] <= codes:
                break
            best, parent = parent, cm.get_parent(parent)
        if best:
            prefixes.add(best)
        else:
            exact.add(code)
    return prefixes, exact


def _valueset_codes(draft: Draft) -> dict[str, set[str]]:
    """The value sets' SNOMED CT codes go into the code book; their ICD-10-CM codes are returned (code ->
    origins) for compression."""
    icd: dict[str, set[str]] = defaultdict(set)
    for valueset in draft.valuesets:
        origin = f"VSAC {valueset.oid} ({valueset.title})"
        for system, code, _display in valueset.codes:
            if system == SCT:
                draft.book.add(SCT, code, origin)
            elif cm.is_valid_item(code):
                icd[code].add(origin)
    return icd


def _joined(origins: Iterable[str], *notes: str) -> str:
    return "; ".join([*sorted(origins), *notes])


def _icd_entries(draft: Draft) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """ICD-10-CM codings and prefixes: a DO/Mondo code is both (J45 also counts J45.909); a value set's codes
    are compressed to prefixes where whole categories are in it."""
    own = {code: origins for (system, code), origins in draft.book.origins.items() if system == ICD}
    listed = _valueset_codes(draft)
    prefix_origins: dict[str, set[str]] = defaultdict(set)
    for code, origins in own.items():
        prefix_origins[code] |= origins
    for prefix, origins in draft.prefixes.items():
        prefix_origins[prefix] |= origins
    compressed, exact = _compress_icd(set(listed))
    for prefix in compressed:
        prefix_origins[prefix] |= {o for code, origins in listed.items() if code.startswith(prefix) for o in origins}
    final = sorted(p for p in prefix_origins if not any(q != p and p.startswith(q) for q in prefix_origins))

    def covered(code: str) -> bool:
        return any(code.startswith(p) for p in final)

    codes = {c: o for c, o in own.items() if c in final or not covered(c)}
    codes.update({c: listed[c] for c in exact if not covered(c) and c not in codes})
    codings = [
        {"system": ICD, "code": c, "display": _icd_description(c), "source": _joined(o, ICD_NAME)}
        for c, o in sorted(codes.items())
    ]
    prefixes = [
        {"system": ICD, "prefix": p, "display": _icd_description(p), "source": _joined(prefix_origins[p], ICD_NAME)}
        for p in final
    ]
    return codings, prefixes


def _sct_entries(draft: Draft, gps: dict[str, str]) -> list[dict[str, Any]]:
    """SNOMED CT codings: named (FSN) when in the GPS; otherwise an identifier named after the DO/Mondo term."""
    entries = []
    for (system, code), origins in sorted(draft.book.origins.items()):
        if system != SCT:
            continue
        entry: dict[str, Any] = {"system": SCT, "code": code}
        if code in gps:
            entry.update(display=gps[code], source=_joined(origins, GPS_NAME), outside_free_set=False)
        else:
            name = draft.book.names.get((system, code))
            entry.update(source=_joined(origins, OUTSIDE_GPS), outside_free_set=True)
            if name and name != draft.label:  # the term's own label would repeat the concept's display
                entry["display"] = name
        entries.append(entry)
    return entries


def _emit(draft: Draft, gps: dict[str, str]) -> dict[str, Any]:
    icd_codings, prefixes = _icd_entries(draft)
    concept: dict[str, Any] = {
        "category": draft.category,
        "display": draft.display,
        "synonyms": sorted(p for p in draft.phrases if p != draft.display.lower()),
        "codings": [*_sct_entries(draft, gps), *icd_codings],
        "resource_types": ["Condition"],
    }
    if draft.abbreviations:
        concept["abbreviations"] = sorted(draft.abbreviations)
    if prefixes:
        concept["code_prefixes"] = prefixes
    if draft.site_codes:
        concept["site_codings"] = [
            {"system": ICD, "code": c, "display": _icd_description(c), "source": _joined(o, ICD_NAME)}
            for c, o in sorted(draft.site_codes.items())
        ]
    return concept


def build(shared: Path, curated: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The generated condition concepts, keyed ``condition.<slug>`` (see the module docstring)."""
    curation = _load_curation()
    rules = _rules(curation)
    src = _read_sources(shared, curation)
    known = _curated(curated)
    drafts = {**_term_drafts(src, curation, rules), **_extra_drafts(src, curation)}
    drafts = _against_curated({**drafts, **_gps_drafts(shared, drafts, known, curation)}, known)
    labelled = {i for i, d in drafts.items() if d.label.lower() in d.phrases}
    _resolve_shared(drafts)
    # a concept whose label went to another one would still be found by its display: leave it out
    lost = {i for i in labelled if drafts[i].label.lower() not in drafts[i].phrases}
    drafts = {i: d for i, d in drafts.items() if i not in lost and (d.phrases or d.abbreviations)}
    _assign_keys(drafts, known.keys)
    concepts = {d.key: _emit(d, src.gps) for d in drafts.values()}
    return {key: concept for key, concept in concepts.items() if concept["codings"] or "code_prefixes" in concept}
