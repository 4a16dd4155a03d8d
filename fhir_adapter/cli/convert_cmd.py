"""The ``convert`` command: trial records (files or directories) to FHIR transaction Bundles.

One input and ``-o bundle.json`` (or stdout) writes one Bundle. Several inputs, or a directory,
need ``-o DIR`` and write ``<NCT id>.json`` per trial; a file that fails is reported on one line
and the others go on; the exit code is 1 when any failed (a summary line follows when several
failed). When the inputs hold nothing but one bad record, that error alone is the answer (exit 2).
Ingest warnings (unknown enum values kept as given...) go to stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from fhir_adapter.cli._common import (
    check_choice,
    check_input_format,
    check_output_path,
    err_console,
    exit_after_failures,
    print_json,
    report_failure,
    warn_record,
    warn_unread_files,
)
from fhir_adapter.errors import FhirAdapterError, InputError, UsageError
from fhir_adapter.ingest import iter_trials
from fhir_adapter.mapping.versions import flavor
from fhir_adapter.pipeline import trial_bundle
from fhir_adapter.trial import TrialRecord


def _records(inputs: list[Path], input_format: str | None) -> Iterator[TrialRecord | InputError]:
    for path in inputs:
        yield from iter_trials(path, input_format)


def _bundle(record: TrialRecord | InputError, fhir_version: str, with_criteria: bool) -> dict[str, Any]:
    if isinstance(record, InputError):
        raise record
    warn_record(record)
    return trial_bundle(record, flavor(fhir_version).name, with_criteria=with_criteria)


def _output_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in label) + ".json"


def convert_many(
    records: Iterator[TrialRecord | InputError], out_dir: Path, fhir_version: str, with_criteria: bool
) -> tuple[int, int]:
    """Write one Bundle per record into ``out_dir``; report each failure and go on. (done, failed)"""
    done = failed = 0
    for record in records:
        try:
            bundle = _bundle(record, fhir_version, with_criteria)
        except FhirAdapterError as exc:
            report_failure(exc)
            failed += 1
            continue
        assert isinstance(record, TrialRecord)
        print_json(bundle, out_dir / _output_name(record.label))
        done += 1
    err_console.print(f"converted {done} of {done + failed} to {escape(str(out_dir))}", highlight=False)
    return done, failed


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""

    @app.command("convert")
    def convert(
        inputs: Annotated[list[Path], typer.Argument(help="Trial record files or directories.")],
        fhir_version: Annotated[str, typer.Option("--fhir-version", help="R4 or R5.")] = "R4",
        output: Annotated[Path | None, typer.Option("-o", "--output", help="Bundle file, or a directory.")] = None,
        input_format: Annotated[str | None, typer.Option("--input-format", help="Force the input format.")] = None,
        no_criteria: Annotated[bool, typer.Option("--no-criteria", help="Skip compiling the criteria.")] = False,
    ) -> None:
        """Convert trial records to FHIR transaction Bundles."""
        # reject wrong options before reading anything
        fhir_version = check_choice(fhir_version, ("R4", "R5"), "--fhir-version")
        flavor(fhir_version)
        input_format = check_input_format(input_format)
        check_output_path(output, "--output", directory=bool(output and output.is_dir()))
        with_criteria = not no_criteria
        warn_unread_files(inputs)
        records = _records(inputs, input_format)
        if not (output and output.is_dir()):
            one_file = len(inputs) == 1 and not inputs[0].is_dir()
            head = list(islice(records, 2)) if not one_file else list(records)
            if not head:
                raise InputError("no trial records found", source=", ".join(str(i) for i in inputs))
            if len(head) == 1 and (one_file or isinstance(head[0], InputError)):
                # one trial file, or inputs holding nothing but one bad record: its own error line
                print_json(_bundle(head[0], fhir_version, with_criteria), output)
                if output is not None:
                    err_console.print(f"Bundle written to {escape(str(output))}", highlight=False)
                return
            records = chain(head, records)
        if output is None or (output.exists() and not output.is_dir()):
            raise UsageError("several trials need -o DIR (one <NCT id>.json per trial)", field="--output")
        done, failed = convert_many(records, output, fhir_version, with_criteria)
        if not done + failed:
            raise InputError("no trial records found", source=", ".join(str(i) for i in inputs))
        message = f"{failed} of {done + failed} inputs failed (see above)"
        exit_after_failures(failed, FhirAdapterError.exit_code, message, source=str(output))
