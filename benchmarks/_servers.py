"""The local FHIR servers the benchmarks run against (127.0.0.1 only), chosen by name."""

from __future__ import annotations

from contextlib import AbstractContextManager

from fhir_adapter.fhir.hapi_testing import running_hapi_server
from fhir_adapter.fhir.testing import LocalServer, running_sekmet

SERVERS = ("sekmet", "hapi")


def running_server(name: str) -> AbstractContextManager[LocalServer]:
    """A fresh sekmet-fhir or HAPI FHIR JPA server, stopped when the block ends."""
    return running_hapi_server() if name == "hapi" else running_sekmet()
