"""Every shared ClinicalTrials.gov record converts and validates, with asserted semantics."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ctgov_records import corpus_files, load
from mapping_helpers import drug_lookup, one, resources, unresolved_canonicals, unresolved_references

from fhir_adapter.mapping import business_identifier, to_bundle
from fhir_adapter.mapping.shared import org_key, site_key
from fhir_adapter.trial import TrialRecord

FILES = corpus_files()
pytestmark = pytest.mark.skipif(not FILES, reason="shared ClinicalTrials.gov corpus not present")


@cache
def trial(path: Path) -> TrialRecord:
    return load(path)


@cache
def bundle(path: Path, version: str) -> dict[str, Any]:
    return to_bundle(trial(path), version, drug_lookup=drug_lookup)  # type: ignore[arg-type]


def by_status(status: str) -> list[Path]:
    return [f for f in FILES if trial(f).overall_status == status]


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_record_converts_validates_and_references_resolve(path: Path, version: str) -> None:
    result = bundle(path, version)
    record = trial(path)
    study = one(result, "ResearchStudy")
    assert unresolved_references(result) == []
    assert unresolved_canonicals(result) == []
    # one Location per distinct site (a site listed twice in a record is one), each referenced once
    sites = {site_key(s.facility, s.city, s.country, s.zip) or f"trial-site-{i}" for i, s in
             enumerate(record.locations, 1)}
    assert len(resources(result, "Location")) == len(sites)
    assert len(study.get("site", [])) == len(sites)
    identities = [business_identifier(e["resource"]) for e in result["entry"]]
    assert len(identities) == len(set(identities))  # each conditional identity once per transaction
    arms = study.get("arm" if version == "R4" else "comparisonGroup", [])
    assert len(arms) == len(record.arms)
    assert len(one(result, "PlanDefinition").get("action", [])) == (len(record.arms) or len(record.interventions))
    if record.lead_sponsor:
        key = org_key(record.lead_sponsor.name)
        organization = next(r for r in resources(result, "Organization") if r["identifier"][0]["value"] == key)
        assert organization["name"] == record.lead_sponsor.name


@pytest.mark.parametrize(
    ("status", "r4", "r5"),
    [("COMPLETED", "completed", "completed"), ("TERMINATED", "administratively-completed", "terminated")],
)
def test_corpus_status_mapping(status: str, r4: str, r5: str) -> None:
    files = by_status(status)
    assert files, f"corpus has no {status} record"
    for path in files:
        assert one(bundle(path, "R4"), "ResearchStudy")["status"] == r4
        state = one(bundle(path, "R5"), "ResearchStudy")["progressStatus"][0]["state"]
        assert state["coding"][0]["code"] == r5


def test_corpus_unknown_status_is_visible() -> None:
    files = by_status("UNKNOWN")
    assert files
    for path in files:
        study = one(bundle(path, "R5"), "ResearchStudy")
        assert "UNKNOWN" in study["progressStatus"][0]["state"]["text"]
        r4 = one(bundle(path, "R4"), "ResearchStudy")
        assert {
            "url": "http://fhir-adapter.org/fhir/StructureDefinition/registry-overall-status",
            "valueString": "UNKNOWN",
        } in r4["extension"]


def test_corpus_combined_phases() -> None:
    files = [f for f in FILES if sorted(trial(f).phases) == ["PHASE1", "PHASE2"]]
    assert files
    for path in files:
        assert one(bundle(path, "R4"), "ResearchStudy")["phase"]["coding"][0]["code"] == "phase-1-phase-2"


def test_corpus_age_bounds_in_group() -> None:
    checked = 0
    for path in FILES:
        eligibility = trial(path).eligibility
        group = one(bundle(path, "R4"), "Group")
        ages = [c["valueRange"] for c in group.get("characteristic", []) if c["code"].get("text") == "Age"]
        low = eligibility.minimum_age.value if eligibility.minimum_age else None
        high = eligibility.maximum_age.value if eligibility.maximum_age else None
        if low is None and high is None:
            assert ages == []
            continue
        assert ages[0].get("low", {}).get("value") == low
        assert ages[0].get("high", {}).get("value") == high
        checked += 1
    assert checked > 40
