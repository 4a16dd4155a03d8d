"""The ``resultsSection`` of a ClinicalTrials.gov API v2 study -> :class:`TrialResults`.

Participant flow, baseline characteristics, outcome measures (values per group, analyses) and adverse-event
totals per group. Figures stay text as the registry gives them (``"44.5"``, ``"NA"``). Read with the typed
reader of :mod:`fhir_adapter.ingest.ctgov_json`, so a wrong type names the file and the JSON path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fhir_adapter.trial import (
    AdverseEventGroup,
    AdverseEvents,
    Baseline,
    Denominator,
    FlowPeriod,
    FlowStep,
    GroupValue,
    ParticipantFlow,
    ResultCategory,
    ResultGroup,
    ResultMeasure,
    StatisticalAnalysis,
    TrialResults,
)

if TYPE_CHECKING:  # the reader's module imports this one
    from fhir_adapter.ingest.ctgov_json import _Obj, _Reader

def read_results(reader: _Reader, section: _Obj) -> TrialResults | None:
    if not section.data:
        return None
    flow = reader.obj(section, "participantFlowModule")
    baseline = reader.obj(section, "baselineCharacteristicsModule")
    events = reader.obj(section, "adverseEventsModule")
    return TrialResults(
        participant_flow=_read_flow(reader, flow) if flow.data else None,
        baseline=_read_baseline(reader, baseline) if baseline.data else None,
        outcome_measures=[
            _read_measure(reader, node, outcome=True)
            for node in reader.objs(reader.obj(section, "outcomeMeasuresModule"), "outcomeMeasures")
        ],
        adverse_events=_read_adverse_events(reader, events) if events.data else None,
        limitations=reader.text(reader.obj(reader.obj(section, "moreInfoModule"), "limitationsAndCaveats"),
                                "description"),
    )


def _groups(reader: _Reader, parent: _Obj, key: str = "groups") -> list[ResultGroup]:
    return [
        ResultGroup(id=reader.required_text(node, "id"), title=reader.text(node, "title") or "",
                    description=reader.text(node, "description"))
        for node in reader.objs(parent, key)
    ]


def _value(reader: _Reader, node: _Obj, key: str) -> GroupValue:
    return GroupValue(
        group_id=reader.required_text(node, "groupId"),
        value=reader.text(node, key),
        spread=reader.text(node, "spread"),
        lower_limit=reader.text(node, "lowerLimit"),
        upper_limit=reader.text(node, "upperLimit"),
        comment=reader.text(node, "comment"),
    )


def _denominators(reader: _Reader, parent: _Obj) -> list[Denominator]:
    return [
        Denominator(units=reader.text(node, "units"),
                    counts=[_value(reader, count, "value") for count in reader.objs(node, "counts")])
        for node in reader.objs(parent, "denoms")
    ]


def _read_flow(reader: _Reader, module: _Obj) -> ParticipantFlow:
    def step(node: _Obj, label_key: str, list_key: str, value_key: str) -> FlowStep:
        return FlowStep(label=reader.text(node, label_key) or "",
                        counts=[_value(reader, item, value_key) for item in reader.objs(node, list_key)])

    periods = [
        FlowPeriod(
            title=reader.text(period, "title"),
            milestones=[step(node, "type", "achievements", "numSubjects")
                        for node in reader.objs(period, "milestones")],
            withdrawals=[step(node, "type", "reasons", "numSubjects")
                         for node in reader.objs(period, "dropWithdraws")],
        )
        for period in reader.objs(module, "periods")
    ]
    return ParticipantFlow(
        groups=_groups(reader, module),
        periods=periods,
        recruitment_details=reader.text(module, "recruitmentDetails"),
        pre_assignment_details=reader.text(module, "preAssignmentDetails"),
    )


def _read_baseline(reader: _Reader, module: _Obj) -> Baseline:
    return Baseline(
        groups=_groups(reader, module),
        denominators=_denominators(reader, module),
        population_description=reader.text(module, "populationDescription"),
        measures=[_read_measure(reader, node, outcome=False) for node in reader.objs(module, "measures")],
    )


def _rows(reader: _Reader, measure: _Obj) -> list[ResultCategory]:
    return [
        ResultCategory(
            class_title=reader.text(klass, "title"),
            title=reader.text(category, "title"),
            values=[_value(reader, node, "value") for node in reader.objs(category, "measurements")],
        )
        for klass in reader.objs(measure, "classes")
        for category in reader.objs(klass, "categories")
    ]


def _read_measure(reader: _Reader, node: _Obj, *, outcome: bool) -> ResultMeasure:
    return ResultMeasure(
        title=reader.required_text(node, "title"),
        kind=reader.text(node, "type") if outcome else None,
        description=reader.text(node, "description"),
        time_frame=reader.text(node, "timeFrame"),
        population_description=reader.text(node, "populationDescription"),
        reporting_status=reader.text(node, "reportingStatus"),
        param_type=reader.text(node, "paramType"),
        dispersion_type=reader.text(node, "dispersionType"),
        unit=reader.text(node, "unitOfMeasure"),
        groups=_groups(reader, node),
        denominators=_denominators(reader, node),
        rows=_rows(reader, node),
        analyses=[_read_analysis(reader, item) for item in reader.objs(node, "analyses")],
    )


def _read_analysis(reader: _Reader, node: _Obj) -> StatisticalAnalysis:
    return StatisticalAnalysis(
        group_ids=reader.texts(node, "groupIds"),
        description=reader.text(node, "groupDescription"),
        method=reader.text(node, "statisticalMethod"),
        p_value=reader.text(node, "pValue"),
        param_type=reader.text(node, "paramType"),
        param_value=reader.text(node, "paramValue"),
        ci_percent=reader.text(node, "ciPctValue"),
        ci_lower=reader.text(node, "ciLowerLimit"),
        ci_upper=reader.text(node, "ciUpperLimit"),
        non_inferiority_type=reader.text(node, "nonInferiorityType"),
    )


def _read_adverse_events(reader: _Reader, module: _Obj) -> AdverseEvents:
    groups = [
        AdverseEventGroup(
            id=reader.required_text(node, "id"),
            title=reader.text(node, "title") or "",
            description=reader.text(node, "description"),
            deaths_affected=reader.integer(node, "deathsNumAffected"),
            deaths_at_risk=reader.integer(node, "deathsNumAtRisk"),
            serious_affected=reader.integer(node, "seriousNumAffected"),
            serious_at_risk=reader.integer(node, "seriousNumAtRisk"),
            other_affected=reader.integer(node, "otherNumAffected"),
            other_at_risk=reader.integer(node, "otherNumAtRisk"),
        )
        for node in reader.objs(module, "eventGroups")
    ]
    return AdverseEvents(
        time_frame=reader.text(module, "timeFrame"),
        description=reader.text(module, "description"),
        frequency_threshold=reader.text(module, "frequencyThreshold"),
        groups=groups,
        serious_event_terms=len(reader.objs(module, "seriousEvents")),
        other_event_terms=len(reader.objs(module, "otherEvents")),
    )
