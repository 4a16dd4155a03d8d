"""fhir-adapter: clinical-trial registry records to FHIR R4/R5, computable eligibility, matching.

The public API (see README "Python API"); the CLI is a thin layer over it::

    from fhir_adapter import load_trial, compile_criteria, to_bundle, LocalData, match, screen

    trial = load_trial("samples/NCT06577194.txt")
    criteria = compile_criteria(trial)
    bundle = to_bundle(trial, "R4", criteria)
    result = screen(criteria, LocalData("samples/patients/data"))
"""

from __future__ import annotations

from fhir_adapter._version import __version__
from fhir_adapter.criteria import compile_criteria, compile_text
from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.engines import screen_files
from fhir_adapter.errors import FhirAdapterError
from fhir_adapter.fhir import AsyncFhirClient, FhirClient
from fhir_adapter.ingest import fetch_trials, iter_trials, load_trial, records_from_studies
from fhir_adapter.mapping import to_bundle
from fhir_adapter.matching import LocalData, PatientResult, ScreenResult, ServerData
from fhir_adapter.pipeline import load_compiled, match, screen, trial_bundle
from fhir_adapter.trial import TrialRecord

__all__ = [
    "AsyncFhirClient",
    "Atom",
    "CompiledCriteria",
    "FhirAdapterError",
    "FhirClient",
    "LocalData",
    "PatientResult",
    "ScreenResult",
    "ServerData",
    "TrialRecord",
    "__version__",
    "compile_criteria",
    "compile_text",
    "fetch_trials",
    "iter_trials",
    "load_compiled",
    "load_trial",
    "match",
    "records_from_studies",
    "screen",
    "screen_files",
    "to_bundle",
    "trial_bundle",
]
