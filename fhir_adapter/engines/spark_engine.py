"""Population screening on Apache Spark, for data one machine cannot screen in time (optional extra ``spark``).

The retrieval is the one DuckDB renders (:class:`~fhir_adapter.matching.retrieval.Retrieval`, patterns from
:mod:`fhir_adapter.engines.evidence`), here as Spark SQL over the NDJSON files, read by Spark's own text reader
(the lines never pass through Python): each line keeps its position (``monotonically_increasing_id``: the
partition in the high bits, the row within it in the low bits, both in file order), the bad ones are collected to
the driver and given their line number (the line counts of the partitions before theirs), and reported as the
in-memory engine reports them; the wanted ones are grouped by patient. The evaluator then runs on the
executors, a patient group at a time, with the same
:class:`~fhir_adapter.matching.screen.PopulationEvaluator` every engine uses; only the results (JSON) come back
to the driver, which ranks them, keeps the checkpoint and reports progress. Spark does the distribution:
``master`` is ``local[N]`` or a cluster URL.

Bundle files (``*.json``) and the rare lines only Python's JSON reads (``NaN``) or Bundle lines are indexed on
the driver and shipped to the executors with the task (they are few by nature: Bulk exports are NDJSON).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.engines.evidence import (
    PARQUET_COLUMN,
    PARQUET_SUFFIX,
    PATIENT_REFERENCE,
    REFERENCE_PATHS,
    RESOURCE_TYPE,
    code_pattern,
    engine_files,
    kept_types,
    line_problem,
    snapshot_of,
)
from fhir_adapter.errors import ConfigError, InputError
from fhir_adapter.matching.local import LocalData, could_hold
from fhir_adapter.matching.model import MatchOptions, PatientResult
from fhir_adapter.matching.retrieval import Retrieval
from fhir_adapter.matching.screen import PopulationEvaluator, screen_evaluated

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

    from fhir_adapter.engines import FileScreen, ScreenRun

DEFAULT_MASTER = "local[2]"
_ROW_BITS = 33
"""``monotonically_increasing_id``: the partition index above bit 33, the row within the partition below."""
_ROW_MASK = (1 << _ROW_BITS) - 1
SPARK_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "64",
}
"""Spark settings of every session: loopback only, quiet; patient groups in 64 shuffle partitions, so that one
task's groups stay small whatever the population."""
DRIVER_MEMORY = "2g"
"""The driver JVM's heap; in ``local[N]`` mode the executors live in it (Spark's default, 1g, cannot hold the
groups of 100,000 patients)."""
_LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")


@dataclass(frozen=True)
class _Task:
    """What each executor needs to evaluate its patients (shipped once per task, pickled)."""

    criteria_json: str
    as_of: str
    options_json: str | None
    fetched: frozenset[str]
    complete: frozenset[str]
    shared: dict[str, dict[str, Any]]
    extra: dict[str, dict[str, list[dict[str, Any]]]]
    """Per patient, resources indexed on the driver (Bundle files and lines)."""
    patients: dict[str, dict[str, Any]]
    """Patient resources indexed on the driver (a line's own Patient takes precedence)."""
    wanted: frozenset[str]


def _evaluate_partition(task: _Task, groups: Iterable[Any]) -> Iterator[str]:
    """On an executor: one result (JSON) per patient group of the partition."""
    criteria = CompiledCriteria.model_validate_json(task.criteria_json)
    options = MatchOptions.model_validate_json(task.options_json) if task.options_json else None
    evaluator = PopulationEvaluator(criteria, as_of=date.fromisoformat(task.as_of), options=options)
    for group in groups:
        pid = str(group["pid"])
        if pid not in task.wanted:
            continue
        rows = sorted((int(r["f"]), int(r["n"]), str(r["rtype"]), str(r["line"])) for r in group["rows"])
        snapshot = snapshot_of(
            pid, [(rtype, line) for _f, _n, rtype, line in rows], fetched=task.fetched, complete=task.complete,
            shared=task.shared, patient=task.patients.get(pid), extra=task.extra.get(pid),
        )
        if snapshot is None:
            continue
        result = evaluator.evaluate_fetched(snapshot)
        if result is not None:
            yield result.model_dump_json()


