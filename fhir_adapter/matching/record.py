"""What every evaluation rule shares: the matching configuration, small FHIR helpers, code sets, the per-atom
plan, the evaluation context, a patient's cached record, and the helpers that build results.

The rules themselves live in :mod:`~fhir_adapter.matching.measurements`, :mod:`~fhir_adapter.matching.findings`
and :mod:`~fhir_adapter.matching.demographics`; :mod:`~fhir_adapter.matching.evaluate` dispatches to them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from fhir_adapter.criteria.model import Atom, Coding
from fhir_adapter.errors import ConfigError, InputError
from fhir_adapter.mappings import load_table
from fhir_adapter.matching.model import AtomOutcome, AtomResult, Evidence, MatchOptions, PatientData
from fhir_adapter.terminology import Concept
from fhir_adapter.words import open_item

_M = TypeVar("_M", bound=BaseModel)
Converter = Callable[[float, str, str, str | None], float | None]
_EPS = 1e-9


class Vocabulary(Protocol):
    """What the evaluator needs of the lexicon (``fhir_adapter.terminology.lexicon()``)."""

    def get(self, key: str) -> Concept: ...

    def answer_value(self, concept: Concept, system: str, code: str) -> float | None: ...

    def non_systemic(self, route_codings: Sequence[Coding], text: str) -> bool: ...


# -- configuration -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchingConfig:
    """``mappings/matching.yaml``, parsed once."""

    recency_days: dict[str, int]
    current_max_days: dict[str, int]
    condition_active: frozenset[str]
    condition_inactive: frozenset[str]
    condition_excluded_verification: frozenset[str]
    condition_tentative_verification: frozenset[str]
    allergy_inactive: frozenset[str]
    allergy_excluded_verification: frozenset[str]
    allergy_tentative_verification: frozenset[str]
    excluded_status: dict[str, frozenset[str]]
    current_status: dict[str, frozenset[str]]
    """Medication status values that count as current use ("current use of warfarin")."""
    medication_types: tuple[str, ...]
    histology_extension: str
    system_aliases: dict[str, tuple[str, ...]]
    positive_answers: frozenset[tuple[str, str]]
    positive_strings: frozenset[str]


@cache
def matching_config() -> MatchingConfig:
    t = load_table("matching")
    cond, allergy = t["condition"], t["allergy"]
    return MatchingConfig(
        recency_days={str(k): int(v) for k, v in t["recency_days"].items()},
        current_max_days={str(k): int(v) for k, v in t.get("current_max_days", {}).items()},
        condition_active=frozenset(cond["active_clinical_status"]),
        condition_inactive=frozenset(cond["inactive_clinical_status"]),
        condition_excluded_verification=frozenset(cond["excluded_verification_status"]),
        condition_tentative_verification=frozenset(cond["tentative_verification_status"]),
        allergy_inactive=frozenset(allergy["inactive_clinical_status"]),
        allergy_excluded_verification=frozenset(allergy["excluded_verification_status"]),
        allergy_tentative_verification=frozenset(allergy["tentative_verification_status"]),
        excluded_status={str(k): frozenset(v) for k, v in t["excluded_status"].items()},
        current_status={str(k): frozenset(v) for k, v in t["current_status"].items()},
        medication_types=tuple(t["medication_resource_types"]),
        histology_extension=str(t["histology_extension"]),
        system_aliases={str(k): tuple(v) for k, v in t.get("system_aliases", {}).items()},
        positive_answers=frozenset((str(a["system"]), str(a["code"])) for a in t["positive_answers"]),
        positive_strings=frozenset(s.lower() for s in t["positive_strings"]),
    )


# -- small FHIR helpers ------------------------------------------------------------------------------------


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant (partial dates take the first day)."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        year = int(value[0:4])
        month = int(value[5:7]) if len(value) >= 7 else 1
        day = int(value[8:10]) if len(value) >= 10 else 1
        return date(year, month, day)
    except ValueError:
        return None


def first_date(resource: dict[str, Any], *fields: str) -> date | None:
    for name in fields:
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start") or value.get("end")
        found = parse_date(value)
        if found is not None:
            return found
    return None


DATE_FIELDS: dict[str, tuple[str, ...]] = {
    "Observation": ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"),
    "Condition": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "MedicationRequest": ("authoredOn",),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod", "dateAsserted"),
    "MedicationAdministration": ("effectiveDateTime", "effectivePeriod"),
    "Procedure": ("performedDateTime", "performedPeriod"),
    "AllergyIntolerance": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "Immunization": ("occurrenceDateTime",),
}


def resource_date(resource: dict[str, Any]) -> date | None:
    return first_date(resource, *DATE_FIELDS.get(resource.get("resourceType", ""), ()))


def codings(concept: Any) -> Iterator[tuple[str, str, str | None]]:
    """``(system, code, display)`` of a CodeableConcept."""
    if not isinstance(concept, dict):
        return
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                yield system, code, coding.get("display")


def status_code(resource: dict[str, Any], field_name: str) -> str | None:
    """The code of a status CodeableConcept (the system is implied by the element)."""
    concept = resource.get(field_name)
    for coding in concept.get("coding") or () if isinstance(concept, dict) else ():
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str):
            return code
    return None


def ref(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def concept_label(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text:
        return text
    for _s, code, display in codings(concept):
        return display or code
    return ""


def fmt_number(value: float) -> str:
    return f"{value:.6g}"


# -- code sets -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeSet:
    """Exact codes and code prefixes (``system``, ``code``) that count as one concept.

    Answers are memoised per coding (the population's distinct codings are few), so matching a
    patient's record costs a dict look-up per distinct coding.
    """

    exact: frozenset[tuple[str, str]] = frozenset()
    prefixes: tuple[tuple[str, str], ...] = ()
    dotted: bool = False
    """Also accept ``<code>.<anything>`` (ICD sub-codes of a listed site code)."""
    _memo: dict[tuple[str, str], bool] = field(default_factory=dict, compare=False, repr=False)
    _keys: dict[int, list[tuple[str, str]]] = field(default_factory=dict, compare=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes)

    def matches(self, system: str, code: str, aliases: dict[str, tuple[str, ...]]) -> bool:
        key = (system, code)
        found = self._memo.get(key)
        if found is None:
            found = self._matches(system, code, aliases)
            if len(self._memo) < 100_000:
                self._memo[key] = found
        return found

    def lookup_keys(self, aliases: dict[str, tuple[str, ...]]) -> list[tuple[str, str]] | None:
        """The index keys to look up directly (exact codes plus their alias spellings), or None
        when prefixes or dotted sub-codes need a scan of the record's codings."""
        if self.prefixes or self.dotted:
            return None
        keys = self._keys.get(id(aliases))
        if keys is None:
            keys = sorted(self.exact)
            for source, targets in sorted(aliases.items()):
                keys.extend((source, code) for system, code in sorted(self.exact) if system in targets)
            self._keys[id(aliases)] = keys
        return keys

    def _matches(self, system: str, code: str, aliases: dict[str, tuple[str, ...]]) -> bool:
        for sys in (system, *aliases.get(system, ())):
            if (sys, code) in self.exact:
                return True
            if self.dotted and "." in code and (sys, code.split(".", 1)[0]) in self.exact:
                return True
            if any(sys == p_sys and code.startswith(p) for p_sys, p in self.prefixes):
                return True
        return False


def _codeset(concepts: Iterable[Concept], extra: Iterable[Coding] = (), *, dotted: bool = False) -> CodeSet:
    exact: set[tuple[str, str]] = {(c.system, c.code) for c in extra}
    prefixes: set[tuple[str, str]] = set()
    for concept in concepts:
        exact.update((c.system, c.code) for c in concept.codings)
        prefixes.update((p.system, p.prefix) for p in concept.code_prefixes)
    return CodeSet(frozenset(exact), tuple(sorted(prefixes)), dotted)


def _answer_codes(concept: Concept | None) -> CodeSet:
    pairs = set()
    for key in concept.answers if concept else ():
        system, _, code = key.rpartition("|")
        if system and code:
            pairs.add((system, code))
    return CodeSet(frozenset(pairs))


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({n.strip().lower() for n in names if n and len(n.strip()) >= 3}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in cleaned) + r")(?![\w-])", re.IGNORECASE)


