"""The ``sync`` command: keep the trials on a FHIR server true to their records.

``sync INPUT... --server URL`` is ``push --mode sync``: each trial's resources are looked up, only those whose
content hash changed are written, the resources the trial no longer has are retired when nothing else refers to
them (:mod:`fhir_adapter.fhir.sync_retire`), and one summary line says how many were created, updated, unchanged
and retired. An INPUT is a file, a directory (its trial files, as for ``push``) or an NCT id (fetched from the
registry). ``--query``/``--filter-advanced``/``--status`` add the trials of a ClinicalTrials.gov API v2 query,
all pages; ``--since-last-run --state FILE`` only those updated since the last successful run
(:mod:`fhir_adapter.fhir.sync_query`). Exit codes are those of ``push``. ``--dry-run`` reads the server and prints
the plan (create / update / unchanged / retire per resource) without writing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fhir_adapter.cli._common import ProgressFlag, err_console
from fhir_adapter.cli._fhir_options import FhirOptions, with_fhir_options
from fhir_adapter.cli.fetch_cmd import say_retrying
from fhir_adapter.cli.push_cmd import expand_inputs, run_push
from fhir_adapter.errors import UsageError
from fhir_adapter.fhir.sync_query import (
    read_since,
    registry_params,
    since_params,
    state_key,
    today,
    write_since,
)
from fhir_adapter.ingest import fetch_trials
from fhir_adapter.ingest.registry_api import DEFAULT_BASE_URL, records_from_studies, search_studies
from fhir_adapter.ingest.text import NCT_ID
from fhir_adapter.trial import TrialRecord


def _split(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Paths as given; an argument that is no existing path and reads as an NCT id is an id to fetch."""
    paths: list[Path] = []
    ids: list[str] = []
    for raw in inputs:
        if not Path(raw).exists() and NCT_ID.match(raw.strip().upper()):
            ids.append(raw.strip().upper())
        else:
            paths.append(Path(raw))
    return paths, ids


def _fetched(ids: list[str], params: dict[str, str], base_url: str) -> list[tuple[Path, TrialRecord]]:
    studies = fetch_trials(ids, base_url=base_url, on_retry=say_retrying) if ids else []
    if params:
        known = {s["protocolSection"]["identificationModule"]["nctId"] for s in studies}
        studies += [s for s in search_studies(params, base_url=base_url, on_retry=say_retrying)
                    if s["protocolSection"]["identificationModule"]["nctId"] not in known]
    return [(Path(r.nct_id or r.label), r) for r in records_from_studies(studies)]


@with_fhir_options
def sync(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Trial records, Bundle JSON files, directories of them, or NCT ids to fetch."),
    ] = None,
    query: Annotated[
        list[str] | None,
        typer.Option("--query", help="A ClinicalTrials.gov API v2 parameter, NAME=VALUE (query.locn=Boston)."),
    ] = None,
    filter_advanced: Annotated[
        str | None, typer.Option("--filter-advanced", help="filter.advanced (Essie: AREA[Phase]PHASE3).")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="filter.overallStatus (RECRUITING,...); repeatable.")
    ] = None,
    since_last_run: Annotated[
        bool, typer.Option("--since-last-run", help="Only trials updated since the last successful run (--state).")
    ] = False,
    state: Annotated[
        Path | None, typer.Option("--state", help="State file of --since-last-run (JSON; created when absent).")
    ] = None,
    base_url: Annotated[str, typer.Option("--base-url", help="ClinicalTrials.gov API v2 base URL.")] = DEFAULT_BASE_URL,
    fhir_version: Annotated[str, typer.Option("--fhir-version", help="auto (from the server) | R4 | R5.")] = "auto",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (create/update/unchanged/retire); write nothing.")
    ] = False,
    with_definitions: Annotated[
        bool, typer.Option("--with-definitions", help="Also write the project's StructureDefinitions, once.")
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table | json.")] = "table",
    progress: ProgressFlag = None,
    *,
    fhir: FhirOptions,
) -> None:
    """Sync trials to a FHIR server: write only what changed, retire what a trial no longer has; one summary line."""
    params = registry_params(query or [], filter_advanced, status or [])
    if since_last_run and (not params or state is None):
        raise UsageError("--since-last-run needs a query (--query, --filter-advanced or --status) and --state FILE")
    if state is not None and not since_last_run:
        raise UsageError("--state is the state file of --since-last-run; add --since-last-run")
    paths, ids = _split(inputs or [])
    if not (paths or ids or params):
        raise UsageError("nothing to sync: give files, directories, NCT ids or a registry query")
    key = state_key(fhir.server, params)
    started = today()
    since = read_since(state, key) if state is not None else None
    fetched = _fetched(ids, since_params(params, since), base_url) if ids or params else []
    if params and not paths and not fetched:
        err_console.print(f"no trial matched the query{f' since {since}' if since else ''}: nothing to sync",
                          highlight=False)
    else:
        run_push(expand_inputs(paths), fhir_version, dry_run, False, output_format, progress, "sync", fhir=fhir,
                 one_line=True, fetched=fetched, with_definitions=with_definitions)
    if state is not None and not dry_run:  # run_push raised on any failure: this run succeeded
        write_since(state, key, started, len(fetched))
        err_console.print(f"next --since-last-run fetches trials updated from {started} ({escape(str(state))})",
                          highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("sync")(sync)