def spark_session(master: str | None = None) -> SparkSession:
    """A Spark session bound to loopback, quiet, running executors on this Python."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # the optional extra is missing
        raise ConfigError("the spark engine needs PySpark: pip install 'fhir-adapter[spark]'") from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    java_options = f"-Dlog4j2.configurationFile={_LOG_CONFIG.as_uri()}"
    # The driver JVM starts before the builder's options apply: its logging is set on its command line.
    os.environ.setdefault(
        "PYSPARK_SUBMIT_ARGS", f"--driver-memory {DRIVER_MEMORY} --driver-java-options {java_options} pyspark-shell"
    )
    builder = SparkSession.builder.master(master or DEFAULT_MASTER).appName("fhir-adapter screen")
    for key, value in {**SPARK_DEFAULTS, "spark.executor.extraJavaOptions": java_options}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _patient_column(F: Any) -> Column:
    """The patient of a line, as :class:`LocalData` decides it (see :data:`REFERENCE_PATHS`)."""
    choices = []
    for as_object, as_list in REFERENCE_PATHS:
        ref = F.coalesce(F.get_json_object("line", as_object), F.get_json_object("line", as_list))
        literal = F.regexp_extract(ref, PATIENT_REFERENCE, 1)
        choices.append(F.when(ref.startswith("urn:uuid:"), ref.substr(10, 1 << 20)).when(literal != "", literal))
    column: Column = F.coalesce(*choices)
    return column


class SparkScan:
    """The lines of NDJSON files in Spark: the bad ones reported, the wanted ones typed and assigned a patient."""

    def __init__(self, spark: SparkSession, paths: Sequence[Path], retrieval: Retrieval, *, strict: bool) -> None:
        from pyspark.sql import functions as F

        self.strict = strict
        self.errors: list[InputError] = []
        self.ndjson, bundles = engine_files(list(paths))
        self.files = len(self.ndjson) + len(bundles)
        self.memory = LocalData(*bundles, strict=strict)
        self.errors.extend(self.memory.errors)
        self._frames = [self._lines(spark, index, path) for index, path in enumerate(self.ndjson)]
        frames = self._frames
        if not frames:
            self.kept: DataFrame | None = None
            return
        lines = reduce(lambda a, b: a.unionByName(b), frames)
        typed = (
            lines.where(F.col("line").isNotNull() & (F.trim("line") != ""))
            .withColumn("rt", F.get_json_object("line", "$.resourceType"))
            .withColumn("ok", F.coalesce(F.col("rt").rlike(f"^{RESOURCE_TYPE}$"), F.lit(False)))
            .withColumn("rtype", F.when(F.col("ok"), F.col("rt")))
        )
        self._check(typed.where(~F.col("ok") | (F.col("rtype") == "Bundle")).select("f", "n", "line", "ok").collect())
        wanted = F.col("rtype").isin(list(kept_types(retrieval)))
        pattern = code_pattern(retrieval)
        if pattern is not None:
            wanted = wanted | ((F.col("rtype") == "Observation") & F.col("line").rlike(pattern))
        self.kept = (
            typed.where(F.col("ok") & wanted)
            .withColumn(
                "pid",
                F.when(F.col("rtype") == "Patient", F.get_json_object("line", "$.id")).otherwise(_patient_column(F)),
            )
            .select("f", "n", "rtype", "pid", "line")
            .cache()
        )
        nameless = self.kept.where((F.col("rtype") == "Patient") & F.col("pid").isNull()).select("f", "n").collect()
        numbers = self._line_numbers(nameless)
        for row in sorted(nameless, key=lambda r: (r["f"], r["n"])):
            self._fail("Patient resource has no id", f"{self.ndjson[row['f']]}:{numbers[(row['f'], row['n'])]}")

    @staticmethod
    def _lines(spark: SparkSession, index: int, path: Path) -> DataFrame:
        from pyspark.sql import functions as F

        if path.name.endswith(PARQUET_SUFFIX):
            lines = spark.read.parquet(str(path)).select(F.col(PARQUET_COLUMN).cast("string").alias("line"))
        else:
            lines = spark.read.text(str(path)).withColumnRenamed("value", "line")
        return lines.select(F.lit(index).alias("f"), F.monotonically_increasing_id().alias("n"), "line")

    def _line_numbers(self, rows: Sequence[Any]) -> dict[tuple[int, int], int]:
        """Line numbers of ``(f, position)`` pairs: the lines of the file's earlier partitions, plus the row."""
        from pyspark.sql import functions as F

        numbers: dict[tuple[int, int], int] = {}
        for file_index in sorted({int(r["f"]) for r in rows}):
            grouped = self._frames[file_index].groupBy(F.shiftright("n", _ROW_BITS).alias("p")).count()
            counts = {int(part): int(count) for part, count in grouped.collect()}
            before = 0
            offset: dict[int, int] = {}
            for part in sorted(counts):
                offset[part] = before
                before += counts[part]
            for row in rows:
                if int(row["f"]) == file_index:
                    position = int(row["n"])
                    numbers[(file_index, position)] = offset[position >> _ROW_BITS] + (position & _ROW_MASK) + 1
        return numbers

    def _fail(self, message: str, source: str) -> None:
        error = InputError(message, source=source)
        if self.strict:
            raise error
        self.errors.append(error)

    def _check(self, rows: Sequence[Any]) -> None:
        numbers = self._line_numbers(rows)
        for row in sorted(rows, key=lambda r: (r["f"], r["n"])):
            source = f"{self.ndjson[row['f']]}:{numbers[(row['f'], row['n'])]}"
            problem, resource = line_problem(row["line"])
            if resource is None:
                self._fail(problem or "unreadable", source)
            else:
                self.memory.add(resource, source)  # a Bundle line, or JSON only Python reads (NaN)
        self.errors.extend(e for e in self.memory.errors if e not in self.errors)

    def patient_ids(self) -> list[str]:
        ids = set(self.memory.patient_ids())
        if self.kept is not None:
            from pyspark.sql import functions as F

            found = self.kept.where((F.col("rtype") == "Patient") & F.col("pid").isNotNull()).select("pid").distinct()
            ids.update(str(row["pid"]) for row in found.collect())
        return sorted(ids)

    def shared(self, retrieval: Retrieval) -> dict[str, dict[str, Any]]:
        import json

        found: dict[str, dict[str, Any]] = {}
        for rtype in retrieval.shared_types:
            found.update(self.memory.shared(rtype))
        if self.kept is not None and retrieval.shared_types:
            from pyspark.sql import functions as F

            rows = self.kept.where(F.col("rtype").isin(list(retrieval.shared_types)) & F.col("pid").isNull())
            for row in rows.select("line").collect():
                resource = json.loads(row["line"])
                if resource.get("id"):
                    found[f"{resource['resourceType']}/{resource['id']}"] = resource
        return found

    def complete(self, resource_type: str) -> bool:
        return not any(could_hold(e.source, resource_type) for e in self.errors)


