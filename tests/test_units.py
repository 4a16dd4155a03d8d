"""Unit normalisation to UCUM and conversions (checked against ucumvert, which vendors ucum-essence.xml)."""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Any

import pytest

from fhir_adapter.mappings import load_table
from fhir_adapter.units import (
    UnitDef,
    UnitRegistry,
    convert,
    dimension,
    linear_conversion,
    normalize_unit,
    observation_units,
    registry,
    unit_prefix,
)


@pytest.mark.parametrize(
    ("text", "ucum"),
    [
        # cell counts
        ("10^9/L", "10*9/L"),
        ("10\\^9/L", "10*9/L"),
        ("10e9/L", "10*9/L"),
        ("×10⁹/L", "10*9/L"),
        ("x10(9)/L", "10*9/L"),
        ("x 10 9/L", "10*9/L"),
        ("x 10^9/l", "10*9/L"),
        ("10*9/L", "10*9/L"),
        ("10*9/l", "10*9/L"),
        ("10^9 cells/L", "10*9/L"),
        ("G/L", "10*9/L"),
        ("10^3/uL", "10*3/uL"),
        ("10³/µL", "10*3/uL"),
        ("10^3/mm3", "10*3/uL"),
        ("10*3/uL", "10*3/uL"),
        ("K/uL", "10*3/uL"),
        ("K/µL", "10*3/uL"),
        ("K/cumm", "10*3/uL"),
        ("k/mm3", "10*3/uL"),
        ("thou/uL", "10*3/uL"),
        ("/nL", "10*3/uL"),
        ("10^6/µL", "10*6/uL"),
        ("/mm3", "/uL"),
        ("/mm³", "/uL"),
        ("cells/mm3", "/uL"),
        ("cells/mm³", "/uL"),
        ("/mcL", "/uL"),
        ("/µL", "/uL"),
        ("/μL", "/uL"),
        ("/uL", "/uL"),
        ("cells/µL", "/uL"),
        ("copies/mL", "{copies}/mL"),
        ("cps/ml", "{copies}/mL"),
        ("log10 copies/mL", "{log_copies}/mL"),
        ("log IU/mL", "{log_IU}/mL"),
        # mass concentration
        ("g/dL", "g/dL"),
        ("Gms/dL", "g/dL"),
        ("gm/dl", "g/dL"),
        ("grams per deciliter", "g/dL"),
        ("g/100 mL", "g/dL"),
        ("g/L", "g/L"),
        ("g/l", "g/L"),
        ("mg/dL", "mg/dL"),
        ("mg/dl", "mg/dL"),
        ("mg / dl", "mg/dL"),
        ("mg per dL", "mg/dL"),
        ("mg%", "mg/dL"),
        ("ng/mL", "ng/mL"),
        ("ng/dL", "ng/dL"),
        ("pg/mL", "pg/mL"),
        ("µg/L", "ug/L"),
        ("mcg/L", "ug/L"),
        # substance concentration, equivalents
        ("µmol/L", "umol/L"),
        ("μmol/L", "umol/L"),
        ("umol/L", "umol/L"),
        ("umol per liter", "umol/L"),
        ("mcmol/L", "umol/L"),
        ("mmol/L", "mmol/L"),
        ("mmol/l", "mmol/L"),
        ("mmol / l", "mmol/L"),
        ("mM", "mmol/L"),
        ("nmol/L", "nmol/L"),
        ("pmol/L", "pmol/L"),
        ("mEq/L", "meq/L"),
        # enzymes and international units
        ("U/L", "U/L"),
        ("IU/L", "[IU]/L"),
        ("IU/mL", "[IU]/mL"),
        ("mIU/mL", "m[IU]/mL"),
        ("mUI/ml", "m[IU]/mL"),
        ("µIU/mL", "u[IU]/mL"),
        ("mU/L", "mU/L"),
        ("U/mL", "U/mL"),
        # clearance
        ("mL/min", "mL/min"),
        ("ml/minute", "mL/min"),
        ("ml / min", "mL/min"),
        ("mL/min/1.73m2", "mL/min/{1.73_m2}"),
        ("mL/min/1.73 m²", "mL/min/{1.73_m2}"),
        ("ml/min/1.73 m2", "mL/min/{1.73_m2}"),
        ("ml/min per 1.73m2", "mL/min/{1.73_m2}"),
        ("mL/min/{1.73_m2}", "mL/min/{1.73_m2}"),
        # ratios, fractions
        ("%", "%"),
        ("percent", "%"),
        ("th percentile", "{percentile}"),
        ("mg/g", "mg/g"),
        ("mg/mmol", "mg/mmol"),
        ("mmol/mol", "mmol/mol"),
        ("g/24h", "g/(24.h)"),
        ("mg/24 hours", "mg/(24.h)"),
        # vital signs and anthropometrics
        ("kg/m2", "kg/m2"),
        ("kg/m²", "kg/m2"),
        ("kg/m^2", "kg/m2"),
        ("kg m-2", "kg/m2"),
        ("kg", "kg"),
        ("lbs", "[lb_av]"),
        ("pounds", "[lb_av]"),
        ("cm", "cm"),
        ("m", "m"),
        ("mmHg", "mm[Hg]"),
        ("mm Hg", "mm[Hg]"),
        ("millimeters of mercury", "mm[Hg]"),
        ("bpm", "/min"),
        ("beats per minute", "/min"),
        ("beats/min", "/min"),
        ("/min", "/min"),
        ("ms", "ms"),
        ("msec", "ms"),
        ("milliseconds", "ms"),
        ("seconds", "s"),
        ("°C", "Cel"),
        ("C", "Cel"),
        ("°F", "[degF]"),
        ("F", "[degF]"),
        ("fL", "fL"),
        ("mm/h", "mm/h"),
        # a unit restated in brackets
        ("kilogram (kg)", "kg"),
        ("millimeters of mercury [mmHg]", "mm[Hg]"),
        ("picograms per mililiter (pg/mL)", "pg/mL"),
        ("milli-international units per milliliter (MlU/mL)", "m[IU]/mL"),
        ("mL/min/(1.73 m2)", "mL/min/{1.73_m2}"),
        ("gram/day", "g/d"),
        # time
        ("a", "a"),
        ("years", "a"),
    ],
)
def test_normalize_unit(text: str, ucum: str) -> None:
    assert normalize_unit(text) == ucum


