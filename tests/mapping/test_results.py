"""Issue 14, results: posted results in R5 (EvidenceReport, EvidenceVariable per outcome measure,
ResearchStudy.result / outcomeMeasure.reference) and R4 (DiagnosticReport through the cross-version extension
ResearchStudy.result), on two records with results: NCT02513394 (PALLAS, two arms, bundled sample) and
NCT01147016 (single group, non-numeric confidence limit; shared corpus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ctgov_records import CTGOV_DIR, SAMPLES, load, seed_trial
from mapping_helpers import drug_lookup, one, resources

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping import to_bundle
from fhir_adapter.mapping.results import quantity
from fhir_adapter.trial import TrialRecord

needs_corpus = pytest.mark.skipif(not CTGOV_DIR.is_dir(), reason="shared corpus absent")
PALLAS = "NCT02513394"
ARM_A = "Palbociclib Plus Endocrine Therapy (Arm A)"
ARM_B = "Endocrine Therapy Alone (Arm B)"


def pallas() -> TrialRecord:
    return load(SAMPLES / "ctgov" / f"{PALLAS}.json")


def bundle(trial: TrialRecord, version: str) -> dict[str, Any]:
    return to_bundle(trial, version, drug_lookup=drug_lookup)  # type: ignore[arg-type]


def titled(sections: list[dict[str, Any]], title: str) -> dict[str, Any]:
    [found] = [s for s in sections if s.get("title") == title]
    return found


def figures(node: dict[str, Any]) -> dict[str, Any]:
    """Group title -> the figure of each leaf section under ``node``."""
    return {s["title"]: s["entryQuantity"][0]["value"] for s in node["section"] if "entryQuantity" in s}


def by_full_url(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in found["entry"]}


def test_r5_research_study_references_the_report_and_outcome_variables() -> None:
    found = bundle(pallas(), "R5")
    study = one(found, "ResearchStudy")
    entries = by_full_url(found)
    [result] = study["result"]
    report = entries[result["reference"]]
    assert report["resourceType"] == "EvidenceReport" and report["status"] == "active"
    # every protocol outcome found its posted measure (same type and title)
    variables = [entries[o["reference"]["reference"]] for o in study["outcomeMeasure"]]
    assert [v["resourceType"] for v in variables] == ["EvidenceVariable"] * 5
    assert variables[0]["title"] == "Invasive Disease Free Survival (iDFS)"
    assert variables[3]["title"] == "Overall Survival (OS)"
    assert variables[0]["note"] == [{"text": f"Primary outcome of {PALLAS}"}]
    # the report's outcome sections point at the same variables
    outcomes = titled(report["section"], "Outcome measures")["section"]
    assert [s["focusReference"]["reference"] for s in outcomes] == [o["reference"]["reference"]
                                                                     for o in study["outcomeMeasure"]]


def test_r5_report_carries_flow_baseline_outcomes_and_adverse_events() -> None:
    report = one(bundle(pallas(), "R5"), "EvidenceReport")
    assert report["relatedIdentifier"] == [{"system": C.NCT_SYSTEM, "value": PALLAS}]
    assert report["note"] == [{"text": "Results first submitted 2022-02-01; results first posted 2022-04-13 "
                                       "(actual) on ClinicalTrials.gov."}]
    page = f"https://clinicaltrials.gov/study/{PALLAS}?tab=results"
    display = f"Results of {PALLAS} on ClinicalTrials.gov"
    assert report["relatedArtifact"] == [{"type": "documentation", "display": display, "document": {"url": page}}]
    assert report["subject"]["note"][0]["text"].startswith(
        "Posted results: 5 outcome measures (1 primary), participant flow, 4 baseline characteristics, "
        f"adverse-event totals. Study {PALLAS}: ")
    sections = report["section"]
    assert [s["title"] for s in sections] == ["Participant flow", "Baseline characteristics", "Outcome measures",
                                             "Adverse events"]
    period = titled(titled(sections, "Participant flow")["section"], "Overall Study")
    assert figures(titled(period["section"], "Started")) == {ARM_A: 2896, ARM_B: 2900}
    assert figures(titled(period["section"], "Not completed: Withdrawal by Subject")) == {ARM_A: 11, ARM_B: 23}
    assert titled(period["section"], "Started")["section"][0]["entryQuantity"] == [
        {"value": 2896, "unit": "participants"}]
    baseline = titled(sections, "Baseline characteristics")["section"]
    assert figures(titled(baseline, "Analysed (Participants)")) == {ARM_A: 2884, ARM_B: 2877, "Total": 5761}
    sex = titled(baseline, "Sex: Female, Male")
    assert figures(titled(sex["section"], "Male")) == {ARM_A: 17, ARM_B: 19, "Total": 36}
    assert "Count of participants, Participants" in sex["text"]["div"]
    primary = titled(titled(sections, "Outcome measures")["section"], "Invasive Disease Free Survival (iDFS)")
    assert figures(primary) == {ARM_A: 84.2, ARM_B: 84.5}
    assert primary["section"][-1]["entryQuantity"] == [{"value": 84.5, "unit": "percentage of participants"}]
    assert "Hazard Ratio (HR) 0.96" in primary["text"]["div"] and "p = 0.65" in primary["text"]["div"]
    events = titled(sections, "Adverse events")["text"]["div"]
    assert "<th>Deaths</th><td>99 of 2841</td>" in events
    assert "341 serious and 1688 other adverse event terms" in events


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_report_narrative_is_the_readable_record(version: str) -> None:
    report = one(bundle(pallas(), version), "EvidenceReport" if version == "R5" else "DiagnosticReport")
    div = report["text"]["div"]
    assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Posted results of NCT02513394: ')
    assert f"<tr><th/><th>{ARM_A}</th><th>{ARM_B}</th></tr><tr><th>Started</th><td>2896</td><td>2900</td></tr>" in div
    assert "<h4>Overall Survival (OS)</h4>" in div and "<td>93.8</td><td>95.2</td>" in div


def test_r4_diagnostic_report_through_the_cross_version_extension() -> None:
    found = bundle(pallas(), "R4")
    study = one(found, "ResearchStudy")
    [ref] = [e["valueReference"] for e in study["extension"] if e["url"] == C.XVER_RESULT]
    report = by_full_url(found)[ref["reference"]]
    assert report["resourceType"] == "DiagnosticReport" and report["status"] == "final"
    assert report["code"] == {"text": "Posted results of a clinical trial (ClinicalTrials.gov)"}
    assert report["conclusion"] == (
        "Posted results: 5 outcome measures (1 primary), participant flow, 4 baseline characteristics, "
        "adverse-event totals. Results first submitted 2022-02-01; results first posted 2022-04-13 (actual) "
        "on ClinicalTrials.gov.")
    # R4 has no outcomeMeasure.reference: no outcome EvidenceVariables, objectives unchanged
    assert resources(found, "EvidenceVariable") == []
    assert all("reference" not in o for o in study["objective"])


@needs_corpus
def test_single_group_record_keeps_non_numeric_limits_as_text() -> None:
    trial = load(Path(CTGOV_DIR) / "NCT01147016.json")
    report = one(bundle(trial, "R5"), "EvidenceReport")
    outcomes = titled(report["section"], "Outcome measures")["section"]
    pfs = titled(outcomes, "Progression-free Survival")
    [leaf] = [s for s in pfs["section"] if s["title"] == "Activated T Cells"]
    assert leaf["entryQuantity"] == [{"value": 43, "unit": "months"}]
    assert leaf["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml"><p>43 (2 to NA) [The sample')
    age = titled(titled(report["section"], "Baseline characteristics")["section"], "Age, Continuous")
    # a measure with one untitled row has the group figures directly
    assert age["section"][0]["title"] == "Treated" and age["section"][0]["entryQuantity"][0]["value"] == 44.5
    r4 = one(bundle(trial, "R4"), "DiagnosticReport")
    assert r4["conclusion"].startswith("Posted results: 2 outcome measures (1 primary), participant flow")


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_no_results_no_report(version: str) -> None:
    found = bundle(seed_trial(), version)
    assert resources(found, "EvidenceReport") == resources(found, "DiagnosticReport") == []
    study = one(found, "ResearchStudy")
    assert "result" not in study
    assert all(e["url"] != C.XVER_RESULT for e in study.get("extension", []))


@pytest.mark.parametrize(("text", "unit", "expected"), [
    ("44.5", "years", {"value": 44.5, "unit": "years"}),
    ("-3", None, {"value": -3}),
    ("NA", "months", None),
    ("1.2e3", None, None),
    (None, None, None),
])
def test_quantity_only_from_plain_numbers(text: str | None, unit: str | None, expected: Any) -> None:
    assert quantity(text, unit) == expected
