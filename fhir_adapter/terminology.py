"""The medical lexicon: concepts with their codes, synonyms and units, loaded from mappings/.

Shared by the criteria compiler (finding concepts in text), the mapping (coding
interventions) and matching (deciding whether a patient's coding belongs to a concept).
The knowledge itself is data: ``mappings/labs.yaml``, ``conditions.yaml``,
``medications.yaml``, ``performance.yaml``, ``units.yaml``.

Table schema (labs, conditions, medications, performance)::

    concepts:
      lab.neutrophils:                  # the concept key
        category: lab                   # a criteria.model.Category
        display: Absolute neutrophil count
        synonyms: [anc, neutrophil count]     # matched case-insensitively
        abbreviations: [ANC]            # optional; matched with their exact case
        codings: [{system, code, display, source}]
        code_prefixes: [{system, prefix, display, source}]
        resource_types: [Observation]
        unit: 10*9/L                    # labs: canonical UCUM unit
        conversions: [{from, to, factor, source}]   # analyte-specific (molar) factors
        answers: [{system, code, value, display, source}]
        site_codings / morphology_codings: [{system, code, display, source}]
        systemic_only: false
        members: [medication.prednisone, ...]  # a class's drugs / a disease group's diseases

``medications.yaml`` also has ``non_systemic: {routes: [{system, code, display, source}],
dose_form_words: [...]}``.

Text matching (:meth:`Lexicon.find`) works on word tokens (runs of letters and digits):
a phrase matches a run of whole tokens, so ``AST`` never matches inside ``last``. Tokens
are compared lower-cased and accent-stripped, joined without their separators when these
are only spaces, hyphens, slashes or apostrophes (``PD-1`` = ``PD 1`` = ``PD1``,
``Crohn's`` = ``Crohns``); a phrase whose last word has four letters or more also matches
with a trailing ``s`` (``platelet`` -> ``platelets``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fhir_adapter.criteria.model import Category, Coding
from fhir_adapter.errors import ConfigError
from fhir_adapter.mappings import load_table

CONCEPT_TABLES: tuple[str, ...] = ("labs", "conditions", "medications", "performance")
"""The mapping tables holding concepts."""


class CodePrefix(BaseModel):
    """Codes of ``system`` starting with ``prefix`` count (ICD-10-CM ``C20``, ATC ``L01FF``)."""

    model_config = ConfigDict(frozen=True)

    system: str
    prefix: str


class UnitConversion(BaseModel):
    """An analyte-specific factor: ``value[to] = value[from] * factor`` (bilirubin mg/dL -> umol/L: 17.1)."""

    model_config = ConfigDict(frozen=True)

    from_unit: str
    to_unit: str
    factor: float


class Concept(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    """``lab.neutrophils``, ``condition.hiv``, ``medication.pd1-pdl1-inhibitors``, ``performance.ecog``."""
    category: Category
    display: str
    synonyms: tuple[str, ...] = ()
    """Lower-case phrases that name the concept in criteria text."""
    codings: tuple[Coding, ...] = ()
    """Every code that counts as this concept (alternates included)."""
    code_prefixes: tuple[CodePrefix, ...] = ()
    resource_types: tuple[str, ...] = ()
    """FHIR types where evidence for the concept lives."""
    unit: str | None = None
    """Canonical UCUM unit (labs)."""
    answers: dict[str, float] = Field(default_factory=dict)
    """Coded answers with their numeric meaning, keyed ``system|code`` (ECOG LA9622-7 -> 0)."""
    site_codings: tuple[Coding, ...] = ()
    """For histology-specific conditions: site codes (C20 rectum) that count when ..."""
    morphology_codings: tuple[Coding, ...] = ()
    """... the Condition also carries one of these morphologies (mCODE histology extension)."""
    systemic_only: bool = False
    """Medication classes where only systemic routes count (systemic corticosteroids)."""
    members: tuple[str, ...] = ()
    """Keys of member concepts (a class and its drugs, a disease group and its diseases)."""
    abbreviations: tuple[str, ...] = ()
    """Abbreviations matched only with the exact case written here (``MS``, ``SLE``, ``UC``)."""
    conversions: tuple[UnitConversion, ...] = ()
    """Analyte-specific unit factors (molar conversions), used by :func:`fhir_adapter.units.convert`."""

    def matches(self, system: str | None, code: str | None) -> bool:
        """Whether a coding belongs to this concept (exact code or a listed prefix)."""
        if not system or not code:
            return False
        if any(c.system == system and c.code == code for c in self.codings):
            return True
        return any(p.system == system and code.startswith(p.prefix) for p in self.code_prefixes)

    @property
    def is_class(self) -> bool:
        """A group of member concepts (drug class, disease group) rather than a single thing."""
        return bool(self.members)


class ConceptMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    concept: Concept
    start: int
    end: int
    phrase: str


# ---------------------------------------------------------------------------------------------
# Table entries (what the YAML holds; every code carries its source)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CodingEntry(_Entry):
    system: str
    code: str
    display: str | None = None
    source: str = Field(min_length=1)

    def coding(self) -> Coding:
        return Coding(system=self.system, code=self.code, display=self.display)


class _PrefixEntry(_Entry):
    system: str
    prefix: str = Field(min_length=1)
    display: str | None = None
    source: str = Field(min_length=1)


class _AnswerEntry(_CodingEntry):
    value: float


class _ConversionEntry(_Entry):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_unit: str = Field(alias="from")
    to_unit: str = Field(alias="to")
    factor: float = Field(gt=0)
    source: str = Field(min_length=1)


class _ConceptEntry(_Entry):
    category: Category
    display: str
    synonyms: list[str] = Field(default_factory=list)
    abbreviations: list[str] = Field(default_factory=list)
    codings: list[_CodingEntry] = Field(default_factory=list)
    code_prefixes: list[_PrefixEntry] = Field(default_factory=list)
    resource_types: list[str] = Field(default_factory=list)
    unit: str | None = None
    conversions: list[_ConversionEntry] = Field(default_factory=list)
    answers: list[_AnswerEntry] = Field(default_factory=list)
    site_codings: list[_CodingEntry] = Field(default_factory=list)
    morphology_codings: list[_CodingEntry] = Field(default_factory=list)
    systemic_only: bool = False
    members: list[str] = Field(default_factory=list)
    note: str | None = None
    """Free text for maintainers (why a code is absent, what a prefix covers)."""

    def concept(self, key: str) -> Concept:
        return Concept(
            key=key,
            category=self.category,
            display=self.display,
            synonyms=tuple(s.lower() for s in self.synonyms),
            abbreviations=tuple(self.abbreviations),
            codings=tuple(c.coding() for c in self.codings),
            code_prefixes=tuple(CodePrefix(system=p.system, prefix=p.prefix) for p in self.code_prefixes),
            resource_types=tuple(self.resource_types),
            unit=self.unit,
            conversions=tuple(
                UnitConversion(from_unit=c.from_unit, to_unit=c.to_unit, factor=c.factor) for c in self.conversions
            ),
            answers={f"{a.system}|{a.code}": a.value for a in self.answers},
            site_codings=tuple(c.coding() for c in self.site_codings),
            morphology_codings=tuple(c.coding() for c in self.morphology_codings),
            systemic_only=self.systemic_only,
            members=tuple(self.members),
        )


class _NonSystemicEntry(_Entry):
    routes: list[_CodingEntry] = Field(default_factory=list)
    dose_form_words: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(r"[^\W_]+")
_JOINABLE = re.compile(r"[\s\-/'’‐‑–_]*")
"""Separators that may sit inside one phrase (anything else, like ``,`` or ``(``, ends it)."""
_MAX_PLURAL_STEM = 4


def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


def _phrase_key(phrase: str, *, fold: bool = True) -> tuple[str, int]:
    """The lookup key of a phrase (its folded tokens joined) and its number of tokens."""
    toks = [t for _, _, t in _tokens(phrase)]
    return ("".join(_fold(t) if fold else t for t in toks), len(toks))


def normalize_name(name: str) -> str:
    """A name as compared by :meth:`Lexicon.find_drug`: folded tokens joined (``IL-2`` -> ``il2``)."""
    return _phrase_key(name)[0]


class _PhraseIndex:
    """Phrase keys -> concept keys, with the longest phrase length in tokens."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.max_tokens = 0

    def add(self, key: str, n_tokens: int, concept_key: str, *, where: str) -> None:
        if not key:
            return
        known = self.keys.get(key)
        if known is not None and known != concept_key:
            raise ConfigError(f"phrase {key!r} names both {known} and {concept_key}", source=where)
        self.keys[key] = concept_key
        self.max_tokens = max(self.max_tokens, n_tokens)


# ---------------------------------------------------------------------------------------------
# The lexicon


class Lexicon:
    """Every concept of the concept tables, with text and code look-ups."""

    def __init__(
        self, concepts: Sequence[Concept], non_systemic_routes: Sequence[Coding], dose_form_words: Sequence[str]
    ):
        self._concepts: dict[str, Concept] = {}
        for concept in concepts:
            if concept.key in self._concepts:
                raise ConfigError(f"duplicate concept key {concept.key}", source="mappings")
            self._concepts[concept.key] = concept
        for concept in concepts:
            for member in concept.members:
                if member not in self._concepts:
                    raise ConfigError(f"unknown member {member}", source="mappings", field=concept.key)
        for key in [c.key for c in concepts if c.members]:
            self._concepts[key] = self._with_member_codes(self._concepts[key])
        self._folded = _PhraseIndex()
        self._exact = _PhraseIndex()
        self._drugs: dict[str, str] = {}
        for concept in self._concepts.values():
            self._index(concept)
        self._routes = frozenset((c.system, c.code) for c in non_systemic_routes)
        self._dose_forms = _PhraseIndex()
        for word in dose_form_words:
            key, n = _phrase_key(word)
            if not key:
                continue
            variants = [key, key + "s"] if len(_tokens(word)[-1][2]) >= _MAX_PLURAL_STEM else [key]
            for variant in variants:
                self._dose_forms.keys.setdefault(variant, word)
            self._dose_forms.max_tokens = max(self._dose_forms.max_tokens, n)

    def _index(self, concept: Concept) -> None:
        where = concept.key
        phrases = [concept.display.lower(), *concept.synonyms]
        for phrase in phrases:
            key, n = _phrase_key(phrase)
            if not key:
                continue
            self._folded.add(key, n, concept.key, where=where)
            last = _tokens(phrase)[-1][2]
            if len(last) >= _MAX_PLURAL_STEM and last.isalpha() and not key.endswith("s"):
                self._folded.keys.setdefault(key + "s", concept.key)
        for abbreviation in concept.abbreviations:
            key, n = _phrase_key(abbreviation, fold=False)
            self._exact.add(key, n, concept.key, where=where)
        if concept.category == "medication" and not concept.is_class:
            for phrase in [*phrases, *concept.abbreviations]:
                name = normalize_name(phrase)
                known = self._drugs.setdefault(name, concept.key)
                if known != concept.key:
                    raise ConfigError(f"drug name {phrase!r} names both {known} and {concept.key}", source=where)

    # -- look-ups -------------------------------------------------------------------------------

    def get(self, key: str) -> Concept:
        try:
            return self._concepts[key]
        except KeyError:
            raise ConfigError(f"unknown concept key {key!r}", source="lexicon") from None

    def __contains__(self, key: object) -> bool:
        return key in self._concepts

    def concepts(self, category: str | None = None) -> list[Concept]:
        return [c for c in self._concepts.values() if category is None or c.category == category]

    def _with_member_codes(self, concept: Concept) -> Concept:
        """A class whose value set also lists its members' codes, so a class is searchable by code."""
        codings = list(concept.codings)
        prefixes = list(concept.code_prefixes)
        for member in self.members(concept):
            codings += [c for c in member.codings if c not in codings]
            prefixes += [p for p in member.code_prefixes if p not in prefixes]
        return concept.model_copy(update={"codings": tuple(codings), "code_prefixes": tuple(prefixes)})

    def members(self, concept: Concept, *, recursive: bool = True) -> list[Concept]:
        """The member concepts of a class (members of members too, when ``recursive``)."""
        found: list[Concept] = []
        seen = {concept.key}
        stack = list(reversed(concept.members))
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            member = self._concepts[key]
            found.append(member)
            if recursive:
                stack.extend(reversed(member.members))
        return found

    def matches(self, concept: Concept, system: str | None, code: str | None) -> bool:
        """Whether a coding belongs to the concept or to one of its members (recursively)."""
        return concept.matches(system, code) or any(m.matches(system, code) for m in self.members(concept))

    def find(self, text: str) -> list[ConceptMatch]:
        """Every concept mention in ``text``: whole words, longest first, non-overlapping, in text order."""
        toks = _tokens(text)
        folded = [_fold(t) for _, _, t in toks]
        candidates: list[tuple[int, int, int, str]] = []  # (-length in chars, start token, end token, key)
        for i in range(len(toks)):
            for index, words in ((self._folded, folded), (self._exact, None)):
                joined = ""
                for j in range(i, min(len(toks), i + index.max_tokens)):
                    if j > i and not _JOINABLE.fullmatch(text, toks[j - 1][1], toks[j][0]):
                        break
                    joined += words[j] if words is not None else toks[j][2]
                    concept_key = index.keys.get(joined)
                    if concept_key is not None:
                        candidates.append((toks[i][0] - toks[j][1], i, j, concept_key))
        candidates.sort()
        taken = [False] * len(toks)
        chosen: list[ConceptMatch] = []
        for _, i, j, concept_key in candidates:
            if any(taken[i : j + 1]):
                continue
            for k in range(i, j + 1):
                taken[k] = True
            start, end = toks[i][0], toks[j][1]
            chosen.append(
                ConceptMatch(concept=self._concepts[concept_key], start=start, end=end, phrase=text[start:end])
            )
        chosen.sort(key=lambda m: m.start)
        return chosen

    def find_drug(self, name: str) -> Concept | None:
        """The single drug (not a class) named exactly ``name`` (display, synonym, brand or code name).

        A name with a parenthesis is also tried without it and by its content:
        ``Sintilimab (IBI308)``.
        """
        tries = [name]
        inner = re.findall(r"\(([^()]*)\)", name)
        if inner:
            tries.append(re.sub(r"\([^()]*\)", " ", name))
            tries.extend(inner)
        for attempt in tries:
            key = self._drugs.get(normalize_name(attempt))
            if key is not None:
                return self._concepts[key]
        return None

    def answer_value(self, concept: Concept, system: str, code: str) -> float | None:
        """The numeric meaning of a coded answer (ECOG ``LA9623-5`` -> 1), None when unknown."""
        return concept.answers.get(f"{system}|{code}")

    def non_systemic(self, route_codings: Sequence[Coding], text: str) -> bool:
        """Whether a medication is local (topical, inhaled, nasal, eye/ear, rectal-local).

        True when a route coding is a non-systemic route, or when the medication text names a
        local dose form (``cream``, ``inhaler``, ``eye drops``...).
        """
        if any((c.system, c.code) in self._routes for c in route_codings):
            return True
        toks = _tokens(text)
        folded = [_fold(t) for _, _, t in toks]
        index = self._dose_forms
        for i in range(len(toks)):
            joined = ""
            for j in range(i, min(len(toks), i + index.max_tokens)):
                if j > i and not _JOINABLE.fullmatch(text, toks[j - 1][1], toks[j][0]):
                    break
                joined += folded[j]
                if joined in index.keys:
                    return True
        return False


def _table_concepts(name: str, table: dict[str, Any]) -> list[Concept]:
    entries = table.get("concepts")
    if not isinstance(entries, dict):
        raise ConfigError("a concept table needs a 'concepts' mapping", source=f"mappings/{name}.yaml")
    concepts = []
    for key, raw in entries.items():
        try:
            entry = _ConceptEntry.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"malformed entry {key}: {where}: {first['msg']}", source=f"mappings/{name}.yaml", field=str(key)
            ) from exc
        concepts.append(entry.concept(str(key)))
    return concepts


def build_lexicon(tables: dict[str, dict[str, Any]]) -> Lexicon:
    """A lexicon from already loaded tables (name -> table); :func:`lexicon` loads the shipped ones."""
    concepts: list[Concept] = []
    for name, table in tables.items():
        concepts.extend(_table_concepts(name, table))
    raw = tables.get("medications", {}).get("non_systemic") or {}
    try:
        non_systemic = _NonSystemicEntry.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"malformed non_systemic: {exc.errors()[0]['msg']}", source="mappings/medications.yaml"
        ) from exc
    return Lexicon(concepts, [r.coding() for r in non_systemic.routes], non_systemic.dose_form_words)


@cache
def lexicon() -> Lexicon:
    """The lexicon of the shipped tables (loaded once)."""
    return build_lexicon({name: load_table(name) for name in CONCEPT_TABLES})


def find_drug(name: str) -> Concept | None:
    """Module-level shortcut for ``lexicon().find_drug(name)`` (used by the intervention mapping)."""
    return lexicon().find_drug(name)


def find(text: str) -> list[ConceptMatch]:
    """Module-level shortcut for ``lexicon().find(text)``."""
    return lexicon().find(text)
