"""fhir-adapter: clinical-trial registry records to FHIR R4/R5, computable eligibility, matching.

The public API (see README "Python API"); the CLI is a thin layer over it.
"""

from __future__ import annotations

from fhir_adapter.errors import FhirAdapterError
from fhir_adapter.trial import TrialRecord

__version__ = "0.1.0"

__all__ = ["FhirAdapterError", "TrialRecord", "__version__"]
