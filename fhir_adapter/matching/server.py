"""Patient data from a FHIR server, fetched in as few requests as possible.

For one candidate, everything the atoms need comes back in ONE request when the server supports
``batch`` (a Bundle whose entries are the patient's searches plus ``Patient/<id>``); otherwise in one
``Patient?_id=<id>&_revinclude=...`` search when the server accepts it; otherwise one search per type.
``next`` links inside the answers are followed. The result is a :class:`PatientSnapshot`, a
:class:`~fhir_adapter.matching.model.PatientData` for that patient, so the evaluator runs unchanged.

What is fetched (see :func:`needed_types`) mirrors what :mod:`fhir_adapter.matching.evaluate` asks:
Conditions, medications and procedures whole (the evaluator matches code prefixes and drug names,
which a code search cannot express); Observations restricted to the atoms' codes when every code set
is exact, all of them otherwise. A type the evaluator asks for that was not fetched is fetched on
demand (sync) or makes the screen fetch it and evaluate again (async), never an empty answer.

The population pre-filter (which patients to fetch at all) is :mod:`fhir_adapter.matching.prefilter`.

One patient's data is capped (:data:`DEFAULT_MAX_PATIENT_ENTRIES`, ``--max-patient-entries``): a server holding a
million Observations for one patient would otherwise take gigabytes. Past the cap the fetch stops at the page that
crossed it and raises :class:`PatientDataLimit`; screening reports that patient needs-review with the reason
(:func:`over_cap_result`), never a verdict on part of the record.

Logs and errors name resource types and counts, never a patient id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhir_adapter.criteria.model import Atom
from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir.client import AsyncFhirClient, FhirClient
from fhir_adapter.fhir.references import reference_key
from fhir_adapter.matching.evaluate import EvalContext
from fhir_adapter.matching.fetch_cap import (  # re-exported: the cap is part of what a server source does
    DEFAULT_MAX_PATIENT_ENTRIES,
    EntryBudget,
    PatientDataLimit,
    current_cap,
    over_cap_result,
    patient_entry_cap,
)
from fhir_adapter.matching.fetch_plan import (  # re-exported: the plan is what a server source sends
    DEFAULT_PAGE_SIZE,
    FetchMode,
    FetchPlan,
    TypeSearch,
    batch_bundle,
    plan_fetch,
    revinclude_params,
)
from fhir_adapter.matching.local import PATIENT_FIELDS
from fhir_adapter.matching.retrieval import MEDICATION_TYPES

log = logging.getLogger(__name__)

_EMPTY: tuple[dict[str, Any], ...] = ()
__all__ = [
    "DEFAULT_MAX_PATIENT_ENTRIES",
    "DEFAULT_PAGE_SIZE",
    "FetchMode",
    "FetchPlan",
    "PatientDataLimit",
    "TypeSearch",
    "batch_bundle",
    "over_cap_result",
    "patient_entry_cap",
    "plan_fetch",
    "revinclude_params",
]

# -- one patient's data -------------------------------------------------------------------------------------


def _about(resource: dict[str, Any], patient_id: str) -> bool:
    for name in PATIENT_FIELDS:
        value = resource.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            return reference_key(value["reference"]) == ("Patient", patient_id)
    return False


@dataclass
class PatientSnapshot:
    """Everything fetched for one patient; answers :class:`PatientData` for that patient alone."""

    patient_id: str
    patient_resource: dict[str, Any] | None
    by_type: dict[str, list[dict[str, Any]]]
    fetched: frozenset[str]
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``Type/id`` → resources not tied to a patient (Medication), shared across snapshots."""
    missed: set[str] = field(default_factory=set)
    """Types the evaluator asked for that were not fetched."""
    complete_types: frozenset[str] = frozenset()
    """Types fetched whole by a search the server declares (see :attr:`FetchPlan.complete`)."""

    def complete(self, resource_type: str) -> bool:
        return resource_type in self.complete_types

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        return self.patient_resource if patient_id == self.patient_id else None

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        if patient_id != self.patient_id:
            return _EMPTY
        if resource_type not in self.fetched:
            self.missed.add(resource_type)
            return _EMPTY
        return self.by_type.get(resource_type, [])

    def patient_ids(self) -> list[str]:
        return [self.patient_id]

    def resolve(self, reference: str) -> dict[str, Any] | None:
        key = reference_key(reference)
        return self.shared.get(f"{key[0]}/{key[1]}") if key else None

    def medication_references(self) -> set[str]:
        """``Medication/<id>`` references of the medication resources that are not resolved yet."""
        wanted: set[str] = set()
        for rtype in MEDICATION_TYPES:
            for resource in self.by_type.get(rtype, ()):
                reference = (resource.get("medicationReference") or {}).get("reference")
                key = reference_key(reference) if isinstance(reference, str) else None
                if key and key[0] == "Medication" and f"Medication/{key[1]}" not in self.shared:
                    wanted.add(f"Medication/{key[1]}")
        return wanted


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a searchset Bundle; anything else from the server is an error, not 'no patients'."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        kind = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise FhirServerError(f"expected a Bundle, the server answered {kind}", field="resourceType")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FhirServerError("Bundle.entry is not a list of entries", field="Bundle.entry")
    return [e["resource"] for e in entries if isinstance(e.get("resource"), dict)]


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def split_next(base_url: str, next_url: str) -> tuple[str, list[tuple[str, str]]]:
    """A ``next`` link as (path relative to the base, query items) for ``search_bundles``."""
    parts = urlsplit(next_url)
    base_path = urlsplit(base_url).path.rstrip("/")
    path = parts.path[len(base_path) :] if parts.path.startswith(base_path) else parts.path
    return path.strip("/"), parse_qsl(parts.query, keep_blank_values=True)


