"""A population evaluated in worker processes (the DuckDB engine's ``workers``; Spark distributes on its own).

The screen's process reads the evidence from DuckDB, as for one process, and sends chunks of patients' unparsed
lines (:class:`~fhir_adapter.engines.evidence.PatientRows`: strings, cheap to pickle) to ``workers`` processes.
Each runs the one evaluator (:class:`~fhir_adapter.matching.screen.PopulationEvaluator`) and sends back each
result encoded for the spill (:class:`~fhir_adapter.matching.spill.EncodedResult`): unpickling the result objects
cost the screen's process more than evaluating them. The chunks' results are taken in the order the chunks were
sent, so checkpoint, progress and report see the patients in the order one process gives.

At most two chunks per worker are in flight: memory stays bounded whatever the population. Workers are spawned,
not forked, so a script that screens with workers must guard its main code (``if __name__ == "__main__":``), as
Python's ``multiprocessing`` requires for spawned processes (the CLI does).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.engines.evidence import PatientRows, SnapshotContext
from fhir_adapter.matching.model import MatchOptions
from fhir_adapter.matching.screen import PopulationEvaluator
from fhir_adapter.matching.spill import Codec, EncodedResult

CHUNK_PATIENTS = 256
"""Patients per task: large enough that a task's overhead (two pickles, a queue round trip) is small beside
evaluating it, small enough that a few in flight hold little memory."""
MIN_PATIENTS = 20_000
"""Below this, one process: a worker takes 1–2 s to start (importing the package, loading the lexicon), the
time to evaluate 5,000–8,000 patients, so fewer would not gain from sharing them out (measured on 2 cores)."""
_IN_FLIGHT_PER_WORKER = 2
_CODEC_BASE_SHIFT = 16
"""Worker ``k`` numbers its shared results from ``k << 16`` (more than a codec's limit apart), so the screen's
codec can learn every worker's numbers."""


def default_workers() -> int:
    """The cores this process may run on, less one for the screen's own process (which reads the engine's rows and
    writes the results): on 2 cores the workers only competed with it (BENCHMARKS.md), so there they are none."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def use_workers(workers: int | None, patients: int) -> int:
    """How many worker processes to use for ``patients`` (``workers``: as asked, None for the default); 1: none."""
    wanted = default_workers() if workers is None else workers
    return wanted if wanted > 1 and patients >= MIN_PATIENTS else 1


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker needs, sent once when it starts."""

    criteria: CompiledCriteria
    as_of: date
    options: MatchOptions | None
    context: SnapshotContext


class _Worker:
    def __init__(self, setup: WorkerSetup, number: int) -> None:
        self.evaluator = PopulationEvaluator(setup.criteria, as_of=setup.as_of, options=setup.options)
        self.context = setup.context
        self.codec = Codec(base=number << _CODEC_BASE_SHIFT)

    def evaluate(self, chunk: list[PatientRows]) -> list[EncodedResult]:
        """The results of the chunk's patients, as :meth:`DuckDbSource.snapshots` + ``evaluate_fetched`` give
        them in one process (a patient without a Patient resource, or gone, gives none)."""
        found: list[EncodedResult] = []
        for rows in chunk:
            snapshot = rows.snapshot(self.context)
            if snapshot is None:
                continue
            result = self.evaluator.evaluate_fetched(snapshot)
            if result is not None:
                found.append(self.codec.encoded(result))
        return found


_worker: _Worker | None = None


def _start(setup: WorkerSetup, counter: Any) -> None:
    """In a worker process: number it (1, 2...) and build its evaluator."""
    global _worker
    with counter.get_lock():
        counter.value += 1
        number = int(counter.value)
    _worker = _Worker(setup, number)


def _evaluate(chunk: list[PatientRows]) -> list[EncodedResult]:
    if _worker is None:  # pragma: no cover - the executor always runs _start first
        raise RuntimeError("worker process not started")
    return _worker.evaluate(chunk)


def chunks(rows: Iterable[PatientRows], size: int) -> Iterator[list[PatientRows]]:
    chunk: list[PatientRows] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def evaluate_in_workers(setup: WorkerSetup, rows: Iterable[PatientRows], workers: int) -> Iterator[EncodedResult]:
    """The results of ``rows``' patients in their order, evaluated by ``workers`` processes."""
    # spawn, not fork: the screen's process runs DuckDB's threads, whose locks a forked child could inherit held
    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(setup, counter))
    pending: deque[Future[list[EncodedResult]]] = deque()
    try:
        for chunk in chunks(rows, CHUNK_PATIENTS):
            pending.append(pool.submit(_evaluate, chunk))
            if len(pending) >= _IN_FLIGHT_PER_WORKER * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
