"""Population screening: every candidate patient of a source evaluated against a trial's atoms, ranked.

* :func:`screen` — any :class:`PatientData` that lists its patients (local NDJSON/Bundles).
* :func:`screen_server` / :func:`ascreen_server` — a FHIR server: a server-side pre-filter first
  (:func:`fhir_adapter.matching.prefilter.candidate_ids`), then each candidate fetched in one request
  (batch) with at most ``concurrency`` requests in flight, and evaluated locally. The patients the
  pre-filter ruled out are still reported: their Patient resources are listed (one cheap search) and
  evaluated by the same evaluator with what the pre-filter proved (no index condition on the server);
  when that does not make them ineligible they are fetched and evaluated like any candidate, so the
  server and a local export give the same verdict for every patient.

Ranking: eligible, then needs-review with the fewest open items first, then ineligible; by patient id within
a rank. With a :class:`~fhir_adapter.matching.checkpoint.Checkpoint`, finished patients are recorded as
they finish and skipped on a restart. Progress callbacks receive counts only, never patient ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.errors import InputError
from fhir_adapter.fhir.client import AsyncFhirClient
from fhir_adapter.matching.checkpoint import Checkpoint
from fhir_adapter.matching.evaluate import Matcher
from fhir_adapter.matching.model import AtomResult, MatchOptions, PatientData, PatientResult, ScreenResult
from fhir_adapter.matching.prefilter import candidate_ids, ruled_out_patients
from fhir_adapter.matching.record import FilteredOut, trusted
from fhir_adapter.matching.server import AsyncServerData, PatientDataLimit, PatientSnapshot, over_cap_result
from fhir_adapter.matching.spill import EncodedResult, ResultStore, SpilledPatients
from fhir_adapter.matching.spill import rank as rank  # re-exported
from fhir_adapter.matching.spill import rank_key as rank_key  # re-exported
from fhir_adapter.matching.verdict import ALIVE

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called once at the start and after every finished patient."""

def patient_ref(patient_id: str) -> str:
    return f"Patient/{patient_id}"


def select(patient_ids: Iterable[str], limit: int | None) -> list[str]:
    """The population, sorted by id (deterministic, so ``limit`` and resuming pick the same patients)."""
    ids = sorted(set(patient_ids))
    return ids if limit is None else ids[: max(0, limit)]


@dataclass
class ScreenStats:
    """Figures of one screening run (counts only)."""

    population: int = 0
    """Patients listed by the source (after the server pre-filter)."""
    screened: int = 0
    """Patients in the result."""
    resumed: int = 0
    """Patients taken from the checkpoint instead of evaluated again."""
    evaluated: int = 0
    missing: int = 0
    """Listed patients the source could not return any more (deleted meanwhile)."""
    requests: int = 0
    """HTTP requests for patient data (server screening; CapabilityStatement excluded)."""
    prefilter_applied: list[str] = field(default_factory=list)
    prefilter_dropped: list[str] = field(default_factory=list)
    prefiltered: int = 0
    """Patients the server pre-filter ruled out (reported as ineligible, from their Patient resource alone)."""
    seconds: float = 0.0


