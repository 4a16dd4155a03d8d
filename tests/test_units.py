"""Unit normalisation to UCUM and conversions."""

from __future__ import annotations

import pytest

from fhir_adapter.units import convert, dimension, normalize_unit


@pytest.mark.parametrize(
    ("text", "ucum"),
    [
        ("10^9/L", "10*9/L"),
        ("10\\^9/L", "10*9/L"),
        ("×10⁹/L", "10*9/L"),
        ("x10(9)/L", "10*9/L"),
        ("10*9/L", "10*9/L"),
        ("G/L", "10*9/L"),
        ("x 10^9/l", "10*9/L"),
        ("10^3/uL", "10*3/uL"),
        ("10*3/uL", "10*3/uL"),
        ("K/uL", "10*3/uL"),
        ("/nL", "10*3/uL"),
        ("10^3/µL", "10*3/uL"),
        ("/mm3", "/uL"),
        ("/mm³", "/uL"),
        ("cells/mm3", "/uL"),
        ("/µL", "/uL"),
        ("/μL", "/uL"),
        ("/uL", "/uL"),
        ("µmol/L", "umol/L"),
        ("μmol/L", "umol/L"),
        ("umol/L", "umol/L"),
        ("mg/dL", "mg/dL"),
        ("mg/dl", "mg/dL"),
        ("g/dL", "g/dL"),
        ("g/L", "g/L"),
        ("g/l", "g/L"),
        ("mL/min", "mL/min"),
        ("mL/min/1.73m2", "mL/min/{1.73_m2}"),
        ("mL/min/1.73 m²", "mL/min/{1.73_m2}"),
        ("mL/min/{1.73_m2}", "mL/min/{1.73_m2}"),
        ("%", "%"),
        ("U/L", "U/L"),
        ("IU/L", "U/L"),
        ("mmol/L", "mmol/L"),
        ("mEq/L", "meq/L"),
        ("a", "a"),
        ("years", "a"),
    ],
)
def test_normalize_unit(text: str, ucum: str) -> None:
    assert normalize_unit(text) == ucum


@pytest.mark.parametrize("text", ["", "  ", "mm", "furlongs", "10^9", "x ULN"])
def test_normalize_unknown(text: str) -> None:
    assert normalize_unit(text) is None


def test_dimension() -> None:
    assert dimension("10^9/L") == dimension("/mm3") == "number-concentration"
    assert dimension("g/dL") == "mass-concentration"
    assert dimension("nope") is None


def test_dimensional_conversions() -> None:
    assert convert(1.5, "10*9/L", "10*3/uL") == pytest.approx(1.5)
    assert convert(1.5, "10^9/L", "/uL") == pytest.approx(1500)
    assert convert(1500, "/mm3", "10^9/L") == pytest.approx(1.5)
    assert convert(100, "10^3/uL", "G/L") == pytest.approx(100)
    assert convert(10, "g/dL", "g/L") == pytest.approx(100)
    assert convert(90, "g/L", "g/dL") == pytest.approx(9)
    assert convert(1.5, "mg/dL", "mg/L") == pytest.approx(15)
    assert convert(26, "umol/L", "mmol/L") == pytest.approx(0.026)
    assert convert(40, "IU/L", "U/L") == pytest.approx(40)
    assert convert(2, "years", "d") == pytest.approx(730.5)


def test_analyte_conversions() -> None:
    assert convert(1, "mg/dL", "umol/L", "lab.total-bilirubin") == pytest.approx(17.1)
    assert convert(34.2, "µmol/L", "mg/dL", "lab.total-bilirubin") == pytest.approx(2.0)
    assert convert(1, "mg/dL", "umol/L", "lab.creatinine") == pytest.approx(88.4)
    assert convert(1.5, "mg/dL", "umol/L", "lab.creatinine") == pytest.approx(132.6)
    assert convert(1, "mg/L", "umol/L", "lab.total-bilirubin") == pytest.approx(1.71)
    assert convert(180.16, "mg/dL", "mmol/L", "lab.glucose") == pytest.approx(10.0, rel=1e-3)
    assert convert(1, "g/dL", "mmol/L", "lab.hemoglobin") == pytest.approx(0.6206)
    assert convert(4.5, "mEq/L", "mmol/L", "lab.potassium") == pytest.approx(4.5)


def test_not_convertible() -> None:
    assert convert(1, "mg/dL", "umol/L") is None  # no analyte given
    assert convert(1, "mg/dL", "umol/L", "lab.ast") is None  # no factor for this analyte
    assert convert(1, "mg/dL", "umol/L", "lab.no-such") is None
    assert convert(1, "10^9/L", "g/L") is None
    assert convert(60, "mL/min", "mL/min/1.73m2") is None
    assert convert(1, "furlongs", "mg/dL") is None
