"""The ``export`` command: a FHIR Bulk Data ``$export`` into a directory of NDJSON files.

``fhir-adapter export --server URL [auth options] [--group ID | --patient-level] [--type T ...]
[--type-filter 'Type?search' ...] [--since INSTANT] [--bulk-file-origin ORIGIN ...] [--concurrency N]
[--poll-deadline SECONDS] [--restart] -o DIR``

Progress (the server's ``X-Progress``, files as they land; never resource content) goes to stderr, then one
summary line to stdout. Rerunning the same command into the same directory resumes an unfinished export
(see :mod:`fhir_adapter.fhir.bulk`); ``--restart`` starts a new one. Errors are one line with the usual exit
codes (2 usage, 5 server, 6 authentication; 130 after Ctrl-C, which also cancels the job on the server).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fhir_adapter.cli._common import check_output_path, console, err_console, warn
from fhir_adapter.cli._fhir_options import FhirOptions, with_fhir_options
from fhir_adapter.errors import UsageError
from fhir_adapter.fhir.bulk import ExportLevel, ExportResult, run_export


def split_values(values: list[str] | None) -> list[str]:
    """``--type Patient,Observation --type Condition`` → ``[Patient, Observation, Condition]``."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def human_bytes(size: int) -> str:
    """``532 B``, ``12.3 kB``, ``4.1 MB`` (decimal units)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def summary_line(result: ExportResult, server: str) -> str:
    """The one line that ends a successful export."""
    types = sorted({f.type for f in result.files})
    parts = [
        f"exported {len(result.files)} file(s) ({len(types)} type(s), {result.resources} resources, "
        f"{human_bytes(result.bytes)}) from {server} to {result.out_dir}",
    ]
    if result.type_filters_requested:
        parts.append("_typeFilter applied" if result.type_filter_applied
                     else "_typeFilter NOT applied by the server (filter locally)")
    if result.resumed:
        parts.append(f"resumed ({len(result.downloaded)} file(s) fetched now)")
    else:
        parts.append("new export")
    if result.transaction_time:
        parts.append(f"transactionTime {result.transaction_time}")
    return "; ".join(parts)


def export_progress(message: str) -> None:
    err_console.print(f"export: {escape(message)}", highlight=False, soft_wrap=True)


async def export_with(fhir: FhirOptions, **kwargs: object) -> ExportResult:
    async with fhir.async_client() as client:
        return await run_export(client, progress=export_progress, **kwargs)  # type: ignore[arg-type]


@with_fhir_options
def export(
    output_dir: Annotated[
        Path, typer.Option("-o", "--output-dir", help="Directory for the Type.ndjson files (and export-state).")
    ],
    group: Annotated[
        str | None, typer.Option("--group", help="Export this Group's patients (Group/ID/$export).")
    ] = None,
    patient_level: Annotated[
        bool, typer.Option("--patient-level", help="Export every patient's data (Patient/$export).")
    ] = False,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Resource type to export (repeatable or comma-separated).")
    ] = None,
    type_filters: Annotated[
        list[str] | None,
        typer.Option("--type-filter", help="Narrow a type with a search, e.g. 'Observation?code=4548-4' (repeatable)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only resources changed after this instant (2024-01-31T00:00:00Z).")
    ] = None,
    file_origins: Annotated[
        list[str] | None,
        typer.Option("--bulk-file-origin", help="Another origin that may receive the access token for files "
                     "(repeatable)."),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Files downloaded at once.")] = 4,
    poll_deadline: Annotated[
        float | None, typer.Option("--poll-deadline", min=1, help="Give up (and cancel the job) after N seconds.")
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Start a new export even if DIR holds an unfinished one.")
    ] = False,
    *,
    fhir: FhirOptions,
) -> None:
    """Bulk Data export ($export) from a FHIR server into NDJSON files, resumable."""
    if group is not None and patient_level:
        raise UsageError("give at most one of --group ID and --patient-level")
    check_output_path(output_dir, "--output-dir", directory=True)
    level: ExportLevel = "group" if group is not None else "patient" if patient_level else "system"
    result = asyncio.run(export_with(
        fhir, level=level, group_id=group, types=split_values(types), type_filters=list(type_filters or []),
        since=since, out_dir=output_dir, allowed_file_origins=split_values(file_origins),
        concurrency=concurrency, poll_deadline=poll_deadline, restart=restart,
    ))
    if result.type_filters_requested and not result.type_filter_applied:
        warn("the server did not apply --type-filter: the files hold every resource of the filtered types")
    if result.errors.issues:
        first = f"; first: {result.errors.first_message}" if result.errors.first_message else ""
        warn(f"the server reported {result.errors.issues} issue(s) in {result.errors.files} error file(s) "
             f"under {output_dir / 'errors'}{first}")
    console.print(escape(summary_line(result, fhir.server)), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("export")(export)