# -- per-atom plan (built once per atom, reused for every patient) ------------------------------------------


@dataclass(frozen=True)
class AtomPlan:
    atom: Atom
    concept: Concept | None
    label: str
    codes: CodeSet
    answer_codes: CodeSet
    site_codes: CodeSet
    morphology_codes: CodeSet
    except_codes: CodeSet
    names: re.Pattern[str] | None
    systemic_only: bool


def _lookup(vocabulary: Vocabulary, key: str | None) -> Concept | None:
    if not key:
        return None
    try:
        return vocabulary.get(key)
    except (KeyError, LookupError, ConfigError):
        return None


def _members(vocabulary: Vocabulary, concept: Concept, seen: set[str]) -> list[Concept]:
    found: list[Concept] = []
    for key in concept.members:
        if key in seen:
            continue
        seen.add(key)
        member = _lookup(vocabulary, key)
        if member is not None:
            found.append(member)
            found.extend(_members(vocabulary, member, seen))
    return found


def plan_atom(atom: Atom, vocabulary: Vocabulary) -> AtomPlan:
    concept = _lookup(vocabulary, atom.concept_key)
    members = _members(vocabulary, concept, {concept.key}) if concept else []
    concepts = [concept, *members] if concept else []
    names: list[str] = []
    if atom.category == "medication":
        drugs = members or concepts
        for drug in drugs:
            names.append(drug.display)
            names.extend(drug.synonyms)
    excepted = _lookup(vocabulary, atom.excluded_concept_key)
    except_concepts = [excepted, *_members(vocabulary, excepted, {excepted.key})] if excepted else []
    except_codings = list(atom.excluded_concepts)
    label = concept.display if concept else (atom.concept_key or atom.text[:60])
    return AtomPlan(
        atom=atom,
        concept=concept,
        label=label[:1].lower() + label[1:] if label[:1].isupper() and not label[1:2].isupper() else label,
        codes=_codeset(concepts, atom.concepts),
        answer_codes=_answer_codes(concept),
        site_codes=CodeSet(frozenset((c.system, c.code) for c in concept.site_codings), dotted=True)
        if concept
        else CodeSet(),
        morphology_codes=CodeSet(frozenset((c.system, c.code) for c in concept.morphology_codings))
        if concept
        else CodeSet(),
        except_codes=_codeset(except_concepts, except_codings, dotted=True),
        names=_name_pattern(names),
        systemic_only=bool(concept and concept.systemic_only),
    )


