"""Every CLI test runs without the user's settings: no settings file or profile from the machine."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    for name in ("FHIR_ADAPTER_CONFIG", "FHIR_ADAPTER_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert not (Path.cwd() / "fhir-adapter.toml").exists(), "a settings file in the working folder skews the tests"