class PopulationEvaluator:
    """One trial's verdicts for the patients of a population, as every engine computes them (in this process or
    on a Spark executor): the one evaluator, with patients who are not candidates not evaluated further."""

    def __init__(self, criteria: CompiledCriteria, *, as_of: date, options: MatchOptions | None = None) -> None:
        self.as_of = as_of
        self.matcher = Matcher(criteria.atoms, as_of=as_of, options=options)
        self.prefilter_matcher: Matcher | None = None
        self.has_index = any(a.computable and a.index for a in criteria.atoms)
        self._not_evaluated: dict[str, list[AtomResult]] = {}
        self._reviews: dict[str, list[str]] = {}
        """The ids of the review results among :meth:`_placeholders` (the reason's), in order."""
        self._shared: dict[tuple[str, str, str, str | None, str | None], AtomResult] = {}
        self._positions: dict[str, list[int]] = {}
        """Each atom id's places among the atoms (built once: :meth:`_compact` runs for most patients)."""
        for position, atom in enumerate(self.matcher.atoms):
            self._positions.setdefault(atom.id, []).append(position)

    def evaluate(self, data: PatientData, pid: str) -> PatientResult | None:
        """The patient's verdict; a patient who is not a candidate (no record of the trial's condition, decided
        by the index atoms alone) is not evaluated further: in a population most patients are not candidates,
        and their other criteria would only be noise in the report."""
        found = self._decisive(data, pid) if self.has_index else None
        if found is not None and found.reason_code == "not-a-candidate":
            return self._compact(found, "not evaluated: not a candidate for the trial")
        return evaluate_or_skip(self.matcher, data, pid)

    def evaluate_fetched(self, snapshot: PatientSnapshot) -> PatientResult | None:
        """:meth:`evaluate` for a population engine's snapshot: the engine fetched what
        :func:`~fhir_adapter.matching.retrieval.retrieval_for` declares, so a type the evaluator read that was not
        fetched is an engine defect, raised rather than judged on less data."""
        result = self.evaluate(snapshot, snapshot.patient_id)
        if snapshot.missed:
            raise RetrievalError(sorted(snapshot.missed))
        return result

    def ruled_out(self, data: PatientData, pid: str) -> PatientResult | None:
        """The verdict of a patient the server pre-filter ruled out, from the atoms the pre-filter speaks to
        (age, sex, index conditions); None when those do not make the patient ineligible."""
        found = self._decisive(data, pid)
        if found is None or found.verdict != "ineligible":
            return None
        return self._compact(found, "not fetched: the server pre-filter ruled the patient out")

    def settled_early(self, snapshot: PatientSnapshot) -> PatientResult | None:
        """:meth:`evaluate_fetched`'s result for a patient who is not a candidate, from a snapshot of only the
        evidence the decisive atoms read (:func:`~fhir_adapter.matching.retrieval.narrowed_evidence`); None when
        that does not settle the patient (a candidate, or the atoms read more than the snapshot holds): evaluate the
        patient on the whole evidence then. A patient who is not a candidate on the narrowed evidence is not one on
        the whole: the lines left out carry none of the codes these atoms look for."""
        if not self.has_index:
            return None
        try:
            found = self._decisive(snapshot, snapshot.patient_id)
        except FilteredOut:
            return None
        if snapshot.missed or found is None or found.reason_code != "not-a-candidate":
            return None
        return self._compact(found, "not evaluated: not a candidate for the trial")

    def _decisive(self, data: PatientData, pid: str) -> PatientResult | None:
        """The verdict from the atoms that can rule a patient out on their own: age, sex, index conditions."""
        if self.prefilter_matcher is None:
            self.prefilter_matcher = Matcher(decisive_atoms(self.matcher.atoms), as_of=self.as_of,
                                             context=self.matcher.context)
        return evaluate_or_skip(self.prefilter_matcher, data, pid)

    def _compact(self, found: PatientResult, reason: str) -> PatientResult:
        """``found`` with every criterion it did not evaluate listed as such (unknown, or review when not
        computable), so that each patient's result names every criterion of the trial."""
        placeholders = self._placeholders(reason)
        compacted = list(placeholders)  # then the few results found, at their atoms' places
        alive: list[AtomResult] = []
        same_reviews = True  # the criteria to confirm are the placeholders' (the few results found change none)
        for result in found.criteria:
            if result.id == ALIVE:
                alive.append(result)
                same_reviews &= result.result != "review"
            for position in self._positions.get(result.id, ()):
                compacted[position] = self._interned(result)  # a later result of the same id wins, as in a dict
                same_reviews &= (result.result == "review") == (placeholders[position].result == "review")
        criteria = alive + compacted
        reviews = self._reviews[reason] if same_reviews else [r.id for r in criteria if r.result == "review"]
        to_confirm = list(reviews)
        return trusted(PatientResult, {**found.__dict__, "criteria": criteria, "to_confirm": to_confirm})

    def _interned(self, result: AtomResult) -> AtomResult:
        """One shared object for results without evidence that many patients get alike ("no record of
        <condition> in the patient's complete problem list"): a million non-candidates hold references, not copies."""
        if result.evidence:
            return result
        return self._shared.setdefault((result.id, result.result, result.reason, result.label, result.need), result)

    def _placeholders(self, reason: str) -> list[AtomResult]:
        """One "not evaluated" result per atom, built once per run and shared (results are never mutated)."""
        found = self._not_evaluated.get(reason)
        if found is None:
            found = [
                AtomResult(id=a.id, result="unknown", reason=reason)
                if a.computable
                else AtomResult(id=a.id, result="review", reason=f"not evaluated: {a.reason or 'not computable'}")
                for a in self.matcher.atoms
            ]
            self._not_evaluated[reason] = found
            self._reviews[reason] = [r.id for r in found if r.result == "review"]
        return found


