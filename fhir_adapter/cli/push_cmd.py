"""The ``push`` command: trial records (or converted Bundles) to a FHIR server, one transaction each.

``--mode create|update|sync`` (default ``sync``, see :mod:`fhir_adapter.fhir.push_sync`): create
never changes what exists; update writes every resource; sync writes only resources whose content
hash changed and reports the others ``unchanged``.

``--dry-run`` writes nothing: it reads ``GET /metadata`` (the write strategy per type and, with
``--fhir-version auto``, the FHIR version come from it) and, in update and sync mode, looks each
resource up; then it prints the plan (create / update / unchanged per resource) and the Bundle
that would be sent.

Every input is read and checked before the first request: a bad file (unreadable, not a trial, a
Bundle that is not a transaction or batch) is one error line naming it and sends nothing; with
several inputs the bad ones are reported and the others pushed. A directory stands for its trial
files (``.json``, ``.ndjson``, ``.jsonl``, ``.xml``, ``.txt``, in name order, as ``convert`` reads them).

A write whose outcome is unknown (the answer lost, a 5xx, a 200 that is not a transaction-response) is
read back and reported as the server holds it, with one line saying so. Once the server is found down
(refusing connections, a bad certificate, 503 after every retry) or ``--deadline`` passes, the inputs
left are not tried: one line says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from fhir_adapter.cli._common import (
    ProgressFlag,
    alert,
    check_choice,
    console,
    err_console,
    print_json,
    progress_bar,
    report_failure,
    show_progress,
    warn,
    warn_record,
    warn_unread_files,
)
from fhir_adapter.cli._fhir_options import FhirOptions, with_fhir_options
from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.fhir.client import FhirClient
from fhir_adapter.fhir.push import (
    FhirVersionChoice,
    PushClient,
    PushReport,
    TypeStrategy,
    fhir_version_for,
    read_push_input,
    summary,
)
from fhir_adapter.fhir.push_definitions import push_definitions
from fhir_adapter.fhir.push_sync import WRITE_MODES, WriteMode
from fhir_adapter.fhir.sync_run import TrialPlan, plan_trial, push_trial
from fhir_adapter.ingest import DIRECTORY_SUFFIXES
from fhir_adapter.mapping.canonical import IDENTIFIER_SYSTEM
from fhir_adapter.pipeline import trial_bundle
from fhir_adapter.redact import redact
from fhir_adapter.trial import TrialRecord

_STYLE = {"created": "green", "updated": "cyan", "unchanged": "dim", "failed": "bold red", "skipped": "yellow",
          "present": "cyan", "retired": "magenta", "kept": "yellow"}


def _strategy_table(strategies: dict[str, TypeStrategy]) -> Table:
    table = Table(title="write strategy per resource type")
    for column in ("type", "strategy", "why"):
        table.add_column(column)
    for s in strategies.values():
        table.add_row(escape(s.resource_type), s.strategy, escape(s.reason))
    return table


def _report_table(reports: list[PushReport]) -> Table:
    table = Table(title="pushed resources")
    for column in ("input", "type", "identifier", "outcome", "server id", "version"):
        table.add_column(column, overflow="fold")
    for report in reports:
        for o in report.outcomes:
            style = _STYLE.get(o.outcome, "")
            outcome = f"[{style}]{o.outcome}[/]" if style else o.outcome
            value = o.identifier.rsplit("|", 1)[-1]  # the system is the project's, the same on every row
            name = Path(report.source).name
            cells = (name, o.resource_type, value)
            table.add_row(*(escape(c) for c in cells), outcome, escape(o.server_id or "-"), escape(o.version or "-"))
    return table


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given; a directory's trial files (by suffix, not hidden, name order, not recursive), the other
    files of it named in a warning. A directory without trial files is an InputError naming it."""
    found: list[Path] = []
    for path in inputs:
        if not path.is_dir():
            found.append(path)
            continue
        warn_unread_files([path])
        try:
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                           and p.suffix.lower() in DIRECTORY_SUFFIXES)
        except OSError as exc:
            raise InputError(f"cannot read the directory: {exc.strerror or exc}", source=str(path)) from exc
        if not files:
            raise InputError(f"no trial files ({', '.join(DIRECTORY_SUFFIXES)}) in directory", source=str(path))
        found += files
    return found


