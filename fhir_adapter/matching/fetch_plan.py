"""How one patient's data is asked of a FHIR server: the searches the atoms need, and how to send them (pure).

One ``batch`` Bundle when the server declares batch (``Patient/<id>`` plus one search per type), else one
``Patient?_id=<id>&_revinclude=...`` search; :mod:`fhir_adapter.matching.server` sends them and reads the answers.
The plan also records which types an empty answer means "none" for (the closed-world decisions the matcher may make).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

from fhir_adapter.criteria.model import Atom
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.matching.evaluate import EvalContext
from fhir_adapter.matching.retrieval import needed_types, observation_codes

FetchMode = Literal["batch", "revinclude", "per-type"]

DEFAULT_PAGE_SIZE = 1000


@dataclass(frozen=True)
class TypeSearch:
    """One search of a patient's resources of one type (the patient parameter is added per patient)."""

    resource_type: str
    patient_param: str
    """``patient`` (value ``<id>``) or ``subject`` (value ``Patient/<id>``)."""
    params: tuple[tuple[str, str], ...] = ()

    def items(self, patient_id: str) -> list[tuple[str, str]]:
        value = patient_id if self.patient_param == "patient" else f"Patient/{patient_id}"
        return [(self.patient_param, value), *self.params]

    def url(self, patient_id: str) -> str:
        """The relative search URL (``Observation?patient=1&code=...``) for a batch entry."""
        return f"{self.resource_type}?{urlencode(self.items(patient_id), safe='|,:/')}"


@dataclass(frozen=True)
class FetchPlan:
    mode: FetchMode
    searches: tuple[TypeSearch, ...]
    declared: frozenset[str] = frozenset()
    """Types searched whole (no code filter) by a patient parameter the server declares."""
    revincluded: frozenset[str] = frozenset()
    """Types whose ``_revinclude`` on Patient the server declares: a server may ignore an undeclared one and
    answer with the Patient alone, which must not read as "no Conditions"."""

    @property
    def complete(self) -> frozenset[str]:
        """Types an empty answer means "none" for: what the matcher may decide closed-world."""
        return self.declared & self.revincluded if self.mode == "revinclude" else self.declared

    def with_mode(self, mode: FetchMode) -> FetchPlan:
        return FetchPlan(mode, self.searches, self.declared, self.revincluded)

    @property
    def types(self) -> frozenset[str]:
        return frozenset(s.resource_type for s in self.searches)


def _patient_param(caps: Capabilities, resource_type: str) -> str:
    only_subject = not caps.supports_search(resource_type, "patient") and caps.supports_search(resource_type, "subject")
    return "subject" if caps.declares(resource_type) and only_subject else "patient"


def plan_fetch(
    atoms: Sequence[Atom],
    caps: Capabilities,
    *,
    context: EvalContext,
    page_size: int = DEFAULT_PAGE_SIZE,
    filter_observations: bool = True,
    extra_types: Iterable[str] = (),
) -> FetchPlan:
    """The searches one patient needs and how to send them (batch when the server declares it)."""
    types = list(dict.fromkeys([*needed_types(atoms), *extra_types]))
    codes = observation_codes(atoms, context) if filter_observations else None
    searches = []
    for rtype in types:
        params: list[tuple[str, str]] = []
        if rtype == "Observation" and codes:
            params.append(("code", ",".join(codes)))
            if caps.supports_search("Observation", "_sort"):
                params.append(("_sort", "-date"))
        params.append(("_count", str(page_size)))
        searches.append(TypeSearch(rtype, _patient_param(caps, rtype), tuple(params)))
    mode: FetchMode = "batch" if caps.supports_batch else "revinclude"
    declared = frozenset(
        s.resource_type
        for s in searches
        if caps.supports_search(s.resource_type, s.patient_param) and not any(n == "code" for n, _ in s.params)
    )
    revincluded = frozenset(
        s.resource_type for s in searches if caps.supports_revinclude("Patient", f"{s.resource_type}:{s.patient_param}")
    )
    return FetchPlan(mode=mode, searches=tuple(searches), declared=declared, revincluded=revincluded)


def batch_bundle(plan: FetchPlan, patient_id: str) -> dict[str, Any]:
    """A batch Bundle: ``Patient/<id>`` and every search of the plan for that patient."""
    entries = [{"request": {"method": "GET", "url": f"Patient/{quote(patient_id, safe='')}"}}]
    entries += [{"request": {"method": "GET", "url": s.url(patient_id)}} for s in plan.searches]
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}


def revinclude_params(plan: FetchPlan, patient_id: str) -> list[tuple[str, str]]:
    """``Patient?_id=<id>&_revinclude=<Type>:<param>...`` (codes cannot be filtered this way)."""
    items = [("_id", patient_id)]
    items += [("_revinclude", f"{s.resource_type}:{s.patient_param}") for s in plan.searches]
    items.append(("_count", str(DEFAULT_PAGE_SIZE)))
    return items
