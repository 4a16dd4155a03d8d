"""Evaluating compiled criteria atoms against one patient's record: three-valued and explained.

Each computable atom answers ``met``, ``not-met`` or ``unknown`` with evidence (resource references,
the value and unit used after normalisation, dates) and a one-line reason; a non-computable atom
answers ``review`` ("not evaluated: <reason>"). Evaluation is a pure function of the atom, the data
the source returns for the patient, ``as_of`` and the options: no I/O besides the data source.

Rules (the knowledge — status code sets, recency defaults, positive answers — is in
``mappings/matching.yaml`` and the lexicon):

* **Labs, performance status**: the most recent Observation of the concept's codes dated on or
  before ``as_of`` (``effectiveDateTime`` / ``effectivePeriod.start`` / ``issued``) with a value; if it
  is older than the recency window (atom ``within_days``, else ``MatchOptions.recency_days``, else the
  category default, 90 days) the answer is ``unknown``. Values are converted to the atom's unit with
  :func:`fhir_adapter.units.convert`; an unconvertible unit gives ``unknown``. ULN/LLN multiples use
  the Observation's own ``referenceRange.high``/``low`` (converted to the value's unit); no reference
  range gives ``unknown`` (never a guessed normal range). Exactly the threshold with ``ge``/``le`` is
  ``met``. ECOG may be valueInteger, valueQuantity, a coded answer (LOINC LA codes, SNOMED findings via
  the concept's answers), or an Observation whose *code* is an ECOG grade finding.
* **Conditions** (condition, infection, pregnancy): a Condition counts when a coding matches the
  concept, its clinicalStatus is active/recurrence/relapse (or absent, and not abated by ``as_of``)
  and its verificationStatus is not refuted/entered-in-error (unconfirmed/provisional/differential
  count only for "suspected"). Resolved/inactive/remission Conditions count only for the
  "history"/"prior" qualifiers. Onsets after ``as_of`` are ignored. "uncontrolled": a present
  condition gives ``unknown`` (control is not coded). Histology concepts (``site_codings`` +
  ``morphology_codings``) are met by the concept's own codes, or a site code plus the mCODE
  histology-morphology-behavior extension with a matching morphology; a site code alone gives
  ``unknown`` ("diagnosis code carries no histology"). Pregnancy also counts a positive
  pregnancy-status / hCG Observation within the pregnancy-test window; an "active" pregnancy
  Condition older than ``current_max_days.pregnancy`` is stale (``unknown``).
* **Medications** (MedicationRequest/Statement/Administration, code or contained/referenced
  Medication): a coding matches the concept (ATC prefixes, member concepts), OR — because RxNorm
  product codes (SCD) differ from ingredient codes — the medication text/display contains the name
  or a synonym of the concept's member drugs (or of the drug itself) on word boundaries. Status
  entered-in-error/cancelled etc. are ignored, dates after ``as_of`` are ignored, ``within_days``
  limits the window. For ``systemic_only`` classes, administrations the lexicon calls non-systemic
  (topical, inhaled...) do not count.
* **Procedures, allergies**: by code (allergies as conditions for clinical/verification status).
* **Demographics**: age from ``Patient.birthDate`` at ``as_of`` (exact birthday arithmetic, between
  inclusive), sex from ``Patient.gender``.

Presence semantics (documented choice, pre-screening practice): an exclusion finding that is present
is ``met``; an exclusion with nothing documented is ``not-met`` ("no documented <concept>"). An
inclusion finding (a required diagnosis) with nothing documented is ``unknown`` — the data may live
elsewhere — never ``not-met``. Quantitative atoms (labs, ECOG) with no usable value are ``unknown``
for inclusions and exclusions alike.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from fhir_adapter.criteria.model import Atom, Coding
from fhir_adapter.errors import ConfigError, InputError
from fhir_adapter.mappings import load_table
from fhir_adapter.matching.model import (
    AtomOutcome,
    AtomResult,
    Evidence,
    MatchOptions,
    PatientData,
    PatientResult,
    retrieved_completely,
)
from fhir_adapter.terminology import Concept
from fhir_adapter.words import comparator, open_item, quantity, unit_text

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


def _first_date(resource: dict[str, Any], *fields: str) -> date | None:
    for name in fields:
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start") or value.get("end")
        found = parse_date(value)
        if found is not None:
            return found
    return None


_DATE_FIELDS: dict[str, tuple[str, ...]] = {
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
    return _first_date(resource, *_DATE_FIELDS.get(resource.get("resourceType", ""), ()))


def codings(concept: Any) -> Iterator[tuple[str, str, str | None]]:
    """``(system, code, display)`` of a CodeableConcept."""
    if not isinstance(concept, dict):
        return
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                yield system, code, coding.get("display")


def _status_code(resource: dict[str, Any], field_name: str) -> str | None:
    """The code of a status CodeableConcept (the system is implied by the element)."""
    concept = resource.get(field_name)
    for coding in concept.get("coding") or () if isinstance(concept, dict) else ():
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str):
            return code
    return None


def ref(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _label(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text:
        return text
    for _s, code, display in codings(concept):
        return display or code
    return ""


def _fmt(value: float) -> str:
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


class PatientRecord:
    """One patient's resources, fetched once per type and indexed by coding."""

    def __init__(self, data: PatientData, patient_id: str) -> None:
        self.data = data
        self.patient_id = patient_id
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
            for resource in self.get(resource_type):
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
                    parts = [_label(medication), *(d or "" for _s, _c, d in codings(medication))]
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