def screen_spark(
    criteria: CompiledCriteria,
    paths: Sequence[Path],
    *,
    retrieval: Retrieval,
    strict: bool,
    master: str | None,
    run: ScreenRun,
) -> FileScreen:
    """Screen NDJSON files on Spark (see the module docstring); the same results as the other engines."""
    from pyspark.sql import functions as F

    from fhir_adapter.engines import FileScreen, require_patients

    spark = spark_session(master)
    try:
        scan = SparkScan(spark, paths, retrieval, strict=strict)
        ids = scan.patient_ids()
        require_patients(scan.files, len(ids), paths, scan.errors)
        fetched = frozenset(retrieval.types)
        extra = {
            pid: {t: list(found) for t in fetched if (found := scan.memory.resources(pid, t))}
            for pid in scan.memory.resource_patient_ids()
        }
        patients = {pid: p for pid in scan.memory.patient_ids() if (p := scan.memory.patient(pid)) is not None}

        def evaluate(todo: set[str]) -> Iterator[PatientResult | None]:
            task = _Task(
                criteria_json=criteria.model_dump_json(), as_of=run.as_of.isoformat(),
                options_json=run.options.model_dump_json() if run.options else None, fetched=fetched,
                complete=frozenset(t for t in fetched if scan.complete(t)), shared=scan.shared(retrieval),
                extra=extra, patients=patients, wanted=frozenset(todo),
            )
            seen: set[str] = set()
            if scan.kept is not None:
                skipped = ["Bundle", *retrieval.shared_types]
                groups = (
                    scan.kept.where(F.col("pid").isNotNull() & ~F.col("rtype").isin(skipped))
                    .groupBy("pid")
                    .agg(F.collect_list(F.struct("f", "n", "rtype", "line")).alias("rows"))
                )
                for text in groups.rdd.mapPartitions(partial(_evaluate_partition, task)).toLocalIterator():
                    result = PatientResult.model_validate_json(text)
                    seen.add(result.patient.removeprefix("Patient/"))
                    yield result
            # patients known only from Bundle files: evaluated here, with the same evaluator
            local = list(_evaluate_partition(task, ({"pid": p, "rows": []} for p in sorted(todo - seen))))
            for text in local:
                yield PatientResult.model_validate_json(text)

        result = screen_evaluated(
            criteria, ids, evaluate, as_of=run.as_of, limit=run.limit, options=run.options, progress=run.progress,
            checkpoint=run.checkpoint, stats=run.stats,
        )
        return FileScreen(result, "spark", scan.files, scan.errors)
    finally:
        spark.stop()
