from __future__ import annotations

import pytest

from fhir_adapter.ingest.text import check_partial_date, legacy_date, parse_age, unescape_markdown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ANC \\>= 1500", "ANC >= 1500"),
        ("count \\< 3", "count < 3"),
        ("1.5×10\\^9/L", "1.5×10^9/L"),
        ("\\* item \\[FNA\\]", "* item [FNA]"),
        ("a\\_b \\~ c \\\\ d", "a_b ~ c \\ d"),
        ("no escapes: C:\\path9", "no escapes: C:\\path9"),
    ],
)
def test_unescape_markdown(raw: str, expected: str) -> None:
    assert unescape_markdown(raw) == expected


@pytest.mark.parametrize(
    ("raw", "value", "unit"),
    [("18 Years", 18, "a"), ("1 Year", 1, "a"), ("6 Months", 6, "mo"), ("2 Weeks", 2, "wk"), ("30 Days", 30, "d"),
     ("12 Hours", 12, "h"), ("15 Minutes", 15, "min")],
)
def test_parse_age_gives_ucum_quantity(raw: str, value: float, unit: str) -> None:
    age = parse_age(raw)
    assert age is not None
    assert (age.value, age.unit, age.raw) == (value, unit, raw)


@pytest.mark.parametrize("raw", ["N/A", "", "  "])
def test_parse_age_open_bound(raw: str) -> None:
    assert parse_age(raw) is None


@pytest.mark.parametrize("raw", ["eighteen", "18 Fortnights", "Years 18"])
def test_parse_age_rejects_non_ages(raw: str) -> None:
    with pytest.raises(ValueError, match="age"):
        parse_age(raw)


def test_partial_dates_kept_as_given() -> None:
    assert [check_partial_date(d) for d in ("2028", "2028-10", "2028-10-31")] == ["2028", "2028-10", "2028-10-31"]
    with pytest.raises(ValueError):
        check_partial_date("2028-13")


@pytest.mark.parametrize(
    ("raw", "expected"), [("August 2015", "2015-08"), ("July 31, 2015", "2015-07-31"), ("2015-08", "2015-08")]
)
def test_legacy_dates(raw: str, expected: str) -> None:
    assert legacy_date(raw) == expected
