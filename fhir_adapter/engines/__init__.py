"""Population engines: where a whole hospital's patient data is read for screening.

* ``memory`` — :class:`~fhir_adapter.matching.local.LocalData`: every resource parsed into Python; simplest,
  fine up to a few thousand patients.
* ``duckdb`` — :class:`~fhir_adapter.engines.duckdb_engine.DuckDbSource`: DuckDB scans the NDJSON files and hands
  Python only the evidence the trial's atoms read, one patient at a time; a large population is evaluated in
  worker processes, one per core (:mod:`fhir_adapter.engines.parallel`).
* ``spark`` — :mod:`fhir_adapter.engines.spark_engine`: the same retrieval as Spark SQL, the evaluator on the
  executors (optional extra ``spark``).

Every engine only fetches evidence (:class:`~fhir_adapter.matching.retrieval.Retrieval`); the verdicts come from
the one evaluator, :mod:`fhir_adapter.matching.evaluate`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.engines.evidence import engine_files, parquet_files
from fhir_adapter.engines.parallel import WorkerSetup, evaluate_in_workers, use_workers
from fhir_adapter.errors import InputError, UsageError
from fhir_adapter.matching.checkpoint import Checkpoint
from fhir_adapter.matching.evaluate import Matcher
from fhir_adapter.matching.local import LocalData
from fhir_adapter.matching.model import MatchOptions, PatientResult, ScreenResult
from fhir_adapter.matching.retrieval import narrowed_evidence, retrieval_for
from fhir_adapter.matching.screen import (
    EarlyResults,
    PatientStream,
    PopulationEvaluator,
    Progress,
    ScreenStats,
    decisive_atoms,
    first_pass,
    screen,
    screen_evaluated,
    screen_stream,
)
from fhir_adapter.matching.spill import EncodedResult

if TYPE_CHECKING:  # pragma: no cover
    from fhir_adapter.engines.duckdb_engine import DuckDbSource

ENGINES: tuple[str, ...] = ("auto", "memory", "duckdb", "spark")
AUTO_DUCKDB_BYTES = 64 * 1024 * 1024
"""``auto`` picks DuckDB when the data files hold more than this (about 1,500 patients of a typical export):
below it, parsing everything in memory is as fast and starts sooner."""


@dataclass
class FileScreen:
    """A screen of local files and how it went (counts only)."""

    result: ScreenResult
    engine: str
    files: int
    errors: list[InputError] = field(default_factory=list)
    """Records skipped as malformed (``file:line`` and what is wrong)."""


def data_size(paths: Sequence[Path]) -> int:
    lines, bundles = engine_files(paths)
    return sum(p.stat().st_size for p in (*lines, *bundles))


def resolve_engine(engine: str, paths: Sequence[Path]) -> str:
    """The engine ``auto`` stands for with these files; the others as given."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "auto":
        return engine
    if parquet_files(paths) or data_size(paths) > AUTO_DUCKDB_BYTES:
        return "duckdb"
    return "memory"


def screen_files(
    criteria: CompiledCriteria,
    paths: Sequence[str | Path],
    *,
    as_of: date,
    engine: str = "auto",
    strict: bool = False,
    limit: int | None = None,
    options: MatchOptions | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    stats: ScreenStats | None = None,
    spark_master: str | None = None,
    note: Callable[[str], None] | None = None,
    workers: int | None = 1,
) -> FileScreen:
    """Screen the patients of local NDJSON/Bundle files with the chosen engine; every engine gives the same
    verdicts (they only fetch evidence; :mod:`fhir_adapter.matching.evaluate` decides).

    ``workers``: processes evaluating the DuckDB engine's patients (1, the default: this process only; None: one
    per core but one, as the CLI does; see :mod:`fhir_adapter.engines.parallel`). The workers are spawned, so a
    script that asks for them must guard its entry point with ``if __name__ == "__main__":``."""
    files = [Path(p) for p in paths]
    for path in files:
        if not path.exists():
            raise InputError("no such file or directory", source=str(path))
    chosen = resolve_engine(engine, files)
    run = ScreenRun(as_of=as_of, limit=limit, options=options, progress=progress, checkpoint=checkpoint, stats=stats)
    if chosen == "memory":
        parquet = parquet_files(files)
        if parquet:
            raise UsageError("the memory engine reads NDJSON and Bundles, not Parquet: use --engine duckdb or spark",
                             source=str(parquet[0]))
        local = LocalData(*files, strict=strict, freeze_gc=True)
        require_patients(local.files, len(local), files, local.errors)
        return FileScreen(run.screen(criteria, local), chosen, local.files, local.errors)
    if chosen == "duckdb":
        from fhir_adapter.engines.duckdb_engine import DuckDbSource

        evaluator = PopulationEvaluator(criteria, as_of=as_of, options=options)
        # the evaluator's own plans: the first pass's code sets are then the very objects it looks resources up by
        context = evaluator.matcher.context
        retrieval = retrieval_for(criteria.atoms, context)
        decisive = decisive_atoms(criteria.atoms)
        narrowed = narrowed_evidence(decisive, context) if any(a.index for a in decisive) else None
        # what is loaded now (the lexicon, the plans) lives as long as the screen: out of the cyclic garbage
        # collector's reach, it is not traversed again at every collection (about 15 % of the evaluation);
        # process-wide, as the memory engine's (LocalData freeze_gc)
        gc.freeze()
        # a whole population's first pass runs while DuckDB reads the files it does not need (two cores busy)
        early = EarlyResults(evaluator) if narrowed is not None and limit is None and checkpoint is None else None
        with DuckDbSource(*files, retrieval=retrieval, strict=strict, note=note, narrowed=narrowed,
                          meanwhile=early.settle if early is not None else None) as source:
            if early is not None:
                early.withdraw(source.unconfirmed)
            require_patients(source.files, len(source), files, source.errors)
            gc.freeze()
            used = use_workers(workers, len(source))
            if used > 1:
                result = run.screen_in_workers(criteria, source, used, evaluator, early)
            else:
                result = run.screen_stream(criteria, source, evaluator, early)
            return FileScreen(result, chosen, source.files, source.errors)
    from fhir_adapter.engines.spark_engine import screen_spark

    retrieval = retrieval_for(criteria.atoms, Matcher(criteria.atoms, as_of=as_of, options=options).context)
    return screen_spark(criteria, files, retrieval=retrieval, strict=strict, master=spark_master, run=run)


