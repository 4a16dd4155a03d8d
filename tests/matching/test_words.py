"""Words for people: UCUM units, comparators and open items."""

from __future__ import annotations

import pytest

from fhir_adapter.words import comparator, open_item, quantity, reason_codes, unit_text


@pytest.mark.parametrize(
    ("ucum", "text"),
    [
        ("10*9/L", "10⁹/L"), ("10*3/uL", "10³/µL"), ("umol/L", "µmol/L"), ("a", "years"), ("mo", "months"),
        ("mL/min/{1.73_m2}", "mL/min/1.73 m²"), ("kg/m2", "kg/m²"), ("mm[Hg]", "mmHg"), ("[IU]/L", "IU/L"),
        ("/mm3", "/mm³"), ("mg/dL", "mg/dL"), ("U/L", "U/L"), ("{score}", ""), (None, ""),
    ],
)
def test_unit_text(ucum: str | None, text: str) -> None:
    assert unit_text(ucum) == text


def test_quantities_read_as_people_write_them() -> None:
    assert quantity(1.5, "10*9/L") == "1.5 × 10⁹/L"
    assert quantity(76, "a") == "76 years"
    assert quantity(45, "%") == "45%"
    assert quantity(2, "{score}") == "2"
    assert quantity(1.0, "mg/dL") == "1 mg/dL"


def test_comparators_and_open_items() -> None:
    assert [comparator(c) for c in ("le", "ge", "lt", "gt")] == ["≤", "≥", "<", ">"]
    assert open_item("no-reference-range", label="total bilirubin") == "total bilirubin with reference range"
    stale = open_item("stale", label="ECOG performance status", days=90)
    assert stale == "ECOG performance status from the last 90 days"
    assert open_item("no-such-kind", label="x") == "x"


def test_every_reason_code_of_the_contract_has_a_meaning() -> None:
    from typing import get_args

    from fhir_adapter.matching.model import ReasonCode

    assert set(reason_codes()) == set(get_args(ReasonCode))


def test_control_characters_never_reach_a_terminal_raw() -> None:
    from datetime import date

    from fhir_adapter.matching.model import PatientResult, ScreenResult
    from fhir_adapter.matching.report import table_text
    from fhir_adapter.words import printable

    assert printable("a\x1b[31mred\x07\tb") == "a\\x1b[31mred\\x07\tb"
    hostile = PatientResult(patient="Patient/x\x1b]0;pwned\x07", verdict="ineligible", reason="r\x1b[2J")
    text = table_text(ScreenResult(trial="T", as_of=date(2025, 1, 1), patients=[hostile]))
    assert "\x1b" not in text and "\\x1b]0;pwned" in text
