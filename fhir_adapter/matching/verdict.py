"""From atom results to one patient verdict.

* ``ineligible`` — the patient is deceased on ``as_of`` (deceasedBoolean true or deceasedDateTime on or
  before ``as_of``; the results then start with the pseudo-criterion ``alive``, not-met; reason code
  ``deceased``), or the trial's index condition is not documented on a complete problem list
  (``not-a-candidate``, decided by :func:`fhir_adapter.matching.evaluate.closed_world`), or a computable
  inclusion atom is ``not-met`` (``inclusion-not-met``), or a computable exclusion atom is ``met`` (the
  excluding finding is documented: ``exclusion-met``).
* ``needs-review`` — nothing fails, but some computable atom is ``unknown``; ``open_items`` says what to
  obtain for each ("ECOG performance status", "total bilirubin with reference range").
* ``eligible`` — every computable inclusion is met and no exclusion is documented.

``to_confirm`` lists the ids of the ``review`` atoms (not computable) for every verdict, ineligible
included, so a coordinator sees the whole list; for an eligible patient they are what is left to check
by hand. ``reason`` is one line naming the deciding atoms and their first evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomOutcome, AtomResult, Evidence, PatientResult, ReasonCode, Verdict
from fhir_adapter.matching.record import parse_date, trusted

ALIVE = "alive"
"""Id of the pseudo-criterion that a deceased patient fails (so JSON readers see why, not only a table)."""


def deceased_reason(patient: dict[str, Any], patient_id: str, as_of: date) -> str | None:
    """Why the patient counts as deceased on ``as_of`` (None when alive or not recorded)."""
    if patient.get("deceasedBoolean") is True:
        return f"deceased (Patient/{patient_id} deceasedBoolean)"
    when = parse_date(patient.get("deceasedDateTime"))
    if when is not None and when <= as_of:
        return f"deceased on {when.isoformat()} (Patient/{patient_id})"
    return None


def _group_outcome(outcomes: Sequence[AtomOutcome]) -> AtomOutcome:
    """Any-of: met when one member is met, not-met when every member is not-met, else unknown (a member left for
    review may hold: "diet alone, oral antidiabetics or insulin" is not failed by a patient on no drug)."""
    if "met" in outcomes:
        return "met"
    if all(o == "not-met" for o in outcomes):
        return "not-met"
    return "unknown"


def decisive_results(atoms: Sequence[Atom], results: Sequence[AtomResult]) -> list[tuple[Atom, AtomResult]]:
    """The computable atoms with the result that decides the verdict. An any-of group counts once, at its
    first member, with the group's outcome (its reason names every member)."""
    if not any(a.any_of for a in atoms):  # most trials: each computable atom counts on its own
        return [(a, r) for a, r in zip(atoms, results, strict=True) if a.computable]
    groups: dict[str, list[AtomResult]] = {}
    for a, r in zip(atoms, results, strict=True):
        if a.any_of:  # its members left for review too: the group is not failed while one of them may hold
            groups.setdefault(a.any_of, []).append(r)
    decided: list[tuple[Atom, AtomResult]] = []
    seen: set[str] = set()
    for a, r in zip(atoms, results, strict=True):
        if not a.computable:
            continue
        if a.any_of is None:
            decided.append((a, r))
            continue
        if a.any_of in seen:
            continue
        seen.add(a.any_of)
        members = groups[a.any_of]
        outcome = _group_outcome([m.result for m in members])
        reason = "any of: " + "; ".join(f"{m.id} {m.result} ({m.reason})" for m in members)
        evidence = [e for m in members for e in m.evidence]
        need = " or ".join(dict.fromkeys(m.need or m.label or m.id for m in members if m.result == "unknown"))
        label = " or ".join(dict.fromkeys(m.label or m.id for m in members))
        group = AtomResult.model_construct(
            id=r.id, result=outcome, reason=reason, evidence=evidence, label=label, need=need or None
        )
        decided.append((a, group))
    return decided


def failing(atoms: Sequence[Atom], results: Sequence[AtomResult]) -> list[AtomResult]:
    """Results that make the patient ineligible: inclusion not-met, exclusion met (any-of groups as one)."""
    return [
        r
        for a, r in decisive_results(atoms, results)
        if (a.kind == "inclusion" and r.result == "not-met") or (a.kind == "exclusion" and r.result == "met")
    ]


def _failure_text(atom: Atom, result: AtomResult, more: int) -> str:
    what = "fails inclusion" if atom.kind == "inclusion" else "meets exclusion"
    tail = f" (+{more} more)" if more else ""
    return f"{what} {result.id}: {result.reason}{tail}"


