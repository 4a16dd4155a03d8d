"""The ``convert`` command: trial records (files or directories) to FHIR transaction Bundles.

One input and ``-o bundle.json`` (or stdout) writes one Bundle. Several inputs, or a directory,
need ``-o DIR`` and write ``<NCT id>.json`` per trial; a file that fails is reported on one line
and the others go on; the exit code is 1 when any failed (a summary line follows when several
failed). When the inputs hold nothing but one bad record, that error alone is the answer (exit 2).
Ingest warnings (unknown enum values kept as given...) go to stderr.

``--format ndjson`` writes one Bundle per line, for any number of inputs, to stdout or ``-o FILE``
(not a directory); bad inputs are reported and skipped the same way.
"""

from __future__ import annotations

import codecs
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from fhir_adapter.cli._common import (
    ProgressCallback,
    ProgressFlag,
    check_choice,
    check_input_format,
    check_output_path,
    err_console,
    exit_after_failures,
    one_file_input,
    print_ndjson,
    progress_bar,
    report_failure,
    show_progress,
    warn_record,
    warn_unread_files,
    with_output_options,
    write_text,
)
from fhir_adapter.cli._indented_json import dumps_indented, plain_indented_utf8
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


def print_bundle(bundle: dict[str, Any], output: Path | None = None) -> None:
    """``print_json`` of a Bundle, with the faster writer of the same text (printing was a fifth of a trial's
    conversion), as UTF-8 bytes where they are what the text would be written as."""
    encoded = plain_indented_utf8(bundle) if os.linesep == "\n" else None  # else text mode translates newlines
    if encoded is not None and output is not None:
        write_text(encoded + b"\n", output)
        return
    stdout_bytes = getattr(sys.stdout, "buffer", None)
    if encoded is not None and stdout_bytes is not None and _is_utf8(sys.stdout.encoding):
        sys.stdout.flush()  # what is already written as text goes first
        stdout_bytes.write(encoded + b"\n")
        return
    text = dumps_indented(bundle) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(text, output)


def _is_utf8(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "").name == "utf-8"
    except LookupError:
        return False


def _output_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in label) + ".json"


@dataclass
class Tally:
    """Trials converted and failed so far, and the first failure."""

    done: int = 0
    failed: int = 0
    first_error: FhirAdapterError | None = None

    def fail(self, exc: FhirAdapterError) -> None:
        report_failure(exc)
        self.failed += 1
        self.first_error = self.first_error or exc


