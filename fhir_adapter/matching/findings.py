"""Findings: conditions, infections, pregnancy and allergies; medications; procedures (rules in
:mod:`fhir_adapter.matching.evaluate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fhir_adapter.criteria.model import Atom, Coding
from fhir_adapter.matching.model import AtomResult, Evidence
from fhir_adapter.matching.record import (
    AtomPlan,
    EvalContext,
    PatientRecord,
    atom_result,
    codings,
    concept_label,
    first_date,
    presence,
    ref,
    resource_date,
    status_code,
    usable,
    wants_present,
)
from fhir_adapter.terminology import Concept
from fhir_adapter.words import open_item

# -- conditions, pregnancy, infection, allergy ----------------------------------------------------------------


@dataclass
class _ConditionScan:
    active: list[Evidence] = field(default_factory=list)
    inactive: list[Evidence] = field(default_factory=list)
    site_only: list[Evidence] = field(default_factory=list)
    stale: list[Evidence] = field(default_factory=list)
    tentative: list[Evidence] = field(default_factory=list)
    """Recorded as unconfirmed/provisional/differential: no diagnosis yet, but a record to look at."""
    undated: list[Evidence] = field(default_factory=list)
    """Recorded with neither onset nor recorded date, for a criterion dated by a window."""
    before_window: list[Evidence] = field(default_factory=list)
    """Dated before the criterion's window but still recorded active: it may have been present in the window (a
    cancer diagnosed ten years ago and active since) or be a stale problem-list entry (an old infarction)."""


def _condition_in_window(resource: dict[str, Any], atom: Atom, ctx: EvalContext) -> bool | None:
    """Whether a Condition's onset or recorded date lies in the atom's window ("myocardial infarction within the
    past 6 months"), as the compiled FHIRPath asks; ``None``: it has neither date."""
    if atom.within_days is None or atom.category == "pregnancy":
        return True
    dates = [
        d for d in (first_date(resource, "onsetDateTime", "onsetPeriod"), first_date(resource, "recordedDate")) if d
    ]
    if not dates:
        return None
    return any(d >= ctx.as_of - timedelta(days=atom.within_days) for d in dates)


def _morphology_matches(condition: dict[str, Any], plan: AtomPlan, ctx: EvalContext) -> bool:
    for ext in condition.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == ctx.config.histology_extension:
            for system, code, _d in codings(ext.get("valueCodeableConcept")):
                if plan.morphology_codes.matches(system, code, ctx.config.system_aliases):
                    return True
    return False


def _excepted(resource: dict[str, Any], plan: AtomPlan, ctx: EvalContext) -> bool:
    """A Condition's or a Procedure's code among the atom's exceptions."""
    if not plan.except_codes:
        return False
    return any(plan.except_codes.matches(s, c, ctx.config.system_aliases) for s, c, _d in codings(resource.get("code")))


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
        verification = status_code(resource, "verificationStatus")
        if verification in excluded_verification:
            continue
        if verification in tentative and "suspected" not in atom.qualifiers:
            scan.tentative.append(Evidence(reference=ref(resource), value=concept_label(resource.get("code")) or None))
            continue
        onset = resource_date(resource)
        if onset is not None and onset > ctx.as_of:
            continue
        if _excepted(resource, plan, ctx):
            continue
        in_window = _condition_in_window(resource, atom, ctx)
        status = status_code(resource, "clinicalStatus")
        abated = first_date(resource, "abatementDateTime", "abatementPeriod")
        active = status not in inactive_status and not (abated is not None and abated <= ctx.as_of)
        evidence = Evidence(
            reference=ref(resource),
            value=concept_label(resource.get("code")) or None,
            date=onset.isoformat() if onset else None,
        )
        if in_window is False:
            if active:
                scan.before_window.append(evidence)
            continue
        if in_window is None:
            scan.undated.append(evidence)
        elif id(resource) in site_ids and not _morphology_matches(resource, plan, ctx):
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
        if not usable(obs, ctx) or when is None or when > ctx.as_of:
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
        return atom_result(
            atom,
            "unknown",
            f"{plan.label} present ({refs}); whether it is uncontrolled is not coded",
            found,
            need=open_item("uncontrolled", label=plan.label),
        )
    if found:
        return presence(atom, found, what)
    if scan.site_only:
        refs = ", ".join(e.reference for e in scan.site_only[:3])
        return atom_result(
            atom,
            "unknown",
            f"diagnosis code carries no histology ({refs})",
            scan.site_only,
            need=open_item("no-histology", label=plan.label),
        )
    if scan.stale:
        refs = ", ".join(e.reference for e in scan.stale[:3])
        days = ctx.config.current_max_days.get(atom.category)
        return atom_result(
            atom,
            "unknown",
            f"{plan.label} recorded active but started over {days} days ago ({refs})",
            scan.stale,
            need=open_item("stale-condition", label=plan.label),
        )
    if scan.undated or scan.before_window:
        undated = bool(scan.undated)
        undecided = scan.undated or scan.before_window
        refs = ", ".join(e.reference for e in undecided[:3])
        how = "recorded without a date" if undated else "recorded active since before the window"
        reason = f"{plan.label} {how}; the criterion asks within {atom.within_days} days ({refs})"
        return atom_result(atom, "unknown", reason, undecided, need=open_item("undated", label=plan.label))
    note = ""
    if scan.inactive:
        note = "recorded as resolved/inactive: " + ", ".join(e.reference for e in scan.inactive[:3])
        if atom.kind == "inclusion" and wants_present(atom):
            # a required diagnosis recorded as resolved is a record of it: whether it is current is for a person
            reason = f"no documented active {what}; {note}"
            return atom_result(atom, "unknown", reason, scan.inactive, need=open_item("stale-condition", label=what))
    if scan.tentative and atom.kind == "inclusion" and wants_present(atom):
        # a provisional diagnosis is not a diagnosis, but neither is it "no record": a person confirms it
        refs = ", ".join(e.reference for e in scan.tentative[:3])
        reason = f"{what} recorded as unconfirmed or provisional ({refs})"
        return atom_result(atom, "unknown", reason, scan.tentative, need=open_item("unconfirmed", label=what))
    return presence(atom, [], what, absent_note=note)


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
        texts.extend(t for t in (concept_label(route), dosage.get("text")) if isinstance(t, str) and t)
    return routes, " ".join(texts)


def _in_window(when: date | None, atom: Atom, ctx: EvalContext) -> bool:
    if when is None:
        return atom.within_days is None
    if when > ctx.as_of:
        return False
    return atom.within_days is None or when >= ctx.as_of - timedelta(days=atom.within_days)


def _current(resource: dict[str, Any], ctx: EvalContext) -> bool:
    """ "Current use of X": the medication resource's status says it is going on (``current_status``)."""
    return resource.get("status") in ctx.config.current_status.get(resource["resourceType"], frozenset())


def evaluate_medication(plan: AtomPlan, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    atom, aliases = plan.atom, ctx.config.system_aliases
    found: list[Evidence] = []
    skipped: list[str] = []
    for resource, meds, text in record.medications():
        if resource["resourceType"] not in ctx.config.medication_types or not usable(resource, ctx):
            continue
        by_code = any(plan.codes.matches(s, c, aliases) for s, c, _d in meds)
        if not by_code and not (plan.names is not None and plan.names.search(text)):
            continue
        if plan.except_codes and any(plan.except_codes.matches(s, c, aliases) for s, c, _d in meds):
            continue  # "chemotherapy other than capecitabine", as the compiled FHIRPath leaves it out
        when = resource_date(resource)
        # a medication still going on was used within any window, whenever it was ordered
        ongoing = atom.within_days is not None and _current(resource, ctx) and (when is None or when <= ctx.as_of)
        if not ongoing and not _in_window(when, atom, ctx):
            continue
        if "current" in atom.qualifiers and not _current(resource, ctx):
            skipped.append(f"{ref(resource)} {text} (status {resource.get('status')}: not current)")
            continue
        if plan.systemic_only:
            routes, route_text = _route_codings(resource)
            if ctx.vocabulary.non_systemic(routes, f"{text} {route_text}".strip()):
                skipped.append(f"{ref(resource)} {text} (not systemic)")
                continue
        found.append(Evidence(reference=ref(resource), value=text or None, date=when.isoformat() if when else None))
    note = "ignored " + "; ".join(skipped[:3]) if skipped else ""
    return presence(atom, found, plan.label, absent_note=note)


_EVENT_TYPES = ("Procedure", "Condition", "Immunization")
"""Where a procedure is found: the Procedure itself, or a status Condition the lexicon lists (ICD-10-CM Z94.0
kidney transplant status, Z99.2 dependence on dialysis); live vaccines are Immunizations."""


def evaluate_procedure(plan: AtomPlan, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    types = [t for t in plan.atom.resource_types if t in _EVENT_TYPES] or ["Procedure"]
    found = []
    resources = [r for t in types for r in record.find(t, plan.codes, ctx.config.system_aliases)]
    for resource in resources:
        when = resource_date(resource)
        if _excepted(resource, plan, ctx):  # "transplant other than a kidney transplant"
            continue
        if usable(resource, ctx) and _in_window(when, plan.atom, ctx):
            found.append(
                Evidence(
                    reference=ref(resource),
                    value=concept_label(resource.get("code")) or None,
                    date=when.isoformat() if when else None,
                )
            )
    return presence(plan.atom, found, plan.label)