def open_items(atoms: Sequence[Atom], results: Sequence[AtomResult]) -> list[str]:
    """What to obtain to decide the undecided computable criteria (an any-of group is one item)."""
    items = [r.need or r.label or r.id for _, r in decisive_results(atoms, results) if r.result == "unknown"]
    return list(dict.fromkeys(items))


_RANK: dict[str, int] = {"eligible": 0, "needs-review": 1, "ineligible": 2}


class _Decision(NamedTuple):  # a tuple: built for every patient, cheaper than a frozen dataclass
    verdict: Verdict
    code: ReasonCode
    reason: str
    open_items: list[str]


def _verdict(atoms: Sequence[Atom], results: Sequence[AtomResult], to_confirm: Sequence[str]) -> _Decision:
    """The verdict of one set of atoms (a whole trial, or one cohort with the atoms every cohort shares)."""
    decided = decisive_results(atoms, results)
    fails = [
        (a, r)
        for a, r in decided
        if (a.kind == "inclusion" and r.result == "not-met") or (a.kind == "exclusion" and r.result == "met")
    ]
    if fails:
        index = [(a, r) for a, r in fails if a.index]
        if index:
            return _Decision("ineligible", "not-a-candidate", f"not a candidate: {index[0][1].reason}", [])
        atom, first = fails[0]
        code: ReasonCode = "inclusion-not-met" if atom.kind == "inclusion" else "exclusion-met"
        return _Decision("ineligible", code, f"ineligible: {_failure_text(atom, first, len(fails) - 1)}", [])
    items = open_items(atoms, results)
    if items:
        return _Decision("needs-review", "needs-review", "needs-review: needs " + ", ".join(items), items)
    met = sum(1 for _, r in decided if r.result in ("met", "not-met"))
    confirm = f"; {len(to_confirm)} to confirm" if to_confirm else ""
    return _Decision("eligible", "eligible", f"eligible: {met} computable criteria satisfied{confirm}", [])


def cohorts_of(atoms: Sequence[Atom]) -> list[str]:
    """The cohort labels of a trial's atoms, in order of appearance."""
    return list(dict.fromkeys(a.cohort for a in atoms if a.cohort))


def _by_cohort(
    atoms: Sequence[Atom], results: Sequence[AtomResult], to_confirm: Sequence[str]
) -> tuple[_Decision, list[str]]:
    """A patient is eligible for the trial when eligible for at least one cohort (the atoms without a cohort
    apply to every cohort): the best cohort verdict (fewest open items among needs-review), and the cohorts
    that reach it."""
    cohorts = cohorts_of(atoms)
    if not cohorts:
        return _verdict(atoms, results, to_confirm), []
    decided: list[tuple[str, _Decision]] = []
    for cohort in cohorts:
        pairs = [(a, r) for a, r in zip(atoms, results, strict=True) if a.cohort in (None, cohort)]
        decided.append((cohort, _verdict([a for a, _ in pairs], [r for _, r in pairs], to_confirm)))
    best = min(decided, key=lambda d: (_RANK[d[1].verdict], len(d[1].open_items)))[1]
    reached = [c for c, d in decided if d.verdict == best.verdict]
    head, _, rest = best.reason.partition(": ")
    reason = f"{head} (cohort {', '.join(reached)}): {rest}"
    return _Decision(best.verdict, best.code, reason, best.open_items), reached


def decide(
    atoms: Sequence[Atom], results: Sequence[AtomResult], patient: dict[str, Any], patient_id: str, as_of: date
) -> PatientResult:
    to_confirm = [r.id for r in results if r.result == "review"]
    deceased = deceased_reason(patient, patient_id, as_of)
    cohorts: list[str] = []
    if deceased is not None:
        decision = _Decision("ineligible", "deceased", f"ineligible: {deceased}", [])
    else:
        decision, cohorts = _by_cohort(atoms, results, to_confirm)
    criteria = list(results)
    if deceased is not None:
        evidence = [Evidence(reference=f"Patient/{patient_id}")]
        criteria.insert(0, AtomResult(id=ALIVE, result="not-met", reason=deceased, evidence=evidence))
    return trusted(PatientResult, {  # every field given, valid by construction (model_construct costs more)
        "patient": f"Patient/{patient_id}",
        "verdict": decision.verdict,
        "reason": " ".join(decision.reason.split()),
        "reason_code": decision.code,
        "open_items": decision.open_items,
        "to_confirm": to_confirm,
        "criteria": criteria,
        "cohorts": cohorts,
    })
