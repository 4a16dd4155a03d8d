"""Screening reports: the table and the self-contained HTML page."""

from __future__ import annotations

import re
from datetime import date

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomResult, Evidence, PatientResult, ScreenResult
from fhir_adapter.matching.report import outcome_counts, render_html, table_text

ATOMS = [
    Atom(id="inc-1", kind="inclusion", text="Histologically confirmed rectal adenocarcinoma"),
    Atom(id="inc-2", kind="inclusion", text="ANC >= 1.5 x 10^9/L <script>alert(1)</script>"),
    Atom(id="exc-1", kind="exclusion", text="Pregnant & breastfeeding", computable=False),
]


def _result() -> ScreenResult:
    return ScreenResult(
        trial="NCT01234567",
        as_of=date(2024, 6, 1),
        patients=[
            PatientResult(patient="Patient/a1", verdict="eligible", reason="all criteria met", criteria=[
                AtomResult(id="inc-1", result="met", reason="rectal adenocarcinoma present",
                           evidence=[Evidence(reference="Condition/c1", date="2024-01-02")]),
                AtomResult(id="inc-2", result="met", reason="ANC 2.1 ≥ 1.5",
                           evidence=[Evidence(reference="Observation/o1", value=2.1, unit="10*9/L")]),
                AtomResult(id="exc-1", result="not-met", reason="no documented pregnancy"),
            ]),
            PatientResult(patient="Patient/b2", verdict="needs-review", reason="ANC unknown", criteria=[
                AtomResult(id="inc-1", result="met", reason="present"),
                AtomResult(id="inc-2", result="unknown", reason="no ANC value <b>recorded</b>"),
                AtomResult(id="exc-1", result="review", reason="not evaluated: not computable"),
            ]),
            PatientResult(patient="Patient/c3", verdict="ineligible", reason="inc-1 not met", criteria=[
                AtomResult(id="inc-1", result="not-met", reason="absent"),
            ]),
        ],
    )


def test_outcome_counts() -> None:
    counts = outcome_counts(_result().patients[1])
    assert counts == {"met": 1, "not-met": 0, "unknown": 1, "review": 1}


def test_table_has_one_row_per_patient_with_counts_and_reason() -> None:
    text = table_text(_result())
    rows = [line for line in text.splitlines() if "Patient/" in line]
    assert len(rows) == 3
    assert re.search(r"Patient/a1.*eligible.*\b2\b.*\b1\b.*\b0\b.*\b0\b.*all criteria met", rows[0])
    assert re.search(r"Patient/b2.*needs-review.*\b1\b.*\b0\b.*\b1\b.*\b1\b.*ANC unknown", rows[1])
    assert "NCT01234567" in text and "2024-06-01" in text


def test_html_is_self_contained() -> None:
    page = render_html(_result(), ATOMS)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page.lower()
    assert "<style>" in page and page.count("<script>") == 1  # the page's own filter script only


def test_html_shows_verdicts_atoms_evidence_and_context() -> None:
    page = render_html(_result(), ATOMS)
    for patient, verdict in (("a1", "eligible"), ("b2", "needs-review"), ("c3", "ineligible")):
        assert re.search(rf'data-verdict="{verdict}"><th scope="row">Patient/{patient}</th>', page)
    for atom in ATOMS:
        assert f">{atom.id}<span" in page
    assert "Histologically confirmed rectal adenocarcinoma" in page
    assert "Observation/o1 · 2.1 10*9/L" in page and "Condition/c1 · 2024-01-02" in page
    assert "NCT01234567" in page and "2024-06-01" in page
    assert "eligible: 1" in page and "needs-review: 1" in page and "ineligible: 1" in page
    assert 'td class="unknown"' in page and 'td class="review"' in page and 'td class="fail"' in page
    # an exclusion without evidence passes: green like a met inclusion, not red
    assert re.search(r'<td class="pass" title="exc-1 \(exclusion\): not-met', page)
    assert page.count("<details>") == 7  # one per evaluated cell; c3 has no result for inc-2/exc-1
    assert page.count('class="none"') == 2


def test_html_escapes_every_text() -> None:
    page = render_html(_result(), ATOMS)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>recorded</b>" not in page and "&lt;b&gt;recorded&lt;/b&gt;" in page
    assert "Pregnant &amp; breastfeeding" in page
