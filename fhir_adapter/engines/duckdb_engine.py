"""Population evidence read by DuckDB straight from Bulk NDJSON files (plain or gzipped), patient by patient.

The in-memory path (:class:`~fhir_adapter.matching.local.LocalData`) parses every resource of every file into
Python. Here DuckDB scans the files (in parallel, in C++) and keeps only the evidence the trial's atoms read
(:class:`~fhir_adapter.matching.retrieval.Retrieval`): the Patients, the whole types the evaluator needs and the
Observations that carry one of the atoms' codes. The kept lines go into a DuckDB table that spills to disk
under its memory limit, are read back ordered by patient, and each patient reaches Python as one
:class:`~fhir_adapter.matching.server.PatientSnapshot` for the one evaluator (or, unparsed, as
:class:`~fhir_adapter.engines.evidence.PatientRows` for worker processes: :mod:`fhir_adapter.engines.parallel`);
memory stays bounded by one patient's evidence plus the results.

Bad input is reported exactly as the in-memory engine reports it, with ``file:line``: DuckDB's
``ignore_errors`` would lose the line number, so every line is read as text with its number (``row_number()``
over a one-file scan, which keeps file order) and a failed parse marks the bad ones; Python parses only those,
for the same message. A line DuckDB rejects but Python's JSON accepts (``NaN``) is kept, as in memory. Bundle
files (``*.json``) and Bundle lines are few and small: they are indexed in memory by ``LocalData`` and merged.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from fhir_adapter.engines.evidence import (
    PARQUET_COLUMN,
    PARQUET_SUFFIX,
    PATIENT_REFERENCE,
    REFERENCE_PATHS,
    RESOURCE_TYPE,
    LazySnapshot,
    PatientRows,
    SnapshotContext,
    code_pattern,
    engine_files,
    kept_types,
    line_problem,
    snapshot_of,
)
from fhir_adapter.errors import InputError
from fhir_adapter.matching.local import PATIENT_FIELDS, LocalData, bulk_type, could_hold
from fhir_adapter.matching.retrieval import MEDICATION_TYPES, NarrowedEvidence, Retrieval

_FETCH_ROWS = 20_000
MAX_LINE_BYTES = 32 * 1024 * 1024
"""Longest NDJSON line DuckDB reads (a longer one makes its file unreadable: use the memory engine). Its read
buffer is twice this; sixteen times, DuckDB's default, would not fit the memory limit for gzipped files."""
_TABLE = """CREATE TABLE evidence (
    f INTEGER, n BIGINT, ok BOOLEAN, rtype VARCHAR, pid VARCHAR, line VARCHAR)"""
"""In the connection's own in-memory database (not TEMP, which only its connection sees): a cursor scanning in
another thread writes to it too (:meth:`DuckDbSource._scan_meanwhile`); it spills under the memory limit alike."""


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_PATHS = ["$.resourceType", "$.id"] + [p for pair in REFERENCE_PATHS for p in pair]
"""Extracted in one parse of a kept line: x[1] the type, x[2] the id, then each patient field as an object and
as a list."""


def _patient_expr() -> str:
    """The patient a line is about, as :meth:`LocalData._patient_of` decides it: the first of ``subject``,
    ``patient``... whose reference (or first reference, for a list) names a Patient, ``urn:uuid:<id>`` included.

    Almost every line says ``"subject": {"reference": "Patient/<id>"}``: that case is answered first with plain
    string functions (what the regular expression would give: the rest, when it holds no ``/``); the five
    regular expressions, which cost more than the JSON parse of the line, only run for the others."""
    pattern = PATIENT_REFERENCE
    parts = []
    for i in range(len(PATIENT_FIELDS)):
        ref = f"coalesce(x[{3 + 2 * i}], x[{4 + 2 * i}])"
        parts.append(
            f"CASE WHEN {ref} LIKE 'urn:uuid:%' THEN substr({ref}, 10) "
            f"ELSE nullif(regexp_extract({ref}, {_sql_string(pattern)}, 1), '') END"
        )
    first = "coalesce(x[3], x[4])"
    plain = f"starts_with({first}, 'Patient/') AND length({first}) > 8 AND strpos(substr({first}, 9), '/') = 0"
    return f"CASE WHEN {plain} THEN substr({first}, 9) ELSE coalesce({', '.join(parts)}) END"


def _wanted(retrieval: Retrieval) -> str:
    """The SQL condition that keeps a valid line: what the evaluator reads (plus Bundles, shared resources)."""
    wanted = f"rtype IN ({', '.join(_sql_string(t) for t in kept_types(retrieval))})"
    pattern = code_pattern(retrieval)
    if pattern is not None:
        wanted += f" OR (rtype = 'Observation' AND regexp_matches(line, {_sql_string(pattern)}))"
    return wanted


