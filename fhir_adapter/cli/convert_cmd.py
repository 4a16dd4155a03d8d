"""The ``convert`` command: trial records (files or directories) to FHIR transaction Bundles.

One input and ``-o bundle.json`` (or stdout) writes one Bundle. Several inputs, or a directory,
need ``-o DIR`` and write ``<NCT id>.json`` per trial; a file that fails is reported on one line
and the others go on; the exit code is 1 when any failed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer

from fhir_adapter.cli._common import err_console, print_json, report_failure, warn
from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.errors import FhirAdapterError, UsageError
from fhir_adapter.mapping import to_bundle
from fhir_adapter.mapping.versions import flavor
from fhir_adapter.trial import TrialRecord

TRIAL_SUFFIXES = (".json", ".txt", ".xml")


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given; directories replaced by their trial files (sorted)."""
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TRIAL_SUFFIXES)
        else:
            found.append(path)
    return found


def load_record(path: Path, input_format: str | None) -> TrialRecord:
    from fhir_adapter import ingest

    load_trial: Any = getattr(ingest, "load_trial", None)
    if load_trial is None:
        raise UsageError("no ingester available (fhir_adapter.ingest.load_trial is missing)", source=str(path))
    record: TrialRecord = load_trial(path, format=input_format)
    return record


def compile_for(trial: TrialRecord) -> CompiledCriteria | None:
    """The compiled criteria, or None (with a warning) while the compiler is not installed."""
    from fhir_adapter import criteria

    compiler: Any = getattr(criteria, "compile_criteria", None)
    if compiler is None:
        _warn_once("criteria compiler not available: Bundles carry the structured eligibility only")
        return None
    try:
        compiled: CompiledCriteria = compiler(trial)
    except ImportError as exc:
        _warn_once(f"criteria compiler not available ({exc}): Bundles carry the structured eligibility only")
        return None
    return compiled


@cache
def _warn_once(message: str) -> None:
    warn(message)


def convert_one(path: Path, fhir_version: str, input_format: str | None, with_criteria: bool) -> tuple[str, Any]:
    trial = load_record(path, input_format)
    criteria = compile_for(trial) if with_criteria else None
    version = flavor(fhir_version).name
    return trial.label, to_bundle(trial, version, criteria)


def _output_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in label) + ".json"


def convert_many(files: list[Path], out_dir: Path, fhir_version: str, input_format: str | None, criteria: bool) -> int:
    failures = 0
    for path in files:
        try:
            label, bundle = convert_one(path, fhir_version, input_format, criteria)
        except FhirAdapterError as exc:
            if exc.source is None:
                exc.source = str(path)
            report_failure(exc)
            failures += 1
            continue
        print_json(bundle, out_dir / _output_name(label))
    err_console.print(f"converted {len(files) - failures} of {len(files)} to {out_dir}", highlight=False)
    return failures


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
        flavor(fhir_version)  # reject a wrong version before reading anything
        files = expand_inputs(inputs)
        if not files:
            raise UsageError("no trial files found", source=", ".join(str(i) for i in inputs))
        single = len(files) == 1 and not any(i.is_dir() for i in inputs)
        if single and not (output and output.is_dir()):
            _, bundle = convert_one(files[0], fhir_version, input_format, not no_criteria)
            print_json(bundle, output)
            return
        if output is None or (output.exists() and not output.is_dir()):
            raise UsageError("several inputs need -o DIR (one <NCT id>.json per trial)", field="--output")
        failures = convert_many(files, output, fhir_version, input_format, not no_criteria)
        if failures:
            # an error (exit code 1), not typer.Exit: the CLI runs click with standalone_mode=False,
            # which turns Exit into a return value that main() does not pass on
            raise FhirAdapterError(f"{failures} of {len(files)} inputs failed (see above)", source=str(output))
