"""The data flow in one place: a trial input is read, its criteria compiled, and it is mapped to FHIR.

The CLI commands and the public API share these steps instead of each wiring them again.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fhir_adapter.criteria import compile_criteria
from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.errors import InputError
from fhir_adapter.ingest import load_trial
from fhir_adapter.mapping import to_bundle
from fhir_adapter.trial import TrialRecord

if TYPE_CHECKING:  # matching is imported when a patient is matched: converting a trial does not need it
    from fhir_adapter.matching import MatchOptions, PatientData, PatientResult, ScreenResult


def load_compiled(path_or_text: str | Path, format: str | None = None) -> tuple[TrialRecord, CompiledCriteria]:
    """One trial input and its compiled criteria."""
    trial = load_trial(path_or_text, format)
    return trial, compile_criteria(trial)


def trial_bundle(
    trial: TrialRecord, fhir_version: Literal["R4", "R5"] = "R4", *, with_criteria: bool = True
) -> dict[str, Any]:
    """The transaction Bundle of a trial, carrying its compiled criteria unless told otherwise."""
    criteria = compile_criteria(trial) if with_criteria else None
    return to_bundle(trial, fhir_version, criteria)


def as_of_date(value: date | str | None) -> date:
    """``as_of`` as people pass it: a date, an ISO string ("2025-01-01"), or None for today."""
    if value is None:
        return date.today()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(f"as_of must be a date or an ISO date (YYYY-MM-DD), got {value!r}", field="as_of") from exc


def patient_id_of(value: str) -> str:
    """A patient id as people pass it: ``X`` or ``Patient/X`` (the form screening results print)."""
    text = value.strip()
    return text.removeprefix("Patient/")


def match(
    criteria: CompiledCriteria,
    data: PatientData,
    patient_id: str,
    *,
    as_of: date | str | None = None,
    options: MatchOptions | None = None,
) -> PatientResult:
    """One patient (``X`` or ``Patient/X``) against a trial's compiled criteria (``as_of``: a date or an ISO
    string, default today)."""
    from fhir_adapter.matching import evaluate_patient

    return evaluate_patient(
        criteria.atoms, data, patient_id_of(patient_id), as_of=as_of_date(as_of), options=options
    )


def screen(
    criteria: CompiledCriteria,
    data: PatientData,
    *,
    as_of: date | str | None = None,
    limit: int | None = None,
    options: MatchOptions | None = None,
) -> ScreenResult:
    """Every patient of a data source, ranked (``as_of``: a date or an ISO string, default today)."""
    from fhir_adapter.matching.screen import screen as screen_source

    return screen_source(criteria, data, as_of=as_of_date(as_of), limit=limit, options=options)
