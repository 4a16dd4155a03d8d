"""Fixtures for the FHIR client unit tests (respx only: no traffic leaves the process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx
from fhir_fakes import Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router
