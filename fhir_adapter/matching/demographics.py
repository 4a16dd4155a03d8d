"""Demographics: age from ``Patient.birthDate`` on the as-of date (exact birthday arithmetic), sex from
``Patient.gender``."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomResult, Evidence
from fhir_adapter.matching.record import (
    EvalContext,
    PatientRecord,
    atom_result,
    compare,
    flip,
    fmt_number,
    parse_date,
    trusted,
)
from fhir_adapter.words import comparator, open_item, quantity, unit_text

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


def is_age(atom: Atom) -> bool:
    key = (atom.concept_key or "").lower()
    return atom.id == "age" or key in ("age", "demographic.age") or key.endswith(".age")


def is_sex(atom: Atom) -> bool:
    key = (atom.concept_key or "").lower()
    return atom.id == "sex" or key in ("sex", "gender", "demographic.sex", "demographic.gender")


@lru_cache(maxsize=256)
def _requirement(code: str | None, value: float, high: float | None, unit: str) -> str:
    """What an age atom requires, in its reason's words ("between 18–75 years"): the same for every patient, so
    it is written once per atom rather than for each of a population's patients."""
    low = fmt_number(value)
    target = f"{low}–{fmt_number(high)}" if high is not None else low
    return f"{comparator(code)} {target} {unit_text(unit)}"


def _patient_evidence(
    patient_id: str, value: float | str | None = None, unit: str | None = None, on: str | None = None
) -> Evidence:
    """The Patient as evidence (valid by construction: built as :func:`~fhir_adapter.matching.record.trusted`
    results are, without pydantic's validation, which cost as much as the rest of the age rule)."""
    return trusted(Evidence, {"reference": f"Patient/{patient_id}", "value": value, "unit": unit, "date": on,
                              "reference_range": None})


def evaluate_demographic(atom: Atom, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    patient = record.patient
    if is_age(atom):
        birth = parse_date(patient.get("birthDate"))
        if birth is None or not isinstance(atom.value, int | float):
            return atom_result(
                atom, "unknown", "no birth date recorded" if birth is None else "no age threshold",
                need=open_item("no-birth-date"),
            )
        age = _age_in(atom.unit, birth, ctx.as_of)
        if age is None:
            return atom_result(atom, "unknown", f"age unit {atom.unit} not supported", need=open_item("no-birth-date"))
        ok = compare(age, atom.comparator, float(atom.value), atom.high)
        if ok is None:
            return atom_result(
                atom, "unknown", f"age comparator {atom.comparator} not supported", need=open_item("no-birth-date")
            )
        outcome = flip("met" if ok else "not-met", atom)
        unit = atom.unit or "a"
        on = ctx.as_of.isoformat()
        evidence = [_patient_evidence(record.patient_id, age, unit, on)]
        required = _requirement(atom.comparator, float(atom.value), atom.high, unit)
        reason = f"{quantity(age, unit)} old on {on}; required {required} → {outcome}"
        return atom_result(atom, outcome, reason, evidence)
    if is_sex(atom):
        wanted = str(atom.value or "all").lower()
        gender = patient.get("gender")
        if wanted in ("all", "any", "both"):
            return atom_result(atom, "met", "all sexes eligible", [_patient_evidence(record.patient_id)])
        if gender not in ("male", "female"):
            need = open_item("no-sex")
            evidence = [_patient_evidence(record.patient_id)]
            return atom_result(atom, "unknown", f"sex recorded as {gender or 'nothing'}", evidence, need=need)
        outcome = flip("met" if gender == wanted else "not-met", atom)
        evidence = [_patient_evidence(record.patient_id, value=gender)]
        return atom_result(atom, outcome, f"sex {gender} (criterion {wanted}) → {outcome}", evidence)
    return atom_result(atom, "review", "not evaluated: demographic criterion not recognised")