@dataclass
class RevincludeCheck:
    """Whether the server really honours ``_revinclude``: a server may ignore it and answer with the Patient alone,
    which would read as a record without Conditions or medications (and documented exclusions would vanish).

    While unproven, a patient answered with nothing included is searched again one type at a time: records found
    that way prove the server ignores ``_revinclude`` (the caller switches to per-type searches); an answer with
    included resources proves it honours it. After ``max_probes`` empty patients the server is trusted."""

    max_probes: int = 5
    proven: bool = False
    probes: int = 0

    def needed(self, collector: _Collector) -> bool:
        if self.proven:
            return False
        if any(collector.by_type.values()):
            self.proven = True
            return False
        self.probes += 1
        self.proven = self.probes >= self.max_probes
        return True

    def ignored(self, found: list[dict[str, Any]]) -> bool:
        if found:
            log.warning("the server ignores _revinclude: fetching one search per type instead")
            self.proven = True
        return bool(found)


class _Collector:
    """Sorts fetched resources into a snapshot (only resources about the patient are kept)."""

    def __init__(self, patient_id: str, types: Iterable[str], complete: frozenset[str] = frozenset()) -> None:
        self.patient_id = patient_id
        self.types = frozenset(types)
        self.complete = complete
        self.patient: dict[str, Any] | None = None
        self.by_type: dict[str, list[dict[str, Any]]] = {t: [] for t in self.types}
        self._seen: set[tuple[str, str]] = set()

    def add(self, resources: Iterable[dict[str, Any]]) -> None:
        for resource in resources:
            rtype = str(resource.get("resourceType", ""))
            if rtype == "Patient":
                if str(resource.get("id")) == self.patient_id:
                    self.patient = resource
                continue
            if rtype not in self.by_type or not _about(resource, self.patient_id):
                continue
            key = (rtype, str(resource.get("id")))
            if key[1] != "None" and key in self._seen:
                continue
            self._seen.add(key)
            self.by_type[rtype].append(resource)

    def snapshot(self, shared: dict[str, dict[str, Any]]) -> PatientSnapshot:
        return PatientSnapshot(
            self.patient_id, self.patient, self.by_type, self.types, shared, complete_types=self.complete
        )


def _entry_failure(entry: dict[str, Any], what: str) -> FhirServerError | None:
    status = str((entry.get("response") or {}).get("status", "200")).split(" ", 1)[0]
    if status.startswith("2"):
        return None
    return FhirServerError(f"batch entry {what} failed with status {status}", status_code=int(status or 0))


@dataclass
class _BatchAnswer:
    """A batch response taken apart: resources of the first pages, and the ``next`` links to follow."""

    resources: list[dict[str, Any]]
    next_links: list[str]
    patient_missing: bool


def read_batch_response(plan: FetchPlan, response: dict[str, Any]) -> _BatchAnswer:
    entries = response.get("entry") or []
    if len(entries) != len(plan.searches) + 1:
        raise FhirServerError(f"batch answered {len(entries)} entries for {len(plan.searches) + 1} requests")
    resources: list[dict[str, Any]] = []
    next_links: list[str] = []
    first = entries[0]
    patient_missing = _entry_failure(first, "Patient") is not None
    if not patient_missing and isinstance(first.get("resource"), dict):
        resources.append(first["resource"])
    for search, entry in zip(plan.searches, entries[1:], strict=True):
        failure = _entry_failure(entry, f"{search.resource_type} search")
        if failure is not None:
            raise failure
        page = entry.get("resource") or {}
        resources += _entries(page)
        link = _next_link(page)
        if link:
            next_links.append(link)
    return _BatchAnswer(resources, next_links, patient_missing)


# -- sync source ----------------------------------------------------------------------------------------------