def _trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """A model instance from already valid values with every field given (``model_construct`` without
    its per-field default handling: it dominated screening time)."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _result(
    atom: Atom, outcome: AtomOutcome, reason: str, evidence: list[Evidence] | None = None, *, need: str | None = None
) -> AtomResult:
    """One atom's result; ``need`` says what a coordinator has to obtain when the outcome is unknown."""
    values = {"id": atom.id, "result": outcome, "reason": reason, "evidence": evidence or [], "need": need}
    return _trusted(AtomResult, values)


def _wants_present(atom: Atom) -> bool:
    return (atom.comparator != "absent") != atom.negated


def _presence(
    atom: Atom, found: list[Evidence], what: str, *, unknown: str | None = None, absent_note: str = ""
) -> AtomResult:
    """Map "finding present / not documented / cannot tell" to the atom's outcome (see module doc)."""
    wants = _wants_present(atom)
    if found:
        refs = ", ".join(e.reference for e in found[:3]) + (f" +{len(found) - 3}" if len(found) > 3 else "")
        return _result(atom, "met" if wants else "not-met", f"{what} present ({refs})", found)
    if unknown is not None:
        return _result(atom, "unknown", unknown, need=open_item("other", label=what))
    note = f"; {absent_note}" if absent_note else ""
    if atom.kind == "exclusion" or not wants:
        return _result(atom, "not-met" if wants else "met", f"no documented {what}{note}")
    return _result(
        atom,
        "unknown",
        f"no documented {what} (required; the data may be elsewhere){note}",
        need=open_item("not-documented", label=what),
    )


def _compare(value: float, comparator: str | None, threshold: float, high: float | None) -> bool | None:
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


# -- labs and performance status -----------------------------------------------------------------------------


def _quantity_unit(quantity: dict[str, Any], ctx: EvalContext) -> str | None:
    code = quantity.get("code")
    if isinstance(code, str) and code and quantity.get("system") in (None, "http://unitsofmeasure.org"):
        return code
    text = quantity.get("unit") or code
    if isinstance(text, str) and text:
        return ctx.normalize_unit(text) or text
    return None


def _numeric_value(obs: dict[str, Any], plan: AtomPlan, ctx: EvalContext) -> tuple[float | None, str | None]:
    """(value, unit) of an Observation; coded answers become numbers through the concept's answers."""
    if isinstance(obs.get("valueInteger"), int):
        return float(obs["valueInteger"]), None
    quantity = obs.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        return float(quantity["value"]), _quantity_unit(quantity, ctx)
    concept = plan.concept
    if concept is not None:
        for system, code, _d in codings(obs.get("valueCodeableConcept")):
            answer = ctx.vocabulary.answer_value(concept, system, code)
            if answer is not None:
                return answer, None
        if plan.answer_codes:
            for system, code, _d in codings(obs.get("code")):
                answer = ctx.vocabulary.answer_value(concept, system, code)
                if answer is not None:
                    return answer, None
    return None, None


def _usable(resource: dict[str, Any], ctx: EvalContext) -> bool:
    return resource.get("status") not in ctx.config.excluded_status.get(resource.get("resourceType", ""), ())


