"""The ``fetch`` command: download study records from the ClinicalTrials.gov API v2.

``fhir-adapter fetch NCT... [-o DIR]`` writes ``<NCT id>.json`` per study (the raw API record)
and prints each path written. Errors are one line on stderr with a non-zero exit code. Each retry
is one line on stderr (``retrying in 2 s: HTTP 503 Service Unavailable (attempt 2 of 5)``); several ids
show a progress bar when stderr is a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fhir_adapter.cli._common import (
    ProgressFlag,
    check_http_url,
    check_output_path,
    console,
    err_console,
    print_json,
    progress_bar,
    show_progress,
    with_output_options,
)
from fhir_adapter.http import RetryNotice
from fhir_adapter.ingest import fetch_trials
from fhir_adapter.ingest.registry_api import DEFAULT_BASE_URL
from fhir_adapter.redact import redact


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("fetch")(with_output_options(fetch_command))


def say_retrying(notice: RetryNotice) -> None:
    """One line on stderr per retry, so a slow answer is never a silent wait (``--quiet`` hides it)."""
    err_console.print(escape(redact(notice.line())), highlight=False, soft_wrap=True)


def fetch_command(
    ids: Annotated[list[str], typer.Argument(help="NCT ids (NCT followed by 8 digits).", show_default=False)],
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Directory for <NCT>.json files.")] = Path(),
    base_url: Annotated[str, typer.Option("--base-url", help="ClinicalTrials.gov API v2 base URL.")] = DEFAULT_BASE_URL,
    progress: ProgressFlag = None,
) -> None:
    """Fetch study records from ClinicalTrials.gov and save them as JSON."""
    check_http_url(base_url, "--base-url")
    check_output_path(output_dir, "--output-dir", directory=True)
    with progress_bar(show_progress(progress) and len(ids) > 1, "fetching studies") as update:
        studies = fetch_trials(ids, base_url=base_url, on_retry=say_retrying, progress=update)
    for nct_id, study in zip(_normalized(ids), studies, strict=True):
        target = output_dir / f"{nct_id}.json"
        print_json(study, target)  # an OSError is an InputError naming the file
        console.print(f"wrote {escape(str(target))}", highlight=False)


def _normalized(ids: list[str]) -> list[str]:
    from fhir_adapter.ingest import normalize_ids

    return normalize_ids(ids)
