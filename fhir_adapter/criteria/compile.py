"""Atoms -> FHIR: resource types, an x-fhir-query for one patient, a boolean FHIRPath, a pre-filter.

See :mod:`fhir_adapter.criteria.fhirpath` for the evaluation contract. Choices:

* Token searches list the concept's explicit codes. When the concept also has code *prefixes*
  (ICD-10 ``C20``, ATC ``L01FF``), which FHIR token search cannot express (``:below`` is rarely
  supported), the query carries no ``code`` filter and the FHIRPath checks codes and prefixes.
* Labs: the most recent final-ish Observation with a unit the lexicon's unit table converts to the
  concept's canonical unit (each converted by its factor), compared with the threshold; ULN / LLN
  multiples compare with ``referenceRange.high`` / ``low`` of the same Observation.
* Presence: Condition (verification not refuted / entered-in-error; "active" needs an active clinical
  status, no qualifier excludes inactive/resolved ones, "history"/"prior" accept any), medications
  (MedicationRequest / Statement / Administration, R4 ``medicationCodeableConcept`` and R5
  ``medication.concept``), Procedure, AllergyIntolerance. The query names the first of them; the same
  ``patient`` + ``code`` search works on every type listed in ``resource_types``.
* Age: whole years (months, weeks, days) from ``Patient.birthDate``: ``>= 18 a`` is
  ``birthDate <= today() - 18 years``; ``<= 75 a`` is ``birthDate > today() - 76 years``. The
  pre-filter uses SDC embedded FHIRPath: ``Patient?birthdate=le{{today() - 18 years}}``.
"""

from __future__ import annotations

from functools import lru_cache

from fhir_adapter.criteria.fhirpath import (
    PATIENT,
    coding_filter,
    compare,
    fp_in,
    fp_number,
    fp_string,
    search_escape,
    token_list,
)
from fhir_adapter.criteria.head import AGE_CONCEPT
from fhir_adapter.criteria.index import listed_concepts, mark_index_conditions, trial_conditions
from fhir_adapter.criteria.lead_ins import joined_by_or_items, under_lead_in, with_listed_exceptions
from fhir_adapter.criteria.lexicon import Lexicon, Units, default_lexicon, default_units
from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria
from fhir_adapter.criteria.parse import (
    parse_item,
)
from fhir_adapter.criteria.reconcile import reconcile
from fhir_adapter.criteria.record_filters import (
    MEDICATION_TYPES,
    date_path,
    matching_table,
    resource_status,
    status_ok,
    use_window,
    window,
)
from fhir_adapter.criteria.setting import planned_procedures
from fhir_adapter.criteria.split import split_items
from fhir_adapter.criteria.trial_drugs import resolve_trial_drug_allergies
from fhir_adapter.terminology import CodePrefix, Concept
from fhir_adapter.terminology import Lexicon as TerminologyLexicon
from fhir_adapter.trial import AgeBound, TrialRecord
from fhir_adapter.units import observation_units, proportional

PRESENCE_TYPES = ("Condition", *MEDICATION_TYPES, "Procedure", "AllergyIntolerance", "Immunization")
_AGE_UNITS = {"a": "years", "mo": "months", "wk": "weeks", "d": "days"}


def _and(*parts: str | None) -> str:
    return " and ".join(p for p in parts if p)


# -- labs ---------------------------------------------------------------------------------------------


_FACTORS: dict[tuple[int, str, str | None, tuple[object, ...]], dict[str, float]] = {}


def _unit_factors(concept: Concept, units: Units) -> dict[str, float]:
    """Recorded unit -> factor to the concept's canonical unit (units with an offset, °F, or a log scale are
    left out of the FHIRPath: the matcher converts them). Computed once per concept and unit table."""
    key = (id(units), concept.key, concept.unit, concept.conversions)
    found = _FACTORS.get(key)
    if found is None:
        found = _FACTORS[key] = _compute_unit_factors(concept, units)
    return found


def _compute_unit_factors(concept: Concept, units: Units) -> dict[str, float]:
    canonical = concept.unit
    if canonical is None:
        return {}
    factors: dict[str, float] = {canonical: 1.0}
    for unit in observation_units():
        if unit in factors or not proportional(unit):
            continue
        factor = units.convert(1.0, unit, canonical, concept.key)
        if factor is None or factor <= 0:
            continue  # most units are of another dimension: no need to convert zero as well
        if not units.convert(0.0, unit, canonical, concept.key):  # an affine conversion (HbA1c mmol/mol) is no factor
            factors[unit] = factor
    return factors