def _scan_sql(file_index: int, path: Path, retrieval: Retrieval) -> str:
    """One file's lines: the bad ones and the wanted ones, each with its line number."""
    if path.name.endswith(PARQUET_SUFFIX):
        source = (
            f"(SELECT file_row_number + 1 AS n, CAST({PARQUET_COLUMN} AS VARCHAR) AS line "
            f"FROM read_parquet({_sql_string(str(path))}, file_row_number = true))"
        )
        numbered = f"SELECT n, line FROM {source}"
    else:
        source = (
            f"read_csv({_sql_string(str(path))}, columns = {{'line': 'VARCHAR'}}, delim = '\\x01', quote = '', "
            "escape = '', header = false, auto_detect = false, strict_mode = false, "
            f"max_line_size = {MAX_LINE_BYTES}, buffer_size = {2 * MAX_LINE_BYTES})"
        )
        numbered = f"SELECT row_number() OVER () AS n, line FROM {source}"
    # row_number() over an unordered one-file scan follows the file (DuckDB preserves insertion order);
    # tests/engines pins it with a file whose lines carry their own numbers.
    # One JSON parse per line: try() is NULL for a malformed line. It is unnested from a one-element list
    # because DuckDB copies a column's expression into the filters above at each mention of the column: the
    # line would be parsed again for every mention of its type. Blank lines are dropped, but trim() copies the
    # line (it took more time than the JSON parse): only the lines without a JSON type are trimmed, in a CASE
    # (an OR evaluated it for every line). Only the few kept lines are parsed again,
    # for their patient (the projection above the filter), not the hundreds of thousands dropped; doing it
    # here rather than by an UPDATE of the whole table afterwards keeps a million patients' evidence within
    # DuckDB's memory limit (the UPDATE's join ran out of memory there).
    paths = "[" + ", ".join(_sql_string(p) for p in _PATHS) + "]"
    return f"""
    INSERT INTO evidence
    WITH numbered AS ({numbered}),
    typed AS (
        SELECT * FROM (
            SELECT n, line, unnest([try(json_extract_string(line, '$.resourceType'))]) AS rtype
            FROM numbered WHERE line IS NOT NULL)
        WHERE CASE WHEN rtype IS NOT NULL THEN true ELSE trim(line) <> '' END),
    kept AS (
        SELECT n, ok, rtype, line FROM (
            SELECT n, line, regexp_full_match(coalesce(rtype, ''), {_sql_string(RESOURCE_TYPE)}) AS ok,
                   CASE WHEN ok THEN rtype END AS rtype
            FROM typed)
        WHERE NOT ok OR {_wanted(retrieval)}),
    parsed AS (SELECT n, ok, rtype, line, CASE WHEN ok THEN json_extract_string(line, {paths}) END AS x FROM kept)
    SELECT {file_index}, n, ok, rtype, CASE WHEN rtype = 'Patient' THEN x[2] ELSE {_patient_expr()} END, line
    FROM parsed"""


