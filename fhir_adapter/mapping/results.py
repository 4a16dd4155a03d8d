"""Posted results (the registry's ``resultsSection``): where FHIR has a place for them.

* R5: ``ResearchStudy.result`` references an **EvidenceReport** (one of the element's three target types, and the
  one made for "a structured presentation of evidence" about a study). Its sections follow the registry's
  modules: participant flow (period > milestone > group), baseline characteristics and outcome measures
  (measure > row > group), adverse-event totals. A figure that reads as a number is the section's
  ``entryQuantity`` (unit as posted); every table is also readable as the section's ``text``. Each outcome
  measure is an **EvidenceVariable**, referenced from the report section (``focusReference``) and from the
  ``ResearchStudy.outcomeMeasure`` of the same type and title (``reference``).
* R4 has neither EvidenceReport nor Citation; Composition (the future home of EvidenceReport) allows one
  identifier only, and every mapped resource carries the project's business identifier in a list. R5 also
  allows a **DiagnosticReport** as result, and R4 has it: R4 maps the same tables to a DiagnosticReport
  (narrative and ``conclusion``), referenced through the HL7 cross-version extension
  ``extension-ResearchStudy.result``. The figures as structured data are R5 only.

That results were posted and when stays on the ResearchStudy (``registry-has-results``, ``registry-date``
results-first-posted, the results-tab RelatedArtifact); the report repeats the dates in a note. The single
adverse-event terms are counted, not mapped (hundreds per trial).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping import results_text as T
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, text_concept
from fhir_adapter.mapping.tables import section
from fhir_adapter.trial import (
    Denominator,
    GroupValue,
    PartialDate,
    ResultGroup,
    ResultMeasure,
    TrialRecord,
    TrialResults,
)

RESULTS_ROLE = "results"
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def outcome_role(index: int) -> str:
    return f"outcome-measure-{index}"


@dataclass(frozen=True)
class Section:
    """A version-neutral report section: R5 EvidenceReport.section; R4 renders only the readable text."""

    title: str | None
    html: str | None = None
    quantity: JSON | None = None
    focus: JSON | None = None
    sections: tuple[Section, ...] = ()


def _facts() -> JSON:
    found: JSON = section("registry_facts", "results")
    return found


def quantity(text: str | None, unit: str | None) -> JSON | None:
    """A Quantity when the registry figure is a plain number (``"44.5"``); None for ``"NA"`` and the like."""
    if text is None or not _NUMBER.fullmatch(text.strip()):
        return None
    value: int | float = int(text) if "." not in text else float(text)
    return {"value": value, "unit": unit} if unit else {"value": value}


def _leaves(values: list[GroupValue], groups: list[ResultGroup], unit: str | None) -> tuple[Section, ...]:
    """One section per group: the figure as a quantity; its text when there is more than the bare number."""
    titles = {g.id: g.title or g.id for g in groups}
    leaves = []
    for value in values:
        amount = quantity(value.value, unit)
        shown = T.cell(value)
        text = None if amount is not None and shown == (value.value or "").strip() else f"<p>{T.safe(shown)}</p>"
        leaves.append(Section(titles.get(value.group_id, value.group_id), html=text, quantity=amount))
    return tuple(leaves)


def _analysed(denominators: list[Denominator], groups: list[ResultGroup]) -> tuple[Section, ...]:
    return tuple(
        Section(f"Analysed ({d.units or 'participants'})", sections=_leaves(d.counts, groups, d.units))
        for d in denominators
    )


def measure_section(measure: ResultMeasure, groups: list[ResultGroup], focus: JSON | None = None) -> Section:
    rows = tuple(
        Section(T.row_label(r.class_title, r.title), sections=_leaves(r.values, groups, measure.unit))
        for r in measure.rows
    )
    # A single untitled row (a continuous measure such as age) is the measure itself: no extra level.
    if len(rows) == 1 and rows[0].title is None:
        rows = rows[0].sections
    return Section(measure.title, html=T.measure_table(measure, groups), focus=focus,
                   sections=_analysed(measure.denominators, groups) + rows)


def report_sections(results: TrialResults, outcome_refs: list[JSON | None]) -> list[Section]:
    unit = str(_facts()["participants_unit"])
    found: list[Section] = []
    flow = results.participant_flow
    if flow is not None:
        periods = tuple(
            Section(p.title, html=T.period_table(p, flow.groups), sections=tuple(
                Section(T.token_label(step.label) if not withdrawn else f"Not completed: {step.label}",
                        sections=_leaves(step.counts, flow.groups, unit))
                for steps, withdrawn in ((p.milestones, False), (p.withdrawals, True)) for step in steps
            ))
            for p in flow.periods
        )
        details = T.flow_details(flow)
        found.append(Section("Participant flow", html=details or None, sections=periods))
    baseline = results.baseline
    if baseline is not None:
        measures = tuple(measure_section(m, baseline.groups) for m in baseline.measures)
        intro = T.baseline_denominators(baseline.denominators, baseline.groups)
        intro = T.paragraph("Population", baseline.population_description) + intro
        found.append(Section("Baseline characteristics", html=intro or None,
                             sections=_analysed(baseline.denominators, baseline.groups) + measures))
    if results.outcome_measures:
        outcomes = tuple(measure_section(m, m.groups, ref)
                         for m, ref in zip(results.outcome_measures, outcome_refs, strict=True))
        found.append(Section("Outcome measures", sections=outcomes))
    if results.adverse_events is not None:
        found.append(Section("Adverse events", html=T.adverse_events_text(results.adverse_events)))
    return found


def readable(results: TrialResults, title: str, note: str | None) -> str:
    """The whole report as one XHTML narrative."""
    parts = [f"<p><b>{T.safe(title)}</b></p>", f"<p>{T.safe(note)}</p>" if note else ""]
    if results.participant_flow is not None:
        parts.append(f"<h3>Participant flow</h3>{T.flow_text(results.participant_flow)}")
    if results.baseline is not None:
        baseline = results.baseline
        tables = "".join(f"<h4>{T.safe(m.title)}</h4>{T.measure_table(m, baseline.groups)}" for m in baseline.measures)
        intro = T.paragraph("Population", baseline.population_description)
        parts.append(f"<h3>Baseline characteristics</h3>{intro}"
                     f"{T.baseline_denominators(baseline.denominators, baseline.groups)}{tables}")
    if results.outcome_measures:
        tables = "".join(f"<h4>{T.safe(m.title)}</h4>{T.measure_table(m, m.groups)}" for m in results.outcome_measures)
        parts.append(f"<h3>Outcome measures</h3>{tables}")
    if results.adverse_events is not None:
        parts.append(f"<h3>Adverse events</h3>{T.adverse_events_text(results.adverse_events)}")
    if results.limitations:
        parts.append(f"<h3>Limitations and caveats</h3><p>{T.safe(results.limitations)}</p>")
    return T.div("".join(parts))


# --------------------------------------------------------------------------------------------------
# References from the ResearchStudy


def results_ref(ctx: MappingContext) -> JSON | None:
    """Reference to the results resource (R5 EvidenceReport, R4 DiagnosticReport) when results are posted."""
    if ctx.trial.results is None:
        return None
    return ctx.ref(ctx.version.results_type, RESULTS_ROLE, f"Posted results of {ctx.key}")


def _outcome_key(kind: str | None, title: str) -> tuple[str, str]:
    return (kind or "").upper(), " ".join(title.split()).casefold()


# The protocol's outcome kinds (trial.Outcome.kind) as the results' OutcomeMeasureType tokens.
_KINDS = {"primary": "PRIMARY", "secondary": "SECONDARY", "other": "OTHER_PRE_SPECIFIED"}


def _variable_refs(ctx: MappingContext) -> list[JSON | None]:
    """Reference to the EvidenceVariable of each posted outcome measure (R5 only; None otherwise)."""
    results = ctx.trial.results
    if results is None:
        return []
    if not ctx.version.outcome_variables:
        return [None] * len(results.outcome_measures)
    return [ctx.ref("EvidenceVariable", outcome_role(i), m.title)
            for i, m in enumerate(results.outcome_measures, 1)]


def outcome_references(ctx: MappingContext) -> list[JSON | None]:
    """For each protocol outcome (``trial.outcomes``), the EvidenceVariable of the first posted outcome measure
    of the same type and title; None where no posted measure matches (or in R4)."""
    results = ctx.trial.results
    refs = _variable_refs(ctx)
    if results is None:
        return [None] * len(ctx.trial.outcomes)
    by_key: dict[tuple[str, str], JSON | None] = {}
    for measure, ref in zip(results.outcome_measures, refs, strict=True):
        by_key.setdefault(_outcome_key(measure.kind, measure.title), ref)
    return [by_key.get(_outcome_key(_KINDS.get(o.kind), o.measure)) for o in ctx.trial.outcomes]


# --------------------------------------------------------------------------------------------------
# The resources


def _date_text(label: str, date: PartialDate | str | None) -> str | None:
    if date is None:
        return None
    if isinstance(date, str):
        return f"{label} {date}"
    return f"{label} {date.date}" + (f" ({date.type.lower()})" if date.type else "")


def posting_note(trial: TrialRecord) -> str | None:
    """``Results first submitted 2022-02-01; first posted 2022-04-13 (actual) on ClinicalTrials.gov.``"""
    parts = [_date_text("Results first submitted", trial.results_first_submitted_date),
             _date_text("results first posted", trial.results_first_posted_date)]
    shown = "; ".join(p for p in parts if p)
    return f"{shown[:1].upper()}{shown[1:]} on ClinicalTrials.gov." if shown else None


def _r5_section(found: Section) -> JSON:
    return {
        "title": found.title,
        "focusReference": found.focus,
        "text": {"status": "generated", "div": T.div(found.html)} if found.html else None,
        "entryQuantity": [found.quantity] if found.quantity else None,
        "section": [_r5_section(s) for s in found.sections],
    }


def _summary(results: TrialResults) -> str:
    measures = results.outcome_measures
    primary = sum(1 for m in measures if m.kind == "PRIMARY")
    parts = [f"{len(measures)} outcome measures ({primary} primary)" if measures else None,
             "participant flow" if results.participant_flow else None,
             f"{len(results.baseline.measures)} baseline characteristics" if results.baseline else None,
             "adverse-event totals" if results.adverse_events else None]
    return "Posted results: " + ", ".join(p for p in parts if p) + "."


def _evidence_report(ctx: MappingContext, results: TrialResults, note: str | None) -> JSON:
    trial = ctx.trial
    study = f"Study {ctx.key}" + (f": {trial.brief_title}" if trial.brief_title else "")
    page = section("registry_facts", "results_page").format(nct_id=trial.nct_id) if trial.nct_id else None
    return {
        "url": ctx.canonical("EvidenceReport", RESULTS_ROLE),
        "status": "active",
        "relatedIdentifier": [{"system": C.NCT_SYSTEM, "value": trial.nct_id}] if trial.nct_id else None,
        "type": text_concept(str(_facts()["report_text"])),
        "note": [{"text": note}] if note else None,
        # No reference back to the ResearchStudy (it references this report): a cycle cannot be deleted
        # resource by resource on a server that keeps referential integrity.
        "relatedArtifact": [
            {"type": "documentation", "display": f"Results of {trial.nct_id} on ClinicalTrials.gov",
             "document": {"url": page}} if page else None,
        ],
        "subject": {"note": [{"text": f"{_summary(results)} {study}"}]},
        "section": [_r5_section(s) for s in report_sections(results, _variable_refs(ctx))],
    }


def _diagnostic_report(ctx: MappingContext, results: TrialResults, note: str | None) -> JSON:
    return {
        "status": "final",
        "code": text_concept(str(_facts()["report_text"])),
        "conclusion": " ".join(p for p in (_summary(results), note) if p),
    }


def _outcome_variable(ctx: MappingContext, index: int, measure: ResultMeasure) -> Entry:
    parts = [measure.description, f"Time frame: {measure.time_frame}" if measure.time_frame else None]
    body: JSON = {
        "url": ctx.canonical("EvidenceVariable", outcome_role(index)),
        "title": measure.title,
        "status": "active",
        "description": "\n\n".join(p for p in parts if p) or None,
        "note": [{"text": f"{T.token_label(measure.kind)} of {ctx.key}"}] if measure.kind else None,
    }
    return ctx.entry("EvidenceVariable", outcome_role(index), body)


def result_entries(ctx: MappingContext) -> list[Entry]:
    """The results resource, then (R5) one EvidenceVariable per posted outcome measure; none without results."""
    results = ctx.trial.results
    if results is None:
        return []
    note = posting_note(ctx.trial)
    kind = ctx.version.results_type
    body = _evidence_report(ctx, results, note) if kind == "EvidenceReport" else _diagnostic_report(ctx, results, note)
    entry = ctx.entry(kind, RESULTS_ROLE, body)
    # The generic narrative says little about a report: its text is the report itself.
    title = f"Posted results of {ctx.key}" + (f": {ctx.trial.brief_title}" if ctx.trial.brief_title else "")
    text = {"status": "generated", "div": readable(results, title, note)}
    found = [Entry(entry.resource_type, entry.identifier_value, {**entry.resource, "text": text})]
    if ctx.version.outcome_variables:
        found += [_outcome_variable(ctx, i, m) for i, m in enumerate(results.outcome_measures, 1)]
    return found
