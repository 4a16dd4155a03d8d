from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.ingest import iter_text, iter_trials, load_trial
from fhir_adapter.ingest.ctgov_json import parse_study
from tests.ingest.helpers import SHARED_CTGOV, minimal_study, sample_study


def test_pallas_sample_fields() -> None:
    record = parse_study(sample_study("NCT02513394"), "NCT02513394.json")
    assert record.nct_id == "NCT02513394"
    assert record.acronym == "PALLAS"
    assert record.org_study_id == "AFT-05"
    assert record.overall_status == "ACTIVE_NOT_RECRUITING"
    assert record.phases == ["PHASE3"]
    assert record.enrollment_count == 5796 and record.enrollment_type == "ACTUAL"
    assert record.start_date is not None and record.start_date.date == "2015-08" and record.start_date.type is None
    assert record.completion_date is not None and record.completion_date.type == "ESTIMATED"
    assert record.eligibility.minimum_age is not None and record.eligibility.minimum_age.unit == "a"
    assert record.eligibility.maximum_age is None
    assert len(record.arms) == 2 and record.arms[0].intervention_names == [
        "Drug: Palbociclib",
        "Drug: Standard Adjuvant Endocrine Therapy",
    ]
    assert record.interventions[1].arm_labels == ["Arm A", "Arm B"]
    assert len(record.locations) == 437, "locations_nested (not a registry field) must not be read"
    assert record.locations[0].geo is not None and record.locations[0].geo.lat == pytest.approx(30.69436)
    assert record.lead_sponsor is not None and record.lead_sponsor.agency_class == "OTHER"
    assert len(record.collaborators) == 5
    assert record.condition_mesh_terms[0].term == "Breast Neoplasms"
    assert record.intervention_mesh_terms[0].id == "C000500026"
    assert record.warnings == []


@pytest.mark.parametrize(
    ("nct_id", "status", "last_known", "phases", "ages", "arms", "locations", "sponsor"),
    [
        ("NCT00109785", "COMPLETED", None, ["PHASE1"], ("18 Years", "120 Years"), 1, 1,
         "Memorial Sloan Kettering Cancer Center"),
        ("NCT00184067", "TERMINATED", None, ["PHASE2"], ("18 Years", None), 2, 1, "University of Southern California"),
        ("NCT00750126", "UNKNOWN", "RECRUITING", ["PHASE2"], (None, "20 Years"), 0, 1,
         "University Hospital, Clermont-Ferrand"),
        ("NCT05070247", "TERMINATED", None, ["PHASE1", "PHASE2"], ("18 Years", None), 9, 12, "Takeda"),
        ("NCT03202316", "ACTIVE_NOT_RECRUITING", None, ["PHASE2"], ("18 Years", None), 2, 1,
         "M.D. Anderson Cancer Center"),
    ],
)
def test_sample_records(
    nct_id: str,
    status: str,
    last_known: str | None,
    phases: list[str],
    ages: tuple[str | None, str | None],
    arms: int,
    locations: int,
    sponsor: str,
) -> None:
    record = parse_study(sample_study(nct_id), f"{nct_id}.json")
    assert (record.overall_status, record.last_known_status, record.phases) == (status, last_known, phases)
    minimum, maximum = record.eligibility.minimum_age, record.eligibility.maximum_age
    assert (minimum.raw if minimum else None, maximum.raw if maximum else None) == ages
    assert (len(record.arms), len(record.locations)) == (arms, locations)
    assert record.lead_sponsor is not None and record.lead_sponsor.name == sponsor


def test_criteria_unescaped_and_raw_kept() -> None:
    record = parse_study(sample_study("NCT03202316"), "x.json")
    raw, criteria = record.eligibility.criteria_raw, record.eligibility.criteria
    assert raw is not None and criteria is not None
    assert "\\>=" in raw and "\\[" in raw
    assert "ANC) >= 1500" in criteria and "\\" not in criteria
    assert record.brief_summary == sample_study("NCT03202316")["protocolSection"]["descriptionModule"]["briefSummary"]


def test_outcomes_kinds_and_officials_and_contacts() -> None:
    record = parse_study(sample_study("NCT05070247"), "x.json")
    kinds = {outcome.kind for outcome in record.outcomes}
    assert "primary" in kinds and "secondary" in kinds
    assert len(record.outcomes) == 26
    assert all(official.role for official in record.officials)


def test_unknown_enum_kept_with_warning() -> None:
    study = minimal_study(statusModule={"overallStatus": "ON_HOLD"})
    study["protocolSection"]["designModule"]["phases"] = ["PHASE2", "PHASE5"]
    record = parse_study(study, "odd.json")
    assert record.overall_status == "ON_HOLD"
    assert record.phases == ["PHASE2", "PHASE5"]
    assert any("protocolSection.statusModule.overallStatus" in w and "ON_HOLD" in w for w in record.warnings)
    assert any("protocolSection.designModule.phases[1]" in w for w in record.warnings)


