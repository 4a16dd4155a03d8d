"""The seed trial NCT06577194 (tests/matching/data/) compiled once, for the tests that screen real or sample data."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from fhir_adapter.criteria.model import Atom

SEED_TRIAL = Path(__file__).parent / "data" / "NCT06577194.txt"


@cache
def seed_atoms() -> list[Atom]:
    """The compiled atoms of the seed trial (the test skips while the compiler or ingester is missing)."""
    try:
        from fhir_adapter.criteria import compile_criteria
        from fhir_adapter.ingest import load_trial  # type: ignore[attr-defined,unused-ignore]

        return list(compile_criteria(load_trial(SEED_TRIAL)).atoms)
    except (ImportError, AttributeError) as exc:  # pragma: no cover - while the compiler is being written
        pytest.skip(f"criteria compiler or ingester not available: {exc}")
