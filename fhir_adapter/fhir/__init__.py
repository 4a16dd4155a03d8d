"""Talking to FHIR servers: the client (sync and async), capabilities, auth and push.

::

    from fhir_adapter.fhir import FhirClient
    with FhirClient("https://hospital.example/fhir", auth=BearerAuth.from_env("FHIR_TOKEN")) as fhir:
        caps = fhir.capabilities()
        patients = fhir.search("Patient", {"birthdate": ["ge1950", "lt1960"]})
"""

from __future__ import annotations

from fhir_adapter.fhir._core import bundle_is_idempotent, render_outcome
from fhir_adapter.fhir.auth import BasicAuth, BearerAuth, SmartBackendAuth, auth_from_options
from fhir_adapter.fhir.bulk import ExportResult, run_export
from fhir_adapter.fhir.capabilities import Capabilities, release_of
from fhir_adapter.fhir.client import AsyncFhirClient, FhirClient
from fhir_adapter.fhir.search import escape_search_value, mask_url, token_value

__all__ = [
    "AsyncFhirClient",
    "BasicAuth",
    "BearerAuth",
    "Capabilities",
    "ExportResult",
    "FhirClient",
    "SmartBackendAuth",
    "auth_from_options",
    "bundle_is_idempotent",
    "escape_search_value",
    "mask_url",
    "release_of",
    "render_outcome",
    "run_export",
    "token_value",
]