_YOUNG_COLLECTION_EVERY = 10_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector run less often while trials are converted (restored after).

    Why: a trial's conversion allocates tens of thousands of short-lived dicts and lists, all freed by reference
    counting, yet at the default threshold (a young collection every 700 allocations, and full collections
    through the lexicon and models) the collector took about 15 % of the conversion. A young collection every
    10,000 allocations still collects cycles, for a few megabytes at most; what start-up loaded (modules, the
    command line) is frozen, so that a full collection does not walk it again (gc.freeze, undone after).
    """
    before = gc.get_threshold()
    freezing = gc.get_freeze_count() == 0  # not when someone else froze objects already: theirs to undo
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, *before[1:])
    if freezing:
        gc.freeze()
    try:
        yield
    finally:
        if freezing:
            gc.unfreeze()
        gc.set_threshold(*before)


def bundles(
    records: Iterator[TrialRecord | InputError], fhir_version: str, with_criteria: bool, tally: Tally,
    progress: ProgressCallback | None = None,
) -> Iterator[tuple[TrialRecord, dict[str, Any]]]:
    """(record, Bundle) of each good record; each failure is reported on stderr and counted in ``tally``."""
    for record in records:
        try:
            bundle = _bundle(record, fhir_version, with_criteria)
        except FhirAdapterError as exc:
            tally.fail(exc)
        else:
            assert isinstance(record, TrialRecord)
            tally.done += 1
            yield record, bundle
        if progress is not None:
            progress(tally.done + tally.failed, None)


def convert_many(
    records: Iterator[TrialRecord | InputError], out_dir: Path, fhir_version: str, with_criteria: bool,
    progress: ProgressCallback | None = None,
) -> tuple[int, int]:
    """Write one Bundle per record into ``out_dir``; report each failure and go on. (done, failed)"""
    tally = Tally()
    for record, bundle in bundles(records, fhir_version, with_criteria, tally, progress):
        print_bundle(bundle, out_dir / _output_name(record.label))
    err_console.print(f"converted {tally.done} of {tally.done + tally.failed} to {escape(str(out_dir))}",
                      highlight=False)
    return tally.done, tally.failed


def convert_ndjson(
    inputs: list[Path], records: Iterator[TrialRecord | InputError], output: Path | None, fhir_version: str,
    with_criteria: bool, progress: ProgressCallback | None = None,
) -> None:
    """One Bundle per line to ``output`` or stdout; the exit code says whether some (1) or all (2...) failed."""
    tally = Tally()
    print_ndjson((bundle for _, bundle in bundles(records, fhir_version, with_criteria, tally, progress)), output)
    if not tally.done + tally.failed:
        raise InputError("no trial records found", source=", ".join(str(i) for i in inputs))
    if output is not None:
        err_console.print(f"{tally.done} Bundle(s) written to {escape(str(output))}", highlight=False)
    exit_code = FhirAdapterError.exit_code if tally.done or tally.first_error is None else tally.first_error.exit_code
    message = f"{tally.failed} of {tally.done + tally.failed} inputs failed (see above)"
    exit_after_failures(tally.failed, exit_code, message, source=str(output) if output else None)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""

    @app.command("convert")
    @with_output_options
    def convert(
        inputs: Annotated[list[Path], typer.Argument(help="Trial record files or directories.")],
        fhir_version: Annotated[str, typer.Option("--fhir-version", help="R4 or R5.")] = "R4",
        output: Annotated[Path | None, typer.Option("-o", "--output", help="Bundle file, or a directory.")] = None,
        input_format: Annotated[str | None, typer.Option("--input-format", help="Force the input format.")] = None,
        no_criteria: Annotated[bool, typer.Option("--no-criteria", help="Skip compiling the criteria.")] = False,
        output_format: Annotated[
            str, typer.Option("--format", help="json (one Bundle, or one file per trial) | ndjson (a Bundle a line).")
        ] = "json",
        progress: ProgressFlag = None,
    ) -> None:
        """Convert trial records to FHIR transaction Bundles."""
        # reject wrong options before reading anything
        fhir_version = check_choice(fhir_version, ("R4", "R5"), "--fhir-version")
        flavor(fhir_version)
        input_format = check_input_format(input_format)
        output_format = check_choice(output_format, ("json", "ndjson"), "--format")
        if output_format == "ndjson" and output is not None and output.is_dir():
            raise UsageError("--format ndjson writes one stream: give -o FILE, or no -o for stdout", field="--output")
        check_output_path(output, "--output", directory=bool(output and output.is_dir()))
        with_criteria = not no_criteria
        warn_unread_files(inputs)
        records = _records(inputs, input_format)
        bar = show_progress(progress) and not one_file_input(inputs)  # a bar over many trials, not one
        if output_format == "ndjson":
            with progress_bar(bar, "converting trials") as update, fewer_collections():
                convert_ndjson(inputs, records, output, fhir_version, with_criteria, update)
            return
        if not (output and output.is_dir()):
            one_file = len(inputs) == 1 and not inputs[0].is_dir()
            head = list(islice(records, 2)) if not one_file else list(records)
            if not head:
                raise InputError("no trial records found", source=", ".join(str(i) for i in inputs))
            if len(head) == 1 and (one_file or isinstance(head[0], InputError)):
                # one trial file, or inputs holding nothing but one bad record: its own error line
                print_bundle(_bundle(head[0], fhir_version, with_criteria), output)
                if output is not None:
                    err_console.print(f"Bundle written to {escape(str(output))}", highlight=False)
                return
            records = chain(head, records)
        if output is None or (output.exists() and not output.is_dir()):
            raise UsageError("several trials need -o DIR (one <NCT id>.json per trial)", field="--output")
        with progress_bar(bar, "converting trials") as update, fewer_collections():
            done, failed = convert_many(records, output, fhir_version, with_criteria, update)
        if not done + failed:
            raise InputError("no trial records found", source=", ".join(str(i) for i in inputs))
        message = f"{failed} of {done + failed} inputs failed (see above)"
        exit_after_failures(failed, FhirAdapterError.exit_code, message, source=str(output))