@pytest.mark.parametrize(
    "text",
    ["", "  ", "mm", "furlongs", "10^9", "x ULN", "× ULN", "ULN", "IU", "cells", "copies", "mEq", "c", "or", "U"],
)
def test_normalize_unknown_or_ambiguous(text: str) -> None:
    """Not a unit, or a spelling with two readings ("mm": millimetre or a truncated /mm3; "c")."""
    assert normalize_unit(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kilograms (kg) and body mass index within", ("kg", 14)),
        ("log IU/ml (LLOD)", ("{log_IU}/mL", 9)),
        ("umol per liter (5.8 mg/dL)", ("umol/L", 14)),
        ("mm Hg OR a diastolic blood pressure", ("mm[Hg]", 5)),
        ("mg/dL or eGFR=60(ml/min/1.73 m2)", ("mg/dL", 5)),
        ("ml/min/1.73 m2 and blood glucose", ("mL/min/{1.73_m2}", 14)),
        ("beats/minute or grade 2", ("/min", 12)),
        ("log10 copies per mL", ("{log_copies}/mL", 19)),
        ("Milliliter per minute).", ("mL/min", 21)),
        ("x 10^9/L without growth factor", ("10*9/L", 8)),
        ("x ULN", None),
        ("patients with", None),
    ],
)
def test_unit_prefix(text: str, expected: tuple[str, int] | None) -> None:
    """The longest unit at the start of the text after a number, for the compiler's threshold grammar."""
    assert unit_prefix(text) == expected


def test_dimension() -> None:
    assert dimension("10^9/L") == dimension("/mm3") == "number-concentration"
    assert dimension("g/dL") == "mass-concentration"
    assert dimension("IU/L") == "iu-concentration"
    assert dimension("U/L") == "catalytic-concentration"
    assert dimension("ms") == dimension("s") == "time"
    assert dimension("nope") is None