def _recency_key(obs: dict[str, Any], when: date) -> tuple[date, str, str]:
    """Latest first by date, then by the full timestamp as written, then by id: two values on one day give the
    same answer whatever order a source returns them in."""
    raw = ""
    for name in _DATE_FIELDS["Observation"]:
        value = obs.get(name)
        if isinstance(value, dict):
            value = value.get("start") or value.get("end")
        if isinstance(value, str):
            raw = value
            break
    return (when, raw, str(obs.get("id", "")))


def _latest(
    observations: Iterable[dict[str, Any]], plan: AtomPlan, ctx: EvalContext
) -> tuple[dict[str, Any], date, float, str | None] | None:
    best: tuple[dict[str, Any], date, float, str | None] | None = None
    best_key: tuple[date, str, str] | None = None
    for obs in observations:
        if not _usable(obs, ctx):
            continue
        when = resource_date(obs)
        if when is None or when > ctx.as_of:
            continue
        value, unit = _numeric_value(obs, plan, ctx)
        if value is None:
            continue
        key = _recency_key(obs, when)
        if best_key is None or key > best_key:
            best, best_key = (obs, when, value, unit), key
    return best


def _impossible_range(obs: dict[str, Any]) -> bool:
    """A reference range whose low is above its high (a data error): no ULN or LLN can be read from it."""
    for rr in obs.get("referenceRange") or ():
        low, high = (rr.get(b) if isinstance(rr, dict) else None for b in ("low", "high"))
        lowest, highest = (q.get("value") if isinstance(q, dict) else None for q in (low, high))
        if isinstance(lowest, int | float) and isinstance(highest, int | float) and lowest > highest:
            return True
    return False


def _range_limit(obs: dict[str, Any], bound: str, unit: str | None, plan: AtomPlan, ctx: EvalContext) -> float | None:
    if _impossible_range(obs):
        return None
    for rr in obs.get("referenceRange") or ():
        quantity = rr.get(bound) if isinstance(rr, dict) else None
        if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
            continue
        limit = float(quantity["value"])
        range_unit = _quantity_unit(quantity, ctx) or unit
        if unit is None or range_unit is None or range_unit == unit:
            return limit
        return ctx.convert(limit, range_unit, unit, plan.atom.concept_key)
    return None


def _range_text(obs: dict[str, Any], ctx: EvalContext) -> str | None:
    """The first reference range of an Observation, for people ("3.5–5.1 mmol/L", "≤ 40 U/L")."""
    for rr in obs.get("referenceRange") or ():
        if not isinstance(rr, dict):
            continue
        low, high = rr.get("low"), rr.get("high")
        bounds = [q if isinstance(q, dict) and isinstance(q.get("value"), int | float) else None for q in (low, high)]
        if bounds[0] is None and bounds[1] is None:
            text = rr.get("text")
            return str(text) if isinstance(text, str) and text.strip() else None
        unit = next((_quantity_unit(q, ctx) for q in bounds if q is not None), None)
        if bounds[0] is not None and bounds[1] is not None:
            return f"{_fmt(float(bounds[0]['value']))}–{quantity(float(bounds[1]['value']), unit)}"
        if bounds[1] is not None:
            return f"≤ {quantity(float(bounds[1]['value']), unit)}"
        assert bounds[0] is not None
        return f"≥ {quantity(float(bounds[0]['value']), unit)}"
    return None