def first_pass(
    evaluator: PopulationEvaluator, source: PatientStream, left: set[str], *, few: bool = False
) -> Iterator[PatientResult]:
    """The results of the patients of ``left`` that the first pass settles (:meth:`PatientStream.narrowed_snapshots`,
    :meth:`PopulationEvaluator.settled_early`), each removed from ``left``: the rest need their whole evidence.
    ``few``: ``left`` is a small part of the population (the source selects them itself)."""
    for snapshot in source.narrowed_snapshots(set(left), only_wanted=few):
        found = evaluator.settled_early(snapshot)
        if found is not None:
            left.discard(snapshot.patient_id)
            yield found


class EarlyResults:
    """The results a first pass settles while the engine is still reading its files (``DuckDbSource(meanwhile=
    settle)``), spilled as they come; the screen takes them over (:meth:`_Run.adopt`) but for the patients whose
    snapshot turned out not to be their whole first-pass evidence (:meth:`withdraw`), evaluated again."""

    def __init__(self, evaluator: PopulationEvaluator) -> None:
        self.evaluator = evaluator
        self.spill = SpilledPatients()
        self.patients: set[str] = set()

    def settle(self, snapshots: Iterable[PatientSnapshot]) -> None:
        for snapshot in snapshots:
            found = self.evaluator.settled_early(snapshot)
            if found is not None:
                self.spill.add(found)
                self.patients.add(snapshot.patient_id)

    def withdraw(self, patients: set[str] | None) -> None:
        """Forget the results of these patients (None: of all)."""
        dropped = self.patients & patients if patients is not None else set(self.patients)
        self.spill.discard(patient_ref(pid) for pid in dropped)
        self.patients -= dropped


def decisive_atoms(atoms: Sequence[Atom]) -> list[Atom]:
    """The atoms that can rule a patient out on their own: age, sex, index conditions (:meth:`PopulationEvaluator.
    evaluate` evaluates a patient further only when they do not make the patient "not a candidate")."""
    return [a for a in atoms if a.computable and (a.category == "demographic" or a.index)]


class _Run:
    """Everything the local and server screens share: matcher, stats, checkpoint, progress, ranking."""

    def __init__(
        self,
        criteria: CompiledCriteria,
        *,
        as_of: date,
        options: MatchOptions | None,
        progress: Progress | None,
        checkpoint: Checkpoint | None,
        stats: ScreenStats | None,
        evaluator: PopulationEvaluator | None = None,
    ) -> None:
        self.started = time.perf_counter()
        self.trial = criteria.trial
        self.as_of = as_of
        self.evaluator = evaluator or PopulationEvaluator(criteria, as_of=as_of, options=options)
        self.progress = progress
        self.checkpoint = checkpoint
        self.stats = stats if stats is not None else ScreenStats()
        self.total = 0
        self.start_ids: list[str] = []
        self.results = ResultStore()
        """Finished results: in memory for a small population, on disk beyond (``spill.SPILL_AFTER``)."""

    def start(self, patient_ids: Iterable[str], limit: int | None) -> list[str]:
        """Select the population; take finished patients from the checkpoint; the ids left to evaluate."""
        ids = select(patient_ids, limit)
        self.start_ids = ids
        todo: list[str] = []
        for pid in ids:
            # read one by one from the checkpoint into the results (which spill): never all in memory at once
            found = self.checkpoint.result(patient_ref(pid)) if self.checkpoint is not None else None
            if found is not None:
                self.results.add(pid, found)
            else:
                todo.append(pid)
        self.total = len(ids)
        self.stats.population = self.total
        self.stats.resumed = len(self.results)
        self._tick()
        return todo

    def adopt(self, early: EarlyResults, todo: set[str]) -> None:
        """Take over the results settled while the engine read its files, their patients removed from ``todo``
        (in place: a million ids are not copied). Only a whole population's first results are taken over so (no
        ``limit``, no checkpoint, nothing finished yet)."""
        if self.checkpoint is not None or len(self.results) or not early.patients <= todo:
            raise RuntimeError("early results are for a whole population screened from the start")
        self.results.adopt(early.spill)
        self.stats.evaluated += len(early.patients)
        todo -= early.patients
        self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(len(self.results) + self.stats.missing, self.total)

    def evaluate(self, data: PatientData, pid: str) -> PatientResult | None:
        return self.evaluator.evaluate(data, pid)

    def ruled_out(self, data: PatientData, pid: str) -> PatientResult | None:
        return self.evaluator.ruled_out(data, pid)

    def finish(self, pid: str, result: PatientResult | EncodedResult | None) -> None:
        if result is None:
            self.stats.missing += 1
        elif isinstance(result, EncodedResult):  # from a worker process: decoded only if needed
            self.stats.evaluated += 1
            self.results.add_encoded(pid, result)
            if self.checkpoint is not None:
                self.checkpoint.record(self.results.decode(result))
        else:
            self.stats.evaluated += 1
            self.results.add(pid, result)
            if self.checkpoint is not None:
                self.checkpoint.record(result)
        self._tick()

    def result(self) -> ScreenResult:
        patients = self.results.ranked()
        self.stats.screened = len(patients)
        self.stats.seconds = time.perf_counter() - self.started
        return ScreenResult(trial=self.trial, as_of=self.as_of, patients=patients)


