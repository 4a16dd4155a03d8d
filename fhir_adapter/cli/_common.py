"""Helpers shared by the CLI commands: consoles, JSON output, per-item failure reports, early checks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape

from fhir_adapter.errors import FhirAdapterError, InputError, UsageError
from fhir_adapter.fhir._core import without_userinfo
from fhir_adapter.ingest import DIRECTORY_SUFFIXES, FORMATS
from fhir_adapter.redact import redact
from fhir_adapter.trial import TrialRecord

StrictFlag = Annotated[
    bool, typer.Option("--strict", help="A malformed --data line or resource is an error, not skipped.")
]
"""``--strict`` of the commands that read patient data (match, screen)."""
OpenWorldFlag = Annotated[
    bool,
    typer.Option(
        "--open-world-diagnosis",
        help="Never rule a patient out for lacking the trial's condition (for sources known to be incomplete).",
    ),
]
"""``--open-world-diagnosis`` of the commands that match patients (match, screen)."""

# Piped or redirected output gets wide tables (rich falls back to 80 columns without a terminal);
# COLUMNS, when set, still wins.
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(soft_wrap=True, width=_PIPED_WIDTH)
err_console = Console(stderr=True, soft_wrap=True)


def write_text(text: str, output: Path) -> None:
    """Write ``text`` to ``output`` (parents created); an OSError becomes one InputError naming the file."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", source=str(output)) from exc


def print_json(data: Any, output: Path | None = None) -> None:
    """Write ``data`` as indented JSON to ``output`` or stdout (plain, no colour codes)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(text, output)


def report_failure(exc: FhirAdapterError) -> None:
    """One line on stderr for an item that failed while others go on."""
    err_console.print(f"[bold red]error:[/] {escape(exc.one_line())}", highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)


def warn_unread_files(inputs: list[Path]) -> None:
    """One warning per file in an input directory that is not read (a PDF, a CSV): nothing is skipped silently."""
    for path in inputs:
        if not path.is_dir():
            continue
        try:
            entries = sorted(path.iterdir())
        except OSError:
            continue  # the reader reports the unreadable directory itself
        for entry in entries:
            if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() not in DIRECTORY_SUFFIXES:
                warn(f"skipped {entry}: not a trial record file ({', '.join(DIRECTORY_SUFFIXES)})")


def warn_record(record: TrialRecord) -> None:
    """The record's ingest warnings (unknown enum values kept as given...), one line each on stderr."""
    for message in record.warnings:
        warn(f"{record.label}: {message}")


def exit_after_failures(failed: int, exit_code: int, message: str, *, source: str | None = None) -> None:
    """End a command whose failed items were already reported on stderr, one line each.

    One failure: its line says it all, just exit with ``exit_code``. Several: one summary line
    (``message``) after them. None: return.
    """
    if not failed:
        return
    if failed == 1:
        raise typer.Exit(exit_code)
    error = FhirAdapterError(message, source=source)
    error.exit_code = exit_code
    raise error


def check_choice(value: str, choices: tuple[str, ...], option: str) -> str:
    """The choice ``value`` names, in any case (``r4`` is ``R4``), else a UsageError naming ``option``."""
    for choice in choices:
        if value.casefold() == choice.casefold():
            return choice
    raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


def check_input_format(value: str | None) -> str | None:
    """``--input-format``: None (detect) or one of the ingest formats."""
    if value is None:
        return None
    return check_choice(value, tuple(FORMATS), "--input-format")


def check_http_url(value: str, option: str) -> str:
    """An ``http(s)://host/...`` URL, else a UsageError naming ``option``."""
    parts = urlsplit(value)
    shown = without_userinfo(value)
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{option} must not carry credentials ({shown}): use --auth basic --username NAME --password-env VAR"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{option} must be an http(s)://host/... URL, got {shown!r}")
    return value


def check_output_path(path: Path | None, option: str, *, directory: bool = False) -> None:
    """Fail before any work when ``path`` cannot be written: a directory where a file is meant
    (or the reverse), or a parent that is a file."""
    if path is None:
        return
    if directory:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path} exists and is not a directory", field=option)
    elif path.is_dir():
        raise UsageError(f"{path} is a directory, expected a file name", field=option)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {path}: {parent} is not a directory", field=option)
            break