def read_input(path: Path) -> dict[str, Any] | TrialRecord:
    """A converted Bundle file as it is, or the one trial record of any other input (its warnings shown)."""
    found = read_push_input(path)
    if isinstance(found, TrialRecord):
        warn_record(found)
    return found


@with_fhir_options
def push(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Trial records (any format ingest reads), Bundle JSON files, or directories of them."),
    ],
    fhir_version: Annotated[str, typer.Option("--fhir-version", help="auto (from the server) | R4 | R5.")] = "auto",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show strategies and the Bundle; send only GET /metadata.")
    ] = False,
    validate: Annotated[
        bool, typer.Option("--validate", help="$validate every resource first (when offered).")
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table | json.")] = "table",
    progress: ProgressFlag = None,
    write_mode: Annotated[
        str, typer.Option("--mode", help="sync (write what changed) | update (write all) | create (never change).")
    ] = "sync",
    with_definitions: Annotated[
        bool, typer.Option("--with-definitions", help="Also write the project's StructureDefinitions, once.")
    ] = False,
    *,
    fhir: FhirOptions,
) -> None:
    """Push trials to a FHIR server: create, update or sync (default) per resource, strategy from its capabilities."""
    run_push(expand_inputs(inputs), fhir_version, dry_run, validate, output_format, progress, write_mode, fhir=fhir,
             with_definitions=with_definitions)


def run_push(
    inputs: list[Path], fhir_version: str, dry_run: bool, validate: bool, output_format: str,
    progress: bool | None, write_mode: str, *, fhir: FhirOptions, one_line: bool = False,
    fetched: Sequence[tuple[Path, TrialRecord]] = (), with_definitions: bool = False,
) -> None:
    """``push`` and ``sync``: ``one_line`` prints only the summary line (no per-resource table); ``fetched`` are
    records already read (from the registry), pushed after ``inputs``; ``with_definitions`` first writes the
    project's StructureDefinitions and CodeSystems (:mod:`fhir_adapter.fhir.push_definitions`)."""
    fhir_version = check_choice(fhir_version, ("auto", "R4", "R5"), "--fhir-version")
    output_format = check_choice(output_format, ("table", "json"), "--format")
    mode = cast(WriteMode, check_choice(write_mode, WRITE_MODES, "--mode"))
    choice = cast(FhirVersionChoice, fhir_version)
    reports: list[PushReport] = []
    plans: list[dict[str, Any]] = []
    exit_code = 0
    failed = 0
    with fhir.client() as client:  # checks --server and the credentials; sends nothing yet
        loaded: list[tuple[Path, dict[str, Any] | TrialRecord]] = []
        for path in inputs:
            try:
                loaded.append((path, read_input(path)))
            except FhirAdapterError as exc:
                if len(inputs) + len(fetched) == 1:
                    raise
                report_failure(exc)
                exit_code = exit_code or exc.exit_code
                failed += 1
        loaded += list(fetched)
        total = len(inputs) + len(fetched)
        if not loaded:
            raise _failed(failed, total, exit_code)
        caps = client.capabilities()
        version = fhir_version_for(choice, caps)
        if with_definitions:
            _definitions(client, version, dry_run, fhir.server)
        bar = show_progress(progress) and not dry_run and len(loaded) > 1  # a dry run prints as it goes
        with progress_bar(bar, "pushing trials") as update:
            for done, (path, item) in enumerate(loaded, start=1):
                if (stop := _stop_reason(client, fhir)) is not None:
                    left = len(loaded) - done + 1
                    alert(f"[bold red]error:[/] {escape(f'{left} input(s) not pushed: {stop}')}")
                    exit_code, failed = exit_code or 5, failed + left
                    break
                try:
                    bundle = item if isinstance(item, dict) else trial_bundle(item, version)
                    from_record = not isinstance(item, dict)
                    if dry_run:
                        plans.append(_dry_run(client, path, bundle, version, output_format, mode, from_record))
                    else:
                        report = push_trial(client, bundle, from_record=from_record, source=str(path),
                                            validate=validate, write_mode=mode)
                        reports.append(report)
                        _say_read_back(report)
                        if validate and not caps.has_operation("validate"):
                            warn(f"{fhir.server} offers no $validate operation; --validate checked nothing")
                except FhirAdapterError as exc:
                    report_failure(exc)
                    exit_code = exit_code or exc.exit_code
                    failed += 1
                if update is not None:
                    update(done, len(loaded))
    if dry_run:
        if output_format == "json":
            print_json(plans if len(plans) != 1 else plans[0])
    elif output_format == "json":
        print_json({"server": fhir.server, "fhirVersion": version, "summary": summary(reports),
                    "inputs": [r.to_json() for r in reports]})
    else:
        if reports and not one_line:
            console.print(_report_table(reports))
        totals = summary(reports)
        err_console.print(
            f"{len(reports)} of {total} input(s) pushed to {escape(fhir.server)} as {version}: "
            + (", ".join(f"{n} {k}" for k, n in sorted(totals.items())) or "nothing written"),
            highlight=False,
        )
    failed += sum(1 for r in reports if not r.ok)
    if exit_code or failed:
        raise _failed(failed, total, exit_code)