class ServerData:
    """:class:`PatientData` over a :class:`FhirClient`: one fetch per patient, kept in a small LRU cache.

    ``requests`` counts the HTTP requests this source made (metadata excluded).
    """

    def __init__(
        self,
        client: FhirClient,
        atoms: Sequence[Atom],
        *,
        context: EvalContext,
        cache_size: int = 64,
        filter_observations: bool = True,
        patient_ids: Sequence[str] | None = None,
        max_entries: int | None = None,
    ) -> None:
        self.client = client
        self.max_entries = max_entries or current_cap()
        self._budget: EntryBudget | None = None
        self.atoms = list(atoms)
        self.context = context
        self.cache_size = cache_size
        self.filter_observations = filter_observations
        self.requests = 0
        self._ids = list(patient_ids) if patient_ids is not None else None
        self._plan: FetchPlan | None = None
        self._cache: OrderedDict[str, PatientSnapshot] = OrderedDict()
        self.shared: dict[str, dict[str, Any]] = {}
        self.revinclude_check = RevincludeCheck()

    @property
    def plan(self) -> FetchPlan:
        if self._plan is None:
            self._plan = plan_fetch(
                self.atoms, self.client.capabilities(), context=self.context,
                filter_observations=self.filter_observations,
            )
        return self._plan

    # PatientData
    def patient(self, patient_id: str) -> dict[str, Any] | None:
        return self.fetch(patient_id).patient_resource

    def complete(self, resource_type: str) -> bool:
        """Whether the type is fetched whole by a patient search the server declares."""
        return resource_type in self.plan.complete

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        snapshot = self.fetch(patient_id)
        if resource_type not in snapshot.fetched:
            found = self._search_all(resource_type, TypeSearch(resource_type, "patient").items(patient_id))
            snapshot.by_type[resource_type] = [r for r in found if _about(r, patient_id)]
            snapshot.fetched = snapshot.fetched | {resource_type}
        return snapshot.by_type.get(resource_type, [])

    def patient_ids(self) -> list[str]:
        if self._ids is None:
            self._ids = [str(r["id"]) for r in self._search_all("Patient", [("_elements", "id"), ("_count", "1000")])]
        return list(self._ids)

    def resolve(self, reference: str) -> dict[str, Any] | None:
        key = reference_key(reference)
        if key is None:
            return None
        name = f"{key[0]}/{key[1]}"
        if name not in self.shared:
            try:
                self.requests += 1
                self.shared[name] = self.client.read(key[0], key[1])
            except FhirServerError:
                return None
        return self.shared[name]

    # fetching
    def fetch(self, patient_id: str) -> PatientSnapshot:
        """The patient's snapshot (fetched once, then served from the cache)."""
        found = self._cache.get(patient_id)
        if found is not None:
            self._cache.move_to_end(patient_id)
            return found
        snapshot = self._fetch(patient_id)
        for reference in sorted(snapshot.medication_references()):
            self.resolve(reference)
        self._cache[patient_id] = snapshot
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return snapshot

    def _search_all(self, path: str, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, list[str]] = {}
        for name, value in items:
            params.setdefault(name, []).append(value)
        for page in self.client.search_bundles(path, params):
            self.requests += 1
            entries = _entries(page)
            if self._budget is not None:
                self._budget.take(len(entries), f"{path.split('/')[0] or 'search'} page")
            found += entries
        return found

    def _follow(self, link: str) -> list[dict[str, Any]]:
        path, items = split_next(self.client.base_url, link)
        return self._search_all(path, items)

    def _fetch(self, patient_id: str) -> PatientSnapshot:
        self._budget = EntryBudget(self.max_entries)
        try:
            return self._fetch_within(patient_id)
        finally:
            self._budget = None

    def _fetch_within(self, patient_id: str) -> PatientSnapshot:
        plan = self.plan
        collector = _Collector(patient_id, plan.types, plan.complete)
        if plan.mode == "batch":
            self.requests += 1
            answer = read_batch_response(plan, self.client.batch(batch_bundle(plan, patient_id)))
            if self._budget is not None:
                self._budget.take(len(answer.resources), "the batch answer")
            collector.add(answer.resources)
            for link in answer.next_links:
                collector.add(self._follow(link))
        elif plan.mode == "revinclude":
            try:
                collector.add(self._search_all("Patient", revinclude_params(plan, patient_id)))
            except FhirServerError as exc:
                if exc.status_code not in {400, 422}:
                    raise
                log.info("server rejected _revinclude; fetching one search per type")
                self._plan = plan.with_mode("per-type")
                return self._fetch_within(patient_id)
            if self.revinclude_check.needed(collector):
                found = [r for s in plan.searches for r in self._search_all(s.resource_type, s.items(patient_id))]
                if self.revinclude_check.ignored(found):
                    self._plan = plan.with_mode("per-type")
                collector.add(found)
        else:
            collector.add(self._search_all("Patient", [("_id", patient_id)]))
            for search in plan.searches:
                collector.add(self._search_all(search.resource_type, search.items(patient_id)))
        return collector.snapshot(self.shared)


