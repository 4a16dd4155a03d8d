"""The resultsSection of API v2 JSON (fhir_adapter/ingest/ctgov_json_results.py)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.ingest.ctgov_json import parse_study
from tests.ingest.helpers import SHARED_CTGOV, minimal_study, sample_study

PALLAS = sample_study("NCT02513394")


def test_pallas_results() -> None:
    record = parse_study(PALLAS, "NCT02513394.json")
    assert record.has_results is True
    assert record.results_first_submitted_date == "2022-02-01"
    assert record.results_first_posted_date is not None
    assert (record.results_first_posted_date.date, record.results_first_posted_date.type) == ("2022-04-13", "ACTUAL")
    results = record.results
    assert results is not None
    flow = results.participant_flow
    assert flow is not None and [g.id for g in flow.groups] == ["FG000", "FG001"]
    [period] = flow.periods
    assert [(m.label, [c.value for c in m.counts]) for m in period.milestones] == [
        ("STARTED", ["2896", "2900"]), ("COMPLETED", ["2884", "2877"]), ("NOT COMPLETED", ["12", "23"])]
    assert (period.withdrawals[0].label, [c.value for c in period.withdrawals[0].counts]) == (
        "Withdrawal by Subject", ["11", "23"])
    baseline = results.baseline
    assert baseline is not None and [g.title for g in baseline.groups][-1] == "Total"
    assert [c.value for c in baseline.denominators[0].counts] == ["2884", "2877", "5761"]
    sex = baseline.measures[1]
    assert (sex.title, sex.param_type, sex.unit) == ("Sex: Female, Male", "COUNT_OF_PARTICIPANTS", "Participants")
    assert [(r.title, [v.value for v in r.values]) for r in sex.rows][1] == ("Male", ["17", "19", "36"])
    primary = results.outcome_measures[0]
    assert (primary.kind, primary.title, primary.reporting_status) == (
        "PRIMARY", "Invasive Disease Free Survival (iDFS)", "POSTED")
    assert [v.value for v in primary.rows[0].values] == ["84.2", "84.5"]
    [analysis] = primary.analyses
    assert (analysis.param_type, analysis.param_value, analysis.p_value, analysis.group_ids) == (
        "Hazard Ratio (HR)", "0.96", "0.65", ["OG000", "OG001"])
    events = results.adverse_events
    assert events is not None
    assert (events.groups[0].deaths_affected, events.groups[0].deaths_at_risk) == (99, 2841)
    assert (events.serious_event_terms, events.other_event_terms) == (341, 1688)


def test_no_results_section_no_results() -> None:
    assert parse_study(minimal_study(), "small.json").results is None


def _with_results(results: Any) -> dict[str, Any]:
    study = minimal_study()
    study["resultsSection"] = results
    return study


@pytest.mark.parametrize(("results", "field"), [
    ({"participantFlowModule": {"periods": [{"milestones": [{"achievements": [{"numSubjects": "3"}]}]}]}},
     "resultsSection.participantFlowModule.periods[0].milestones[0].achievements[0].groupId"),
    ({"adverseEventsModule": {"eventGroups": [{"id": "EG000", "deathsNumAffected": "one"}]}},
     "resultsSection.adverseEventsModule.eventGroups[0].deathsNumAffected"),
    ({"outcomeMeasuresModule": {"outcomeMeasures": [{"title": 7}]}},
     "resultsSection.outcomeMeasuresModule.outcomeMeasures[0].title"),
])
def test_wrong_result_types_name_the_path(results: Any, field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_study(_with_results(results), "bad.json")
    assert caught.value.field == field


@pytest.mark.skipif(not SHARED_CTGOV.is_dir(), reason="shared ClinicalTrials.gov corpus not available")
def test_every_corpus_record_with_results_has_them_read() -> None:
    with_results = []
    for path in sorted(SHARED_CTGOV.glob("*.json")):
        record = parse_study(json.loads(path.read_text(encoding="utf-8")), str(path))
        assert (record.results is not None) == bool(record.has_results)
        if record.results is not None:
            with_results.append(record)
            assert record.results.outcome_measures and record.results.participant_flow is not None
    assert len(with_results) == 18


_RESULT_VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.lists(st.integers(), max_size=2)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:2]):
            found += _paths(value, (*prefix, index))
    return found


_RESULT_PATHS = [("resultsSection", *p) for p in _paths(PALLAS["resultsSection"])]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_RESULT_PATHS), _RESULT_VALUES)
def test_mutated_results_raise_only_project_errors(path: tuple[Any, ...], value: Any) -> None:
    study = json.loads(json.dumps(PALLAS))
    node = study
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with contextlib.suppress(FhirAdapterError):
        parse_study(study, "fuzz.json").model_dump(mode="json")
