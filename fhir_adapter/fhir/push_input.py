"""The inputs of ``push``: a converted Bundle file as it is, or a trial record converted to one; the FHIR version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from fhir_adapter.errors import InputError, UsageError
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.ingest import load_trial
from fhir_adapter.ingest.detect import read_text
from fhir_adapter.pipeline import trial_bundle
from fhir_adapter.trial import TrialRecord

FhirVersionChoice = Literal["auto", "R4", "R5"]


def fhir_version_for(choice: FhirVersionChoice, caps: Capabilities | None) -> Literal["R4", "R5"]:
    """The version to convert to: explicit, or the server's (R4B servers get R4)."""
    if choice != "auto":
        return choice
    release = caps.fhir_version if caps is not None else None
    if release in ("R4", "R4B"):
        return "R4"
    if release == "R5":
        return "R5"
    raw = caps.fhir_version_raw if caps is not None else None
    raise UsageError(f"the server's fhirVersion {raw!r} is neither R4, R4B nor R5; pass --fhir-version R4 or R5")


PUSHABLE_BUNDLE_TYPES = ("transaction", "batch")


def read_push_input(path: Path) -> dict[str, Any] | TrialRecord:
    """A converted Bundle file as it is, or the one trial record of any other input (errors name the file)."""
    if path.is_dir():
        raise InputError("is a directory; push takes trial record files or Bundle files", source=str(path))
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(read_text(path))
        except ValueError:
            data = None  # not JSON: load_trial names the problem
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            if data.get("type") not in PUSHABLE_BUNDLE_TYPES:
                raise InputError(
                    f"a {data.get('type')!r} Bundle cannot be pushed; expected transaction or batch",
                    source=str(path),
                    field="Bundle.type",
                )
            return data
    return load_trial(path)


def bundle_for_input(path: str | Path, fhir_version: Literal["R4", "R5"]) -> tuple[dict[str, Any], list[str]]:
    """A transaction Bundle for a converted Bundle file or a trial record, and the record's warnings."""
    found = read_push_input(Path(path))
    if isinstance(found, TrialRecord):
        return trial_bundle(found, fhir_version), list(found.warnings)
    return found, []