# -- evaluation context --------------------------------------------------------------------------------------


def _units() -> Any:
    return importlib.import_module("fhir_adapter.units")


def _default_convert(value: float, from_unit: str, to_unit: str, concept_key: str | None) -> float | None:
    result = _units().convert(value, from_unit, to_unit, concept_key)
    return None if result is None else float(result)


def _default_normalize(text: str) -> str | None:
    result = _units().normalize_unit(text)
    return None if result is None else str(result)


def _default_vocabulary() -> Vocabulary:
    from fhir_adapter.terminology import lexicon

    return lexicon()


@dataclass
class EvalContext:
    """Everything an evaluation depends on besides the patient's data (reuse it across patients)."""

    as_of: date
    options: MatchOptions = field(default_factory=MatchOptions)
    vocabulary: Vocabulary = field(default_factory=_default_vocabulary)
    convert: Converter = _default_convert
    normalize_unit: Callable[[str], str | None] = _default_normalize
    config: MatchingConfig = field(default_factory=matching_config)
    plans: dict[int, AtomPlan] = field(default_factory=dict)

    def plan(self, atom: Atom) -> AtomPlan:
        found = self.plans.get(id(atom))
        if found is None or found.atom is not atom:
            found = plan_atom(atom, self.vocabulary)
            self.plans[id(atom)] = found
        return found

    def window(self, atom: Atom, category: str) -> int | None:
        if atom.within_days is not None:
            return atom.within_days
        if self.options.recency_days is not None:
            return self.options.recency_days
        return self.config.recency_days.get(category)


