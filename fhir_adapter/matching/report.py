"""Screening reports: a terminal table (one row per patient) and one self-contained HTML page.

The HTML page is a patients × criteria matrix for a research coordinator: each cell is coloured by
its outcome and opens to show the reason and the evidence. It uses no external asset (inline CSS and
a few lines of inline JavaScript for the verdict filter) and escapes every text it shows.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from io import StringIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomOutcome, AtomResult, Evidence, PatientResult, ScreenResult, Verdict

OUTCOMES: tuple[AtomOutcome, ...] = ("met", "not-met", "unknown", "review")
VERDICTS: tuple[Verdict, ...] = ("eligible", "needs-review", "ineligible")
_VERDICT_STYLE = {"eligible": "green", "needs-review": "yellow", "ineligible": "red"}
# Cells are coloured by their effect on eligibility, not by the raw result: an exclusion that is
# "not-met" (no excluding finding) passes, like an inclusion that is "met".
_EFFECT: dict[tuple[str, str], str] = {
    ("inclusion", "met"): "pass",
    ("inclusion", "not-met"): "fail",
    ("exclusion", "met"): "fail",
    ("exclusion", "not-met"): "pass",
}
_SYMBOL: dict[str, str] = {"pass": "✓", "fail": "✗", "unknown": "?", "review": "…"}
_LEGEND = (
    ("pass", "passes (inclusion met, exclusion absent)"),
    ("fail", "fails (inclusion not met, exclusion present)"),
    ("unknown", "unknown (no usable data)"),
    ("review", "review (not computable: a person decides)"),
)


def outcome_counts(patient: PatientResult) -> dict[AtomOutcome, int]:
    """How many criteria of the patient ended in each outcome (every outcome present, zeros included)."""
    counted = Counter(c.result for c in patient.criteria)
    return {outcome: counted.get(outcome, 0) for outcome in OUTCOMES}


def verdict_counts(result: ScreenResult) -> dict[Verdict, int]:
    counted = Counter(p.verdict for p in result.patients)
    return {verdict: counted.get(verdict, 0) for verdict in VERDICTS}


# -- table ---------------------------------------------------------------------------------------------------


def render_table(result: ScreenResult) -> Table:
    """One row per patient: verdict, counts of met / not-met / unknown / review, main reason."""
    counts = verdict_counts(result)
    caption = ", ".join(f"{n} {v}" for v, n in counts.items())
    table = Table(title=f"{escape(result.trial)} as of {result.as_of.isoformat()}", caption=caption)
    table.add_column("patient", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for outcome in OUTCOMES:
        table.add_column(outcome, justify="right")
    table.add_column("main reason")
    for patient in result.patients:
        n = outcome_counts(patient)
        style = _VERDICT_STYLE[patient.verdict]
        table.add_row(
            escape(patient.patient),
            f"[{style}]{patient.verdict}[/]",
            *(str(n[o]) for o in OUTCOMES),
            escape(patient.reason),
        )
    return table


def table_text(result: ScreenResult, *, width: int = 160) -> str:
    """The table as plain text (for a file)."""
    buffer = StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(render_table(result))
    return buffer.getvalue()


# -- HTML ----------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem;margin:0 0 .3rem}
.meta{color:#555;margin-bottom:1rem}
.counts span{display:inline-block;margin-right:1rem;padding:.15rem .5rem;border-radius:.3rem}
.legend span{display:inline-block;margin-right:.6rem;padding:.1rem .45rem;border-radius:.25rem}
table.matrix{border-collapse:collapse;font-size:.85rem}
.matrix th,.matrix td{border:1px solid #ccc;padding:.25rem .35rem;vertical-align:top}
.matrix thead th{background:#f4f4f4;position:sticky;top:0;max-width:11rem;font-weight:600;text-align:left}
.matrix thead th .atom-text{display:block;font-weight:400;color:#444;max-height:6.5em;overflow:hidden}
.matrix th.kind-exclusion{background:#f7eef0}
td.pass{background:#cdebd3}td.fail{background:#f5c6c6}td.unknown{background:#fbe3a8}td.review{background:#dedede}
td.none{background:#fff}
span.pass{background:#cdebd3}span.fail{background:#f5c6c6}span.unknown{background:#fbe3a8}span.review{background:#dedede}
.v-eligible{background:#cdebd3}.v-needs-review{background:#fbe3a8}.v-ineligible{background:#f5c6c6}
td.verdict{font-weight:600;white-space:nowrap}
details summary{cursor:pointer;list-style:none;text-align:center}
details[open]{min-width:14rem}
details p{margin:.3rem 0}
details ul{margin:.2rem 0;padding-left:1.1rem}
.filter{margin:.6rem 0}
.filter label{margin-right:.8rem}
.criteria dt{font-weight:600;margin-top:.4rem}
.criteria dd{margin-left:1rem}
"""