def test_dimensional_conversions() -> None:
    assert convert(1.5, "10*9/L", "10*3/uL") == pytest.approx(1.5)
    assert convert(1.5, "10^9/L", "/uL") == pytest.approx(1500)
    assert convert(1500, "/mm3", "10^9/L") == pytest.approx(1.5)
    assert convert(100, "10^3/uL", "G/L") == pytest.approx(100)
    assert convert(100000, "/mcL", "10*9/L") == pytest.approx(100)
    assert convert(10, "g/dL", "g/L") == pytest.approx(100)
    assert convert(90, "g/L", "g/dL") == pytest.approx(9)
    assert convert(1.5, "mg/dL", "mg/L") == pytest.approx(15)
    assert convert(26, "umol/L", "mmol/L") == pytest.approx(0.026)
    assert convert(40, "U/L", "ukat/L") == pytest.approx(40 / 60)
    assert convert(2.5, "mIU/mL", "IU/L") == pytest.approx(2.5)
    assert convert(2.5, "µIU/mL", "m[IU]/L") == pytest.approx(2.5)
    assert convert(2, "years", "d") == pytest.approx(730.5)
    assert convert(450, "msec", "s") == pytest.approx(0.45)
    assert convert(150, "lbs", "kg") == pytest.approx(68.0388555)
    assert convert(60, "inches", "cm") == pytest.approx(152.4)
    assert convert(10, "kPa", "mmHg") == pytest.approx(75.00617)
    assert convert(0.7, "{ratio}", "%") == pytest.approx(70)
    assert convert(1, "g/24h", "mg/24 hours") == pytest.approx(1000)
    assert convert(1, "mL/s/{1.73_m2}", "mL/min/1.73m2") == pytest.approx(60)


def test_affine_temperature() -> None:
    assert convert(98.6, "°F", "°C") == pytest.approx(37.0)
    assert convert(100.4, "F", "Cel") == pytest.approx(38.0)
    assert convert(38, "°C", "[degF]") == pytest.approx(100.4)
    assert linear_conversion("[degF]", "Cel") == pytest.approx((5 / 9, -160 / 9))
    assert linear_conversion("mg/dL", "mg/L") == pytest.approx((10, 0.0))


def test_log10_viral_loads() -> None:
    assert convert(5, "log10 copies/mL", "copies/mL") == pytest.approx(100000)
    assert convert(200, "copies/mL", "{log_copies}/mL") == pytest.approx(2.30103)
    assert convert(3.3, "log IU/mL", "IU/mL") == pytest.approx(1995.26, rel=1e-4)
    assert convert(0, "copies/mL", "{log_copies}/mL") is None
    assert linear_conversion("{log_copies}/mL", "{copies}/mL") is None


def test_analyte_conversions() -> None:
    assert convert(1, "mg/dL", "umol/L", "lab.total-bilirubin") == pytest.approx(17.1)
    assert convert(34.2, "µmol/L", "mg/dL", "lab.total-bilirubin") == pytest.approx(2.0)
    assert convert(1, "mg/dL", "umol/L", "lab.creatinine") == pytest.approx(88.4)
    assert convert(1.5, "mg/dL", "umol/L", "lab.creatinine") == pytest.approx(132.6)
    assert convert(1, "mg/L", "umol/L", "lab.total-bilirubin") == pytest.approx(1.71)
    assert convert(180.16, "mg/dL", "mmol/L", "lab.glucose") == pytest.approx(10.0, rel=1e-3)
    assert convert(7.0, "mmol/L", "mg/dL", "lab.fasting-glucose") == pytest.approx(126.1, rel=1e-3)
    assert convert(7.0, "mM", "mg/dL", "lab.fasting-glucose") == pytest.approx(126.1, rel=1e-3)
    assert convert(1, "g/dL", "mmol/L", "lab.hemoglobin") == pytest.approx(0.6206)
    assert convert(6.2, "mmol/L", "g/dL", "lab.hemoglobin") == pytest.approx(9.99, rel=1e-3)
    assert convert(2.5, "mmol/L", "mg/dL", "lab.calcium") == pytest.approx(10.02, rel=1e-3)
    assert convert(190, "mg/dL", "mmol/L", "lab.ldl") == pytest.approx(4.913, rel=1e-3)
    assert convert(1.8, "mmol / l", "mg/dL", "lab.ldl") == pytest.approx(69.6, rel=1e-3)
    assert convert(500, "mg/dL", "mmol/L", "lab.triglycerides") == pytest.approx(5.645, rel=1e-3)
    assert convert(40, "mg/dL", "mmol/L", "lab.bun") == pytest.approx(14.28, rel=1e-3)
    assert convert(7, "mg/dL", "umol/L", "lab.uric-acid") == pytest.approx(416.4, rel=1e-3)
    assert convert(30, "ng/mL", "nmol/L", "lab.vitamin-d") == pytest.approx(74.9, rel=1e-3)
    assert convert(50, "ng/dL", "nmol/L", "lab.testosterone") == pytest.approx(1.73, rel=1e-2)
    assert convert(3, "mg/mmol", "mg/g", "lab.uacr") == pytest.approx(26.5, rel=1e-2)
    assert convert(95, "th percentile", "%", "lab.bmi-percentile") == pytest.approx(95)
    assert convert(40, "ml/min", "mL/min/{1.73_m2}", "lab.egfr") == pytest.approx(40)  # eGFR is per 1.73 m2 anyway