def _converted_value(factors: dict[str, float]) -> str:
    """The Observation's value in the canonical unit (empty for any other unit)."""
    expression = "{}"
    for unit, factor in reversed(list(factors.items())):
        scaled = "value.ofType(Quantity).value" + ("" if factor == 1.0 else f" * {fp_number(factor)}")
        expression = f"iif(value.ofType(Quantity).code = {fp_string(unit)}, {scaled}, {expression})"
    return expression


def _observations(concept: Concept, atom: Atom, extra: str | None) -> str:
    codes = coding_filter(concept.codings, concept.code_prefixes)
    return (
        "entry.resource.ofType(Observation).where("
        + _and(
            status_ok("Observation"),
            f"code.coding.where({codes}).exists()",
            extra,
            window(atom, "effective.ofType(dateTime) | effective.ofType(Period).start | issued"),
        )
        + ")"
    )


def _observation_query(concept: Concept) -> str:
    query = f"Observation?patient={PATIENT}"
    if concept.codings and not concept.code_prefixes:
        query += f"&code={token_list(concept.codings)}"
    return query + "&_sort=-date"


def emit_lab(atom: Atom, concept: Concept, units: Units) -> Atom:
    if not concept.codings and not concept.code_prefixes:
        return _not_computable(atom, f"concept has no codes: {concept.key}")
    comparator = atom.comparator or "ge"
    if atom.uln_multiple is not None or atom.lln_multiple is not None:
        side = "high" if atom.uln_multiple is not None else "low"
        multiple = atom.uln_multiple if atom.uln_multiple is not None else atom.lln_multiple
        assert multiple is not None
        limit = f"{fp_number(multiple)} * referenceRange.first().{side}.value"
        selection = _observations(concept, atom, f"value.ofType(Quantity).exists() and referenceRange.{side}.exists()")
        if comparator == "between":
            return _not_computable(atom, "range of limit multiples")
        fhirpath = f"{selection}.first().select({compare('value.ofType(Quantity).value', comparator, limit)})"
    else:
        factors = _unit_factors(concept, units)
        if not factors or atom.value is None or isinstance(atom.value, str):
            return _not_computable(atom, "no canonical unit for the lab concept")
        selection = _observations(concept, atom, f"value.ofType(Quantity).code in {fp_in(factors)}")
        high = fp_number(atom.high) if atom.high is not None else None
        fhirpath = (
            f"{selection}.first().select({compare(_converted_value(factors), comparator, fp_number(atom.value), high)})"
        )
    return atom.model_copy(
        update={"resource_types": ["Observation"], "fhir_query": _observation_query(concept), "fhirpath": fhirpath}
    )


# -- scores (ECOG, Karnofsky) ---------------------------------------------------------------------------


def _score_value(concept: Concept) -> str:
    parts = ["value.ofType(integer)", "value.ofType(Quantity).value", "value.ofType(decimal)"]
    for key, number in concept.answers.items():
        system, _, code = key.partition("|")
        parts.append(
            f"value.ofType(CodeableConcept).coding.where(system = {fp_string(system)} and code = {fp_string(code)})"
            f".select({fp_number(number)})"
        )
    return "(" + " | ".join(parts) + ").first()"


def emit_score(atom: Atom, concept: Concept) -> Atom:
    if not concept.codings and not concept.code_prefixes:
        return _not_computable(atom, f"concept has no codes: {concept.key}")
    if atom.comparator is None or atom.value is None or isinstance(atom.value, str):
        return _not_computable(atom, "no threshold")
    high = fp_number(atom.high) if atom.high is not None else None
    fhirpath = (
        f"{_observations(concept, atom, None)}.first()"
        f".select({compare(_score_value(concept), atom.comparator, fp_number(atom.value), high)})"
    )
    return atom.model_copy(
        update={"resource_types": ["Observation"], "fhir_query": _observation_query(concept), "fhirpath": fhirpath}
    )


# -- presence (conditions, medications, procedures, allergies) ------------------------------------------


def _concept_present(paths: str, codes: str, concept: Concept, resource_type: str) -> str:
    """The concept's own codes; for a histology-specific condition also a site code plus the morphology
    recorded in the histology extension (a diagnosis code such as ICD-10 C20 carries no histology)."""
    own = f"{paths}.where({codes}).exists()"
    site = coding_filter(concept.site_codings)
    morphology = coding_filter(concept.morphology_codings)
    if resource_type != "Condition" or site is None or morphology is None:
        return own
    extension = fp_string(str(matching_table()["histology_extension"]))
    by_histology = (
        f"{paths}.where({site}).exists() and "
        f"extension.where(url = {extension}).value.ofType(CodeableConcept).coding.where({morphology}).exists()"
    )
    return f"({own} or ({by_histology}))"


