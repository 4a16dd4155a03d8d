"""Screening reports: a terminal table, one row per patient, and the HTML work list
(:mod:`fhir_adapter.matching.worklist`, re-exported here as :func:`render_html`).

Table columns: patient, verdict, main reason, open items (what to obtain), inclusions met (of the
computable ones), exclusions found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from io import StringIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomOutcome, PatientResult, ScreenResult, Verdict
from fhir_adapter.matching.spill import count_by
from fhir_adapter.matching.verdict import decisive_results
from fhir_adapter.matching.worklist import render_html
from fhir_adapter.words import printable

__all__ = ["OUTCOMES", "VERDICTS", "outcome_counts", "render_html", "render_table", "table_text", "verdict_counts"]

OUTCOMES: tuple[AtomOutcome, ...] = ("met", "not-met", "unknown", "review")
VERDICTS: tuple[Verdict, ...] = ("eligible", "needs-review", "ineligible")
_VERDICT_STYLE = {"eligible": "green", "needs-review": "yellow", "ineligible": "red"}


def outcome_counts(patient: PatientResult) -> dict[AtomOutcome, int]:
    """How many criteria of the patient ended in each outcome (every outcome present, zeros included)."""
    counted = Counter(c.result for c in patient.criteria)
    return {outcome: counted.get(outcome, 0) for outcome in OUTCOMES}


def verdict_counts(result: ScreenResult) -> dict[Verdict, int]:
    counted = count_by(result.patients, "verdict")  # a spilled screen counts without reading its results
    return {verdict: counted.get(verdict, 0) for verdict in VERDICTS}


# -- table ---------------------------------------------------------------------------------------------------


def criteria_counts(patient: PatientResult, atoms: Sequence[Atom]) -> tuple[int, int, int]:
    """(inclusions met, computable inclusions, exclusions found) of a patient (an any-of group counts once)."""
    by_id = {c.id: c for c in patient.criteria}
    pairs = [(a, by_id[a.id]) for a in atoms if a.id in by_id]
    decided = decisive_results([a for a, _ in pairs], [r for _, r in pairs])
    inclusions = [r for a, r in decided if a.kind == "inclusion"]
    met = sum(1 for r in inclusions if r.result == "met")
    found = sum(1 for a, r in decided if a.kind == "exclusion" and r.result == "met")
    return met, len(inclusions), found


def render_table(result: ScreenResult, atoms: Sequence[Atom] = ()) -> Table:
    """One row per patient: verdict, main reason, open items, inclusions met, exclusions found."""
    counts = verdict_counts(result)
    caption = ", ".join(f"{n} {v}" for v, n in counts.items())
    table = Table(title=f"{escape(result.trial)} as of {result.as_of.isoformat()}", caption=caption)
    table.add_column("patient", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("main reason")
    table.add_column("open items")
    table.add_column("inclusions met", justify="right")
    table.add_column("exclusions found", justify="right")
    for patient in result.patients:
        met, inclusions, found = criteria_counts(patient, atoms)
        style = _VERDICT_STYLE[patient.verdict]
        table.add_row(
            escape(printable(patient.patient)),
            f"[{style}]{patient.verdict}[/]",
            escape(printable(patient.reason)),
            escape(printable("; ".join(patient.open_items))),
            f"{met}/{inclusions}" if atoms else "",
            str(found) if atoms else "",
        )
    return table


def table_text(result: ScreenResult, atoms: Sequence[Atom] = (), *, width: int = 160) -> str:
    """The table as plain text (for a file)."""
    buffer = StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(render_table(result, atoms))
    return buffer.getvalue()