def evaluate_or_skip(matcher: Matcher, data: PatientData, pid: str) -> PatientResult | None:
    try:
        return matcher.evaluate(data, pid)
    except InputError:
        log.warning("a listed patient is not in the source any more; skipped")
        return None


def screen(
    criteria: CompiledCriteria,
    source: PatientData,
    *,
    as_of: date,
    limit: int | None = None,
    options: MatchOptions | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    stats: ScreenStats | None = None,
) -> ScreenResult:
    """Screen every patient ``source.patient_ids()`` lists (at most ``limit``, by id order)."""
    run = _Run(criteria, as_of=as_of, options=options, progress=progress, checkpoint=checkpoint, stats=stats)
    for pid in run.start(source.patient_ids(), limit):
        run.finish(pid, run.evaluate(source, pid))
    return run.result()


class PatientStream(Protocol):
    """A source that hands out each patient's evidence once, in patient order (the population engines).

    :meth:`narrowed_snapshots` is a first pass over the patients of ``wanted`` with only the evidence of the
    decisive atoms (:func:`decisive_atoms`, :func:`~fhir_adapter.matching.retrieval.narrowed_evidence`; none when
    the source was not given it); :meth:`snapshots` then gives those it did not settle with all their evidence
    (``only_wanted``: the source selects them itself, for a few)."""

    def patient_ids(self) -> list[str]: ...

    def narrowed_snapshots(self, wanted: set[str], *, only_wanted: bool = False) -> Iterator[PatientSnapshot]: ...

    def snapshots(self, wanted: set[str] | None = None, *, only_wanted: bool = False) -> Iterator[PatientSnapshot]: ...


def screen_stream(
    criteria: CompiledCriteria,
    source: PatientStream,
    *,
    as_of: date,
    limit: int | None = None,
    options: MatchOptions | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    stats: ScreenStats | None = None,
    evaluator: PopulationEvaluator | None = None,
    early: EarlyResults | None = None,
) -> ScreenResult:
    """Screen every patient of a streaming source, each evaluated as its evidence arrives (``early``: results
    settled while the source read its files, by ``evaluator``).

    The source fetched what :func:`~fhir_adapter.matching.retrieval.retrieval_for` declares; a patient whose
    evaluation asked for a type it did not fetch is an engine defect, raised rather than judged on less data.
    """
    evaluator = evaluator or PopulationEvaluator(criteria, as_of=as_of, options=options)

    def evaluate(todo: set[str]) -> Iterator[PatientResult | None]:
        left = set(todo)
        few = early is not None and len(todo) < len(early.patients)
        yield from first_pass(evaluator, source, left, few=few)  # most patients are settled here, reading little
        for snapshot in source.snapshots(left, only_wanted=few or len(left) < len(todo)):
            yield evaluator.evaluate_fetched(snapshot)

    return screen_evaluated(
        criteria, source.patient_ids(), evaluate, as_of=as_of, limit=limit, options=options, progress=progress,
        checkpoint=checkpoint, stats=stats, evaluator=evaluator, early=early,
    )