def _code_paths(resource_type: str) -> str:
    if resource_type in MEDICATION_TYPES:
        return "(medication.ofType(CodeableConcept).coding | medication.concept.coding)"
    if resource_type == "Immunization":
        return "vaccineCode.coding"
    return "code.coding"


def _prefixes_of(lexicon: Lexicon, key: str | None) -> tuple[CodePrefix, ...]:
    if key is None:
        return ()
    concept = lexicon.get(key)
    return concept.code_prefixes if concept else ()


@lru_cache(maxsize=1)
def _positive_answers() -> tuple[Coding, ...]:
    """The coded answers that mean positive (matching table), built once."""
    listed = matching_table().get("positive_answers")
    return tuple(
        Coding(system=str(a["system"]), code=str(a["code"]))
        for a in (listed if isinstance(listed, list) else [])
        if isinstance(a, dict)
    )


def _observed_finding(atom: Atom, concept: Concept) -> bool:
    """A finding also shown by a positive test (HBsAg reactive, pregnancy test positive)."""
    return atom.category in ("infection", "pregnancy") and "Observation" in concept.resource_types


def _positive_observation(atom: Atom, concept: Concept, codes: str | None) -> str | None:
    """Observations of the concept whose coded value or interpretation means positive."""
    if not _observed_finding(atom, concept) or codes is None:
        return None
    own = tuple(Coding(system=k.split("|", 1)[0], code=k.split("|", 1)[1]) for k, v in concept.answers.items() if v > 0)
    # the table's answers alone (most concepts have no answers of their own) are one tuple, whose filter is remembered
    positive = coding_filter(_positive_answers() + own if own else _positive_answers())
    if positive is None:
        return None
    return (
        "entry.resource.ofType(Observation).where("
        + _and(
            f"code.coding.where({codes}).exists()",
            status_ok("Observation"),
            f"(value.ofType(CodeableConcept).coding.where({positive}).exists() or "
            f"interpretation.coding.where({positive}).exists())",
            window(atom, "effective.ofType(dateTime) | effective.ofType(Period).start | issued"),
        )
        + ")"
    )


def _use_qualifiers(atom: Atom) -> Atom:
    """ "Prior or current use", "taking X within 30 days": use at any time, or within the window, includes current
    use; "current" restricts a medication only when nothing else dates it."""
    dated = atom.within_days is not None or {"history", "prior"} & set(atom.qualifiers)
    if atom.category != "medication" or "current" not in atom.qualifiers or not dated:
        return atom
    return atom.model_copy(update={"qualifiers": [q for q in atom.qualifiers if q != "current"]})


def emit_presence(atom: Atom, concept: Concept, lexicon: Lexicon) -> Atom:
    atom = _use_qualifiers(atom)
    declared = ("AllergyIntolerance",) if atom.category == "allergy" else concept.resource_types
    types = [t for t in (declared or ("Condition",)) if t in PRESENCE_TYPES]
    if atom.category == "medication" and not types:
        types = list(MEDICATION_TYPES)
    if not types and _observed_finding(atom, concept):
        types = ["Observation"]
    if not types:
        return _not_computable(atom, f"no coded presence evidence for {concept.key} (resource types: Observation)")
    codes = coding_filter(concept.codings, concept.code_prefixes)
    if codes is None:
        return _not_computable(atom, f"concept has no codes: {concept.key}")
    excluded = coding_filter(atom.excluded_concepts, _prefixes_of(lexicon, atom.excluded_concept_key))
    branches: list[str] = []
    observed = _positive_observation(atom, concept, codes)
    if observed:
        branches.append(observed)
    for resource_type in [t for t in types if t != "Observation"]:
        paths = _code_paths(resource_type)
        condition = _and(
            _concept_present(paths, codes, concept, resource_type),
            f"{paths}.where({excluded}).empty()" if excluded else None,
            resource_status(resource_type, atom),
            use_window(atom, resource_type)
            if resource_type in MEDICATION_TYPES
            else window(atom, date_path(resource_type)),
        )
        branches.append(f"entry.resource.ofType({resource_type}).where({condition})")
    union = branches[0] if len(branches) == 1 else "(" + " | ".join(branches) + ")"
    fhirpath = f"{union}.empty()" if atom.comparator == "absent" else f"{union}.exists()"
    query = f"{types[0]}?patient={PATIENT}"
    # a site code may carry the histology in an extension; the concept's own tuple when it has none (remembered)
    searchable = (*concept.codings, *concept.site_codings) if concept.site_codings else concept.codings
    if searchable and not concept.code_prefixes:
        query += f"&code={token_list(searchable)}"
    prefilter = None
    if atom.kind == "inclusion" and atom.comparator == "present" and types[0] == "Condition" and "&code=" in query:
        prefilter = f"Patient?_has:Condition:patient:code={token_list(searchable)}"
    return atom.model_copy(
        update={"resource_types": types, "fhir_query": query, "fhirpath": fhirpath, "prefilter": prefilter}
    )


