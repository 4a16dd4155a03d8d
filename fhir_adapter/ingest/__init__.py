"""Trial-record ingestion: files, text and the live registry -> :class:`~fhir_adapter.trial.TrialRecord`.

Formats (detected from the content, or forced with ``format``): ``ctgov-json`` (one API v2
study, a ``/studies`` page, a list of studies, or NDJSON), ``registry-page`` (the text of a
study page) and ``ctgov-xml`` (legacy ``<clinical_study>``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fhir_adapter.errors import InputError
from fhir_adapter.ingest.ctgov_json import iter_document, iter_ndjson
from fhir_adapter.ingest.ctgov_xml import parse_clinical_study
from fhir_adapter.ingest.detect import (
    CTGOV_JSON,
    CTGOV_XML,
    FORMATS,
    REGISTRY_PAGE,
    check_format,
    detect_format,
    is_ndjson,
    read_text,
)
from fhir_adapter.ingest.registry_page import parse_registry_page
from fhir_adapter.trial import TrialRecord

if TYPE_CHECKING:
    from fhir_adapter.ingest.registry_api import fetch_trials, normalize_ids, records_from_studies

__all__ = [
    "DIRECTORY_SUFFIXES",
    "FORMATS",
    "fetch_trials",
    "iter_text",
    "iter_trials",
    "load_trial",
    "normalize_ids",
    "records_from_studies",
]

DIRECTORY_SUFFIXES = (".json", ".ndjson", ".jsonl", ".xml", ".txt")
"""Files read from a directory (others, and hidden files, are skipped: READMEs, provenance tables)."""
_TEXT_SOURCE = "<text>"
_REGISTRY_API = frozenset({"fetch_trials", "normalize_ids", "records_from_studies"})


def __getattr__(name: str) -> Any:
    """The registry client's names, imported on first use: reading files does not need its HTTP stack (httpx)."""
    if name not in _REGISTRY_API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from fhir_adapter.ingest import registry_api

    value = getattr(registry_api, name)
    globals()[name] = value
    return value


def load_trial(path_or_text: str | Path, format: str | None = None) -> TrialRecord:
    """Exactly one trial from a file path or from the text itself.

    A :class:`Path` must exist; a ``str`` is a path when such a file exists, else the text of a
    record. Zero records, more than one (use :func:`iter_trials`), or a bad one raise InputError.
    """
    results = list(_iter_input(path_or_text, format))
    records = [result for result in results if isinstance(result, TrialRecord)]
    errors = [result for result in results if isinstance(result, InputError)]
    if errors:
        raise errors[0]
    if len(records) != 1:
        source = records[0].source if records else str(path_or_text)[:80]
        raise InputError(f"holds {len(records)} trial records, expected exactly one (use iter_trials)", source=source)
    return records[0]


def iter_trials(path: str | Path, format: str | None = None) -> Iterator[TrialRecord | InputError]:
    """Every record of a file or directory: each good record, and an InputError for each bad one.

    Nothing is raised for bad data: the caller reports each error and goes on. A directory is
    read in name order (files ending in :data:`DIRECTORY_SUFFIXES`, not recursively).
    """
    check_format(format)
    target = Path(path)
    if target.is_dir():
        yield from _iter_directory(target, format)
        return
    try:
        text = read_text(target)
    except InputError as exc:
        yield exc
        return
    yield from iter_text(text, str(target), format)


def iter_text(text: str, source: str = _TEXT_SOURCE, format: str | None = None) -> Iterator[TrialRecord | InputError]:
    """The records of one input's text (see :func:`iter_trials`)."""
    try:
        kind = check_format(format) or detect_format(text, source)
        if kind == CTGOV_JSON:
            yield from _iter_json(text, source)
        elif kind == CTGOV_XML:
            yield parse_clinical_study(text, source)
        elif kind == REGISTRY_PAGE:
            yield parse_registry_page(text, source)
    except InputError as exc:
        exc.source = exc.source or source
        yield exc


def _iter_input(path_or_text: str | Path, format: str | None) -> Iterator[TrialRecord | InputError]:
    if isinstance(path_or_text, Path) or _is_existing_path(path_or_text):
        yield from iter_trials(path_or_text, format)
        return
    if not path_or_text.strip():
        raise InputError("empty input", source=_TEXT_SOURCE)
    if _looks_like_file_name(path_or_text):
        raise InputError("no such file", source=path_or_text)
    yield from iter_text(path_or_text, _TEXT_SOURCE, format)


def _looks_like_file_name(text: str) -> bool:
    """A one-line string ending like a trial file: a mistyped path rather than record text."""
    return "\n" not in text and text.strip().lower().endswith(DIRECTORY_SUFFIXES)


def _is_existing_path(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False


def _iter_directory(directory: Path, format: str | None) -> Iterator[TrialRecord | InputError]:
    try:
        files = sorted(
            entry
            for entry in directory.iterdir()
            if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in DIRECTORY_SUFFIXES
        )
    except OSError as exc:
        yield InputError(f"cannot list directory: {exc.strerror or exc}", source=str(directory))
        return
    if not files:
        yield InputError(f"no trial files ({', '.join(DIRECTORY_SUFFIXES)}) in directory", source=str(directory))
        return
    for file in files:
        yield from iter_trials(file, format)


def _iter_json(text: str, source: str) -> Iterator[TrialRecord | InputError]:
    if is_ndjson(text):
        yield from iter_ndjson(text, source)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", source=source) from exc
    except RecursionError as exc:
        raise InputError("JSON nested too deeply", source=source) from exc
    yield from iter_document(data, source)
