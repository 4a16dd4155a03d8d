"""The real FHIR servers for integration tests, each started once per session on loopback.

``fhir_server`` (parametrised over sekmet-fhir and HAPI FHIR JPA) gives the base URL
(``http://127.0.0.1:PORT/fhir``); ``load_resources`` stores
resources or transaction Bundles in it (for the matching tests' patients).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.fhir import FhirClient
from fhir_adapter.fhir.hapi_testing import find_java, find_mvn, running_hapi_server
from fhir_adapter.fhir.testing import LocalServer, ServerStartError, find_sekmet, running_sekmet

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "data" / "ctgov"
SAMPLE = REPO / "samples" / "NCT06577194.txt"

Loader = Callable[[Iterable[dict[str, Any]]], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def sekmet_server() -> Iterator[str]:
    """A sekmet-fhir server (Python, SQLite) on loopback for the whole session."""
    executable = find_sekmet()
    if executable is None:
        pytest.skip("the sekmet executable (sekmet-fhir==0.1.1) is not installed next to python or on PATH")
    try:
        with running_sekmet(executable) as server:
            yield server.base_url
    except ServerStartError as exc:
        pytest.fail(f"could not start the sekmet test FHIR server: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def hapi_server() -> Iterator[LocalServer]:
    """A HAPI FHIR JPA server (conformance/hapi-server, built with Maven) on loopback for the whole session."""
    missing = [name for name, found in (("java", find_java()), ("mvn", find_mvn())) if found is None]
    if missing:
        pytest.skip(f"the HAPI FHIR test server needs {' and '.join(missing)} on PATH (Java 17+, Maven 3.8+)")
    try:
        with running_hapi_server() as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(f"could not build or start the HAPI FHIR test server: {exc}", pytrace=False)


@pytest.fixture(scope="session", params=["sekmet", "hapi"])
def fhir_server(request: pytest.FixtureRequest) -> str:
    """Each integration test runs against both real servers: their capabilities differ, the client adapts."""
    if request.param == "sekmet":
        return str(request.getfixturevalue("sekmet_server"))
    server: LocalServer = request.getfixturevalue("hapi_server")
    return server.base_url


@pytest.fixture(scope="session")
def fhir_client(fhir_server: str) -> Iterator[FhirClient]:
    with FhirClient(fhir_server) as client:
        yield client


def load_into(client: FhirClient, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store each item: a transaction/batch Bundle is posted as is; a resource with an id is PUT,
    one without is created. Returns the server's answers (the stored resource, or the response Bundle)."""
    answers = []
    for item in items:
        if item.get("resourceType") == "Bundle" and item.get("type") in ("transaction", "batch"):
            send = client.transaction if item["type"] == "transaction" else client.batch
            answers.append(send(item))
        elif item.get("id"):
            answers.append(client.update(item))
        else:
            answers.append(client.create(item))
    return answers


@pytest.fixture(scope="session")
def load_resources(fhir_client: FhirClient) -> Loader:
    """``load_resources([patient, observation, bundle, ...])`` stores them in the session's server."""
    return lambda items: load_into(fhir_client, items)
