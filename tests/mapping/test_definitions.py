"""The shipped extension definitions (mappings/definitions/<version>) are current and cover every extension."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from ctgov_records import seed_trial
from mapping_helpers import drug_lookup, walk

from fhir_adapter.mapping import to_bundle
from fhir_adapter.mapping.definitions import definition_resources, extension_urls

REPO = Path(__file__).resolve().parents[2]


def _writer() -> Any:
    spec = importlib.util.spec_from_file_location("write_definitions", REPO / "scripts" / "write_definitions.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_shipped_definitions_are_current(version: str) -> None:
    shipped = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "mappings" / "definitions" / version).iterdir()}
    assert shipped == _writer().rendered(version), "run python scripts/write_definitions.py"


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_every_emitted_extension_is_defined(version: str) -> None:
    result = to_bundle(seed_trial(), version, drug_lookup=drug_lookup)  # type: ignore[arg-type]
    used = {e["url"] for ext in walk(result, "extension") for e in ext if "://" in e["url"]}
    assert used <= extension_urls(version), used - extension_urls(version)


def test_a_complex_definition_slices_its_parts() -> None:
    sd = next(r for r in definition_resources("R4") if r["id"] == "registry-date")
    assert sd["fhirVersion"] == "4.0.1" and sd["context"] == [{"type": "element", "expression": "ResearchStudy"}]
    slices = [e["sliceName"] for e in sd["differential"]["element"] if "sliceName" in e]
    assert slices == ["milestone", "date", "type"]
    xver = next(r for r in definition_resources("R4") if r["id"] == "extension-ResearchStudy.classifier")
    assert xver["url"] == "http://hl7.org/fhir/5.0/StructureDefinition/extension-ResearchStudy.classifier"
    assert all(r["id"] != "extension-ResearchStudy.classifier" for r in definition_resources("R5"))
    milestones = next(r for r in definition_resources("R5") if r["id"] == "registry-milestone")
    assert [c["code"] for c in milestones["concept"]][:2] == ["study-start", "primary-completion"]
    assert json.dumps(milestones)  # JSON-ready
