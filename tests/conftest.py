"""Fixtures shared across the test packages."""

from __future__ import annotations

from typing import Any

import pytest

import fhir_adapter.terminology as terminology


class _NoLexicon:
    """No lexicon: atoms' own codings are the whole concept."""

    def get(self, key: str) -> Any:
        raise KeyError(key)

    def answer_value(self, concept: Any, system: str, code: str) -> float | None:
        return None

    def non_systemic(self, route_codings: Any, text: str | None) -> bool:
        return False


@pytest.fixture
def no_lexicon(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluate without the project lexicon (use with ``pytestmark = pytest.mark.usefixtures("no_lexicon")``)."""
    monkeypatch.setattr(terminology, "lexicon", lambda: _NoLexicon())
