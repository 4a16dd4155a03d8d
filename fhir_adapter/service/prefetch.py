"""A patient's data from a CDS Hooks request: the prefetched resources, and the EHR's FHIR server for the rest.

A prefetched search counts as complete for closed-world decisions (the trial's index condition) only when it was
answered whole: a searchset without a ``next`` link whose ``total``, when given, equals its entries, for a
template without a code filter. A capped or paged prefetch stays open-world.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fhir_adapter.fhir._core import resources_of
from fhir_adapter.fhir.references import reference_key
from fhir_adapter.service.catalog import prefetch_key

_EMPTY: tuple[dict[str, Any], ...] = ()


def _entries(bundle: Any) -> list[dict[str, Any]]:
    """A prefetched searchset's resources (a single resource prefetched as itself counts too)."""
    if not isinstance(bundle, dict):
        return []
    if bundle.get("resourceType") != "Bundle":
        return [bundle] if isinstance(bundle.get("resourceType"), str) else []
    return resources_of(bundle)


def _whole(bundle: Any) -> bool:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return False
    if any(isinstance(link, dict) and link.get("relation") == "next" for link in bundle.get("link") or ()):
        return False
    total = bundle.get("total")
    return total is None or total == len(_entries(bundle))


class PrefetchData:
    """:class:`~fhir_adapter.matching.model.PatientData` for one patient, from the request's prefetch."""

    def __init__(self, patient_id: str, prefetch: dict[str, Any], templates: dict[str, str], types: Iterable[str]):
        self.patient_id = patient_id
        self._patient = prefetch.get("patient") if isinstance(prefetch.get("patient"), dict) else None
        self._by_type: dict[str, list[dict[str, Any]]] = {}
        self._complete: set[str] = set()
        self.missing: list[str] = []
        """Types the service needs whose prefetch the EHR did not send."""
        for resource_type in types:
            key = prefetch_key(resource_type)
            bundle = prefetch.get(key)
            if bundle is None:
                self.missing.append(resource_type)
                continue
            self._by_type[resource_type] = [r for r in _entries(bundle) if r.get("resourceType") == resource_type]
            if _whole(bundle) and "&code=" not in templates.get(key, ""):
                self._complete.add(resource_type)
        if self._patient is None:
            self.missing.insert(0, "Patient")

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        return self._patient if patient_id == self.patient_id else None

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        return self._by_type.get(resource_type, _EMPTY) if patient_id == self.patient_id else _EMPTY

    def patient_ids(self) -> list[str]:
        return [self.patient_id]

    def resolve(self, reference: str) -> dict[str, Any] | None:
        key = reference_key(reference)
        if key is None:
            return None
        for resources in self._by_type.values():
            for resource in resources:
                if resource.get("resourceType") == key[0] and str(resource.get("id")) == key[1]:
                    return resource
        return None

    def complete(self, resource_type: str) -> bool:
        return resource_type in self._complete
