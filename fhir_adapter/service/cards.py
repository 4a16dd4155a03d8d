"""Cards for the trials a patient may be eligible for: one per trial where no computable inclusion is not met and
no computable exclusion is met (verdict eligible or needs-review), ranked, each saying what is met and what must
be confirmed, with a suggestion to record the patient as a candidate. Nothing for trials the patient fails."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.emit import candidate_subject
from fhir_adapter.matching.model import PatientResult
from fhir_adapter.service.catalog import Trial, settings
from fhir_adapter.service.cds_models import Action, Card, Coding, Link, Source, Suggestion

_MAX_LINES = 8
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:fhir-adapter:cds-hooks")


def _summary(trial: Trial, result: PatientResult) -> str:
    lead = "Eligible on coded data" if result.verdict == "eligible" else "Possibly eligible"
    text = f"{lead}: {trial.id} {trial.title}"
    limit = int(settings()["card"]["summary_max"])
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bullets(items: Sequence[str]) -> str:
    shown = [f"- {item}" for item in items[:_MAX_LINES]]
    if len(items) > _MAX_LINES:
        shown.append(f"- … and {len(items) - _MAX_LINES} more")
    return "\n".join(shown)


def _detail(atoms: Sequence[Atom], result: PatientResult) -> str:
    by_id = {a.id: a for a in atoms}
    met = [
        r.label or r.id
        for r in result.criteria
        if r.result == "met" and by_id.get(r.id) is not None and by_id[r.id].kind == "inclusion"
    ]
    confirm = [" ".join(by_id[i].text.split())[:120] for i in result.to_confirm if i in by_id]
    parts = [f"**{result.reason}**"]
    if met:
        parts.append("**Met:**\n" + _bullets(list(dict.fromkeys(met))))
    if result.open_items:
        parts.append("**To obtain:**\n" + _bullets(result.open_items))
    if confirm:
        parts.append("**To confirm by hand:**\n" + _bullets(confirm))
    return "\n\n".join(parts)


def card_for(trial: Trial, result: PatientResult, today: date) -> Card:
    config = settings()["card"]
    patient_ref = result.patient
    subject = candidate_subject("R4", trial.id, patient_ref, today.isoformat())
    links = [Link(label=f"{trial.id} on ClinicalTrials.gov", url=config["registry_url"] + trial.id)] if (
        trial.id.startswith("NCT")
    ) else []
    return Card(
        uuid=str(uuid.uuid5(_NAMESPACE, f"{trial.id}|{patient_ref}|{today.isoformat()}")),
        summary=_summary(trial, result),
        detail=_detail(trial.criteria.atoms, result),
        indicator=config["indicator"],
        source=Source(label=config["source_label"]),
        suggestions=[
            Suggestion(
                label=f"Record as a screening candidate for {trial.id}",
                uuid=str(uuid.uuid5(_NAMESPACE, f"suggest|{trial.id}|{patient_ref}|{today.isoformat()}")),
                actions=[Action(type="create", description="Candidate ResearchSubject", resource=subject)],
            )
        ],
        selectionBehavior="any",
        overrideReasons=[Coding(code=r["code"], display=r["display"]) for r in config["override_reasons"]],
        links=links,
    )


_RANK = {"eligible": 0, "needs-review": 1}


def cards(found: Sequence[tuple[Trial, PatientResult]], today: date) -> list[Card]:
    """The cards of the trials the patient may be eligible for, best first (eligible, then fewest open items)."""
    possible = [(t, r) for t, r in found if r.verdict in _RANK]
    possible.sort(key=lambda tr: (_RANK[tr[1].verdict], len(tr[1].open_items), tr[0].id))
    return [card_for(t, r, today) for t, r in possible]