# -- demographics ----------------------------------------------------------------------------------------


def _age_test(comparator: str, value: float, unit: str) -> tuple[str, str]:
    """(FHIRPath over Patient, search clause) for whole-unit age ``comparator value``."""
    word = _AGE_UNITS[unit]
    if comparator == "ge":
        return (
            f"birthDate <= today() - {fp_number(value)} {word}",
            f"birthdate=le{{{{today() - {fp_number(value)} {word}}}}}",
        )
    return (
        f"birthDate > today() - {fp_number(value + 1)} {word}",
        f"birthdate=gt{{{{today() - {fp_number(value + 1)} {word}}}}}",
    )


def emit_age(atom: Atom) -> Atom:
    unit = atom.unit or "a"
    if unit not in _AGE_UNITS or atom.value is None or isinstance(atom.value, str):
        return _not_computable(atom, f"age unit {unit} needs a birth time")
    if not float(atom.value).is_integer() or (atom.high is not None and not float(atom.high).is_integer()):
        return _not_computable(atom, "fractional age bound")
    bounds: list[tuple[str, float]] = []
    if atom.comparator in ("ge", "between"):
        bounds.append(("ge", atom.value))
    if atom.comparator == "gt":
        bounds.append(("ge", atom.value + 1))
    if atom.comparator == "le":
        bounds.append(("le", atom.value))
    if atom.comparator == "lt":
        bounds.append(("le", atom.value - 1))
    if atom.comparator == "between" and atom.high is not None:
        bounds.append(("le", atom.high))
    if not bounds:
        return _not_computable(atom, "no threshold")
    tests = [_age_test(c, v, unit) for c, v in bounds]
    fhirpath = "entry.resource.ofType(Patient).select(birthDate.exists() and " + " and ".join(t for t, _ in tests) + ")"
    prefilter = "Patient?" + "&".join(q for _, q in tests)
    return atom.model_copy(
        update={
            "resource_types": ["Patient"],
            "fhir_query": f"Patient?_id={PATIENT}",
            "fhirpath": fhirpath,
            "prefilter": prefilter,
        }
    )


def emit_sex(atom: Atom) -> Atom:
    value = str(atom.value)
    return atom.model_copy(
        update={
            "resource_types": ["Patient"],
            "fhir_query": f"Patient?_id={PATIENT}",
            "fhirpath": f"entry.resource.ofType(Patient).gender = {fp_string(value)}",
            "prefilter": f"Patient?gender={search_escape(value)}",
        }
    )


def _not_computable(atom: Atom, reason: str) -> Atom:
    return atom.model_copy(
        update={"computable": False, "reason": reason, "fhir_query": None, "fhirpath": None, "prefilter": None}
    )


def emit(atom: Atom, *, lexicon: Lexicon, units: Units) -> Atom:
    """The atom with its FHIR query, FHIRPath and pre-filter (unchanged when not computable)."""
    if not atom.computable:
        return atom
    if atom.concepts and atom.concepts[0] == AGE_CONCEPT:
        return emit_age(atom)
    if atom.id == "sex" or (atom.category == "demographic" and atom.comparator == "eq"):
        return emit_sex(atom)
    concept = lexicon.get(atom.concept_key) if atom.concept_key else None
    if concept is None:
        return _not_computable(atom, f"concept not in lexicon: {atom.concept_key}")
    if atom.category == "lab":
        return emit_lab(atom, concept, units)
    if atom.category == "performance-status":
        return emit_score(atom, concept)
    return emit_presence(atom, concept, lexicon)


# -- pipelines -------------------------------------------------------------------------------------------


def text_atoms(text: str, *, lexicon: Lexicon | None = None, units: Units | None = None) -> list[Atom]:
    """Every atom of the criteria text, parsed and emitted."""
    lex = lexicon or default_lexicon()
    unit_table = units or default_units()
    atoms: list[Atom] = []
    lead_ins: dict[str, Atom] = {}
    items = split_items(text)
    for item in items:
        parent_id = item.id.rpartition(".")[0] if "." in item.id else None
        parent = lead_ins.get(parent_id) if parent_id else None
        for atom in parse_item(text, item, lexicon=lex, units=unit_table):
            if item.has_children:
                lead_ins[item.id] = atom
            if parent is not None and parent_id is not None:
                atom = under_lead_in(atom, parent, parent_id)
            atoms.append(emit(atom, lexicon=lex, units=unit_table))
    return joined_by_or_items(with_listed_exceptions(atoms, lead_ins), text, items)


