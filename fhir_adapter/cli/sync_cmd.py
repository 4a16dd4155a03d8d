"""The ``sync`` command: keep the trials on a FHIR server true to their records.

``sync INPUT... --server URL`` is ``push --mode sync`` over files and directories (a directory
stands for its trial files, as for ``push``): each trial's resources are looked up, only
those whose content hash changed are written, and one summary line says how many were created,
updated and unchanged. Exit codes are those of ``push``. ``--dry-run`` reads the server and prints
the plan without writing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fhir_adapter.cli._common import ProgressFlag
from fhir_adapter.cli._fhir_options import FhirOptions, with_fhir_options
from fhir_adapter.cli.push_cmd import expand_inputs, run_push


@with_fhir_options
def sync(
    inputs: Annotated[
        list[Path], typer.Argument(help="Trial records, Bundle JSON files, or directories of them.")
    ],
    fhir_version: Annotated[str, typer.Option("--fhir-version", help="auto (from the server) | R4 | R5.")] = "auto",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (create/update/unchanged per resource); write nothing.")
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table | json.")] = "table",
    progress: ProgressFlag = None,
    *,
    fhir: FhirOptions,
) -> None:
    """Sync trials to a FHIR server: write only what changed; one summary line."""
    run_push(expand_inputs(inputs), fhir_version, dry_run, False, output_format, progress, "sync", fhir=fhir,
             one_line=True)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("sync")(sync)