_JS = """
document.querySelectorAll('.filter input').forEach(function(box){
  box.addEventListener('change', function(){
    document.querySelectorAll('tr[data-verdict="'+box.value+'"]').forEach(function(row){
      row.style.display = box.checked ? '' : 'none';
    });
  });
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _evidence_item(evidence: Evidence) -> str:
    parts = [evidence.reference]
    if evidence.value is not None:
        parts.append(f"{evidence.value}{' ' + evidence.unit if evidence.unit else ''}")
    if evidence.date:
        parts.append(evidence.date)
    return f"<li>{_e(' · '.join(parts))}</li>"


def _cell(atom: Atom, found: AtomResult | None) -> str:
    if found is None:
        return '<td class="none" title="not evaluated"></td>'
    evidence = "".join(_evidence_item(e) for e in found.evidence)
    evidence_html = f"<ul>{evidence}</ul>" if evidence else "<p><em>no evidence</em></p>"
    title = f"{atom.id} ({atom.kind}): {found.result} — {found.reason}"
    effect = _EFFECT.get((atom.kind, found.result), found.result)
    return (
        f'<td class="{_e(effect)}" title="{_e(title)}"><details><summary>{_SYMBOL.get(effect, "")}</summary>'
        f"<p><strong>{_e(found.result)}</strong>: {_e(found.reason)}</p>{evidence_html}</details></td>"
    )


def _row(patient: PatientResult, atoms: Sequence[Atom]) -> str:
    by_id = {c.id: c for c in patient.criteria}
    cells = "".join(_cell(atom, by_id.get(atom.id)) for atom in atoms)
    return (
        f'<tr data-verdict="{_e(patient.verdict)}"><th scope="row">{_e(patient.patient)}</th>'
        f'<td class="verdict v-{_e(patient.verdict)}" title="{_e(patient.reason)}">{_e(patient.verdict)}</td>'
        f"{cells}</tr>"
    )


def _header(atoms: Sequence[Atom]) -> str:
    columns = "".join(
        f'<th scope="col" class="kind-{_e(a.kind)}" title="{_e(a.kind + ": " + a.text)}">{_e(a.id)}'
        f'<span class="atom-text">{_e(a.text)}</span></th>'
        for a in atoms
    )
    return f'<thead><tr><th scope="col">patient</th><th scope="col">verdict</th>{columns}</tr></thead>'


def _criteria_list(atoms: Sequence[Atom]) -> str:
    items = "".join(
        f"<dt>{_e(a.id)} ({_e(a.kind)}{'' if a.computable else ', not computable'})</dt><dd>{_e(a.text)}</dd>"
        for a in atoms
    )
    return f'<h2>Criteria</h2><dl class="criteria">{items}</dl>'


def _atoms_in_result(result: ScreenResult, atoms: Sequence[Atom]) -> list[Atom]:
    """The atoms as columns, plus a bare column for any result id the atoms do not list."""
    known = {a.id for a in atoms}
    columns = list(atoms)
    for patient in result.patients:
        for criterion in patient.criteria:
            if criterion.id not in known:
                known.add(criterion.id)
                columns.append(Atom(id=criterion.id, kind="inclusion", text=criterion.id))
    return columns


def render_html(result: ScreenResult, atoms: Sequence[Atom]) -> str:
    """One self-contained HTML page: counts, a verdict filter, the matrix and the criteria texts."""
    columns = _atoms_in_result(result, atoms)
    counts = verdict_counts(result)
    count_spans = "".join(f'<span class="v-{_e(v)}">{_e(v)}: {n}</span>' for v, n in counts.items())
    legend = "".join(f'<span class="{effect}">{_SYMBOL[effect]} {text}</span>' for effect, text in _LEGEND)
    filters = "".join(
        f'<label><input type="checkbox" value="{_e(v)}" checked> {_e(v)}</label>' for v in VERDICTS
    )
    rows = "".join(_row(p, columns) for p in result.patients)
    title = f"Screening {result.trial} as of {result.as_of.isoformat()}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Screening for {_e(result.trial)}</h1>"
        f'<div class="meta">As of {_e(result.as_of.isoformat())} · {len(result.patients)} patients · '
        f"{len(columns)} criteria</div>"
        f'<div class="counts">{count_spans}</div>'
        f'<p class="legend">{legend} — click a cell for the reason and the evidence.</p>'
        f'<div class="filter">Show: {filters}</div>'
        f'<table class="matrix">{_header(columns)}<tbody>{rows}</tbody></table>'
        f"{_criteria_list(columns)}"
        f"<script>{_JS}</script></body></html>\n"
    )