def _definitions(client: FhirClient, version: str, dry_run: bool, server: str) -> None:
    """Write (or, in a dry run, plan) the project's conformance resources once; one line says what happened."""
    counts = push_definitions(client, version, dry_run=dry_run)
    said = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing"
    err_console.print(f"definitions ({version}) on {escape(server)}: {'would be ' if dry_run else ''}{said}",
                      highlight=False)


def _stop_reason(client: FhirClient, fhir: FhirOptions) -> str | None:
    """Why the inputs left are not tried: the deadline passed, or this run found the server down."""
    left = fhir.deadline_left()
    if left is not None and left <= 0:
        return fhir.deadline_line()
    if client.down is not None:
        return f"{client.down} (found earlier in this run)"
    return None


def _say_read_back(report: PushReport) -> None:
    """One line when the server's answer did not tell the outcome and the resources were read back."""
    if report.note is None:
        return
    line = f"{report.source}: {report.note}"
    if report.ok:
        warn(line)
    else:
        alert(f"[bold red]error:[/] {escape(redact(line))}")


def _plan_rows(plan: TrialPlan) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"type": p.resource_type, "identifier": p.identifier, "action": p.action,
                                   "serverId": p.stored.server_id if p.stored else None} for p in plan.writes]
    rows += [{"type": r.resource_type, "identifier": f"{IDENTIFIER_SYSTEM}|{r.identifier}", "action": r.action,
              "serverId": r.reference.split("/", 1)[1], "reason": r.reason} for r in plan.retires]
    return rows


def _plan_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="plan")
    for column in ("type", "identifier", "action", "server id", "why"):
        table.add_column(column, overflow="fold")
    styles = {"create": "green", "update": "cyan", "unchanged": "dim", "retire": "magenta", "keep": "yellow"}
    for row in rows:
        table.add_row(escape(row["type"]), escape(row["identifier"].rsplit("|", 1)[-1]),
                      f"[{styles[row['action']]}]{row['action']}[/]", escape(row["serverId"] or "-"),
                      escape(row.get("reason", "")))
    return table


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} unchanged" if a == "unchanged" else f"{n} to {a}" for a, n in counts.items())


def _dry_run(
    client: PushClient, path: Path, bundle: dict[str, Any], version: str, output_format: str, mode: WriteMode,
    from_record: bool,
) -> dict[str, Any]:
    """The plan of one input (what would be sent, what would be retired); printed at once as a table unless JSON
    was asked."""
    plan = plan_trial(client, bundle, from_record=from_record, write_mode=mode)
    rows = _plan_rows(plan)
    counts = plan.counts()
    if output_format == "table":
        console.print(f"[bold]{escape(str(path))}[/] ({version}, mode {mode})", highlight=False)
        console.print(_strategy_table(plan.strategies))
        console.print(_plan_table(rows))
        err_console.print(f"{escape(path.name)}: {_counts_line(counts)}", highlight=False)
        print_json(plan.bundle)
    return {"source": str(path), "fhirVersion": version, "writeMode": mode, "strategies": {
        t: {"strategy": s.strategy, "reason": s.reason} for t, s in plan.strategies.items()
    }, "plan": rows, "counts": counts, "bundle": plan.bundle}


def _failed(failed: int, total: int, exit_code: int) -> FhirAdapterError:
    error = FhirAdapterError(f"push failed for {failed} of {total} input(s)")
    error.exit_code = exit_code or 5
    return error


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("push")(push)
