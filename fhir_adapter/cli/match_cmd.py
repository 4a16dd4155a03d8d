"""The ``match`` command: one patient against one trial's compiled criteria, explained.

``fhir-adapter match TRIAL (--data DIR | --server URL [auth options]) --patient ID... [--format table|json|ndjson]
[--as-of DATE] [--recency-days N]``

TRIAL is any trial input the ingesters read; ``--data`` is a directory or file of FHIR NDJSON / Bundles,
``--server`` a FHIR base URL (with the shared ``--auth``/credential options of push and screen).
The table shows every atom with its result, reason and evidence, then the verdict and the atoms left
to confirm by hand; ``--format json`` prints ``{"trial", "as_of", "patients": [PatientResult.contract()]}``
(the same contract as ``screen``), one object however many ``--patient`` are given; ``--format ndjson``
prints one line per patient, ``{"trial", "as_of", **PatientResult.contract()}``. An unknown patient id is one
line on stderr and exit code 2 (before any patient is evaluated); no patient name is ever printed.
``--data`` without any data file or without any Patient is an error too.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fhir_adapter import pipeline
from fhir_adapter.cli._common import (
    OpenWorldFlag,
    StrictFlag,
    check_choice,
    check_input_format,
    check_output_path,
    err_console,
    patient_lines,
    print_json,
    print_ndjson,
    warn,
    warn_record,
)
from fhir_adapter.cli._common import console as default_console
from fhir_adapter.cli._fhir_options import FhirOptions, with_fhir_options
from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.engines import require_patients
from fhir_adapter.errors import InputError, UsageError
from fhir_adapter.matching import LocalData, Matcher, MatchOptions, PatientData, PatientResult, ScreenResult
from fhir_adapter.matching.server import ServerData
from fhir_adapter.pipeline import patient_id_of
from fhir_adapter.words import printable

_STYLE = {
    "met": "green",
    "not-met": "red",
    "unknown": "yellow",
    "review": "cyan",
    "eligible": "bold green",
    "ineligible": "bold red",
    "needs-review": "bold yellow",
}


def load_compiled(path: Path, input_format: str | None = None) -> CompiledCriteria:
    """Read a trial input (one trial) and compile its criteria; its ingest warnings go to stderr."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give one trial file", field="TRIAL")
    trial, compiled = pipeline.load_compiled(path, input_format)
    warn_record(trial)
    return compiled


def load_local(paths: list[Path], *, strict: bool = False) -> LocalData:
    """The ``--data`` files, indexed; no data file or no Patient at all is an error naming the paths.

    A malformed line or resource is reported on stderr (file:line and what is wrong) and skipped, so the other
    patients are screened; a summary of the skipped records follows. ``strict`` makes the first one an error.
    """
    with data_errors(paths):
        local = LocalData(*paths, strict=strict, freeze_gc=True)  # a one-shot process: see LocalData
    report_skipped(local.errors)
    require_patients(local.files, len(local), paths)
    return local


@contextmanager
def data_errors(paths: Sequence[Path]) -> Iterator[None]:
    """Reading ``--data`` files: an unreadable or corrupt one is one line naming it."""
    where = ", ".join(str(p) for p in paths)
    try:
        yield
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=exc.filename or where) from exc
    except (EOFError, zlib.error) as exc:  # a truncated or corrupt .gz (LocalData only catches OSError)
        raise InputError(f"corrupt or truncated compressed file: {exc or type(exc).__name__}", source=where) from exc


def report_skipped(errors: Sequence[InputError]) -> None:
    """Each skipped malformed record on stderr (file:line and what is wrong), then how many."""
    for error in errors:
        warn(f"skipped: {error}")
    if errors:
        warn(f"{len(errors)} malformed record(s) skipped in --data (--strict makes this an error)")


