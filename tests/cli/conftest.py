"""Every CLI test runs without the user's settings: no settings file or profile from the machine."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import respx


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    for name in ("FHIR_ADAPTER_CONFIG", "FHIR_ADAPTER_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert not (Path.cwd() / "fhir-adapter.toml").exists(), "a settings file in the working folder skews the tests"


def empty_server_reads(router: respx.MockRouter, base: str) -> None:
    """Answer the reads a sync push makes before writing (searches by identifier, reads at a stable id) as a
    server that holds none of the trial's resources: every resource is then created, as on a fresh server."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.query:
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []},
                                  headers={"content-type": "application/fhir+json"})
        return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "not-found", "diagnostics": "not found"}]},
            headers={"content-type": "application/fhir+json"})

    router.get(url__regex=rf"^{re.escape(base)}/(?!metadata)[A-Z][A-Za-z]+.*").mock(side_effect=answer)