def test_valence_for_milliequivalents() -> None:
    """mEq/L is mmol/L for monovalent ions only; divalent Ca2+ and Mg2+ halve."""
    assert convert(4.5, "mEq/L", "mmol/L", "lab.potassium") == pytest.approx(4.5)
    assert convert(140, "mEq/L", "mmol/L", "lab.sodium") == pytest.approx(140)
    assert convert(24, "mEq/L", "mmol/L", "lab.bicarbonate") == pytest.approx(24)
    assert convert(5, "mEq/L", "mmol/L", "lab.calcium") == pytest.approx(2.5)
    assert convert(5, "mEq/L", "mg/dL", "lab.calcium") == pytest.approx(10.02, rel=1e-3)
    assert convert(1.6, "mEq/L", "mg/dL", "lab.magnesium") == pytest.approx(1.945, rel=1e-3)
    assert convert(1, "mEq/L", "mmol/L") is None


def test_iu_and_enzyme_units() -> None:
    """IU/L is UCUM [IU]/L; enzymes state IU = U, IU-calibrated hormones state U = IU."""
    assert convert(40, "IU/L", "U/L", "lab.alt") == pytest.approx(40)
    assert convert(40, "[IU]/L", "U/L", "lab.ast") == pytest.approx(40)
    assert convert(2.5, "mU/L", "m[IU]/L", "lab.tsh") == pytest.approx(2.5)
    assert convert(40, "IU/L", "m[IU]/mL", "lab.fsh") == pytest.approx(40)
    assert convert(40, "IU/L", "U/L") is None


def test_not_convertible() -> None:
    assert convert(1, "mg/dL", "umol/L") is None  # no analyte given
    assert convert(1, "mg/dL", "umol/L", "lab.ast") is None  # no factor for this analyte
    assert convert(1, "mg/dL", "umol/L", "lab.no-such") is None
    assert convert(1, "10^9/L", "g/L") is None
    assert convert(60, "mL/min", "mL/min/1.73m2") is None
    assert convert(60, "mL/min/1.73m2", "mL/min", "lab.creatinine-clearance") is None
    assert convert(1, "furlongs", "mg/dL") is None


def test_observation_units_are_known() -> None:
    units = observation_units()
    assert {"10*9/L", "10*3/uL", "mg/dL", "mm[Hg]", "kg/m2", "Cel", "/min", "%", "mEq/L"} <= set(units)
    assert [u for u in units if normalize_unit(u) is None] == []
    assert len(set(units)) == len(units)


def test_registry_rejects_unknown_targets() -> None:
    from fhir_adapter.errors import ConfigError

    unit = UnitDef(dimension="mass", factor=1)
    with pytest.raises(ConfigError, match="nope"):
        UnitRegistry({"g": unit}, {"gram": "nope"})
    with pytest.raises(ConfigError, match="nope"):
        UnitRegistry({"g": unit}, {}, {"G": "nope"})
    reg = UnitRegistry({"g": unit}, {}, {"Gr": "g"})
    assert reg.lookup("Gr") == "g" and reg.lookup("gr") is None


# -- every unit code and factor against ucumvert ----------------------------------------------------------

