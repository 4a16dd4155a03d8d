"""The ``inspect`` command: read trial records and show what was understood.

``fhir-adapter inspect INPUT... [--format table|json|ndjson] [--input-format FORMAT]``. Each bad input is
one error line on stderr and the others go on; the exit code is 2 when any input failed (a summary
line follows when several failed). Ingest warnings (unknown enum values kept as given...) go to stderr.

``--format json`` prints one ``TrialRecord`` object when the only input is a file holding one record, else a
JSON list; ``--format ndjson`` prints one record per line whatever the inputs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fhir_adapter.cli._common import (
    ProgressCallback,
    ProgressFlag,
    check_input_format,
    console,
    exit_after_failures,
    one_file_input,
    print_documents,
    progress_bar,
    report_failure,
    show_progress,
    warn_record,
    warn_unread_files,
    with_output_options,
)
from fhir_adapter.errors import InputError
from fhir_adapter.ingest import iter_trials
from fhir_adapter.trial import AgeBound, PartialDate, TrialRecord


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("inspect")(with_output_options(inspect_command))


def inspect_command(
    inputs: Annotated[list[Path], typer.Argument(help="Trial files or directories.", show_default=False)],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or ndjson.", case_sensitive=False)
    ] = OutputFormat.table,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="Force ctgov-json, registry-page or ctgov-xml.")
    ] = None,
    progress: ProgressFlag = None,
) -> None:
    """Summarise trial records (ClinicalTrials.gov JSON, registry page text, legacy XML)."""
    input_format = check_input_format(input_format)
    with progress_bar(show_progress(progress) and not one_file_input(inputs), "reading trials") as update:
        records, failures = read_all(inputs, input_format, update)
    if not records and not failures:
        raise InputError("no trial records found", source=", ".join(str(i) for i in inputs))
    for record in records:
        warn_record(record)
    if output_format is not OutputFormat.table and (records or not failures):
        dumped = [record.model_dump(mode="json") for record in records]
        print_documents(dumped, output_format, single=one_file_input(inputs))
    elif output_format is OutputFormat.table:
        for record in records:
            console.print(summary_table(record))
    exit_after_failures(failures, InputError.exit_code, f"{failures} input(s) could not be read (see the lines above)")


def read_all(
    inputs: list[Path], input_format: str | None, progress: ProgressCallback | None = None
) -> tuple[list[TrialRecord], int]:
    """Every record of every input; failures are reported on stderr as they come and counted."""
    records: list[TrialRecord] = []
    failures = 0
    warn_unread_files(inputs)
    for path in inputs:
        for result in iter_trials(path, input_format):
            if isinstance(result, InputError):
                report_failure(result)
                failures += 1
            else:
                records.append(result)
            if progress is not None:
                progress(len(records) + failures, None)
    return records, failures


def _date(value: PartialDate | None) -> str:
    if value is None:
        return "-"
    return f"{value.date} ({value.type.lower()})" if value.type else value.date


def _age(value: AgeBound | None) -> str:
    return value.raw if value is not None else "no limit"


def summary_rows(record: TrialRecord) -> list[tuple[str, str]]:
    """The (field, value) lines of one trial's summary."""
    eligibility = record.eligibility
    sponsor = record.lead_sponsor
    return [
        ("NCT id", record.nct_id or "-"),
        ("Brief title", record.brief_title or "-"),
        ("Official title", record.official_title or "-"),
        ("Status", record.overall_status or "-"),
        ("Phases", ", ".join(record.phases) or "-"),
        ("Study type", record.study_type or "-"),
        ("Enrollment", "-" if record.enrollment_count is None else str(record.enrollment_count)),
        ("Start", _date(record.start_date)),
        ("Primary completion", _date(record.primary_completion_date)),
        ("Completion", _date(record.completion_date)),
        ("Ages", f"{_age(eligibility.minimum_age)} to {_age(eligibility.maximum_age)}"),
        ("Sex", eligibility.sex or "-"),
        ("Healthy volunteers", {True: "yes", False: "no", None: "-"}[eligibility.healthy_volunteers]),
        ("Arms / interventions", f"{len(record.arms)} / {len(record.interventions)}"),
        ("Locations", str(len(record.locations))),
        ("Outcomes", str(len(record.outcomes))),
        ("Sponsor", f"{sponsor.name} ({sponsor.agency_class or '-'})" if sponsor else "-"),
        ("Source", f"{record.source or '-'} ({record.source_format})"),
        ("Warnings", str(len(record.warnings))),
    ]


def summary_table(record: TrialRecord) -> Table:
    table = Table(title=escape(record.label), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in summary_rows(record):
        table.add_row(name, escape(value))
    return table