def test_last_known_status_is_not_overall_status() -> None:
    study = minimal_study(statusModule={"overallStatus": "UNKNOWN", "lastKnownStatus": "RECRUITING"})
    record = parse_study(study, "x.json")
    assert (record.overall_status, record.last_known_status) == ("UNKNOWN", "RECRUITING")


def test_missing_modules_give_empty_fields() -> None:
    record = parse_study({"protocolSection": {}}, "x.json")
    assert record.nct_id is None and record.arms == [] and record.lead_sponsor is None


@pytest.mark.parametrize(
    ("module", "value", "field"),
    [
        ("designModule", {"phases": 3}, "protocolSection.designModule.phases"),
        ("designModule", {"enrollmentInfo": {"count": "x"}}, "protocolSection.designModule.enrollmentInfo.count"),
        ("designModule", {"enrollmentInfo": {"count": True}}, "protocolSection.designModule.enrollmentInfo.count"),
        ("eligibilityModule", {"minimumAge": "old"}, "protocolSection.eligibilityModule.minimumAge"),
        ("eligibilityModule", {"healthyVolunteers": "No"}, "protocolSection.eligibilityModule.healthyVolunteers"),
        ("statusModule", {"startDateStruct": {"date": "soon"}}, "protocolSection.statusModule.startDateStruct.date"),
        ("contactsLocationsModule", {"locations": [{"geoPoint": {"lat": "n"}}]},
         "protocolSection.contactsLocationsModule.locations[0].geoPoint.lat"),
        ("armsInterventionsModule", {"armGroups": [{"type": "OTHER"}]},
         "protocolSection.armsInterventionsModule.armGroups[0].label"),
        ("identificationModule", [], "protocolSection.identificationModule"),
    ],
)
def test_wrong_types_name_file_and_field(module: str, value: Any, field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_study(minimal_study(**{module: value}), "bad.json")
    assert caught.value.source == "bad.json"
    assert caught.value.field == field
    assert caught.value.one_line().startswith(f"bad.json: {field}: ")


def test_not_a_study_names_file() -> None:
    (result,) = list(iter_text('{"hello": 1}', "greeting.json"))
    assert isinstance(result, InputError) and result.source == "greeting.json"


def test_studies_page_and_list_and_ndjson() -> None:
    good, other = minimal_study(), minimal_study(identificationModule={"nctId": "NCT00000002"})
    page = json.dumps({"studies": [good, {"protocolSection": {"designModule": {"phases": 3}}}, other]})
    results = list(iter_text(page, "page.json"))
    assert [type(r).__name__ for r in results] == ["TrialRecord", "InputError", "TrialRecord"]
    assert isinstance(results[1], InputError) and results[1].field == "studies[1].protocolSection.designModule.phases"
    ndjson = "\n".join([json.dumps(good), "{broken", "", json.dumps(other)])
    results = list(iter_text(ndjson, "many.ndjson"))
    assert [type(r).__name__ for r in results] == ["TrialRecord", "InputError", "TrialRecord"]
    assert isinstance(results[1], InputError) and results[1].source == "many.ndjson:2"
    assert [r.nct_id for r in iter_text(json.dumps([good, other]), "list.json") if not isinstance(r, InputError)] == [
        "NCT00000001",
        "NCT00000002",
    ]


def test_load_trial_from_text_and_path(tmp_path: Path) -> None:
    text = json.dumps(minimal_study())
    assert load_trial(text).nct_id == "NCT00000001"
    path = tmp_path / "one.json"
    path.write_text(text, encoding="utf-8")
    assert load_trial(path).source == str(path)
    assert load_trial(str(path)).eligibility.criteria == "* ANC >= 1.5 x 10^9/L"


@pytest.mark.skipif(not SHARED_CTGOV.is_dir(), reason="shared ClinicalTrials.gov corpus not available")
def test_every_shared_record_ingests() -> None:
    results = list(iter_trials(SHARED_CTGOV))
    errors = [r for r in results if isinstance(r, InputError)]
    assert errors == []
    records = [r for r in results if not isinstance(r, InputError)]
    assert len(records) == len(list(SHARED_CTGOV.glob("*.json"))) == 81
    assert all(r.nct_id and r.overall_status and r.lead_sponsor for r in records)
    assert all(r.warnings == [] for r in records), "every corpus token is a known enum value"


# --- fuzzing: whatever the JSON, only the project's errors come out -------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


_BASE = sample_study("NCT05070247")
_BASE_PATHS = _paths(_BASE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_BASE_PATHS), _json_values), min_size=1, max_size=4))
def test_mutated_json_raises_only_project_errors(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    study = json.loads(json.dumps(_BASE))
    for path, value in mutations:
        try:
            _replace(study, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    try:
        record = parse_study(study, "fuzz.json")
    except FhirAdapterError:
        return
    record.model_dump(mode="json")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300) | _json_values.map(json.dumps))
def test_arbitrary_text_as_json_raises_only_project_errors(text: str) -> None:
    for result in iter_text(text, "fuzz.json", "ctgov-json"):
        assert isinstance(result, FhirAdapterError) or result.source_format == "ctgov-json"
