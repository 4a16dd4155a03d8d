"""The ``fetch`` command: download study records from the ClinicalTrials.gov API v2.

``fhir-adapter fetch NCT... [-o DIR]`` writes ``<NCT id>.json`` per study (the raw API record)
and prints each path written. Errors are one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fhir_adapter.cli._common import check_http_url, check_output_path, console, print_json
from fhir_adapter.ingest import fetch_trials
from fhir_adapter.ingest.registry_api import DEFAULT_BASE_URL


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("fetch")(fetch_command)


def fetch_command(
    ids: Annotated[list[str], typer.Argument(help="NCT ids (NCT followed by 8 digits).", show_default=False)],
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Directory for <NCT>.json files.")] = Path(),
    base_url: Annotated[str, typer.Option("--base-url", help="ClinicalTrials.gov API v2 base URL.")] = DEFAULT_BASE_URL,
) -> None:
    """Fetch study records from ClinicalTrials.gov and save them as JSON."""
    check_http_url(base_url, "--base-url")
    check_output_path(output_dir, "--output-dir", directory=True)
    studies = fetch_trials(ids, base_url=base_url)
    for nct_id, study in zip(_normalized(ids), studies, strict=True):
        target = output_dir / f"{nct_id}.json"
        print_json(study, target)  # an OSError is an InputError naming the file
        console.print(f"wrote {escape(str(target))}", highlight=False)


def _normalized(ids: list[str]) -> list[str]:
    from fhir_adapter.ingest import normalize_ids

    return normalize_ids(ids)
