"""Issue 14 items 3 and 4: registry facts kept and right, in R4 and R5, for the seed trial and three varied
corpus records (NCT03513614: recruiting sites, RESULT reference; NCT02941614: observational, sampling,
behavioral, results posted; NCT04504916: FDA-regulated drug, IPD shared, other names, results posted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ctgov_records import CTGOV_DIR, load, seed_trial
from mapping_helpers import drug_lookup, extension_values, one, resources, site_studies

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping import to_bundle
from fhir_adapter.mapping.narrative import narrative
from fhir_adapter.trial import TrialRecord

VERSIONS = ("R4", "R5")
MESH = "urn:oid:2.16.840.1.113883.6.177"
DESIGN = "http://hl7.org/fhir/study-design"
needs_corpus = pytest.mark.skipif(not CTGOV_DIR.is_dir(), reason="shared corpus absent")


def record(nct: str) -> TrialRecord:
    return load(Path(CTGOV_DIR) / f"{nct}.json")


def bundle(trial: TrialRecord, version: str) -> dict[str, Any]:
    return to_bundle(trial, version, drug_lookup=drug_lookup)  # type: ignore[arg-type]


def dates(study: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    found = {}
    for parts in extension_values(study, C.EXT_REGISTRY_DATE):
        values = {p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in parts}
        found[values["milestone"]] = (values["date"], values.get("type"))
    return found


def parts(study: dict[str, Any], url: str) -> list[tuple[str, Any]]:
    [found] = extension_values(study, url)
    return [(p["url"], next(v for k, v in p.items() if k.startswith("value"))) for p in found]


# ------------------------------------------------------------------------------------------ seed trial


@pytest.mark.parametrize("version", VERSIONS)
def test_seed_dates_narrative_and_codes(version: str) -> None:
    study = one(bundle(seed_trial(), version), "ResearchStudy")
    assert dates(study) == {
        "study-start": ("2024-10-05", None),
        "study-completion": ("2028-10-31", None),
        "last-update-posted": ("2025-09-19", None),
    }
    assert study["text"]["status"] == "generated"
    assert "<li><b>Registry id</b>: NCT06577194</li>" in study["text"]["div"]
    purpose = study["primaryPurposeType"]["coding"][0]["system"]
    assert purpose == {"R4": "http://terminology.hl7.org/CodeSystem/research-study-prim-purp-type",
                       "R5": "http://hl7.org/fhir/research-study-prim-purp-type"}[version]
    objective_types = [t["coding"][0]["system"] for o in study.get("objective", []) for t in [o["type"]]]
    objective_types += [t["coding"][0]["system"] for o in study.get("outcomeMeasure", []) for t in o["type"]]
    assert set(objective_types) <= {{"R4": "http://terminology.hl7.org/CodeSystem/research-study-objective-type",
                                      "R5": "http://hl7.org/fhir/research-study-objective-type"}[version]}


def test_seed_r5_design_is_coded_and_r4_stays_text() -> None:
    r5 = one(bundle(seed_trial(), "R5"), "ResearchStudy")
    model = next(c for c in r5["studyDesign"] if c["text"].startswith("Intervention model"))
    assert model["coding"] == [{"system": DESIGN, "code": "SEVCO:01016", "display": "Uncontrolled cohort design"}]
    assert {"text": "Allocation: N/A"} in r5["studyDesign"]
    r4 = one(bundle(seed_trial(), "R4"), "ResearchStudy")
    assert all("coding" not in c for c in r4["category"])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_seed_resource_has_a_narrative(version: str) -> None:
    for entry in bundle(seed_trial(), version)["entry"]:
        text = entry["resource"]["text"]
        assert text["status"] == "generated"
        assert text["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml"><p><b>')


def test_narrative_escapes_markup_and_control_characters() -> None:
    div = narrative({"resourceType": "Location", "name": "A & B <script>x</script>\x07",
                     "address": {"text": "1 < 2"}})["div"]
    assert "A &amp; B &lt;script&gt;x&lt;/script&gt;</b>" in div
    assert "<li><b>Address</b>: 1 &lt; 2</li>" in div
    assert "\x07" not in div and "<script>" not in div


# ------------------------------------------------------------------------------------------ corpus


@needs_corpus
@pytest.mark.parametrize("version", VERSIONS)
def test_recruiting_sites_become_searchable_site_studies(version: str) -> None:
    result = bundle(record("NCT03513614"), version)
    study = one(result, "ResearchStudy")
    sites = site_studies(result)
    assert len(sites) == 67
    first = sites[0]
    study_url = next(e["fullUrl"] for e in result["entry"] if e["resource"] is study)
    assert first["partOf"][0]["reference"] == study_url
    assert first["title"] == "NCT03513614 at Walter Reed National Military Medical Center"
    assert first["site"][0]["display"] == "Walter Reed National Military Medical Center"
    if version == "R4":
        assert first["status"] == "active"
    else:
        assert first["status"] == "active"
        assert first["progressStatus"][0]["state"]["coding"][0]["code"] == "recruiting"
    assert extension_values(first, C.EXT_SITE_STATUS) == ["RECRUITING"]
    assert dates(study) == {
        "study-start": ("2018-08-07", "ACTUAL"),
        "primary-completion": ("2029-12", "ESTIMATED"),
        "study-completion": ("2036-12", "ESTIMATED"),
        "first-posted": ("2018-05-01", "ACTUAL"),
        "last-update-posted": ("2025-02-03", "ACTUAL"),
        "status-verified": ("2025-01", None),
    }
    assert parts(study, C.EXT_OVERSIGHT) == [
        ("has-dmc", True), ("fda-regulated-drug", False), ("fda-regulated-device", False)]
    assert study["condition"] == [
        {"text": "Node-positive Breast Cancer"},
        {"coding": [{"system": MESH, "code": "D001943", "display": "Breast Neoplasms"}]},
    ]
    result_ref = study["relatedArtifact"][1]
    classifier = {"coding": [{"system": "http://fhir-adapter.org/fhir/CodeSystem/registry-reference-type",
                              "code": "RESULT", "display": "Result"}]}
    assert result_ref["display"] == "PMID 34555676"
    if version == "R5":
        assert result_ref["classifier"] == [classifier]
        assert [c["coding"][0]["code"] for c in study["studyDesign"] if "coding" in c] == [
            "SEVCO:01001", "SEVCO:01003", "SEVCO:01011"]
    else:
        assert extension_values(result_ref, C.XVER_ARTIFACT_CLASSIFIER) == [classifier]
    radiotherapy = study["focus"][1]["concept"] if version == "R5" else study["focus"][1]
    assert radiotherapy["coding"][0]["code"] == "108290001"


@needs_corpus
@pytest.mark.parametrize("version", VERSIONS)
def test_observational_population_sampling_results_and_behavioral_type(version: str) -> None:
    result = bundle(record("NCT02941614"), version)
    study = one(result, "ResearchStudy")
    assert dates(study)["results-first-posted"] == ("2020-07-07", "ACTUAL")
    assert dates(study)["first-posted"] == ("2016-10-21", "ESTIMATED")
    assert extension_values(study, C.EXT_HAS_RESULTS) == [True]
    results = study["relatedArtifact"][-1]
    url = "https://clinicaltrials.gov/study/NCT02941614?tab=results"
    assert (results["document"]["url"] if version == "R5" else results["url"]) == url
    assert parts(study, C.EXT_IPD_SHARING) == [("sharing", "NO")]
    assert study["condition"][0]["text"] == "Breast Cancer"
    assert {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C50",
            "display": "Malignant neoplasm of breast"} in study["condition"][0]["coding"]
    group = one(result, "Group")
    assert extension_values(group, C.EXT_SAMPLING_METHOD) == ["NON_PROBABILITY_SAMPLE"]
    assert extension_values(group, C.EXT_STUDY_POPULATION)[0].startswith("Newly diagnosed breast cancer patients")
    [activity] = resources(result, "ActivityDefinition")
    assert extension_values(activity, C.EXT_INTERVENTION_TYPE) == ["BEHAVIORAL"]
    assert activity["kind"] == "ServiceRequest"
    assert site_studies(result) == []
    if version == "R5":
        assert study["studyDesign"][0]["coding"][0]["code"] == "SEVCO:01002"


@needs_corpus
@pytest.mark.parametrize("version", VERSIONS)
def test_fda_classifier_ipd_responsible_party_and_other_names(version: str) -> None:
    result = bundle(record("NCT04504916"), version)
    study = one(result, "ResearchStudy")
    fda = {"coding": [{"system": "http://hl7.org/fhir/research-study-classifiers", "code": "fda-regulated-drug",
                       "display": "FDA regulated drug"}]}
    if version == "R5":
        assert study["classifier"] == [fda]
    else:
        assert extension_values(study, C.XVER_CLASSIFIER) == [fda]
        assert extension_values(study, C.XVER_RECRUITMENT) == [[{"url": "actualNumber", "valueUnsignedInt": 102}]]
    ipd = dict(parts(study, C.EXT_IPD_SHARING))
    assert ipd["sharing"] == "YES" and ipd["description"].startswith("http://engagezone.msd.com")
    assert parts(study, C.EXT_RESPONSIBLE_PARTY) == [("type", "SPONSOR")]
    assert study["condition"][0] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "706970001",
                    "display": "Triple negative malignant neoplasm of breast (disorder)"}],
        "text": "Triple-negative Breast Cancer",
    }
    assert study["condition"][2] == {"text": "NSCLC"}  # not one disease the lexicon reads whole: text only
    mesh_only = [c for c in study["condition"] if "text" not in c]
    assert [c["coding"][0]["code"] for c in mesh_only] == ["D064726", "D013274", "D010190"]
    activity = resources(result, "ActivityDefinition")[0]
    assert extension_values(activity, C.EXT_INTERVENTION_OTHER_NAME) == ["MK-2140", "VLS-101"]
    assert extension_values(activity, C.EXT_INTERVENTION_TYPE) == ["DRUG"]
    assert dates(study)["results-first-posted"] == ("2024-08-15", "ACTUAL")


def test_focus_carries_the_activity_definition_codes() -> None:
    trial = seed_trial()
    for version in VERSIONS:
        result = bundle(trial, version)
        study = one(result, "ResearchStudy")
        focus = [f["concept"] if version == "R5" else f for f in study["focus"]]
        radiotherapy = next(f for f in focus if f["text"] == "Short-course radiotherapy")
        activity = next(r for r in resources(result, "ActivityDefinition") if r["title"] == "Short-course radiotherapy")
        assert radiotherapy["coding"] == activity["code"]["coding"]
