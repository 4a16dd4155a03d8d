"""The ``<clinical_results>`` of a legacy ``<clinical_study>`` XML -> :class:`TrialResults`.

The same record as the API v2 ``resultsSection`` (see :mod:`fhir_adapter.ingest.ctgov_json_results`):
``participant_flow`` (``group_list``, ``period_list/period/milestone_list``, ``drop_withdraw_reason_list``; counts
in ``participants/@count``), ``baseline`` and each ``outcome`` (``measure`` with ``analyzed_list`` and
``class_list/class/category_list/category/measurement_list/measurement`` attributes), ``analysis_list`` and
``reported_events``. Legacy labels (``Median``, ``Inter-Quartile Range``, ``Primary``) become the API v2 tokens
through ``mappings/ctgov_enums.yaml`` (legacy_xml); an unknown label is kept and reported. Adverse-event totals
come from the category the legacy format titles ``Total`` (its one event holds the per-group totals); deaths are
not in the legacy format's totals.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

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

Label = Callable[[str, str | None, str], str | None]
"""(legacy table, label, path) -> the API v2 token, or the label itself (reported) when unknown."""

_TOTAL_CATEGORY = "Total"  # legacy reported_events: the category whose event carries the per-group totals


def _text(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    text = " ".join("".join(element.itertext()).split())
    return text or None


def _at(node: ET.Element | None, path: str) -> str | None:
    return _text(node.find(path)) if node is not None else None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def read_results(node: ET.Element | None, label: Label) -> TrialResults | None:
    if node is None:
        return None
    flow, baseline, events = node.find("participant_flow"), node.find("baseline"), node.find("reported_events")
    return TrialResults(
        participant_flow=_flow(flow) if flow is not None else None,
        baseline=_baseline(baseline, label) if baseline is not None else None,
        outcome_measures=[_outcome(o, label) for o in node.findall("outcome_list/outcome")],
        adverse_events=_events(events) if events is not None else None,
        limitations=_at(node, "limitations_and_caveats"),
    )


def _groups(node: ET.Element) -> list[ResultGroup]:
    return [ResultGroup(id=g.get("group_id", ""), title=_at(g, "title") or "", description=_at(g, "description"))
            for g in node.findall("group_list/group")]


def _step(node: ET.Element) -> FlowStep:
    counts = [GroupValue(group_id=p.get("group_id", ""), value=p.get("count"), comment=_text(p))
              for p in node.findall("participants_list/participants")]
    return FlowStep(label=_at(node, "title") or "", counts=counts)


def _flow(node: ET.Element) -> ParticipantFlow:
    periods = [
        FlowPeriod(
            title=_at(period, "title"),
            milestones=[_step(m) for m in period.findall("milestone_list/milestone")],
            withdrawals=[_step(w) for w in period.findall("drop_withdraw_reason_list/drop_withdraw_reason")],
        )
        for period in node.findall("period_list/period")
    ]
    return ParticipantFlow(groups=_groups(node), periods=periods, recruitment_details=_at(node, "recruitment_details"),
                           pre_assignment_details=_at(node, "pre_assignment_details"))


def _denominators(node: ET.Element) -> list[Denominator]:
    return [
        Denominator(units=_at(a, "units"), counts=[GroupValue(group_id=c.get("group_id", ""), value=c.get("value"))
                                                   for c in a.findall("count_list/count")])
        for a in node.findall("analyzed_list/analyzed")
    ]


def _rows(measure: ET.Element) -> list[ResultCategory]:
    return [
        ResultCategory(
            class_title=_at(klass, "title"),
            title=_at(category, "title"),
            values=[GroupValue(group_id=m.get("group_id", ""), value=m.get("value"), spread=m.get("spread"),
                               lower_limit=m.get("lower_limit"), upper_limit=m.get("upper_limit"), comment=_text(m))
                    for m in category.findall("measurement_list/measurement")],
        )
        for klass in measure.findall("class_list/class")
        for category in klass.findall("category_list/category")
    ]


def _measure(measure: ET.Element, label: Label, path: str, **fields: object) -> ResultMeasure:
    values: dict[str, object] = {
        "title": _at(measure, "title") or "",
        "description": _at(measure, "description"),
        "population_description": _at(measure, "population"),
        "unit": _at(measure, "units"),
        "param_type": label("result_param", _at(measure, "param"), f"{path}/param"),
        "dispersion_type": label("result_dispersion", _at(measure, "dispersion"), f"{path}/dispersion"),
        "denominators": _denominators(measure),
        "rows": _rows(measure),
    }
    values.update({k: v for k, v in fields.items() if v is not None})
    return ResultMeasure.model_validate(values)


def _baseline(node: ET.Element, label: Label) -> Baseline:
    path = "clinical_results/baseline/measure_list/measure"
    return Baseline(
        groups=_groups(node),
        denominators=_denominators(node),
        population_description=_at(node, "population"),
        measures=[_measure(m, label, path) for m in node.findall("measure_list/measure")],
    )


def _analysis(node: ET.Element) -> StatisticalAnalysis:
    return StatisticalAnalysis(
        group_ids=[g for g in (_text(e) for e in node.findall("group_id_list/group_id")) if g],
        description=_at(node, "groups_desc"),
        method=_at(node, "method"),
        p_value=_at(node, "p_value"),
        param_type=_at(node, "param_type"),
        param_value=_at(node, "param_value"),
        ci_percent=_at(node, "ci_percent"),
        ci_lower=_at(node, "ci_lower_limit"),
        ci_upper=_at(node, "ci_upper_limit"),
        non_inferiority_type=_at(node, "non_inferiority_type"),
    )


def _outcome(node: ET.Element, label: Label) -> ResultMeasure:
    path = "clinical_results/outcome_list/outcome"
    measure = node.find("measure")
    # An outcome whose results are not posted has no measure: its own title and texts only.
    return _measure(
        measure if measure is not None else ET.Element("measure"), label, f"{path}/measure",
        title=_at(node, "title"),
        kind=label("outcome_type", _at(node, "type"), f"{path}/type"),
        description=_at(node, "description"),
        time_frame=_at(node, "time_frame"),
        population_description=_at(node, "population"),
        reporting_status="POSTED" if measure is not None else "NOT_POSTED",
        groups=_groups(node),
        analyses=[_analysis(a) for a in node.findall("analysis_list/analysis")],
    )


def _totals(events: ET.Element | None) -> dict[str, tuple[int | None, int | None]]:
    """Group id -> (affected, at risk) of the ``Total`` category."""
    if events is None:
        return {}
    for category in events.findall("category_list/category"):
        if _at(category, "title") == _TOTAL_CATEGORY:
            counts = category.findall("event_list/event/counts")
            return {c.get("group_id", ""): (_int(c.get("subjects_affected")), _int(c.get("subjects_at_risk")))
                    for c in counts}
    return {}


def _term_count(events: ET.Element | None) -> int:
    if events is None:
        return 0
    return sum(len(c.findall("event_list/event")) for c in events.findall("category_list/category")
               if _at(c, "title") != _TOTAL_CATEGORY)


def _events(node: ET.Element) -> AdverseEvents:
    serious, other = node.find("serious_events"), node.find("other_events")
    serious_totals, other_totals = _totals(serious), _totals(other)
    groups = [
        AdverseEventGroup(
            id=g.id, title=g.title, description=g.description,
            serious_affected=serious_totals.get(g.id, (None, None))[0],
            serious_at_risk=serious_totals.get(g.id, (None, None))[1],
            other_affected=other_totals.get(g.id, (None, None))[0],
            other_at_risk=other_totals.get(g.id, (None, None))[1],
        )
        for g in _groups(node)
    ]
    return AdverseEvents(
        time_frame=_at(node, "time_frame"),
        description=_at(node, "desc"),
        frequency_threshold=_at(other, "frequency_threshold"),
        groups=groups,
        serious_event_terms=_term_count(serious),
        other_event_terms=_term_count(other),
    )