# -- a patient's record, cached per evaluation ------------------------------------------------------------


_CODE_FIELD = {
    "Observation": "code",
    "Condition": "code",
    "Procedure": "code",
    "AllergyIntolerance": "code",
    "Immunization": "vaccineCode",
}


def _components(observation: dict[str, Any]) -> list[dict[str, Any]]:
    """The components of an Observation (blood pressure 85354-9: systolic 8480-6, diastolic 8462-4) as
    Observations of their own, carrying the parent's id, status, dates and subject, so a component is read
    like any measurement (its evidence names the parent resource)."""
    parts = observation.get("component")
    if not isinstance(parts, list):
        return []
    inherited = {k: v for k, v in observation.items() if k not in ("code", "component") and not k.startswith("value")}
    inherited.pop("referenceRange", None)
    inherited.pop("interpretation", None)
    return [{**inherited, **part} for part in parts if isinstance(part, dict)]


class FilteredOut(Exception):
    """The evaluator read a type the data source cut to the lines of some code sets
    (:class:`~fhir_adapter.matching.retrieval.NarrowedEvidence`) otherwise than by one of them: the result could
    differ on the whole record, so the caller evaluates the patient on it instead."""


class PatientRecord:
    """One patient's resources, fetched once per type and indexed by coding.

    A source may hold some types cut to the resources with a code of some code sets (``data.narrowed``: type →
    those sets): such a type is then only read through :meth:`find` with one of them, else :class:`FilteredOut`."""

    def __init__(self, data: PatientData, patient_id: str) -> None:
        self.data = data
        self.patient_id = patient_id
        self._narrowed: dict[str, frozenset[CodeSet]] = getattr(data, "narrowed", None) or {}
        self._types: dict[str, Sequence[dict[str, Any]]] = {}
        self._index: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
        self._meds: list[tuple[dict[str, Any], list[tuple[str, str, str | None]], str]] | None = None
        self._patient: dict[str, Any] | None = None

    @property
    def patient(self) -> dict[str, Any]:
        if self._patient is None:
            found = self.data.patient(self.patient_id)
            if found is None:
                raise InputError("no such patient in the data source", source=f"Patient/{self.patient_id}")
            self._patient = found
        return self._patient

    def get(self, resource_type: str) -> Sequence[dict[str, Any]]:
        if resource_type in self._narrowed:
            raise FilteredOut(resource_type)
        return self._get(resource_type)

    def _get(self, resource_type: str) -> Sequence[dict[str, Any]]:
        found = self._types.get(resource_type)
        if found is None:
            found = self.data.resources(self.patient_id, resource_type)
            self._types[resource_type] = found
        return found

    def index(self, resource_type: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
        found = self._index.get(resource_type)
        if found is None:
            found = {}
            code_field = _CODE_FIELD.get(resource_type, "code")
            for resource in self._get(resource_type):
                for system, code, _display in codings(resource.get(code_field)):
                    found.setdefault((system, code), []).append(resource)
                for part in _components(resource) if resource_type == "Observation" else ():
                    for system, code, _display in codings(part.get("code")):
                        found.setdefault((system, code), []).append(part)
            self._index[resource_type] = found
        return found

    def find(self, resource_type: str, codes: CodeSet, aliases: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
        """Resources of the type with a coding in ``codes`` (each once, in a deterministic order)."""
        if not codes:
            return []
        narrowed = self._narrowed.get(resource_type)
        if narrowed is not None and codes not in narrowed:
            raise FilteredOut(resource_type)
        hits: dict[int, dict[str, Any]] = {}
        index = self.index(resource_type)
        keys = codes.lookup_keys(aliases)
        if keys is not None:
            for key in keys:
                for resource in index.get(key, ()):
                    hits[id(resource)] = resource
            return list(hits.values())
        matches = codes.matches
        for (system, code), resources in self.index(resource_type).items():
            if matches(system, code, aliases):
                for resource in resources:
                    hits[id(resource)] = resource
        return list(hits.values())

    def medications(self) -> list[tuple[dict[str, Any], list[tuple[str, str, str | None]], str]]:
        """``(resource, codings, text)`` for every medication resource; references resolved."""
        if self._meds is None:
            self._meds = []
            for rtype in ("MedicationRequest", "MedicationStatement", "MedicationAdministration"):
                for resource in self.get(rtype):
                    medication = self._medication_concept(resource)
                    parts = [concept_label(medication), *(d or "" for _s, _c, d in codings(medication))]
                    text = " ".join(dict.fromkeys(p for p in parts if p))
                    self._meds.append((resource, list(codings(medication)), text))
        return self._meds

    def _medication_concept(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        concept = resource.get("medicationCodeableConcept")
        if isinstance(concept, dict):
            return concept
        reference = (resource.get("medicationReference") or {}).get("reference")
        if not isinstance(reference, str):
            return None
        medication: dict[str, Any] | None = None
        if reference.startswith("#"):
            for contained in resource.get("contained") or ():
                if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                    medication = contained
        else:
            medication = self.data.resolve(reference)
        if medication is None:
            return None
        code = medication.get("code")
        return code if isinstance(code, dict) else None


# -- results ----------------------------------------------------------------------------------------------------


_set = object.__setattr__


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """A model instance from already valid values with every field given (``model_construct`` without
    its per-field default handling: it dominated screening time)."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def labelled(result: AtomResult, label: str | None) -> None:
    """``result.label = label`` as pydantic assigns a field without validation (its ``__dict__`` and fields set),
    without its ``__setattr__``'s dispatch: done for every atom of every patient."""
    result.__dict__["label"] = label
    result.__pydantic_fields_set__.add("label")


def atom_result(
    atom: Atom, outcome: AtomOutcome, reason: str, evidence: list[Evidence] | None = None, *, need: str | None = None
) -> AtomResult:
    """One atom's result; ``need`` says what a coordinator has to obtain when the outcome is unknown."""
    return trusted(AtomResult, {"id": atom.id, "result": outcome, "reason": reason, "evidence": evidence or [],
                                "need": need})


def wants_present(atom: Atom) -> bool:
    return (atom.comparator != "absent") != atom.negated


def presence(
    atom: Atom, found: list[Evidence], what: str, *, unknown: str | None = None, absent_note: str = ""
) -> AtomResult:
    """Map "finding present / not documented / cannot tell" to the atom's outcome (see module doc)."""
    wants = wants_present(atom)
    if found:
        refs = ", ".join(e.reference for e in found[:3]) + (f" +{len(found) - 3}" if len(found) > 3 else "")
        return atom_result(atom, "met" if wants else "not-met", f"{what} present ({refs})", found)
    if unknown is not None:
        return atom_result(atom, "unknown", unknown, need=open_item("other", label=what))
    note = f"; {absent_note}" if absent_note else ""
    if atom.kind == "exclusion" or not wants:
        return atom_result(atom, "not-met" if wants else "met", f"no documented {what}{note}")
    return atom_result(
        atom,
        "unknown",
        f"no documented {what} (required; the data may be elsewhere){note}",
        need=open_item("not-documented", label=what),
    )


def compare(value: float, comparator: str | None, threshold: float, high: float | None) -> bool | None:
    tol = _EPS * max(1.0, abs(threshold))
    if comparator == "ge":
        return value >= threshold - tol
    if comparator == "gt":
        return value > threshold + tol
    if comparator == "le":
        return value <= threshold + tol
    if comparator == "lt":
        return value < threshold - tol
    if comparator == "eq":
        return abs(value - threshold) <= tol
    if comparator == "between" and high is not None:
        return threshold - tol <= value <= high + _EPS * max(1.0, abs(high))
    return None


def usable(resource: dict[str, Any], ctx: EvalContext) -> bool:
    return resource.get("status") not in ctx.config.excluded_status.get(resource.get("resourceType", ""), ())


def flip(outcome: AtomOutcome, atom: Atom) -> AtomOutcome:
    if not atom.negated:
        return outcome
    if outcome == "met":
        return "not-met"
    return "met" if outcome == "not-met" else outcome