_NO_PINT = {"[pH]"}
"""Valid UCUM special units that ucumvert's pint registry cannot build (checked by syntax only)."""
_NOT_UCUM = {"mEq/L"}
"""Record spellings in observation_units that are not UCUM (case-sensitive 'Eq'); normalised by alias."""


@cache
def _ucum() -> Any:
    ucumvert = pytest.importorskip("ucumvert")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ucumvert.PintUcumRegistry()


def _quantity(code: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _ucum().from_ucum(code)


def _is_pure_annotation(code: str) -> bool:
    return code.startswith("{") and code.endswith("}") and "}" not in code[:-1]


def _table_codes() -> list[str]:
    table = load_table("units")
    return sorted(
        {*table["units"], *table["aliases"].values(), *table.get("case_sensitive_aliases", {}).values()}
        | {u["log10_of"] for u in table["units"].values() if u.get("log10_of")}
    )


def _parse(code: str) -> None:
    """Raises ucumvert.InvalidUcumError for a code that is not valid UCUM."""
    _ucum()
    import ucumvert  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ucumvert.parse_ucum(code)


@pytest.mark.parametrize("code", _table_codes())
def test_every_unit_code_is_valid_ucum(code: str) -> None:
    _parse(code)


@pytest.mark.parametrize("code", sorted(set(load_table("units")["observation_units"]) - _NOT_UCUM))
def test_every_observation_unit_is_valid_ucum(code: str) -> None:
    _parse(code)


def test_non_ucum_spellings_are_rejected_by_ucumvert() -> None:
    import ucumvert

    for code in [*_NOT_UCUM, "mcg/L", "cells/mm3"]:
        with pytest.raises(ucumvert.InvalidUcumError):
            _parse(code)


def _dimension_pairs() -> list[tuple[str, str]]:
    units = registry().units
    by_dimension: dict[str, list[str]] = {}
    for code, unit in units.items():
        if unit.log10_of is None and not _is_pure_annotation(code) and code not in _NO_PINT:
            by_dimension.setdefault(unit.dimension, []).append(code)
    return [(codes[0], other) for codes in by_dimension.values() for other in codes[1:]]


@pytest.mark.parametrize(("reference", "code"), _dimension_pairs())
def test_every_factor_agrees_with_ucumvert(reference: str, code: str) -> None:
    units = registry().units
    ref, quantity = _quantity(reference), _quantity(code)
    if units[code].offset or units[reference].offset:  # affine: compare converted values
        expected = float(_ucum().Quantity(37.5, quantity.units).to(ref.units).magnitude)
        assert convert(37.5, code, reference) == pytest.approx(expected, rel=1e-9)
        return
    expected = float(quantity.to(ref.units).magnitude) / float(ref.magnitude)
    assert math.isclose(units[code].factor / units[reference].factor, expected, rel_tol=1e-6)


def test_every_lab_unit_and_conversion_is_known() -> None:
    """Every lab's canonical unit and both ends of every analyte conversion normalise to a unit of units.yaml."""
    for key, entry in load_table("labs")["concepts"].items():
        if entry.get("category") == "lab" and entry.get("scale") is None:
            assert entry.get("unit") and normalize_unit(entry["unit"]) == entry["unit"], key
        for conversion in entry.get("conversions", []):
            assert normalize_unit(conversion["from"]) is not None, (key, conversion["from"])
            assert normalize_unit(conversion["to"]) is not None, (key, conversion["to"])


def test_hba1c_ifcc_and_ngsp_are_related_by_an_offset() -> None:
    """IFCC mmol/mol = 10.929 x (NGSP % - 2.15): 48 mmol/mol is 6.5 %, 53 mmol/mol 7.0 % (a factor would be wrong)."""
    from fhir_adapter.units import convert, linear_conversion

    assert convert(6.5, "%", "mmol/mol", "lab.hba1c") == pytest.approx(47.54, abs=0.01)
    assert convert(53, "mmol/mol", "%", "lab.hba1c") == pytest.approx(6.999, abs=0.001)
    scale, shift = linear_conversion("mmol/mol", "%", "lab.hba1c") or (0.0, 0.0)
    assert (round(scale, 5), round(shift, 2)) == (0.0915, 2.15)
    assert convert(6.5, "%", "mmol/mol") is None  # only for the analyte that defines it