@dataclass(frozen=True)
class ScreenRun:
    """The options of one screen that every engine passes on unchanged."""

    as_of: date
    limit: int | None = None
    options: MatchOptions | None = None
    progress: Progress | None = None
    checkpoint: Checkpoint | None = None
    stats: ScreenStats | None = None

    def screen(self, criteria: CompiledCriteria, source: LocalData) -> ScreenResult:
        return screen(criteria, source, as_of=self.as_of, limit=self.limit, options=self.options,
                      progress=self.progress, checkpoint=self.checkpoint, stats=self.stats)

    def screen_stream(
        self, criteria: CompiledCriteria, source: PatientStream, evaluator: PopulationEvaluator | None = None,
        early: EarlyResults | None = None,
    ) -> ScreenResult:
        return screen_stream(criteria, source, as_of=self.as_of, limit=self.limit, options=self.options,
                             progress=self.progress, checkpoint=self.checkpoint, stats=self.stats,
                             evaluator=evaluator, early=early)

    def screen_in_workers(
        self, criteria: CompiledCriteria, source: DuckDbSource, workers: int,
        evaluator: PopulationEvaluator | None = None, early: EarlyResults | None = None,
    ) -> ScreenResult:
        """:meth:`screen_stream` with the patients evaluated in ``workers`` processes (the same results). The first
        pass (:meth:`DuckDbSource.narrowed_snapshots`, little to read) stays in this process; the patients it leaves
        go to the workers when there are enough of them to be worth starting."""
        setup = WorkerSetup(criteria, self.as_of, self.options, source.snapshot_context())
        evaluator = evaluator or PopulationEvaluator(criteria, as_of=self.as_of, options=self.options)

        def evaluate(todo: set[str]) -> Iterator[PatientResult | EncodedResult | None]:
            left = set(todo)
            yield from first_pass(evaluator, source, left, few=early is not None and len(todo) < len(early.patients))
            narrowed = len(left) < len(todo)
            if left and use_workers(workers, len(left)) > 1:
                yield from evaluate_in_workers(setup, source.patient_rows(left, only_wanted=narrowed), workers)
                return
            for snapshot in source.snapshots(left, only_wanted=narrowed):
                yield evaluator.evaluate_fetched(snapshot)

        return screen_evaluated(criteria, source.patient_ids(), evaluate, as_of=self.as_of, limit=self.limit,
                                options=self.options, progress=self.progress, checkpoint=self.checkpoint,
                                stats=self.stats, evaluator=evaluator, early=early)


def require_patients(
    files: int, patients: int, paths: Sequence[Path], errors: Sequence[InputError] = ()
) -> None:
    """An error naming the paths when there is no data file or no Patient at all; the records skipped as
    malformed or unreadable are named in it (they are why, most often, and must not go unsaid)."""
    where = ", ".join(str(p) for p in paths)
    if not files:
        raise InputError("no FHIR data files (*.ndjson, *.json, optionally .gz) for --data", source=where)
    if not patients:
        skipped = f" ({len(errors)} skipped as malformed or unreadable; first: {errors[0]})" if errors else ""
        raise InputError(f"no Patient resource in the {files} --data file(s){skipped}", source=where)