def compile_text(
    text: str, *, trial_id: str = "trial", lexicon: Lexicon | None = None, units: Units | None = None
) -> CompiledCriteria:
    """Criteria text -> compiled atoms (no structured age/sex atoms)."""
    return CompiledCriteria(trial=trial_id, atoms=text_atoms(text, lexicon=lexicon, units=units))


_FINER = {("a", "mo"): 12, ("wk", "d"): 7}


def _in_unit(bound: AgeBound, unit: str, *, upper: bool) -> float | None:
    if bound.unit == unit:
        return bound.value
    factor = _FINER.get((bound.unit, unit))
    if factor is None:
        return None
    # "<= 17 years" is "< 18 years": the last whole month before the 18th birthday is 215.
    return (bound.value + 1) * factor - 1 if upper else bound.value * factor


def age_atom(minimum: AgeBound | None, maximum: AgeBound | None) -> Atom | None:
    """The structured ``age`` atom from the registry's minimum / maximum age (None when both are open)."""
    if minimum is None and maximum is None:
        return None
    units = {b.unit for b in (minimum, maximum) if b is not None}
    unit = next(iter(units)) if len(units) == 1 else next((f for (c, f) in _FINER if c in units and f in units), None)
    raw = " to ".join(b.raw for b in (minimum, maximum) if b is not None)
    base = {"id": "age", "kind": "inclusion", "text": raw, "category": "demographic", "concepts": [AGE_CONCEPT]}
    if unit is None:
        return Atom.model_validate({**base, "computable": False, "reason": "age bounds in incompatible units"})
    low = _in_unit(minimum, unit, upper=False) if minimum else None
    high = _in_unit(maximum, unit, upper=True) if maximum else None
    if low is not None and high is not None:
        fields: dict[str, object] = {"comparator": "between", "value": low, "high": high}
    elif low is not None:
        fields = {"comparator": "ge", "value": low}
    else:
        fields = {"comparator": "le", "value": high}
    return Atom.model_validate({**base, **fields, "unit": unit, "computable": True})


def sex_atom(sex: str | None) -> Atom | None:
    """The structured ``sex`` atom (FEMALE / MALE; none for ALL or unknown)."""
    value = {"FEMALE": "female", "MALE": "male"}.get((sex or "").upper())
    if value is None:
        return None
    return Atom(
        id="sex",
        kind="inclusion",
        text=sex or value,
        category="demographic",
        concepts=[Coding(system="http://hl7.org/fhir/administrative-gender", code=value, display=value.title())],
        comparator="eq",
        value=value,
        computable=True,
    )


def compile_trial(
    trial: TrialRecord, *, lexicon: Lexicon | None = None, units: Units | None = None
) -> CompiledCriteria:
    """A trial's structured atoms (age, sex) followed by the atoms of its criteria text."""
    lex = lexicon or default_lexicon()
    unit_table = units or default_units()
    structured = [
        a
        for a in (
            age_atom(trial.eligibility.minimum_age, trial.eligibility.maximum_age),
            sex_atom(trial.eligibility.sex),
        )
        if a is not None
    ]
    atoms = [emit(a, lexicon=lex, units=unit_table) for a in structured]
    atoms.extend(text_atoms(trial.eligibility.criteria or "", lexicon=lex, units=unit_table))
    if isinstance(lex, TerminologyLexicon):
        # exclusions read with the trial's required findings; the emitted queries follow the new exceptions
        listed = listed_concepts(trial_conditions(trial.conditions, (trial.brief_title, trial.official_title)), lex)
        reconciled = reconcile(atoms, lex, listed)
        atoms = [
            emit(new, lexicon=lex, units=unit_table) if new is not old and new.computable else new
            for old, new in zip(atoms, reconciled, strict=True)
        ]
    before = {id(a) for a in atoms}
    atoms = [
        a if id(a) in before else emit(a, lexicon=lex, units=unit_table)
        for a in resolve_trial_drug_allergies(atoms, trial.interventions, lex)
    ]
    titles = (trial.brief_title, trial.official_title)
    atoms = planned_procedures(atoms, titles, lex)
    names = trial_conditions(trial.conditions, titles)
    atoms = mark_index_conditions(atoms, names, lex)
    return CompiledCriteria(trial=trial.label, atoms=atoms)
