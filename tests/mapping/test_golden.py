"""A fresh conversion of the seed trial equals samples/golden (regenerate: scripts/regen_golden.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def regen_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regen_golden", REPO / "scripts" / "regen_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_fresh_conversion_matches_golden(version: str) -> None:
    regen = regen_module()
    golden = REPO / "samples" / "golden" / f"NCT06577194.{version}.json"
    if not golden.is_file():
        pytest.skip("golden file not generated yet (run scripts/regen_golden.py)")
    fresh = regen.render(regen.golden_bundles()[version])
    assert fresh == golden.read_text(encoding="utf-8"), "output changed: review, then run scripts/regen_golden.py"
