"""The SNOMED CT finding names (``mappings/lexicon/snomed_findings.tsv``) that give a narrower kind its own codes:
rebuilt from the shared GPS, the committed table is what the script writes, and the names the compiler looks up
resolve to their GPS codes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fhir_adapter.criteria.narrower import TABLE, narrower_codings
from fhir_adapter.terminology import generated_path

ROOT = Path(__file__).parents[2]
SHARED = ROOT.parent / "shared"


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_lexicon", ROOT / "scripts" / "build_lexicon.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_lexicon", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (SHARED / "terminology").exists(), reason="needs ../shared/terminology (present in CI)")
def test_the_committed_table_is_what_the_script_builds() -> None:
    built = _build_script().build_narrower(SHARED)
    assert generated_path(TABLE).read_text(encoding="utf-8") == built


def test_names_resolve_to_their_gps_codes() -> None:
    assert [c.code for c in narrower_codings("Arterial thrombosis")] == ["65198009"]
    assert [c.code for c in narrower_codings("twin pregnancy")] == ["65147003"]
    assert narrower_codings("arterial") == []  # a qualifier value or body structure is no finding
