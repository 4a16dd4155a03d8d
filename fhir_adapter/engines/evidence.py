"""What the population engines share: the patterns their SQL uses, the bad-line verdict, and the snapshot a
patient's evidence reaches the evaluator in. DuckDB and Spark render the same :class:`Retrieval` with these, so
the two select the same lines and report the same bad records."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from fhir_adapter.matching.local import PATIENT_FIELDS, data_files
from fhir_adapter.matching.record import CodeSet
from fhir_adapter.matching.retrieval import Retrieval
from fhir_adapter.matching.server import PatientSnapshot

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")
PARQUET_SUFFIX = ".parquet"
PARQUET_COLUMN = "resource"
"""Parquet input: one resource per row, its JSON text in this column (NDJSON landed in a lakehouse table)."""
RESOURCE_TYPE = r"[A-Z][A-Za-z]+"
"""What a ``resourceType`` looks like; anything else is "not a FHIR resource", as in memory."""
PATIENT_REFERENCE = r"^(?:.*/)?Patient/([^/]+?)(?:/_history(?:/.*)?)?$"
"""The patient id of a literal reference (``Patient/1``, ``https://x/fhir/Patient/1/_history/2``), as
:func:`~fhir_adapter.fhir.references.reference_key` reads it."""
REFERENCE_PATHS: tuple[tuple[str, str], ...] = tuple(
    (f"$.{name}.reference", f"$.{name}[0].reference") for name in PATIENT_FIELDS
)
"""Per patient field, in the order :class:`LocalData` tries them: the reference of the object, or of the first
element of a list."""


def parquet_files(paths: Sequence[Path]) -> list[Path]:
    """The Parquet files among ``paths`` (files as given, directories searched), in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob(f"*{PARQUET_SUFFIX}") if p.is_file())
        elif path.name.endswith(PARQUET_SUFFIX):
            found.append(path)
    return found


def engine_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """``(line files, Bundle files)``: NDJSON and Parquet files an engine scans (in path order), and the Bundle
    files it leaves to the in-memory reader."""
    parquet = parquet_files(paths)
    others = [f for f in data_files(p for p in paths if not p.name.endswith(PARQUET_SUFFIX)) if f not in parquet]
    lines = sorted([*parquet, *(f for f in others if f.name.endswith(NDJSON_SUFFIXES))])
    return lines, [f for f in others if not f.name.endswith(NDJSON_SUFFIXES)]


def kept_types(retrieval: Retrieval) -> tuple[str, ...]:
    """Types whose every line is kept: the Patient, Bundles (read in memory), the whole types, shared ones."""
    whole = [t for t in retrieval.types if t != "Observation" or retrieval.keeps_all_observations()]
    return ("Patient", "Bundle", *whole, *retrieval.shared_types)


def code_pattern(retrieval: Retrieval) -> str | None:
    """One regular expression (RE2 and Java alike) for a ``"code": "<any of the codes>"`` pair, which every
    usable Observation line has; None when all Observations are kept."""
    if "Observation" not in retrieval.types or not retrieval.observation_codes:
        return None
    codes = "|".join(re.escape(code) for code in retrieval.observation_codes)
    return rf'"code"\s*:\s*"(?:{codes})"'


def line_problem(line: str) -> tuple[str | None, dict[str, Any] | None]:
    """Why a line an engine could not type is unusable (the in-memory engine's words), or the resource when
    Python's JSON reads it after all (``NaN``, a Bundle)."""
    try:
        resource = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"malformed JSON: {exc.msg}", None
    except RecursionError:
        return "JSON nested too deeply", None
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return "not a FHIR resource (no resourceType)", None
    return None, resource


@dataclass
class LazySnapshot(PatientSnapshot):
    """A snapshot that parses a type's lines when the evaluator first asks for the type: a patient ruled out
    by age or diagnosis never has its Observations parsed."""

    raw: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Resources of the type from Bundle files (indexed in memory), after the lines."""
    narrowed: dict[str, frozenset[CodeSet]] = field(default_factory=dict)
    """Types holding only the lines with a code of these sets (a population's first pass: the decisive atoms'
    evidence); :class:`~fhir_adapter.matching.record.PatientRecord` reads them by those sets only."""

    def resources(self, patient_id: str, resource_type: str) -> Sequence[dict[str, Any]]:
        if patient_id == self.patient_id and resource_type in self.fetched and resource_type not in self.by_type:
            parsed = [json.loads(line) for line in self.raw.pop(resource_type, ())]
            self.by_type[resource_type] = parsed + self.extra.pop(resource_type, [])
        return super().resources(patient_id, resource_type)


def snapshot_of(
    pid: str,
    lines: Sequence[tuple[str, str]],
    *,
    fetched: frozenset[str],
    complete: frozenset[str],
    shared: dict[str, dict[str, Any]],
    patient: dict[str, Any] | None = None,
    extra: dict[str, list[dict[str, Any]]] | None = None,
    narrowed: dict[str, frozenset[CodeSet]] | None = None,
) -> LazySnapshot | None:
    """A patient's snapshot from its ``(resourceType, line)`` pairs in file order; None without a Patient
    (evidence about a patient the files do not list is not in the population, as in memory)."""
    raw: dict[str, list[str]] = {}
    for rtype, line in lines:
        if rtype == "Patient":
            patient = json.loads(line)
        else:
            raw.setdefault(rtype, []).append(line)
    if patient is None:
        return None
    return LazySnapshot(
        pid, patient, {}, fetched, shared=shared, complete_types=complete, raw=raw, extra=dict(extra or {}),
        narrowed=narrowed or {},
    )


@dataclass(frozen=True)
class SnapshotContext:
    """What the snapshots of one population share (sent once to each worker process)."""

    fetched: frozenset[str]
    complete: frozenset[str]
    shared: dict[str, dict[str, Any]]


class PatientRows(NamedTuple):
    """One patient's kept lines, unparsed (``(resourceType, line)`` in file order), with what Bundle files hold
    for the patient: the stuff of a snapshot, cheap to pickle (strings) for a worker process."""

    pid: str
    lines: list[tuple[str, str]]
    patient: dict[str, Any] | None
    extra: dict[str, list[dict[str, Any]]]

    def snapshot(self, context: SnapshotContext) -> LazySnapshot | None:
        return snapshot_of(self.pid, self.lines, fetched=context.fetched, complete=context.complete,
                           shared=context.shared, patient=self.patient, extra=self.extra)