# -- async source ---------------------------------------------------------------------------------------------


class AsyncServerData:
    """Fetches patient snapshots over an :class:`AsyncFhirClient` with at most ``concurrency`` requests in flight."""

    def __init__(
        self,
        client: AsyncFhirClient,
        atoms: Sequence[Atom],
        *,
        context: EvalContext,
        concurrency: int = 8,
        filter_observations: bool = True,
        max_entries: int | None = None,
    ) -> None:
        self.client = client
        self.atoms = list(atoms)
        self.context = context
        self.filter_observations = filter_observations
        self.max_entries = max_entries or current_cap()
        self.requests = 0
        self.shared: dict[str, dict[str, Any]] = {}
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        self.revinclude_check = RevincludeCheck()
        self._plan: FetchPlan | None = None

    async def plan(self) -> FetchPlan:
        if self._plan is None:
            caps = await self.client.capabilities()
            self._plan = plan_fetch(
                self.atoms, caps, context=self.context, filter_observations=self.filter_observations
            )
        return self._plan

    async def search_all(
        self, path: str, items: list[tuple[str, str]], budget: EntryBudget | None = None
    ) -> list[dict[str, Any]]:
        """Every resource of every page; each page request waits for a free slot; ``budget`` caps the entries."""
        params: dict[str, list[str]] = {}
        for name, value in items:
            params.setdefault(name, []).append(value)
        found: list[dict[str, Any]] = []
        pages = self.client.search_bundles(path, params)
        while True:
            async with self._semaphore:
                try:
                    page = await anext(pages)
                except StopAsyncIteration:
                    return found
            self.requests += 1
            entries = _entries(page)
            if budget is not None:
                budget.take(len(entries), f"{path.split('/')[0] or 'search'} page")
            found += entries

    async def _follow(self, link: str, budget: EntryBudget | None = None) -> list[dict[str, Any]]:
        path, items = split_next(self.client.base_url, link)
        return await self.search_all(path, items, budget)

    async def _resolve_medications(self, snapshot: PatientSnapshot) -> None:
        for reference in sorted(snapshot.medication_references()):
            key = reference_key(reference)
            if key is None or reference in self.shared:
                continue
            async with self._semaphore:
                self.requests += 1
                try:
                    self.shared[reference] = await self.client.read(key[0], key[1])
                except FhirServerError:
                    log.info("a referenced Medication could not be read")

    async def fetch(self, patient_id: str, *, extra_types: Iterable[str] = ()) -> PatientSnapshot:
        """Everything the atoms need for one patient (plus ``extra_types``)."""
        plan = await self.plan()
        extra = [t for t in extra_types if t not in plan.types]
        if extra:
            caps = await self.client.capabilities()
            more_plan = plan_fetch(self.atoms, caps, context=self.context, extra_types=extra)
            kept = tuple(s for s in more_plan.searches if s.resource_type in plan.types | set(extra))
            kept_types = {s.resource_type for s in kept}
            plan = FetchPlan(
                plan.mode, kept, more_plan.declared & kept_types, more_plan.revincluded & kept_types
            )
        collector = _Collector(patient_id, plan.types, plan.complete)
        budget = EntryBudget(self.max_entries)
        if plan.mode == "batch":
            async with self._semaphore:
                self.requests += 1
                response = await self.client.batch(batch_bundle(plan, patient_id))
            answer = read_batch_response(plan, response)
            budget.take(len(answer.resources), "the batch answer")
            collector.add(answer.resources)
            for link in answer.next_links:
                collector.add(await self._follow(link, budget))
        elif plan.mode == "revinclude":
            try:
                collector.add(await self.search_all("Patient", revinclude_params(plan, patient_id), budget))
            except FhirServerError as exc:
                if exc.status_code not in {400, 422}:
                    raise
                log.info("server rejected _revinclude; fetching one search per type")
                if self._plan is not None:
                    self._plan = self._plan.with_mode("per-type")
                return await self.fetch(patient_id, extra_types=extra_types)
            if self.revinclude_check.needed(collector):
                found = [r for s in plan.searches
                         for r in await self.search_all(s.resource_type, s.items(patient_id), budget)]
                if self.revinclude_check.ignored(found) and self._plan is not None:
                    self._plan = self._plan.with_mode("per-type")
                collector.add(found)
        else:
            collector.add(await self.search_all("Patient", [("_id", patient_id)], budget))
            for search in plan.searches:
                collector.add(await self.search_all(search.resource_type, search.items(patient_id), budget))
        snapshot = collector.snapshot(self.shared)
        await self._resolve_medications(snapshot)
        return snapshot
