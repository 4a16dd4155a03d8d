"""The ``screen`` command: a whole population against one trial's criteria, ranked.

``fhir-adapter screen TRIAL (--server URL [auth options] | --data DIR) [--format table|json|ndjson|html] [-o FILE]
[--limit N] [--as-of DATE] [--checkpoint FILE] [--emit-fhir FILE] [--fhir-version R4|R5] [--concurrency N]
[--engine auto|memory|duckdb|spark] [--workers N] [--spark-master URL]``

JSON is exactly ``ScreenResult.contract()``; HTML is one self-contained page (patients × criteria).
A progress bar (counts only, never patient ids) goes to stderr when it is a terminal or with ``--progress``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape

from fhir_adapter.cli._common import (
    OpenWorldFlag,
    StrictFlag,
    check_choice,
    check_output_path,
    console,
    err_console,
    patient_lines,
    print_json,
    print_ndjson,
    progress_bar,
    warn,
    write_chunks,
    write_text,
)
from fhir_adapter.cli._fhir_options import FhirOptions, with_fhir_options
from fhir_adapter.cli.export_cmd import export_with, split_values, summary_line
from fhir_adapter.cli.match_cmd import data_errors, load_compiled, parse_as_of, report_skipped
from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.engines import ENGINES, screen_files
from fhir_adapter.engines.bulk_source import bulk_request
from fhir_adapter.errors import FhirAdapterError, UsageError
from fhir_adapter.fhir._core import DeadlineError
from fhir_adapter.matching.checkpoint import Checkpoint
from fhir_adapter.matching.emit import FhirVersion, candidates_bundle, validate_bundle
from fhir_adapter.matching.evaluate import Matcher
from fhir_adapter.matching.model import MatchOptions, ScreenResult
from fhir_adapter.matching.report import render_html, render_table, table_text, verdict_counts
from fhir_adapter.matching.screen import ScreenStats, ascreen_server, rank
from fhir_adapter.matching.spill import count_by

_FORMATS = ("table", "json", "ndjson", "html")


async def _screen_server(
    compiled: CompiledCriteria, fhir: FhirOptions, *, concurrency: int, **kwargs: Any
) -> ScreenResult:
    async with fhir.async_client() as client:
        work = ascreen_server(compiled, client, concurrency=concurrency, **kwargs)
        left = fhir.deadline_left()
        # --deadline: the HTTP layer stops requests at the deadline; this stops the evaluation between them too
        return await (work if left is None else asyncio.wait_for(work, timeout=max(left, 0.0)))


def _partial(marker: Checkpoint, compiled: CompiledCriteria, day: date) -> ScreenResult:
    """The patients finished before the deadline (the checkpoint records each as it finishes), ranked."""
    return ScreenResult(trial=compiled.trial, as_of=day, patients=rank(marker.done().values()))


def _marked(chunks: Iterator[str], incomplete: str) -> Iterator[str]:
    """The JSON report with ``"incomplete": "<why>"`` right after the trial and date (its first chunk)."""
    yield next(chunks)
    yield f"  \"incomplete\": {json.dumps(incomplete, ensure_ascii=False)},\n"
    yield from chunks


def considered(stats: ScreenStats, source: str) -> str:
    """How many patients were considered and how (shown in the report and on stderr)."""
    text = f"{stats.population} patients considered from {source}"
    if stats.prefilter_applied:
        text += (
            f"; {stats.prefiltered} ruled out by the server pre-filter ({', '.join(stats.prefilter_applied)}),"
            " reported as ineligible"
        )
    if stats.missing:
        text += f"; {stats.missing} listed but gone when fetched"
    return text


def _engine_note(message: str) -> None:
    """What a population engine is doing (files scanned, evidence kept) on stderr; ``--quiet`` drops it."""
    err_console.print(f"engine: {escape(message)}", highlight=False, soft_wrap=True)


def _with_newline(chunks: Iterator[str]) -> Iterator[str]:
    yield from chunks
    yield "\n"


def write_report(
    result: ScreenResult, compiled: CompiledCriteria, output_format: str, output: Path | None, *, about: str = "",
    incomplete: str | None = None,
) -> None:
    """The report to ``output`` (its path printed on stderr) or stdout; the verdict counts on stderr.

    ``json`` is the contract, one object; ``ndjson`` one line per patient with the trial and date in each.
    ``incomplete`` (a screening stopped by ``--deadline``): JSON gets an ``incomplete`` key, NDJSON a last line
    ``{"trial", "as_of", "incomplete"}``, the table and HTML say it first in their note.
    """
    if incomplete is not None:
        about = f"INCOMPLETE: {incomplete}. {about}"
    if output_format == "json":
        chunks = result.contract_json()
        write_chunks(_with_newline(chunks if incomplete is None else _marked(chunks, incomplete)), output)
    elif output_format == "ndjson":
        end = [] if incomplete is None else [
            {"trial": result.trial, "as_of": result.as_of.isoformat(), "incomplete": incomplete}]
        print_ndjson(itertools.chain(patient_lines(result), end), output)
    elif output_format == "html":
        text = render_html(result, compiled.atoms, considered=about)
        if output is None:
            console.file.write(text)
        else:
            write_text(text, output)
    elif output is None:
        console.print(render_table(result, compiled.atoms), highlight=False)
    else:
        write_text(table_text(result, compiled.atoms), output)
    counts = verdict_counts(result)
    not_candidates = count_by(result.patients, "reason_code")["not-a-candidate"]
    summary = ", ".join(f"{n} {v}" for v, n in counts.items())
    if not_candidates:
        summary += f" ({not_candidates} of them not a candidate: no record of the trial's condition)"
    err_console.print(escape(f"{summary}. {about}" if about else summary), highlight=False)
    if not result.patients:
        err_console.print("no patient was screened: the source lists no patient", highlight=False)
    if output is not None:
        err_console.print(f"report written to {escape(str(output))}", highlight=False)


def emit_fhir(result: ScreenResult, path: Path, fhir_version: str) -> None:
    version = cast(FhirVersion, fhir_version)
    bundle = candidates_bundle(result, fhir_version=version)
    validate_bundle(bundle, fhir_version=version)
    print_json(bundle, path)
    err_console.print(f"FHIR {fhir_version} transaction Bundle written to {escape(str(path))}", highlight=False)


@contextmanager
def bulk_export(
    compiled: CompiledCriteria, fhir: FhirOptions, as_of: date, folder: Path | None, origins: list[str]
) -> Iterator[tuple[Path, str]]:
    """Export what the trial's atoms read into ``folder`` (resumable there) or a temporary directory removed
    afterwards; yields the directory and a short description of the export for the report."""
    request = bulk_request(compiled.atoms, Matcher(compiled.atoms, as_of=as_of).context)
    with contextlib.ExitStack() as stack:
        target = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fhir-adapter-bulk-")))
        exported = asyncio.run(export_with(
            fhir, level="system", types=list(request.types), type_filters=list(request.type_filters),
            out_dir=target, allowed_file_origins=split_values(origins),
        ))
        if exported.type_filters_requested and not exported.type_filter_applied:
            warn("the server did not apply _typeFilter: every Observation was exported and is filtered here")
        err_console.print(escape(summary_line(exported, fhir.server)), highlight=False, soft_wrap=True)
        yield target, f"{len(exported.files)} file(s), {exported.resources} resources"


def run_screen(
    trial: Path,
    *,
    data: list[Path] | None,
    fhir: FhirOptions | None,
    output_format: str,
    output: Path | None,
    limit: int | None,
    as_of: str | None,
    checkpoint: Path | None,
    emit: Path | None,
    fhir_version: str,
    concurrency: int,
    prefilter: bool,
    show_progress: bool,
    strict: bool = False,
    open_world_diagnosis: bool = False,
    engine: str = "auto",
    spark_master: str | None = None,
    workers: int | None = None,
    bulk: bool = False,
    bulk_dir: Path | None = None,
    bulk_file_origins: list[str] | None = None,
) -> ScreenResult:
    output_format = check_choice(output_format, _FORMATS, "--format")
    engine = check_choice(engine, ENGINES, "--engine")
    fhir_version = check_choice(fhir_version, ("R4", "R5"), "--fhir-version")
    if (data is None) == (fhir is None):
        raise UsageError("give exactly one of --data DIR or --server URL")
    bulk = bulk or bulk_dir is not None
    if bulk and fhir is None:
        raise UsageError("--bulk exports from a server: give --server URL")
    day: date = parse_as_of(as_of)
    # paths written at the end are checked before any work is done
    check_output_path(output, "--output")
    check_output_path(emit, "--emit-fhir")
    check_output_path(checkpoint, "--checkpoint")
    compiled = load_compiled(trial)
    scratch = contextlib.ExitStack()
    if checkpoint is None and fhir is not None and fhir.deadline is not None and data is None and not bulk:
        # --deadline may stop the screening: a checkpoint of our own keeps the patients finished for the report
        checkpoint = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="fhir-adapter-screen-")))
        checkpoint = checkpoint / "checkpoint.jsonl"
    marker = Checkpoint(checkpoint, trial=compiled.trial, as_of=day, atoms=compiled.atoms) if checkpoint else None
    stats = ScreenStats()
    incomplete: str | None = None
    try:
        with progress_bar(show_progress) as progress:
            common: dict[str, Any] = {
                "as_of": day, "limit": limit, "progress": progress, "checkpoint": marker, "stats": stats,
                "options": MatchOptions(open_world_diagnosis=open_world_diagnosis),
            }
            if data is not None or bulk or bulk_dir is not None:
                with contextlib.ExitStack() as stack:
                    if data is None:
                        assert fhir is not None
                        folder, exported = stack.enter_context(
                            bulk_export(compiled, fhir, day, bulk_dir, bulk_file_origins or [])
                        )
                        paths, origin = [folder], f"a Bulk export of the server ({exported})"
                    else:
                        paths, origin = data, f"{len(data)} --data path(s)"
                    stack.enter_context(data_errors(paths))
                    found = screen_files(compiled, paths, engine=engine, strict=strict, spark_master=spark_master,
                                         note=_engine_note, workers=workers, **common)  # None: the default
                report_skipped(found.errors)
                result = found.result
                skipped = f" ({len(found.errors)} malformed record(s) skipped)" if found.errors else ""
                if data is not None:
                    origin = f"{found.files} --data file(s)"
                source = f"{origin}{skipped}, {found.engine} engine"
            else:
                assert fhir is not None
                source = "the server"
                try:
                    result = asyncio.run(
                        _screen_server(compiled, fhir, concurrency=concurrency, prefilter=prefilter, **common)
                    )
                except (TimeoutError, DeadlineError):
                    if marker is None:
                        raise
                    result = _partial(marker, compiled, day)
                    incomplete = (f"{fhir.deadline_line()} after {len(result.patients)} of {stats.population} "
                                  "patient(s); the others were not screened")
    finally:
        if marker is not None:
            marker.close()
    with scratch:
        write_report(result, compiled, output_format, output, about=considered(stats, source), incomplete=incomplete)
    if incomplete is not None:
        error = FhirAdapterError(f"screening stopped: {incomplete}; the report holds those finished, marked incomplete")
        error.exit_code = 5
        raise error
    if emit is not None:
        emit_fhir(result, emit, fhir_version)
    return result


def _screen_command(
    trial: Annotated[Path, typer.Argument(help="Trial input (CT.gov JSON, registry text, legacy XML, NCT id file).")],
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Directory or file(s) of FHIR NDJSON / Bundles.")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table | json | ndjson | html.")] = "table",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Screen at most N patients.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate as of this date (default today).")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Resume file: finished patients are skipped on a rerun.")
    ] = None,
    emit: Annotated[
        Path | None, typer.Option("--emit-fhir", help="Write ResearchSubject candidates + Group as a transaction.")
    ] = None,
    fhir_version: Annotated[str, typer.Option("--fhir-version", help="R4 | R5 for --emit-fhir.")] = "R4",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight (server).")] = 8,
    prefilter: Annotated[
        bool, typer.Option("--prefilter/--no-prefilter", help="Server-side population pre-filter (server).")
    ] = True,
    show_progress: Annotated[bool, typer.Option("--progress", help="Show the progress bar on stderr.")] = False,
    strict: StrictFlag = False,
    open_world_diagnosis: OpenWorldFlag = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="--data engine: auto (memory for small data, duckdb above 64 MB) | memory | duckdb | spark.",
        ),
    ] = "auto",
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help="Spark master for --engine spark (default local[2]).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes evaluating the duckdb engine's patients (default: one per "
                     "core but one; 1: none; a small population uses none)."),
    ] = None,
    bulk: Annotated[
        bool, typer.Option("--bulk", help="With --server: Bulk $export what the trial reads, then screen the files.")
    ] = False,
    bulk_dir: Annotated[
        Path | None,
        typer.Option("--bulk-dir", help="Keep the --bulk export here (a rerun resumes it); implies --bulk."),
    ] = None,
    bulk_file_origins: Annotated[
        list[str] | None,
        typer.Option("--bulk-file-origin", help="Another origin that may receive the token for export files."),
    ] = None,
    *,
    fhir: FhirOptions | None,
) -> None:
    """Screen a population against a trial's criteria: eligible, needs-review, ineligible, explained."""
    run_screen(
        trial, data=data, fhir=fhir, output_format=output_format, output=output,
        limit=limit, as_of=as_of, checkpoint=checkpoint, emit=emit, fhir_version=fhir_version,
        concurrency=concurrency, prefilter=prefilter, show_progress=show_progress or err_console.is_terminal,
        strict=strict, open_world_diagnosis=open_world_diagnosis, engine=engine, spark_master=spark_master,
        workers=workers, bulk=bulk, bulk_dir=bulk_dir, bulk_file_origins=bulk_file_origins,
    )


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("screen")(with_fhir_options(_screen_command))
