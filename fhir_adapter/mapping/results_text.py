"""Readable XHTML of posted results: one table per participant-flow period, baseline measure, outcome measure
and the adverse-event totals (rows: milestones or categories; columns: the registry's groups).

Used for the narrative of the results resource (R5 EvidenceReport, R4 DiagnosticReport) and for the text of
its sections. Every value is escaped and stripped of the control characters XML forbids; only elements of
FHIR's XHTML subset are used (``div``, ``p``, ``b``, ``h3``, ``h4``, ``table``, ``tr``, ``th``, ``td``, ``ul``,
``li``). Labels of registry tokens come from ``mappings/registry_facts.yaml`` (``results.labels``).
"""

from __future__ import annotations

from fhir_adapter.mapping.narrative import XHTML, safe_text
from fhir_adapter.mapping.tables import section
from fhir_adapter.trial import (
    AdverseEvents,
    Denominator,
    FlowPeriod,
    GroupValue,
    ParticipantFlow,
    ResultGroup,
    ResultMeasure,
    StatisticalAnalysis,
)


def safe(text: object) -> str:
    return safe_text(text)


def token_label(token: str | None) -> str:
    """The readable label of a registry token (``INTER_QUARTILE_RANGE`` -> ``Inter-quartile range``)."""
    if not token:
        return ""
    labels = section("registry_facts", "results")["labels"]
    return str(labels.get(token, token.replace("_", " ").capitalize() if token.isupper() else token))


def cell(value: GroupValue) -> str:
    """``44.5 (39 to 52)``, ``12.1 (2.3)``, ``NA``; a comment follows in brackets."""
    text = value.value or ""
    if value.spread:
        text += f" ({value.spread})"
    elif value.lower_limit or value.upper_limit:
        text += f" ({value.lower_limit or '?'} to {value.upper_limit or '?'})"
    if value.comment:
        text += f" [{value.comment}]"
    return text.strip()


def _row(label: str, values: list[GroupValue], groups: list[ResultGroup]) -> str:
    by_group = {v.group_id: v for v in values}
    cells = "".join(f"<td>{safe(cell(by_group[g.id])) if g.id in by_group else ''}</td>" for g in groups)
    return f"<tr><th>{safe(label)}</th>{cells}</tr>"


def _table(groups: list[ResultGroup], rows: list[str]) -> str:
    head = "".join(f"<th>{safe(g.title or g.id)}</th>" for g in groups)
    return f"<table><tr><th/>{head}</tr>{''.join(rows)}</table>"


def _denominator_rows(denominators: list[Denominator], groups: list[ResultGroup]) -> list[str]:
    return [_row(f"Analysed ({d.units or 'participants'})", d.counts, groups) for d in denominators]


def paragraph(label: str, text: str | None) -> str:
    return f"<p><b>{safe(label)}</b>: {safe(text)}</p>" if text else ""


def period_table(period: FlowPeriod, groups: list[ResultGroup]) -> str:
    rows = [_row(token_label(m.label), m.counts, groups) for m in period.milestones]
    rows += [_row(f"Not completed: {w.label}", w.counts, groups) for w in period.withdrawals]
    return _table(groups, rows)


def flow_details(flow: ParticipantFlow) -> str:
    return paragraph("Recruitment", flow.recruitment_details) + paragraph("Pre-assignment", flow.pre_assignment_details)


def flow_text(flow: ParticipantFlow) -> str:
    parts = [flow_details(flow)]
    for period in flow.periods:
        parts.append(f"<h4>{safe(period.title or 'Period')}</h4>{period_table(period, flow.groups)}")
    return "".join(parts)


def measure_summary(measure: ResultMeasure) -> str:
    """``Median (Inter-quartile range), years``."""
    statistic = token_label(measure.param_type)
    if measure.dispersion_type and measure.dispersion_type != "NA":
        statistic += f" ({token_label(measure.dispersion_type)})"
    return ", ".join(p for p in (statistic, measure.unit) if p)


def _analysis(analysis: StatisticalAnalysis, groups: list[ResultGroup]) -> str:
    titles = {g.id: g.title for g in groups}
    parts = [", ".join(titles.get(i, i) for i in analysis.group_ids)]
    if analysis.param_type or analysis.param_value:
        estimate = f"{token_label(analysis.param_type)} {analysis.param_value or ''}".strip()
        if analysis.ci_lower or analysis.ci_upper:
            estimate += f" ({analysis.ci_percent or '?'}% CI {analysis.ci_lower or '?'} to {analysis.ci_upper or '?'})"
        parts.append(estimate)
    if analysis.p_value:
        parts.append(f"p = {analysis.p_value}")
    if analysis.method:
        parts.append(analysis.method)
    return "; ".join(p for p in parts if p)


def measure_table(measure: ResultMeasure, groups: list[ResultGroup]) -> str:
    """The measure's facts, then a table of its rows (categories) by group, then its analyses."""
    facts = [
        paragraph("Type", token_label(measure.kind) if measure.kind else None),
        paragraph("Description", measure.description),
        paragraph("Time frame", measure.time_frame),
        paragraph("Population", measure.population_description),
        paragraph("Statistic", measure_summary(measure)),
        paragraph("Reporting status", token_label(measure.reporting_status)
                   if measure.reporting_status == "NOT_POSTED" else None),
    ]
    rows = _denominator_rows(measure.denominators, groups)
    rows += [_row(row_label(r.class_title, r.title) or measure.title, r.values, groups) for r in measure.rows]
    table = _table(groups, rows) if groups and rows else ""
    analyses = [f"<li>{safe(_analysis(a, groups))}</li>" for a in measure.analyses]
    listed = f"<p><b>Statistical analyses</b></p><ul>{''.join(analyses)}</ul>" if analyses else ""
    return "".join(facts) + table + listed


def row_label(class_title: str | None, title: str | None) -> str | None:
    return ": ".join(t for t in (class_title, title) if t) or None


def baseline_denominators(denominators: list[Denominator], groups: list[ResultGroup]) -> str:
    rows = _denominator_rows(denominators, groups)
    return _table(groups, rows) if rows else ""


def _of(affected: int | None, at_risk: int | None) -> str:
    if affected is None:
        return ""
    return f"{affected} of {at_risk}" if at_risk is not None else str(affected)


def adverse_events_text(events: AdverseEvents) -> str:
    head = "".join(f"<th>{safe(g.title or g.id)}</th>" for g in events.groups)
    lines = (
        ("Deaths", [_of(g.deaths_affected, g.deaths_at_risk) for g in events.groups]),
        ("Serious adverse events", [_of(g.serious_affected, g.serious_at_risk) for g in events.groups]),
        ("Other adverse events", [_of(g.other_affected, g.other_at_risk) for g in events.groups]),
    )
    rows = "".join(f"<tr><th>{label}</th>{''.join(f'<td>{safe(v)}</td>' for v in values)}</tr>"
                   for label, values in lines)
    terms = (f"<p>{events.serious_event_terms} serious and {events.other_event_terms} other adverse event terms "
             "are listed on the registry.</p>")
    return (paragraph("Time frame", events.time_frame) + paragraph("Description", events.description)
            + "<p>Participants affected of participants at risk:</p>"
            + f"<table><tr><th/>{head}</tr>{rows}</table>" + terms)


def div(body: str) -> str:
    return f"{XHTML}{body}</div>"
