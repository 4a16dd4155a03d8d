"""From atom results to one patient verdict.

* ``ineligible`` — the patient is deceased on ``as_of`` (deceasedBoolean true or deceasedDateTime on or
  before ``as_of``; the results then start with the pseudo-criterion ``alive``, not-met), or a computable
  inclusion atom is ``not-met``, or a computable exclusion atom is ``met`` (the excluding finding is documented).
* ``needs-review`` — nothing fails, but some computable atom is ``unknown``.
* ``eligible`` — every computable inclusion is met and no exclusion is documented.

``to_confirm`` lists the ids of the ``review`` atoms (not computable) for every verdict, ineligible
included, so a coordinator sees the whole list; for an eligible patient they are what is left to check
by hand. ``reason`` is one line naming the deciding atoms and their first evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.evaluate import parse_date
from fhir_adapter.matching.model import AtomResult, Evidence, PatientResult, Verdict

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


def failing(atoms: Sequence[Atom], results: Sequence[AtomResult]) -> list[AtomResult]:
    """Results that make the patient ineligible: inclusion not-met, exclusion met."""
    return [
        r
        for a, r in zip(atoms, results, strict=True)
        if a.computable
        and ((a.kind == "inclusion" and r.result == "not-met") or (a.kind == "exclusion" and r.result == "met"))
    ]


def _summary(results: Sequence[AtomResult]) -> str:
    first = results[0]
    more = f"; +{len(results) - 1} more" if len(results) > 1 else ""
    return f"{first.id} {first.reason}{more}"


def decide(
    atoms: Sequence[Atom], results: Sequence[AtomResult], patient: dict[str, Any], patient_id: str, as_of: date
) -> PatientResult:
    to_confirm = [r.id for r in results if r.result == "review"]
    fails = failing(atoms, results)
    unknown = [r for a, r in zip(atoms, results, strict=True) if a.computable and r.result == "unknown"]
    deceased = deceased_reason(patient, patient_id, as_of)
    verdict: Verdict
    if deceased is not None:
        verdict, reason = "ineligible", f"ineligible: {deceased}"
    elif fails:
        verdict, reason = "ineligible", f"ineligible: {_summary(fails)}"
    elif unknown:
        verdict, reason = "needs-review", f"needs-review: {_summary(unknown)}"
    else:
        met = sum(1 for a, r in zip(atoms, results, strict=True) if a.computable and r.result in ("met", "not-met"))
        verdict = "eligible"
        reason = f"eligible: {met} computable criteria satisfied" + (
            f"; {len(to_confirm)} to confirm" if to_confirm else ""
        )
    criteria = list(results)
    if deceased is not None:
        evidence = [Evidence(reference=f"Patient/{patient_id}")]
        criteria.insert(0, AtomResult(id=ALIVE, result="not-met", reason=deceased, evidence=evidence))
    return PatientResult.model_construct(
        patient=f"Patient/{patient_id}",
        verdict=verdict,
        reason=" ".join(reason.split()),
        to_confirm=to_confirm,
        criteria=criteria,
    )
