"""The HTML screening report: a work list for a research coordinator, in one self-contained page.

The page carries the screening once, as JSON, and a small script renders it: a table whose patient,
verdict and "why" columns stay in view while the criteria scroll sideways (inclusions, then exclusions,
short labels with the full text on hover), filters by verdict, sorting by rank or open items, a search
box, pages of 100 rows, and a per-patient detail view with every criterion's reason and evidence
(resource, value, unit, date). Repeated texts are stored once, so a 10,000-patient report stays small.
No external asset is loaded; every text is inserted as text (``textContent``), never as markup, and the
JSON is embedded so that no ``</script>`` can end it early.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomResult, Evidence, PatientResult, ScreenResult
from fhir_adapter.matching.verdict import ALIVE
from fhir_adapter.words import unit_text

_EFFECT: dict[tuple[str, str], str] = {
    ("inclusion", "met"): "p",
    ("inclusion", "not-met"): "f",
    ("exclusion", "met"): "f",
    ("exclusion", "not-met"): "p",
}
"""Cells show the effect on eligibility: an exclusion that is absent passes, like an inclusion that is met."""
_OTHER = {"unknown": "u", "review": "r"}
_VERDICT_INDEX = {"eligible": 0, "needs-review": 1, "ineligible": 2}
_PSEUDO = {ALIVE: "alive on the as-of date (Patient.deceased)"}
"""Results that are no atom of the trial: the pseudo-criterion a deceased patient fails."""


class _Strings:
    """Interned texts: each distinct string is stored once and referred to by its index."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.items)
            self.items.append(text)
        return found


def _short_label(atom: Atom, label: str | None) -> str:
    text = label or " ".join(atom.text.split())
    return text if len(text) <= 28 else text[:27].rstrip() + "…"


def _columns(result: ScreenResult, atoms: Sequence[Atom]) -> list[Atom]:
    """Inclusions first, then exclusions (text order within each), plus any result id the atoms lack."""
    known = {a.id for a in atoms}
    extra: list[Atom] = []
    for patient in result.patients:
        for criterion in patient.criteria:
            if criterion.id not in known:
                known.add(criterion.id)
                text = _PSEUDO.get(criterion.id, criterion.id)
                extra.append(Atom(id=criterion.id, kind="inclusion", text=text, computable=True))
    ordered = [*extra, *atoms]
    return [a for a in ordered if a.kind == "inclusion"] + [a for a in ordered if a.kind != "inclusion"]


def _evidence(evidence: Evidence, strings: _Strings) -> list[Any]:
    value = evidence.value if isinstance(evidence.value, int | float) else (
        strings(evidence.value) if evidence.value is not None else None
    )
    return [
        strings(evidence.reference),
        value,
        strings(unit_text(evidence.unit)),
        strings(evidence.date or ""),
        strings(f"reference range {evidence.reference_range}" if evidence.reference_range else ""),
    ]


def _cell(atom: Atom, found: AtomResult | None) -> str:
    if found is None:
        return "-"
    return _EFFECT.get((atom.kind, found.result)) or _OTHER.get(found.result, "u")


def _patient(patient: PatientResult, columns: Sequence[Atom], strings: _Strings) -> dict[str, Any]:
    by_id = {c.id: c for c in patient.criteria}
    details = []
    for i, atom in enumerate(columns):
        found = by_id.get(atom.id)
        if found is not None:
            details.append([i, strings(found.reason), [_evidence(e, strings) for e in found.evidence]])
    return {
        "p": patient.patient,
        "v": _VERDICT_INDEX[patient.verdict],
        "c": strings(patient.reason_code),
        "r": strings(patient.reason),
        "o": [strings(item) for item in patient.open_items],
        "k": "".join(_cell(a, by_id.get(a.id)) for a in columns),
        "d": details,
        **({"h": list(patient.cohorts)} if patient.cohorts else {}),
    }


def report_data(result: ScreenResult, atoms: Sequence[Atom], *, considered: str = "") -> dict[str, Any]:
    """What the page renders (also useful on its own: the report's JSON, texts interned)."""
    columns = _columns(result, atoms)
    labels = {a.id: a.concept_key for a in atoms}
    first_labels: dict[str, str] = {ALIVE: "alive"}
    for patient in result.patients:
        for criterion in patient.criteria:
            if criterion.label and criterion.id not in first_labels:
                first_labels[criterion.id] = criterion.label
    strings = _Strings()
    patients = [_patient(p, columns, strings) for p in result.patients]
    return {
        "trial": result.trial,
        "as_of": result.as_of.isoformat(),
        "considered": considered,
        "criteria": [
            {
                "id": a.id,
                "kind": a.kind,
                "label": _short_label(a, first_labels.get(a.id) or labels.get(a.id)),
                "text": " ".join(a.text.split()),
                "computable": a.computable,
            }
            for a in columns
        ],
        "strings": strings.items,
        "patients": patients,
    }


def _embed(data: dict[str, Any]) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # inside <script>, "</" could close the element and "<!--" open a comment: escape "<" everywhere
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")




@cache
def _asset(name: str) -> str:
    """The page's own stylesheet and script (package files, inlined: the page loads nothing)."""
    return resources.files("fhir_adapter.matching").joinpath(name).read_text(encoding="utf-8")


def render_html(result: ScreenResult, atoms: Sequence[Atom], *, considered: str = "") -> str:
    """The work-list page (see the module doc)."""
    title = f"Screening {result.trial} as of {result.as_of.isoformat()}"
    data = _embed(report_data(result, atoms, considered=considered))
    legend = "".join(
        f'<span class="{k}">{sym} {word}</span>'
        for k, sym, word in (
            ("p", "✓", "passes"), ("f", "✗", "fails"), ("u", "?", "unknown: data missing"),
            ("r", "…", "not computable: a person decides"),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)}</title><style>{_asset('worklist.css')}</style></head><body>"
        f"<h1>Screening for {_text(result.trial)}</h1>"
        f'<div class="meta">As of {_text(result.as_of.isoformat())} · {len(result.patients)} patients · '
        f'<span id="considered"></span></div>'
        '<div id="counts" class="counts"></div>'
        '<div class="controls"><label>Sort <select id="sort"><option value="rank">rank (eligible, fewest open '
        'items, ineligible)</option><option value="open">open items</option><option value="patient">patient'
        '</option></select></label><label>Find <input id="search" type="search" placeholder="patient or reason">'
        f'</label><span class="legend">{legend}</span></div>'
        '<section id="detail" hidden></section>'
        '<div class="wrap"><table><thead id="head"></thead><tbody id="body"></tbody></table></div>'
        '<div class="pager"><button type="button" id="prev">previous</button><span id="page"></span>'
        '<button type="button" id="next">next</button><span id="shown"></span></div>'
        f'<script type="application/json" id="screen-data">{data}</script>'
        f"<script>{_asset('worklist.js')}</script></body></html>\n"
    )


def _text(value: str) -> str:
    return html.escape(value, quote=True)
