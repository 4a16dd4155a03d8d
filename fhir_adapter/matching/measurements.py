"""Labs and performance status: the latest usable value of the concept within its window, compared with the
atom's threshold or with a multiple of the Observation's own reference range (rules in
:mod:`fhir_adapter.matching.evaluate`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from fhir_adapter.matching.model import AtomOutcome, AtomResult, Evidence
from fhir_adapter.matching.record import (
    DATE_FIELDS,
    AtomPlan,
    EvalContext,
    PatientRecord,
    atom_result,
    codings,
    compare,
    flip,
    fmt_number,
    ref,
    resource_date,
    usable,
)
from fhir_adapter.words import comparator, open_item, quantity, unit_text

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


def _recency_key(obs: dict[str, Any], when: date) -> tuple[date, str, str]:
    """Latest first by date, then by the full timestamp as written, then by id: two values on one day give the
    same answer whatever order a source returns them in."""
    raw = ""
    for name in DATE_FIELDS["Observation"]:
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
        if not usable(obs, ctx):
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


def _unreadable(observations: Iterable[dict[str, Any]], ctx: EvalContext) -> list[Evidence]:
    """Usable Observations of the concept whose date or value could not be read ("abc", "1990-02-30")."""
    found = []
    for obs in observations:
        if not usable(obs, ctx):
            continue
        quantity = obs.get("valueQuantity")
        raw = quantity.get("value") if isinstance(quantity, dict) else obs.get("valueString")
        bad_date = resource_date(obs) is None and any(obs.get(f) for f in DATE_FIELDS["Observation"])
        bad_value = raw is not None and not isinstance(raw, int | float)
        if bad_date or bad_value:
            shown = str(raw)[:40] if bad_value else "date"
            found.append(Evidence(reference=ref(obs), value=f"unreadable {shown}"))
    return found


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
            return f"{fmt_number(float(bounds[0]['value']))}–{quantity(float(bounds[1]['value']), unit)}"
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
        unreadable = _unreadable(observations, ctx)
        if unreadable:
            # a data-quality finding, not an absence: the record has the test, its value or date cannot be read
            refs = ", ".join(e.reference for e in unreadable[:3])
            reason = f"{plan.label} recorded, but its value or date cannot be read ({refs})"
            return atom_result(atom, "unknown", reason, unreadable, need=open_item("unreadable", label=plan.label))
        return atom_result(
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
        return atom_result(atom, "unknown", f"latest {shown} is older than {window} days", [evidence], need=need)
    multiple = atom.uln_multiple if atom.uln_multiple is not None else atom.lln_multiple
    if multiple is not None:
        bound = "high" if atom.uln_multiple is not None else "low"
        limit = _range_limit(obs, bound, unit, plan, ctx)
        name = "ULN" if bound == "high" else "LLN"
        if limit is None:
            need = open_item("no-reference-range", label=plan.label)
            why = "a reference range with low above high" if _impossible_range(obs) else "no reference range"
            return atom_result(atom, "unknown", f"{shown} has {why} ({name} unknown)", [evidence], need=need)
        threshold = multiple * limit
        ok = compare(value, atom.comparator or ("le" if bound == "high" else "ge"), threshold, None)
        outcome: AtomOutcome = "met" if ok else "not-met"
        symbol = comparator(atom.comparator)
        reason = f"{shown}; required {symbol} {fmt_number(multiple)} × {name} ({quantity(threshold, unit)}) → {outcome}"
        return atom_result(atom, flip(outcome, atom), reason, [evidence])
    if not isinstance(atom.value, int | float):
        return atom_result(
            atom, "unknown", f"{shown}: the criterion has no numeric threshold", [evidence],
            need=open_item("other", label=plan.label),
        )
    if atom.unit and unit and unit != atom.unit:
        converted = ctx.convert(value, unit, atom.unit, atom.concept_key)
        if converted is None:
            need = open_item("unit", label=plan.label, unit=unit_text(atom.unit))
            return atom_result(
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
        return atom_result(atom, "unknown", f"{shown}: the value has no unit", [evidence], need=need)
    ok = compare(value, atom.comparator, float(atom.value), atom.high)
    if ok is None:
        return atom_result(
            atom, "unknown", f"{shown}: comparator {atom.comparator} not supported", [evidence],
            need=open_item("other", label=plan.label),
        )
    outcome = "met" if ok else "not-met"
    target = (
        f"{fmt_number(float(atom.value))}–{quantity(atom.high, atom.unit)}"
        if atom.comparator == "between" and atom.high is not None
        else quantity(float(atom.value), atom.unit)
    )
    reason = f"{shown}; required {comparator(atom.comparator)} {target} → {outcome}"
    return atom_result(atom, flip(outcome, atom), reason, [evidence])
