"""Cards for the trials a patient may be eligible for: one per trial where no computable inclusion is not met and
no computable exclusion is met (verdict eligible or needs-review) and that :mod:`fhir_adapter.service.policy`
selects, ranked, each saying what is met and what must be confirmed, with a suggestion to record the patient as a
candidate. Nothing for trials the patient fails. On ``order-select``, a trial the draft order would make the
patient ineligible for gets a warning card, first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.emit import candidate_subject
from fhir_adapter.matching.model import PatientResult
from fhir_adapter.service.catalog import Trial, settings
from fhir_adapter.service.cds_models import Action, Card, Coding, Link, Source, Suggestion
from fhir_adapter.service.policy import POSSIBLE, CardPolicy

_MAX_LINES = 8
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:fhir-adapter:cds-hooks")


@dataclass
class Candidate:
    """A trial's result for the patient, and what the card policy needs to know about it."""

    trial: Trial
    result: PatientResult
    confirmed: bool = True
    """The trial has an index condition, or the record documents one of its anchors."""
    anchors: list[str] = field(default_factory=list)
    """For a trial without an index condition: the anchors the record documents."""
    excluded_by: list[str] = field(default_factory=list)
    """order-select: what the draft order would meet among the trial's exclusions (the patient fits without it)."""


def _summary(found: Candidate) -> str:
    trial, result = found.trial, found.result
    lead = "Eligible on coded data" if result.verdict == "eligible" else "Possibly eligible"
    if found.excluded_by:
        lead = "Before this order, consider trial"
    elif not found.confirmed:
        lead = "Diagnosis not confirmed"
    text = f"{lead}: {trial.id} {trial.title}"
    limit = int(settings()["card"]["summary_max"])
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bullets(items: Sequence[str]) -> str:
    shown = [f"- {item}" for item in items[:_MAX_LINES]]
    if len(items) > _MAX_LINES:
        shown.append(f"- … and {len(items) - _MAX_LINES} more")
    return "\n".join(shown)


def _notes(found: Candidate) -> list[str]:
    if found.excluded_by:
        return ["**This order would exclude the patient:** " + "; ".join(found.excluded_by)]
    if not found.confirmed:
        return ["**Diagnosis not confirmed:** the record documents none of this trial's conditions; confirm the "
                "patient has one before screening."]
    if found.anchors:
        return ["**Shown because the record documents:** " + ", ".join(dict.fromkeys(found.anchors))]
    return []


def _detail(atoms: Sequence[Atom], found: Candidate) -> str:
    result = found.result
    by_id = {a.id: a for a in atoms}
    met = [
        r.label or r.id
        for r in result.criteria
        if r.result == "met" and by_id.get(r.id) is not None and by_id[r.id].kind == "inclusion"
    ]
    confirm = [" ".join(by_id[i].text.split())[:120] for i in result.to_confirm if i in by_id]
    parts = [f"**{result.reason}**", *_notes(found)]
    if met:
        parts.append("**Met:**\n" + _bullets(list(dict.fromkeys(met))))
    if result.open_items:
        parts.append("**To obtain:**\n" + _bullets(result.open_items))
    if confirm:
        parts.append("**To confirm by hand:**\n" + _bullets(confirm))
    return "\n\n".join(parts)


def card_for(found: Candidate, today: date) -> Card:
    trial, result = found.trial, found.result
    config = settings()["card"]
    patient_ref = result.patient
    subject = candidate_subject("R4", trial.id, patient_ref, today.isoformat())
    links = [Link(label=f"{trial.id} on ClinicalTrials.gov", url=config["registry_url"] + trial.id)] if (
        trial.id.startswith("NCT")
    ) else []
    return Card(
        uuid=str(uuid.uuid5(_NAMESPACE, f"{trial.id}|{patient_ref}|{today.isoformat()}")),
        summary=_summary(found),
        detail=_detail(trial.criteria.atoms, found),
        indicator="warning" if found.excluded_by else config["indicator"],
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


def _rank(found: Candidate) -> tuple[int, int, int, str]:
    return (not found.excluded_by, _RANK[found.result.verdict], len(found.result.open_items), found.trial.id)


def select(found: Sequence[Candidate], policy: CardPolicy) -> tuple[list[Candidate], int]:
    """The candidates that get a card, best first (order warnings, eligible, then fewest open items; the
    unconfirmed ones last, at most ``policy.unconfirmed``), and how many possible trials were withheld."""
    possible = sorted((f for f in found if f.result.verdict in POSSIBLE), key=_rank)
    confirmed = [f for f in possible if f.confirmed]
    unconfirmed = [f for f in possible if not f.confirmed]
    shown = confirmed + unconfirmed[: policy.unconfirmed]
    return shown, len(possible) - len(shown)


def cards(found: Sequence[Candidate], today: date, policy: CardPolicy | None = None) -> tuple[list[Card], int]:
    """The cards of the selected trials (see :func:`select`), and the number of trials withheld."""
    shown, withheld = select(found, policy or CardPolicy())
    return [card_for(f, today) for f in shown], withheld
