"""Fixtures shared across the test packages."""

from __future__ import annotations

import os
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under ``FHIR_ADAPTER_NO_SKIPS=1`` (set by ``.ci/run``) a skipped test fails: CI has the shared corpus, the
    terminology sources, both FHIR servers and Chromium, so a skip there means something went missing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("FHIR_ADAPTER_NO_SKIPS") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under FHIR_ADAPTER_NO_SKIPS=1: {reason}"
