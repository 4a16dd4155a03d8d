"""The ``criteria`` command: compile eligibility criteria into computable atoms.

``--format json`` prints exactly ``CompiledCriteria.contract()`` for one trial; several trials
(several inputs, a directory, an NDJSON file) print a JSON **list** of those documents.
``--format ndjson`` prints one such document per line, whatever the inputs.
``--format table`` prints one rich table per trial. ``--summary`` prints figures over all trials
(atoms per category, computable share, top reasons) instead. A bad input is reported on one line
naming the file; the others go on and the exit code is 1 (a summary line follows when several failed).
Ingest warnings (unknown enum values kept as given...) go to stderr.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fhir_adapter import criteria as criteria_compiler
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
from fhir_adapter.criteria.lint import lint_all
from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.criteria.summary import CriteriaSummary, summarize
from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.words import comparator, number, quantity


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"


def _threshold(atom: Atom) -> str:
    """The threshold as people write it: ``≥ 1.5 × 10⁹/L``, ``≤ 2.5 × ULN``, ``between 18–75 years``."""
    parts: list[str] = [comparator(atom.comparator) if atom.comparator not in ("present", "absent") else ""]
    if atom.comparator in ("present", "absent"):
        parts.append(atom.comparator)
    if atom.uln_multiple is not None:
        parts.append(f"{number(atom.uln_multiple)} × ULN")
    elif atom.lln_multiple is not None:
        parts.append(f"{number(atom.lln_multiple)} × LLN")
    elif isinstance(atom.value, int | float):
        value, high = float(atom.value), atom.high
        parts.append(f"{number(value)}–{quantity(high, atom.unit)}" if high is not None else quantity(value, atom.unit))
    elif atom.value is not None:
        parts.append(str(atom.value))
    if atom.within_days is not None:
        parts.append(f"within {atom.within_days} days")
    return " ".join(p for p in parts if p)


def _reason(atom: Atom) -> str:
    """Why a criterion is left for review, or what to confirm about a computable one."""
    if atom.reason:
        return atom.reason
    return "; ".join(f"to confirm: {r.text}" for r in atom.residues)


def trial_table(compiled: CompiledCriteria) -> Table:
    table = Table(title=escape(compiled.trial), show_lines=False)
    for column in ("id", "kind", "category", "computable", "concept", "threshold", "text", "reason"):
        table.add_column(column, overflow="fold")
    for atom in compiled.atoms:
        cells = (
            atom.id,
            atom.kind,
            atom.category,
            "yes" if atom.computable else "no",
            atom.concept_key or (atom.concepts[0].code if atom.concepts else ""),
            _threshold(atom),
            atom.text,
            _reason(atom),
        )
        table.add_row(*(escape(cell) for cell in cells))
    return table


def summary_table(summary: CriteriaSummary) -> Table:
    table = Table(title=f"{summary.trials} trials, {summary.atoms} atoms, {summary.computable_share:.1%} computable")
    table.add_column("category")
    table.add_column("atoms", justify="right")
    table.add_column("computable", justify="right")
    for category, figures in sorted(summary.by_category.items(), key=lambda kv: -kv[1].atoms):
        table.add_row(escape(category), str(figures.atoms), str(figures.computable))
    return table


def reasons_table(summary: CriteriaSummary, top: int = 10) -> Table:
    table = Table(title="top reasons for non-computable atoms")
    table.add_column("reason")
    table.add_column("atoms", justify="right")
    for reason, count in list(summary.reasons.items())[:top]:
        table.add_row(escape(reason), str(count))
    return table


def _compile_inputs(
    inputs: list[Path], input_format: str | None = None, progress: ProgressCallback | None = None
) -> tuple[list[CompiledCriteria], int]:
    from fhir_adapter.ingest import iter_trials

    compiled: list[CompiledCriteria] = []
    failures = 0
    for path in inputs:
        for result in iter_trials(path, input_format):
            if progress is not None:
                progress(len(compiled) + failures, None)
            if isinstance(result, FhirAdapterError):
                report_failure(result)
                failures += 1
                continue
            warn_record(result)
            try:
                compiled.append(criteria_compiler.compile_criteria(result))
            except FhirAdapterError as exc:
                report_failure(exc)
                failures += 1
    if progress is not None:
        progress(len(compiled) + failures, len(compiled) + failures)
    return compiled, failures


def criteria(
    inputs: Annotated[list[Path], typer.Argument(help="Trial files or directories.")],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, json or ndjson.", case_sensitive=False)
    ] = OutputFormat.table,
    summary: Annotated[bool, typer.Option("--summary", help="Figures over all trials instead of atoms.")] = False,
    lint: Annotated[
        bool, typer.Option("--lint", help="List contradictions between compiled atoms (exit 1 when any).")
    ] = False,
    input_format: Annotated[str | None, typer.Option("--input-format", help="Force the input format.")] = None,
    progress: ProgressFlag = None,
) -> None:
    """Compile eligibility criteria into atoms with FHIR queries and FHIRPath."""
    warn_unread_files(inputs)
    with progress_bar(show_progress(progress) and not one_file_input(inputs), "compiling trials") as update:
        compiled, failures = _compile_inputs(inputs, check_input_format(input_format), update)
    if not compiled and not failures:
        raise InputError("no trial records found", source=", ".join(str(i) for i in inputs))
    if lint:
        findings = lint_all(compiled)
        for finding in findings:
            print(finding.line())
        console.print(f"{len(findings)} contradiction(s) in {len(compiled)} trial(s)", style="bold")
        if findings:
            raise typer.Exit(1)
    elif summary:
        figures = summarize(compiled)
        if output_format is not OutputFormat.table:
            print_documents([figures.contract()], output_format, single=True)
        else:
            console.print(summary_table(figures))
            console.print(reasons_table(figures))
    elif output_format is not OutputFormat.table:
        if compiled or not failures:
            print_documents([c.contract() for c in compiled], output_format, single=one_file_input(inputs))
    else:
        for trial in compiled:
            console.print(trial_table(trial))
    exit_after_failures(
        failures, FhirAdapterError.exit_code, f"{failures} input(s) failed (see above)",
        source=", ".join(str(i) for i in inputs),
    )


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("criteria")(with_output_options(criteria))