def screen_evaluated(
    criteria: CompiledCriteria,
    patient_ids: Iterable[str],
    evaluate: Callable[[set[str]], Iterable[PatientResult | EncodedResult | None]],
    *,
    as_of: date,
    limit: int | None = None,
    options: MatchOptions | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    stats: ScreenStats | None = None,
    evaluator: PopulationEvaluator | None = None,
    early: EarlyResults | None = None,
) -> ScreenResult:
    """Screen a population whose patients an engine evaluates itself: ``evaluate(todo)`` yields the result of
    each patient of ``todo`` (the patients left after ``limit``, the checkpoint and the ``early`` results), in any
    order; worker processes may yield them encoded (:class:`~fhir_adapter.matching.spill.EncodedResult`)."""
    run = _Run(criteria, as_of=as_of, options=options, progress=progress, checkpoint=checkpoint, stats=stats,
               evaluator=evaluator)
    todo = set(run.start(patient_ids, limit))
    if early is not None and early.patients:
        run.adopt(early, todo)
    for result in evaluate(set(todo)):
        if result is None:
            continue
        pid = result.patient.removeprefix("Patient/")
        run.finish(pid, result)
        todo.discard(pid)
    for pid in sorted(todo):  # listed, but with no Patient resource after all
        run.finish(pid, None)
    return run.result()


class RetrievalError(RuntimeError):
    """The evaluator read resource types the engine's retrieval did not fetch."""

    def __init__(self, types: list[str]) -> None:
        super().__init__(f"the engine did not fetch {', '.join(types)} although the evaluator reads it")
        self.types = types

    def __reduce__(self) -> tuple[type[RetrievalError], tuple[list[str]]]:
        return (RetrievalError, (self.types,))  # raised in a worker process, re-raised in the screen's


async def ascreen_server(
    criteria: CompiledCriteria,
    client: AsyncFhirClient,
    *,
    as_of: date,
    limit: int | None = None,
    options: MatchOptions | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    concurrency: int = 8,
    prefilter: bool = True,
    filter_observations: bool = True,
    stats: ScreenStats | None = None,
) -> ScreenResult:
    """Screen the patients of a FHIR server (the client is not closed)."""
    run = _Run(criteria, as_of=as_of, options=options, progress=progress, checkpoint=checkpoint, stats=stats)
    source = AsyncServerData(
        client, criteria.atoms, context=run.evaluator.matcher.context, concurrency=concurrency,
        filter_observations=filter_observations,
    )
    found = await candidate_ids(source, use_prefilter=prefilter)
    run.stats.prefilter_applied, run.stats.prefilter_dropped = found.applied, found.dropped
    ruled_out = await ruled_out_patients(source, found) if found.applied else {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for pid in run.start([*found.ids, *ruled_out], limit):
        queue.put_nowait(pid)
    chosen = set(run.start_ids)
    run.stats.prefiltered = sum(1 for pid in ruled_out if pid in chosen)

    async def one(pid: str) -> PatientResult | None:
        if pid in ruled_out:
            cheap = run.ruled_out(ruled_out[pid], pid)
            if cheap is not None:
                return cheap
            # the pre-filter and the evaluator disagree (a boundary birth date, a missing gender): fetch and decide
        try:
            snapshot = await source.fetch(pid)
            result = run.evaluate(snapshot, pid)
            if snapshot.missed and result is not None:  # the evaluator read a type the plan did not fetch
                snapshot = await source.fetch(pid, extra_types=sorted(snapshot.missed))
                result = run.evaluate(snapshot, pid)
        except PatientDataLimit as exc:  # more data than the cap: needs-review with the reason, the others go on
            return over_cap_result(criteria.atoms, pid, exc.message)
        return result

    async def worker() -> None:
        while True:
            try:
                pid = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            run.finish(pid, await one(pid))

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    finally:
        run.stats.requests = source.requests
    return run.result()


def screen_server(
    criteria: CompiledCriteria,
    client: AsyncFhirClient,
    *,
    as_of: date,
    limit: int | None = None,
    options: MatchOptions | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    concurrency: int = 8,
    prefilter: bool = True,
    stats: ScreenStats | None = None,
) -> ScreenResult:
    """The synchronous face of :func:`ascreen_server` (runs its own event loop; closes the client)."""

    async def run() -> ScreenResult:
        async with client:
            return await ascreen_server(
                criteria, client, as_of=as_of, limit=limit, options=options, progress=progress,
                checkpoint=checkpoint, concurrency=concurrency, prefilter=prefilter, stats=stats,
            )

    return asyncio.run(run())
