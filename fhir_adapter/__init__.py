"""fhir-adapter: clinical-trial registry records to FHIR R4/R5, computable eligibility, matching.

The public API (see README "Python API"); the CLI is a thin layer over it::

    from fhir_adapter import load_trial, compile_criteria, to_bundle, LocalData, match, screen

    trial = load_trial("samples/NCT06577194.txt")
    criteria = compile_criteria(trial)
    bundle = to_bundle(trial, "R4", criteria)
    result = screen(criteria, LocalData("samples/patients/data"))

The names are imported on first use (PEP 562): importing any submodule imports this package first, and the whole
API (matching, engines, FHIR clients, about half a second) made every command, ``convert`` included, pay for all
of it at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fhir_adapter._version import __version__

if TYPE_CHECKING:
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

_HOMES = {
    "fhir_adapter.criteria": ("compile_criteria", "compile_text"),
    "fhir_adapter.criteria.model": ("Atom", "CompiledCriteria"),
    "fhir_adapter.engines": ("screen_files",),
    "fhir_adapter.errors": ("FhirAdapterError",),
    "fhir_adapter.fhir": ("AsyncFhirClient", "FhirClient"),
    "fhir_adapter.ingest": ("fetch_trials", "iter_trials", "load_trial", "records_from_studies"),
    "fhir_adapter.mapping": ("to_bundle",),
    "fhir_adapter.matching": ("LocalData", "PatientResult", "ScreenResult", "ServerData"),
    "fhir_adapter.pipeline": ("load_compiled", "match", "screen", "trial_bundle"),
    "fhir_adapter.trial": ("TrialRecord",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
