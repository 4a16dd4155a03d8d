"""Screening reports: the table and the self-contained HTML page."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, cast

from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomResult, Evidence, PatientResult, ScreenResult
from fhir_adapter.matching.report import outcome_counts, render_html, table_text
from fhir_adapter.matching.worklist import report_data

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


def test_table_has_one_row_per_patient_with_reason_open_items_and_counts() -> None:
    result = _result()
    result.patients[1].open_items = ["absolute neutrophil count"]
    atoms = [a.model_copy(update={"computable": a.kind == "inclusion"}) for a in ATOMS]
    text = table_text(result, atoms)
    header = next(line for line in text.splitlines() if "patient" in line and "verdict" in line)
    assert re.search(r"verdict.*main reason.*open items.*inclusions.*exclusions", header)
    rows = [line for line in text.splitlines() if "Patient/" in line]
    assert len(rows) == 3
    # a1: both computable inclusions met of 2, no exclusion found (exc-1 is not computable here)
    assert re.search(r"Patient/a1.*eligible.*all criteria met.*\b2/2\b.*\b0\b", rows[0])
    assert re.search(r"Patient/b2.*needs-review.*ANC unknown.*absolute neutrophil.*\b1/2\b", rows[1])
    assert "NCT01234567" in text and "2024-06-01" in text


def _data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="screen-data">(.*?)</script>', page, re.S)
    assert found
    return cast(dict[str, Any], json.loads(found.group(1)))


def test_html_is_self_contained() -> None:
    page = render_html(_result(), ATOMS)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "<link" not in page.lower()
    assert "<style>" in page and page.count("<script>") == 1  # the page's own script (the data is JSON)


def test_html_carries_the_screening_once_as_json() -> None:
    page = render_html(_result(), ATOMS, considered="3 patients in --data")
    data = _data(page)
    assert (data["trial"], data["as_of"], data["considered"]) == ("NCT01234567", "2024-06-01", "3 patients in --data")
    # inclusions first, then exclusions
    assert [c["id"] for c in data["criteria"]] == ["inc-1", "inc-2", "exc-1"]
    assert data["criteria"][1]["text"].startswith("ANC >= 1.5")
    strings = data["strings"]
    by_patient = {p["p"]: p for p in data["patients"]}
    assert [by_patient[p]["v"] for p in ("Patient/a1", "Patient/b2", "Patient/c3")] == [0, 1, 2]
    # cells show the effect: an absent exclusion passes ("p"), unknown "u", review "r", no result "-"
    assert by_patient["Patient/a1"]["k"] == "ppp"
    assert by_patient["Patient/b2"]["k"] == "pur"
    assert by_patient["Patient/c3"]["k"] == "f--"
    detail = {d[0]: d for d in by_patient["Patient/a1"]["d"]}
    assert strings[detail[1][1]] == "ANC 2.1 ≥ 1.5"
    [[reference, value, unit, day, _range]] = detail[1][2]
    assert (strings[reference], value, strings[unit], strings[day]) == ("Observation/o1", 2.1, "10⁹/L", "")
    assert strings[by_patient["Patient/b2"]["r"]] == "ANC unknown"


def test_repeated_texts_are_stored_once() -> None:
    result = _result()
    result.patients = [
        p.model_copy(update={"patient": f"Patient/x{i}"}) for i in range(50) for p in result.patients[:1]
    ]
    data = report_data(result, ATOMS)
    assert len(data["strings"]) <= 12  # one patient's texts, not fifty
    assert len(data["patients"]) == 50


def test_html_escapes_every_text() -> None:
    page = render_html(_result(), ATOMS)
    assert "<script>alert(1)" not in page
    assert "<b>recorded" not in page
    # inside the JSON every "<" is escaped, so no text can end the script element
    assert page.count("</script>") == 2
    assert "\\u003cscript>alert(1)\\u003c/script>" in page
    data = _data(page)
    assert any("<script>alert(1)</script>" in c["text"] for c in data["criteria"])
    assert "no ANC value <b>recorded</b>" in data["strings"]
    # the script inserts texts with textContent only
    script = page.rsplit("<script>", 1)[1]
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