class DuckDbSource:
    """The patients of NDJSON/Bundle files with the evidence of one :class:`Retrieval`, streamed per patient.

    ``strict=True`` raises :class:`InputError` at the first bad line (the same message and ``file:line`` as the
    in-memory engine); ``strict=False`` collects them in :attr:`errors` and goes on. ``memory_limit`` bounds
    DuckDB's own memory (it spills the evidence table to a temporary directory beyond it).
    """

    def __init__(
        self,
        *paths: str | Path,
        retrieval: Retrieval,
        strict: bool = True,
        memory_limit: str = "1GB",
        threads: int | None = None,
        note: Callable[[str], None] | None = None,
        narrowed: NarrowedEvidence | None = None,
        meanwhile: Callable[[Iterator[LazySnapshot]], None] | None = None,
    ) -> None:
        """``note`` receives a line per file scanned and one at the end (counts and file names only);
        ``narrowed``: the evidence of the atoms that settle most patients, for :meth:`narrowed_snapshots`;
        ``meanwhile``: given the first pass's snapshots of the files named after its types while DuckDB reads the
        others (:meth:`_scan_meanwhile`); :attr:`unconfirmed` then says which of them stand."""
        self.retrieval = retrieval
        self.narrowed = narrowed
        self.strict = strict
        self.errors: list[InputError] = []
        self._note = note
        self._tmp = tempfile.TemporaryDirectory(prefix="fhir-adapter-duckdb-")
        self._con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": self._tmp.name})
        self._con.execute("SET enable_progress_bar = false")  # DuckDB draws it on stdout, which carries the report
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        self._con.execute(_TABLE)
        self._ndjson, bundles = engine_files([Path(p) for p in paths])
        self.files = len(self._ndjson) + len(bundles)
        self._memory = LocalData(*bundles, strict=strict)
        self.errors.extend(self._memory.errors)
        failed: dict[int, str] = {}
        early = self._early_files() if meanwhile is not None else []
        self._early = early
        self._assumed: frozenset[str] = frozenset()
        if early:
            self._scan_files(early, self._con, failed)
            self._scan_meanwhile(early, failed, meanwhile)  # type: ignore[arg-type]  # not None when early
        else:
            self._scan_files(range(len(self._ndjson)), self._con, failed)
        for index in sorted(failed):  # in file order, whichever was read first
            self._fail(f"cannot read: {failed[index]}", str(self._ndjson[index]))
        self._check_lines()
        self._shared = self._shared_resources()
        self._ids = self._patient_ids()
        self.resource_count = self._count() + self._memory.resource_count
        self.unconfirmed: set[str] | None = self._unconfirmed() if early else None
        """After a ``meanwhile`` pass: the patients whose early snapshot may differ from the one
        :meth:`narrowed_snapshots` gives now (their results do not stand); None: any may (none stands)."""
        if note is not None:
            note(f"{self.resource_count:,} resources kept as evidence for {len(self._ids):,} patients")

    # -- loading -------------------------------------------------------------------------------------------

    def _fail(self, message: str, source: str) -> None:
        error = InputError(message, source=source)
        if self.strict:
            self.close()
            raise error
        self.errors.append(error)

    def _scan_files(self, indexes: Iterable[int], con: duckdb.DuckDBPyConnection, failed: dict[int, str]) -> None:
        """These files' lines into the evidence table through ``con``; a file DuckDB cannot read goes to
        ``failed`` (reported in file order once every file is read)."""
        for index in indexes:
            path = self._ndjson[index]
            try:
                con.execute(_scan_sql(index, path, self.retrieval))
            except duckdb.Error as exc:
                failed[index] = str(exc).splitlines()[0]
            if self._note is not None:
                self._note(f"scanned {path.name} ({index + 1}/{len(self._ndjson)} NDJSON/Parquet files)")

    def _early_files(self) -> list[int]:
        """The files a Bulk export names after the Patient or a type of the first pass (``Patient.ndjson``,
        ``Condition.002.parquet``): read first, so that the first pass runs while DuckDB reads the others, most of
        the bytes (Observations). None when no file is named so, or all are, or the first pass reads medications
        (their references resolve against Medications of any file). Which files come first changes only how much
        runs at once: :meth:`_unconfirmed` finds what a first pass on them did not see."""
        if self.narrowed is None or MEDICATION_TYPES & set(self.narrowed.types):
            return []
        named = {"Patient", *self.narrowed.types}
        early = [i for i, path in enumerate(self._ndjson) if bulk_type(path.name) in named]
        return early if len(early) < len(self._ndjson) else []

    def _scan_meanwhile(
        self, early: list[int], failed: dict[int, str], meanwhile: Callable[[Iterator[LazySnapshot]], None]
    ) -> None:
        """The other files scanned in a thread of their own (DuckDB works without the GIL) while this one hands
        ``meanwhile`` the first pass's snapshots from the files read so far, as if no other file held anything
        about those patients and no line were bad. :meth:`_unconfirmed` tells afterwards whose snapshot that is."""
        late = [i for i in range(len(self._ndjson)) if i not in early]
        cursor = self._con.cursor()  # a connection of its own to the same database
        crashed: list[BaseException] = []

        def scan() -> None:
            try:
                self._scan_files(late, cursor, failed)
            except BaseException as exc:  # re-raised in this thread: never a screen on files half read
                crashed.append(exc)

        scanner = threading.Thread(target=scan, name="fhir-adapter-duckdb-scan", daemon=True)
        self._assumed = self._complete_types()
        scanner.start()
        try:
            meanwhile(self._first_pass_snapshots(files=early, complete=self._assumed))
        except BaseException:
            cursor.interrupt()  # the screen is abandoned (an error, Ctrl-C): stop reading rather than wait
            raise
        finally:
            scanner.join()
            cursor.close()
        if crashed:
            raise crashed[0]

    def _unconfirmed(self) -> set[str] | None:
        """The patients of the early snapshots (:meth:`_scan_meanwhile`) whose snapshot may differ from the one
        :meth:`narrowed_snapshots` gives now that every file is read: those with a first-pass line in another file,
        or with resources in Bundles; None (all of them) when a bad line makes a type incomplete after all."""
        if self._complete_types() != self._assumed:
            return None
        late = ", ".join(str(i) for i in range(len(self._ndjson)) if i not in self._early)
        found = self._con.execute(
            f"SELECT DISTINCT pid FROM evidence WHERE ok AND pid IS NOT NULL AND f IN ({late}) AND ({self._kept()})"
        ).fetchall()
        return {str(pid) for (pid,) in found} | self._in_bundles()

    def _in_bundles(self) -> set[str]:
        return {*self._memory.patient_ids(), *self._memory.resource_patient_ids()}

    def _check_lines(self) -> None:
        """Lines DuckDB found unusable: the same error as the in-memory engine, or kept when Python reads them."""
        rows = self._con.execute(
            "SELECT f, n, line, ok FROM evidence WHERE NOT ok OR rtype = 'Bundle' ORDER BY f, n"
        ).fetchall()
        for file_index, number, line, ok in rows:
            source = f"{self._ndjson[file_index]}:{number}"
            problem, resource = line_problem(line)
            if resource is None:
                self._fail(problem or "unreadable", source)
            elif not ok or resource["resourceType"] == "Bundle":
                self._memory.add(resource, source)  # a Bundle line, or JSON only Python accepts (NaN)
        self.errors.extend(e for e in self._memory.errors if e not in self.errors)
        for file_index, number in self._con.execute(
            "SELECT f, n FROM evidence WHERE rtype = 'Patient' AND pid IS NULL ORDER BY f, n"
        ).fetchall():
            self._fail("Patient resource has no id", f"{self._ndjson[file_index]}:{number}")

    def _shared_resources(self) -> dict[str, dict[str, Any]]:
        shared: dict[str, dict[str, Any]] = {}
        if self.retrieval.shared_types:
            names = ", ".join(_sql_string(t) for t in self.retrieval.shared_types)
            for (line,) in self._con.execute(
                f"SELECT line FROM evidence WHERE ok AND rtype IN ({names}) AND pid IS NULL ORDER BY f, n"
            ).fetchall():
                resource = json.loads(line)
                if resource.get("id"):
                    shared[f"{resource['resourceType']}/{resource['id']}"] = resource
        return shared

    def _patient_ids(self) -> list[str]:
        found = self._con.execute("SELECT DISTINCT pid FROM evidence WHERE rtype = 'Patient' AND pid IS NOT NULL")
        return sorted({str(pid) for (pid,) in found.fetchall()} | set(self._memory.patient_ids()))

    def _count(self) -> int:
        row = self._con.execute("SELECT count(*) FROM evidence WHERE ok AND rtype NOT IN ('Bundle')").fetchone()
        return int(row[0]) if row else 0

    # -- reading -------------------------------------------------------------------------------------------

    def patient_ids(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def complete(self, resource_type: str) -> bool:
        """As for a local export: complete unless a skipped record could have been of this type."""
        return not any(could_hold(e.source, resource_type) for e in self.errors)

    def snapshots(self, wanted: set[str] | None = None, *, only_wanted: bool = False) -> Iterator[LazySnapshot]:
        """Every patient (or those in ``wanted``) with its evidence, in patient-id order (``only_wanted``: see
        :meth:`patient_rows`)."""
        context = self.snapshot_context()
        for rows in self.patient_rows(wanted, only_wanted=only_wanted):
            if (found := rows.snapshot(context)) is not None:
                yield found

    def snapshot_context(self) -> SnapshotContext:
        """What every patient's snapshot shares: the types fetched, those complete, the shared resources."""
        return SnapshotContext(
            fetched=frozenset(self.retrieval.types), complete=self._complete_types(),
            shared={**self._shared, **self._memory_shared()},
        )

    def _complete_types(self) -> frozenset[str]:
        return frozenset(t for t in self.retrieval.types if self.complete(t))

    def narrowed_snapshots(self, wanted: set[str], *, only_wanted: bool = False) -> Iterator[LazySnapshot]:
        """The patients of ``wanted`` with only the :attr:`narrowed` evidence (their Patient and the lines of the
        narrowed types with one of its codes), in patient-id order: a first pass that reads little for the many
        patients the decisive atoms settle. Patients with resources in Bundle files are left to :meth:`snapshots`.
        ``only_wanted``: DuckDB selects them (for a few patients)."""
        if self.narrowed is None:
            return
        full = self.snapshot_context()
        only = wanted if only_wanted else None
        for found in self._first_pass_snapshots(complete=full.complete, shared=full.shared, only=only):
            if found.patient_id in wanted:
                yield found

    def _kept(self) -> str:
        """The SQL condition of the first pass's lines: Patients, and the narrowed types' lines with their codes."""
        assert self.narrowed is not None
        kept = ["rtype = 'Patient'"]
        for rtype in self.narrowed.types:
            pattern = self.narrowed.pattern(rtype)
            where = f" AND regexp_matches(line, {_sql_string(pattern)})" if pattern else ""
            kept.append(f"(rtype = {_sql_string(rtype)}{where})")
        return " OR ".join(kept)

    def _first_pass_snapshots(
        self,
        *,
        complete: frozenset[str],
        shared: dict[str, dict[str, Any]] | None = None,
        files: list[int] | None = None,
        only: set[str] | None = None,
    ) -> Iterator[LazySnapshot]:
        """The first pass's snapshots of every patient with a Patient line (of ``files``; of ``only``), bar those
        in Bundle files."""
        assert self.narrowed is not None
        among = f"AND f IN ({', '.join(str(i) for i in files)}) " if files is not None else ""
        if only is not None:
            among += f"AND pid IN (SELECT pid FROM {self._wanted_table(only)}) "
        fetched = frozenset(self.narrowed.types)
        in_bundles = self._in_bundles()
        cursor = self._con.execute(
            f"SELECT pid, rtype, line FROM evidence WHERE ok AND pid IS NOT NULL {among}AND ({self._kept()}) "
            "ORDER BY pid, f, n"
        )
        for pid, lines in _grouped(cursor):
            if pid not in in_bundles:
                found = snapshot_of(pid, lines, fetched=fetched, complete=complete, shared=shared or {},
                                    narrowed=self.narrowed.code_sets)
                if found is not None:
                    yield found

    def _wanted_table(self, wanted: set[str]) -> str:
        self._con.execute("CREATE OR REPLACE TEMP TABLE wanted AS SELECT unnest(?::VARCHAR[]) AS pid", [sorted(wanted)])
        return "wanted"

    def patient_rows(self, wanted: set[str] | None = None, *, only_wanted: bool = False) -> Iterator[PatientRows]:
        """Every patient's (or those in ``wanted``) kept lines, unparsed, in patient-id order: what a snapshot is
        made of, cheap to hand to another process. ``only_wanted``: DuckDB selects them (for a few patients)."""
        fetched = frozenset(self.retrieval.types)
        skipped = {"Bundle", *self.retrieval.shared_types}
        names = ", ".join(_sql_string(t) for t in sorted(skipped))
        among = ""
        if only_wanted and wanted is not None:
            among = f"AND pid IN (SELECT pid FROM {self._wanted_table(wanted)}) "
        cursor = self._con.execute(
            f"SELECT pid, rtype, line FROM evidence WHERE ok AND pid IS NOT NULL AND rtype NOT IN ({names}) "
            f"{among}ORDER BY pid, f, n"
        )
        seen: set[str] = set()
        from_bundles = set(self._memory.patient_ids())  # usually none: only they need remembering
        with_resources = set(self._memory.resource_patient_ids())  # likewise: the others have no extra to look up

        def patient(pid: str, lines: list[tuple[str, str]]) -> PatientRows | None:
            if pid in from_bundles:
                seen.add(pid)
            if wanted is not None and pid not in wanted:
                return None
            if pid not in with_resources:
                return PatientRows(pid, lines, self._memory.patient(pid) if pid in from_bundles else None, {})
            extra = {t: list(found) for t in fetched if (found := self._memory.resources(pid, t))}
            return PatientRows(pid, lines, self._memory.patient(pid), extra)

        for pid, lines in _grouped(cursor):
            if (found := patient(pid, lines)) is not None:
                yield found
        for pid in self._memory.patient_ids():
            if pid not in seen and (found := patient(pid, [])) is not None:
                yield found

    def _memory_shared(self) -> dict[str, dict[str, Any]]:
        return {key: r for rtype in self.retrieval.shared_types for key, r in self._memory.shared(rtype).items()}

    def close(self) -> None:
        self._con.close()
        self._tmp.cleanup()

    def __enter__(self) -> DuckDbSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _grouped(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """``(pid, [(rtype, line)...])`` per patient from rows ``(pid, rtype, line)`` ordered by patient."""
    current: str | None = None
    rows: list[tuple[str, str]] = []
    while chunk := cursor.fetchmany(_FETCH_ROWS):
        for pid, rtype, line in chunk:
            if pid != current:
                if current is not None:
                    yield current, rows
                current, rows = pid, []
            rows.append((rtype, line))
    if current is not None:
        yield current, rows
