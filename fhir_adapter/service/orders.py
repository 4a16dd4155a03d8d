"""The ``order-select`` hook: the draft orders the clinician selected, considered as if they were placed.

The patient is evaluated twice with the same evaluator: on the record as it is (which trials the patient may fit,
as on ``patient-view``), and on the record plus the selected draft orders, each taken as an active order
authored today (a draft is otherwise ignored by the evaluator). A trial the patient fits now and would not fit
with the order (an exclusion such as "prior PD-1 therapy" met, or an inclusion such as "treatment-naive" no longer
met) gets a warning card, first: enrol before ordering, or choose knowingly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from fhir_adapter.criteria.model import Atom
from fhir_adapter.fhir.references import reference_key
from fhir_adapter.matching.model import PatientData, PatientResult, retrieved_completely

ORDER_TYPES = frozenset({
    "MedicationRequest", "ServiceRequest", "ProcedureRequest", "NutritionOrder", "DeviceRequest",
    "VisionPrescription", "CommunicationRequest", "SupplyRequest", "ImmunizationRecommendation",
})
"""Resource types an order-select ``draftOrders`` Bundle may hold."""
_AS_PLACED = {"MedicationRequest": "authoredOn", "ServiceRequest": "authoredOn", "DeviceRequest": "authoredOn"}


def selected_drafts(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft orders of ``context.draftOrders`` named by ``context.selections`` (all of them when no selection
    is given), as active orders authored today."""
    bundle = context.get("draftOrders")
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    resources = [e["resource"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    orders = [r for r in resources if r.get("resourceType") in ORDER_TYPES]
    wanted = {str(s) for s in context.get("selections") or [] if isinstance(s, str)}
    if wanted:
        orders = [r for r in orders if f"{r.get('resourceType')}/{r.get('id')}" in wanted]
    return [_as_placed(r) for r in orders]


def _as_placed(order: dict[str, Any]) -> dict[str, Any]:
    placed = {**order, "status": "active"}
    when = _AS_PLACED.get(str(order.get("resourceType")))
    if when and not placed.get(when):
        placed[when] = date.today().isoformat()
    return placed


class WithDrafts:
    """:class:`~fhir_adapter.matching.model.PatientData`: ``data`` plus the draft orders for ``patient_id``."""

    def __init__(self, data: PatientData, patient_id: str, drafts: Iterable[dict[str, Any]]):
        self._data = data
        self._patient_id = patient_id
        self._drafts: dict[str, list[dict[str, Any]]] = {}
        for order in drafts:
            self._drafts.setdefault(str(order["resourceType"]), []).append(order)

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        return self._data.patient(patient_id)

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        found = self._data.resources(patient_id, resource_type)
        extra = self._drafts.get(resource_type, []) if patient_id == self._patient_id else []
        return [*found, *extra] if extra else found

    def patient_ids(self) -> Iterable[str]:
        return self._data.patient_ids()

    def resolve(self, reference: str) -> dict[str, Any] | None:
        key = reference_key(reference)
        for orders in self._drafts.values():
            for order in orders:
                if key is not None and (order.get("resourceType"), str(order.get("id"))) == key:
                    return order
        return self._data.resolve(reference)

    def complete(self, resource_type: str) -> bool:
        return retrieved_completely(self._data, resource_type)


def excluded_by(atoms: Sequence[Atom], now: PatientResult, ordered: PatientResult) -> list[str]:
    """What the draft orders would make fail (labels), when the patient fits now and would not with them."""
    if now.verdict == "ineligible" or ordered.verdict != "ineligible":
        return []
    before = {r.id: r.result for r in now.criteria}
    kinds = {a.id: a.kind for a in atoms}
    failing = {"exclusion": "met", "inclusion": "not-met"}
    return list(dict.fromkeys(
        r.label or r.id
        for r in ordered.criteria
        if (fails := failing.get(kinds.get(r.id, ""))) is not None and r.result == fails and before.get(r.id) != fails
    ))