def parse_as_of(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of must be a date YYYY-MM-DD, got {text!r}") from None


def render_table(result: PatientResult, compiled: CompiledCriteria, as_of: date, out: Console | None = None) -> None:
    console = out or default_console
    kinds = {a.id: a.kind for a in compiled.atoms}
    title = printable(f"{compiled.trial} — {result.patient} — as of {as_of.isoformat()}")
    table = Table(title=escape(title), show_lines=False)
    for column in ("atom", "kind", "result", "reason", "evidence"):
        table.add_column(column, overflow="fold")
    for atom in result.criteria:
        evidence = ", ".join(e.reference + (f" ({e.date})" if e.date else "") for e in atom.evidence[:3]) + (
            f" +{len(atom.evidence) - 3}" if len(atom.evidence) > 3 else ""
        )
        style = _STYLE.get(atom.result, "")
        result_cell = f"[{style}]{escape(atom.result)}[/]"
        table.add_row(
            escape(atom.id), kinds.get(atom.id, ""), result_cell, escape(printable(atom.reason)),
            escape(printable(evidence)),
        )
    console.print(table, highlight=False)
    reason = escape(printable(result.reason))
    console.print(f"verdict: [{_STYLE[result.verdict]}]{result.verdict}[/] — {reason}", highlight=False)
    if result.open_items:
        console.print(f"open items: {escape('; '.join(result.open_items))}", highlight=False)
    to_confirm = ", ".join(result.to_confirm) if result.to_confirm else "nothing"
    console.print(f"to confirm: {escape(to_confirm)}", highlight=False)


def _require_patient(source: PatientData, patient_id: str) -> None:
    """One clear error for an unknown id (only the id the user typed is echoed, never a name)."""
    if source.patient(patient_id) is None:
        raise InputError("no such patient in the data source", source=f"Patient/{patient_id}")


_FORMATS = ("table", "json", "ndjson")


def match(
    trial: Annotated[Path, typer.Argument(help="Trial input (CT.gov JSON, registry text, legacy XML).")],
    patients: Annotated[
        list[str], typer.Option("--patient", help="Patient id (as in Patient/<id>); repeat for several.")
    ],
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Directory or file(s) of FHIR NDJSON / Bundles.")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table, json or ndjson.")] = "table",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate as of this date (default today).")] = None,
    recency_days: Annotated[
        int | None, typer.Option("--recency-days", min=0, help="Window for labs/ECOG (default 90 days).")
    ] = None,
    strict: StrictFlag = False,
    open_world_diagnosis: OpenWorldFlag = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the result to this file.")] = None,
    input_format: Annotated[str | None, typer.Option("--input-format", help="Force the trial's format.")] = None,
    *,
    fhir: FhirOptions | None,
) -> None:
    """Match patients one by one against a trial's eligibility criteria (three-valued, explained)."""
    output_format = check_choice(output_format, _FORMATS, "--format")
    if (data is None) == (fhir is None):
        raise UsageError("give exactly one of --data DIR or --server URL")
    day = parse_as_of(as_of)
    check_output_path(output, "--output")
    ids = list(dict.fromkeys(patient_id_of(p) for p in patients))  # "Patient/X" as screen prints it, or "X"
    compiled = load_compiled(trial, check_input_format(input_format))
    options = MatchOptions(recency_days=recency_days, open_world_diagnosis=open_world_diagnosis)
    matcher = Matcher(compiled.atoms, as_of=day, options=options)
    if data is not None:
        results = evaluate_all(matcher, load_local(data, strict=strict), ids)
    else:
        assert fhir is not None
        with fhir.client() as client:
            source = ServerData(client, matcher.atoms, context=matcher.context, patient_ids=ids)
            results = evaluate_all(matcher, source, ids)
    write_results(ScreenResult(trial=compiled.trial, as_of=day, patients=results), compiled, output_format, output)


def evaluate_all(matcher: Matcher, source: PatientData, ids: list[str]) -> list[PatientResult]:
    """Each patient's result, in the order given; every id is checked before the first is evaluated."""
    for patient in ids:
        _require_patient(source, patient)
    return [matcher.evaluate(source, patient) for patient in ids]


def write_results(result: ScreenResult, compiled: CompiledCriteria, output_format: str, output: Path | None) -> None:
    """The results as JSON (one object), NDJSON (a patient a line) or tables, to ``output`` or stdout."""
    if output_format == "json":
        print_json(result.contract(), output)
    elif output_format == "ndjson":
        print_ndjson(patient_lines(result), output)
    elif output is None:
        for one in result.patients:
            render_table(one, compiled, result.as_of)
    else:
        with output.open("w", encoding="utf-8") as handle:
            for one in result.patients:
                render_table(one, compiled, result.as_of, Console(file=handle, width=160, color_system=None))
    if output is not None:
        err_console.print(f"result written to {escape(str(output))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("match")(with_fhir_options(match))