def evaluate_measurement(plan: AtomPlan, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    atom, category = plan.atom, plan.atom.category
    aliases = ctx.config.system_aliases
    observations = record.find("Observation", plan.codes, aliases)
    if plan.answer_codes:
        seen = {id(o) for o in observations}
        observations += [o for o in record.find("Observation", plan.answer_codes, aliases) if id(o) not in seen]
    latest = _latest(observations, plan, ctx)
    if latest is None:
        return _result(
            atom,
            "unknown",
            f"no {plan.label} value recorded on or before {ctx.as_of.isoformat()}",
            need=open_item("no-value", label=plan.label),
        )
    obs, when, value, unit = latest
    window = ctx.window(atom, category)
    shown_range = _range_text(obs, ctx)
    evidence = Evidence(
        reference=ref(obs), value=value, unit=unit, date=when.isoformat(), reference_range=shown_range
    )
    shown = f"{plan.label} {quantity(value, unit)} on {when.isoformat()}"
    if window is not None and when < ctx.as_of - timedelta(days=window):
        need = open_item("stale", label=plan.label, days=window)
        return _result(atom, "unknown", f"latest {shown} is older than {window} days", [evidence], need=need)
    multiple = atom.uln_multiple if atom.uln_multiple is not None else atom.lln_multiple
    if multiple is not None:
        bound = "high" if atom.uln_multiple is not None else "low"
        limit = _range_limit(obs, bound, unit, plan, ctx)
        name = "ULN" if bound == "high" else "LLN"
        if limit is None:
            need = open_item("no-reference-range", label=plan.label)
            why = "a reference range with low above high" if _impossible_range(obs) else "no reference range"
            return _result(atom, "unknown", f"{shown} has {why} ({name} unknown)", [evidence], need=need)
        threshold = multiple * limit
        ok = _compare(value, atom.comparator or ("le" if bound == "high" else "ge"), threshold, None)
        outcome: AtomOutcome = "met" if ok else "not-met"
        symbol = comparator(atom.comparator)
        reason = f"{shown}; required {symbol} {_fmt(multiple)} × {name} ({quantity(threshold, unit)}) → {outcome}"
        return _result(atom, _flip(outcome, atom), reason, [evidence])
    if not isinstance(atom.value, int | float):
        return _result(
            atom, "unknown", f"{shown}: the criterion has no numeric threshold", [evidence],
            need=open_item("other", label=plan.label),
        )
    if atom.unit and unit and unit != atom.unit:
        converted = ctx.convert(value, unit, atom.unit, atom.concept_key)
        if converted is None:
            need = open_item("unit", label=plan.label, unit=unit_text(atom.unit))
            return _result(
                atom, "unknown", f"{shown}: cannot convert {unit_text(unit)} to {unit_text(atom.unit)}", [evidence],
                need=need,
            )
        evidence = Evidence(
            reference=ref(obs), value=converted, unit=atom.unit, date=when.isoformat(), reference_range=shown_range
        )
        shown = (
            f"{plan.label} {quantity(converted, atom.unit)} ({quantity(value, unit)}) on {when.isoformat()}"
        )
        value = converted
    elif atom.unit and unit is None and category == "lab":
        need = open_item("no-unit", label=plan.label)
        return _result(atom, "unknown", f"{shown}: the value has no unit", [evidence], need=need)
    ok = _compare(value, atom.comparator, float(atom.value), atom.high)
    if ok is None:
        return _result(
            atom, "unknown", f"{shown}: comparator {atom.comparator} not supported", [evidence],
            need=open_item("other", label=plan.label),
        )
    outcome = "met" if ok else "not-met"
    target = (
        f"{_fmt(float(atom.value))}–{quantity(atom.high, atom.unit)}"
        if atom.comparator == "between" and atom.high is not None
        else quantity(float(atom.value), atom.unit)
    )
    reason = f"{shown}; required {comparator(atom.comparator)} {target} → {outcome}"
    return _result(atom, _flip(outcome, atom), reason, [evidence])


def _flip(outcome: AtomOutcome, atom: Atom) -> AtomOutcome:
    if not atom.negated:
        return outcome
    if outcome == "met":
        return "not-met"
    return "met" if outcome == "not-met" else outcome


# -- conditions, pregnancy, infection, allergy ----------------------------------------------------------------


@dataclass
class _ConditionScan:
    active: list[Evidence] = field(default_factory=list)
    inactive: list[Evidence] = field(default_factory=list)
    site_only: list[Evidence] = field(default_factory=list)
    stale: list[Evidence] = field(default_factory=list)


def _morphology_matches(condition: dict[str, Any], plan: AtomPlan, ctx: EvalContext) -> bool:
    for ext in condition.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == ctx.config.histology_extension:
            for system, code, _d in codings(ext.get("valueCodeableConcept")):
                if plan.morphology_codes.matches(system, code, ctx.config.system_aliases):
                    return True
    return False


def _excepted(condition: dict[str, Any], plan: AtomPlan, ctx: EvalContext) -> bool:
    if not plan.except_codes:
        return False
    return any(
        plan.except_codes.matches(s, c, ctx.config.system_aliases) for s, c, _d in codings(condition.get("code"))
    )


def _scan_conditions(plan: AtomPlan, record: PatientRecord, ctx: EvalContext, resource_type: str) -> _ConditionScan:
    atom, cfg, aliases = plan.atom, ctx.config, ctx.config.system_aliases
    allergy = resource_type == "AllergyIntolerance"
    excluded_verification = cfg.allergy_excluded_verification if allergy else cfg.condition_excluded_verification
    tentative = cfg.allergy_tentative_verification if allergy else cfg.condition_tentative_verification
    inactive_status = cfg.allergy_inactive if allergy else cfg.condition_inactive
    scan = _ConditionScan()
    direct = record.find(resource_type, plan.codes, aliases)
    direct_ids = {id(r) for r in direct}
    site = [r for r in record.find(resource_type, plan.site_codes, aliases) if id(r) not in direct_ids]
    site_ids = {id(r) for r in site}
    max_days = cfg.current_max_days.get(atom.category)
    for resource in direct + site:
        verification = _status_code(resource, "verificationStatus")
        if verification in excluded_verification:
            continue
        if verification in tentative and "suspected" not in atom.qualifiers:
            continue
        onset = resource_date(resource)
        if onset is not None and onset > ctx.as_of:
            continue
        if _excepted(resource, plan, ctx):
            continue
        status = _status_code(resource, "clinicalStatus")
        abated = _first_date(resource, "abatementDateTime", "abatementPeriod")
        active = status not in inactive_status and not (abated is not None and abated <= ctx.as_of)
        evidence = Evidence(
            reference=ref(resource),
            value=_label(resource.get("code")) or None,
            date=onset.isoformat() if onset else None,
        )
        if id(resource) in site_ids and not _morphology_matches(resource, plan, ctx):
            scan.site_only.append(evidence)
        elif active and max_days is not None and onset is not None and onset < ctx.as_of - timedelta(days=max_days):
            scan.stale.append(evidence)
        elif active:
            scan.active.append(evidence)
        else:
            scan.inactive.append(evidence)
    return scan


def positive_answers(concept: Concept | None) -> frozenset[tuple[str, str]]:
    """The concept's own coded answers that mean present (a serology's Reactive / Detected: value 1)."""
    if concept is None:
        return frozenset()
    return frozenset(tuple(k.split("|", 1)) for k, v in concept.answers.items() if v > 0)  # type: ignore[misc]


def _positive(obs: dict[str, Any], ctx: EvalContext, own: frozenset[tuple[str, str]] = frozenset()) -> bool:
    cfg = ctx.config
    for system, code, _d in codings(obs.get("valueCodeableConcept")):
        if (system, code) in cfg.positive_answers or (system, code) in own:
            return True
    for interpretation in obs.get("interpretation") or ():
        for system, code, _d in codings(interpretation):
            if (system, code) in cfg.positive_answers or (system, code) in own:
                return True
    text = obs.get("valueString")
    if isinstance(text, str) and text.strip().lower() in cfg.positive_strings:
        return True
    value_concept = obs.get("valueCodeableConcept")
    return bool(
        isinstance(value_concept, dict) and str(value_concept.get("text", "")).strip().lower() in cfg.positive_strings
    )


def _positive_observations(plan: AtomPlan, record: PatientRecord, ctx: EvalContext) -> list[Evidence]:
    window = ctx.window(plan.atom, "pregnancy-test") if plan.atom.category == "pregnancy" else plan.atom.within_days
    found = []
    own = positive_answers(plan.concept)
    for obs in record.find("Observation", plan.codes, ctx.config.system_aliases):
        when = resource_date(obs)
        if not _usable(obs, ctx) or when is None or when > ctx.as_of:
            continue
        if window is not None and when < ctx.as_of - timedelta(days=window):
            continue
        if _positive(obs, ctx, own):
            found.append(Evidence(reference=ref(obs), value="positive", date=when.isoformat()))
    return found


def evaluate_condition(plan: AtomPlan, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    atom = plan.atom
    resource_type = "AllergyIntolerance" if atom.category == "allergy" else "Condition"
    scan = _scan_conditions(plan, record, ctx, resource_type)
    history = bool({"history", "prior"} & set(atom.qualifiers))
    found = scan.active + (scan.inactive if history else [])
    if atom.category in ("pregnancy", "infection"):
        found += _positive_observations(plan, record, ctx)
    what = plan.label + (" (history)" if history else "")
    if found and "uncontrolled" in atom.qualifiers:
        refs = ", ".join(e.reference for e in found[:3])
        return _result(
            atom, "unknown", f"{plan.label} present ({refs}); whether it is uncontrolled is not coded", found,
            need=open_item("uncontrolled", label=plan.label),
        )
    if found:
        return _presence(atom, found, what)
    if scan.site_only:
        refs = ", ".join(e.reference for e in scan.site_only[:3])
        return _result(
            atom, "unknown", f"diagnosis code carries no histology ({refs})", scan.site_only,
            need=open_item("no-histology", label=plan.label),
        )
    if scan.stale:
        refs = ", ".join(e.reference for e in scan.stale[:3])
        days = ctx.config.current_max_days.get(atom.category)
        return _result(
            atom, "unknown", f"{plan.label} recorded active but started over {days} days ago ({refs})", scan.stale,
            need=open_item("stale-condition", label=plan.label),
        )
    note = ""
    if scan.inactive:
        note = "recorded as resolved/inactive: " + ", ".join(e.reference for e in scan.inactive[:3])
        if atom.kind == "inclusion" and _wants_present(atom):
            # a required diagnosis recorded as resolved is a record of it: whether it is current is for a person
            reason = f"no documented active {what}; {note}"
            return _result(atom, "unknown", reason, scan.inactive, need=open_item("stale-condition", label=what))
    return _presence(atom, [], what, absent_note=note)


# -- medications and procedures -------------------------------------------------------------------------------


def _route_codings(resource: dict[str, Any]) -> tuple[list[Coding], str]:
    dosages: list[Any] = []
    for name in ("dosageInstruction", "dosage"):
        value = resource.get(name)
        dosages.extend(value if isinstance(value, list) else [value] if isinstance(value, dict) else [])
    routes: list[Coding] = []
    texts: list[str] = []
    for dosage in dosages:
        if not isinstance(dosage, dict):
            continue
        route = dosage.get("route")
        routes.extend(Coding(system=s, code=c, display=d) for s, c, d in codings(route))
        texts.extend(t for t in (_label(route), dosage.get("text")) if isinstance(t, str) and t)
    return routes, " ".join(texts)


def _in_window(when: date | None, atom: Atom, ctx: EvalContext) -> bool:
    if when is None:
        return atom.within_days is None
    if when > ctx.as_of:
        return False
    return atom.within_days is None or when >= ctx.as_of - timedelta(days=atom.within_days)


def evaluate_medication(plan: AtomPlan, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    atom, aliases = plan.atom, ctx.config.system_aliases
    found: list[Evidence] = []
    skipped: list[str] = []
    for resource, meds, text in record.medications():
        if resource["resourceType"] not in ctx.config.medication_types or not _usable(resource, ctx):
            continue
        by_code = any(plan.codes.matches(s, c, aliases) for s, c, _d in meds)
        if not by_code and not (plan.names is not None and plan.names.search(text)):
            continue
        when = resource_date(resource)
        if not _in_window(when, atom, ctx):
            continue
        if plan.systemic_only:
            routes, route_text = _route_codings(resource)
            if ctx.vocabulary.non_systemic(routes, f"{text} {route_text}".strip()):
                skipped.append(f"{ref(resource)} {text} (not systemic)")
                continue
        found.append(Evidence(reference=ref(resource), value=text or None, date=when.isoformat() if when else None))
    note = "ignored " + "; ".join(skipped[:3]) if skipped else ""
    return _presence(atom, found, plan.label, absent_note=note)


_EVENT_TYPES = ("Procedure", "Condition", "Immunization")
"""Where a procedure is found: the Procedure itself, or a status Condition the lexicon lists (ICD-10-CM Z94.0
kidney transplant status, Z99.2 dependence on dialysis); live vaccines are Immunizations."""


def evaluate_procedure(plan: AtomPlan, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    types = [t for t in plan.atom.resource_types if t in _EVENT_TYPES] or ["Procedure"]
    found = []
    resources = [r for t in types for r in record.find(t, plan.codes, ctx.config.system_aliases)]
    for resource in resources:
        when = resource_date(resource)
        if _usable(resource, ctx) and _in_window(when, plan.atom, ctx):
            found.append(
                Evidence(
                    reference=ref(resource),
                    value=_label(resource.get("code")) or None,
                    date=when.isoformat() if when else None,
                )
            )
    return _presence(plan.atom, found, plan.label)


# -- demographics ------------------------------------------------------------------------------------------------


def age_on(birth: date, as_of: date) -> int:
    """Completed years at ``as_of`` (exact birthday arithmetic; 29 February birthdays turn on 1 March)."""
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def _age_in(unit: str | None, birth: date, as_of: date) -> float | None:
    if unit in (None, "a", "year", "years", "yr"):
        return float(age_on(birth, as_of))
    if unit == "mo":
        months = (as_of.year - birth.year) * 12 + as_of.month - birth.month - (as_of.day < birth.day)
        return float(months)
    if unit == "wk":
        return float((as_of - birth).days // 7)
    if unit == "d":
        return float((as_of - birth).days)
    return None


def _is_age(atom: Atom) -> bool:
    key = (atom.concept_key or "").lower()
    return atom.id == "age" or key in ("age", "demographic.age") or key.endswith(".age")


def _is_sex(atom: Atom) -> bool:
    key = (atom.concept_key or "").lower()
    return atom.id == "sex" or key in ("sex", "gender", "demographic.sex", "demographic.gender")


def evaluate_demographic(atom: Atom, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    patient = record.patient
    evidence = [Evidence(reference=f"Patient/{record.patient_id}")]
    if _is_age(atom):
        birth = parse_date(patient.get("birthDate"))
        if birth is None or not isinstance(atom.value, int | float):
            return _result(
                atom, "unknown", "no birth date recorded" if birth is None else "no age threshold",
                need=open_item("no-birth-date"),
            )
        age = _age_in(atom.unit, birth, ctx.as_of)
        if age is None:
            return _result(atom, "unknown", f"age unit {atom.unit} not supported", need=open_item("no-birth-date"))
        ok = _compare(age, atom.comparator, float(atom.value), atom.high)
        if ok is None:
            return _result(
                atom, "unknown", f"age comparator {atom.comparator} not supported", need=open_item("no-birth-date")
            )
        outcome = _flip("met" if ok else "not-met", atom)
        target = f"{_fmt(float(atom.value))}–{_fmt(atom.high)}" if atom.high is not None else _fmt(float(atom.value))
        evidence[0] = Evidence(
            reference=evidence[0].reference, value=age, unit=atom.unit or "a", date=ctx.as_of.isoformat()
        )
        unit = atom.unit or "a"
        reason = (
            f"{quantity(age, unit)} old on {ctx.as_of.isoformat()}; required {comparator(atom.comparator)} "
            f"{target} {unit_text(unit)} → {outcome}"
        )
        return _result(atom, outcome, reason, evidence)
    if _is_sex(atom):
        wanted = str(atom.value or "all").lower()
        gender = patient.get("gender")
        if wanted in ("all", "any", "both"):
            return _result(atom, "met", "all sexes eligible", evidence)
        if gender not in ("male", "female"):
            need = open_item("no-sex")
            return _result(atom, "unknown", f"sex recorded as {gender or 'nothing'}", evidence, need=need)
        evidence[0] = Evidence(reference=evidence[0].reference, value=gender)
        outcome = _flip("met" if gender == wanted else "not-met", atom)
        return _result(atom, outcome, f"sex {gender} (criterion {wanted}) → {outcome}", evidence)
    return _result(atom, "review", "not evaluated: demographic criterion not recognised")


# -- dispatch ----------------------------------------------------------------------------------------------------


def _with_residues(atom: Atom, result: AtomResult, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    """The result once the atom's residues are taken into account (see :class:`~fhir_adapter.criteria.model.
    Residue`): a decisive result a residue could overturn becomes ``unknown``, naming the residue to confirm."""
    for residue in atom.residues:
        decisive = "met" if residue.effect == "narrows" else "not-met"
        if result.result != decisive:
            continue
        if residue.has_threshold:
            alternative = atom.model_copy(
                update={
                    "residues": [],
                    "comparator": residue.comparator,
                    "value": residue.value,
                    "high": residue.high,
                    "uln_multiple": residue.uln_multiple,
                    "lln_multiple": residue.lln_multiple,
                }
            )
            if _evaluate_main(alternative, record, ctx).result == decisive:
                continue  # the value is decisive under the residue's own threshold too
        reason = f"{result.reason}; to confirm: {residue.text} ({residue.reason})"
        return _result(atom, "unknown", reason, list(result.evidence), need=open_item("residue", text=residue.text))
    return result


def _evaluate(atom: Atom, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    result = _evaluate_main(atom, record, ctx)
    if atom.residues and atom.computable:
        result = _with_residues(atom, result, record, ctx)
    return result


def atom_label(atom: Atom, ctx: EvalContext) -> str:
    """What the atom is about, for people: its concept's name, ``age``/``sex``, or the start of its text."""
    if atom.computable and atom.category == "demographic":
        return "sex" if _is_sex(atom) else "age"
    if atom.computable and atom.concept_key:
        return ctx.plan(atom).label
    text = " ".join(atom.text.split())
    return text if len(text) <= 60 else text[:59].rstrip() + "…"


def closed_world(
    atoms: Sequence[Atom], results: list[AtomResult], ctx: EvalContext, data: PatientData
) -> list[AtomResult]:
    """The results with the trial's index conditions decided closed-world (see :mod:`fhir_adapter.criteria.index`).

    When the source returned the patient's problem list completely and none of the index conditions is
    documented at all (no evidence, not even a site code without histology), each of them is ``not-met``:
    the patient is not a candidate. A documented index condition, or an incomplete source, changes nothing."""
    index = [i for i, a in enumerate(atoms) if a.index and a.computable]
    if not index or ctx.options.open_world_diagnosis:
        return results
    types = {t for i in index for t in ("Condition", *atoms[i].resource_types) if t in ("Condition", "Observation")}
    if not all(retrieved_completely(data, t) for t in types):
        return results
    if any(results[i].result != "unknown" or results[i].evidence for i in index):
        return results
    decided = list(results)
    for i in index:
        label = results[i].label or atoms[i].id
        reason = f"no record of {label} in the patient's complete problem list"
        decided[i] = _result(atoms[i], "not-met", reason)
        decided[i].label = label
    return decided


def _evaluate_main(atom: Atom, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    if not atom.computable:
        return _result(atom, "review", f"not evaluated: {atom.reason or 'not computable'}")
    if atom.category == "demographic":
        return evaluate_demographic(atom, record, ctx)
    plan = ctx.plan(atom)
    if not (plan.codes or plan.site_codes or plan.answer_codes or plan.names):
        return _result(atom, "review", f"not evaluated: no codes known for {plan.label}")
    if atom.category in ("lab", "performance-status"):
        return evaluate_measurement(plan, record, ctx)
    if atom.category in ("condition", "infection", "pregnancy", "allergy"):
        return evaluate_condition(plan, record, ctx)
    if atom.category == "medication" and "Immunization" in atom.resource_types:
        return evaluate_procedure(plan, record, ctx)
    if atom.category == "medication":
        return evaluate_medication(plan, record, ctx)
    if atom.category == "procedure":
        return evaluate_procedure(plan, record, ctx)
    return _result(atom, "review", f"not evaluated: category {atom.category} has no matching rule")


def evaluate_atom(atom: Atom, data: PatientData | PatientRecord, patient_id: str, ctx: EvalContext) -> AtomResult:
    """Evaluate one atom for one patient (``data`` may be a :class:`PatientRecord` to share its cache)."""
    record = data if isinstance(data, PatientRecord) else PatientRecord(data, patient_id)
    result = _evaluate(atom, record, ctx)
    result.label = atom_label(atom, ctx)
    return result


class Matcher:
    """Compiled criteria ready to evaluate many patients (atom plans are built once)."""

    def __init__(
        self,
        atoms: Sequence[Atom],
        *,
        as_of: date,
        options: MatchOptions | None = None,
        context: EvalContext | None = None,
    ) -> None:
        self.atoms = list(atoms)
        self.context = context or EvalContext(as_of=as_of, options=options or MatchOptions())
        for atom in self.atoms:
            if atom.computable and atom.category != "demographic":
                self.context.plan(atom)
        self.labels = [atom_label(atom, self.context) for atom in self.atoms]
        from fhir_adapter.matching.verdict import decide  # verdict reads this module's date helpers

        self._decide = decide

    def evaluate(self, data: PatientData, patient_id: str) -> PatientResult:
        record = PatientRecord(data, patient_id)
        patient = record.patient  # raises InputError for an unknown patient
        results = [_evaluate(atom, record, self.context) for atom in self.atoms]
        for result, label in zip(results, self.labels, strict=True):
            result.label = label
        results = closed_world(self.atoms, results, self.context, data)
        return self._decide(self.atoms, results, patient, patient_id, self.context.as_of)


def evaluate_patient(
    atoms: Sequence[Atom],
    data: PatientData,
    patient_id: str,
    *,
    as_of: date,
    options: MatchOptions | None = None,
) -> PatientResult:
    """Evaluate every atom for one patient and decide the verdict (see :mod:`fhir_adapter.matching.verdict`).

    Raises :class:`~fhir_adapter.errors.InputError` when the source has no such patient.
    For many patients build one :class:`Matcher` and call :meth:`Matcher.evaluate`.
    """
    return Matcher(atoms, as_of=as_of, options=options).evaluate(data, patient_id)
