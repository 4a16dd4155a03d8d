"""Unit text to UCUM, and value conversion between units.

``mappings/units.yaml`` holds the UCUM units (dimension and factor to the dimension's base unit)
and the aliases met in criteria text and in FHIR ``Quantity.unit``; analyte-specific factors
(bilirubin mg/dL -> umol/L) are the ``conversions`` of the lab concepts in ``labs.yaml``.
"""

from __future__ import annotations

import re
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fhir_adapter.errors import ConfigError
from fhir_adapter.mappings import load_table

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_POWER_OF_TEN = re.compile(r"^(?:[x*·.]|)10(?:\^|\*|\*\*|e|E)?\(?(-?\d+)\)?(/.+)$")
_SUPERSCRIPT_POWER = re.compile(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)")


class UnitDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dimension: str
    factor: float = Field(gt=0)
    """Value in the dimension's base unit = value in this unit * factor."""


class _UnitTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    units: dict[str, UnitDef]
    aliases: dict[str, str]


class UnitRegistry:
    """The units of ``units.yaml`` with their aliases (exact first, then unambiguous lower-case)."""

    def __init__(self, units: dict[str, UnitDef], aliases: dict[str, str]) -> None:
        self.units = dict(units)
        self._exact: dict[str, str] = {}
        lower: dict[str, set[str]] = {}
        for text, code in [*((u, u) for u in units), *aliases.items()]:
            if code not in units:
                raise ConfigError(f"alias {text!r} names unknown unit {code!r}", source="mappings/units.yaml")
            key = _squeeze(text)
            self._exact[key] = code
            lower.setdefault(key.lower(), set()).add(code)
        self._lower = {k: next(iter(v)) for k, v in lower.items() if len(v) == 1}

    def lookup(self, text: str) -> str | None:
        return self._exact.get(text) or self._lower.get(text.lower())


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@cache
def registry() -> UnitRegistry:
    """The units of the shipped ``units.yaml`` (loaded once)."""
    try:
        table = _UnitTable.model_validate(load_table("units"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"malformed entry {where}: {first['msg']}", source="mappings/units.yaml") from exc
    return UnitRegistry(table.units, table.aliases)


def _clean(text: str) -> str:
    s = text.strip().replace("\\^", "^").replace("µ", "u").replace("μ", "u").replace("×", "x")
    s = _SUPERSCRIPT_POWER.sub(lambda m: "10^" + m.group(1).translate(_SUPERSCRIPTS), s)
    return _squeeze(s.translate(_SUPERSCRIPTS))


def normalize_unit(text: str | None) -> str | None:
    """The UCUM code for unit text as written (``×10⁹/L`` -> ``10*9/L``, ``µmol/L`` -> ``umol/L``), None if unknown."""
    if not text or not text.strip():
        return None
    reg = registry()
    s = _clean(text)
    found = reg.lookup(s)
    if found is not None:
        return found
    power = _POWER_OF_TEN.match(s)
    if power is not None:
        rest = reg.lookup(power.group(2))
        if rest is not None and rest.startswith("/"):
            candidate = f"10*{int(power.group(1))}{rest}"
            if candidate in reg.units:
                return candidate
            found = reg.lookup(candidate)
            if found is not None:
                return found
    return None


def dimension(unit: str) -> str | None:
    """The dimension of a unit (``number-concentration``...), None if unknown."""
    code = normalize_unit(unit)
    return registry().units[code].dimension if code else None


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


def convert(value: float, from_unit: str, to_unit: str, concept_key: str | None = None) -> float | None:
    """``value`` in ``from_unit`` expressed in ``to_unit``, None when not convertible.

    Units of one dimension convert by their factors (1.5 10*9/L = 1500 /uL; 10 g/dL = 100 g/L).
    Across dimensions (mass <-> substance concentration) only with ``concept_key`` naming a lab
    concept whose ``conversions`` link the two dimensions (bilirubin 1 mg/dL = 17.1 umol/L).
    """
    reg = registry()
    source, target = normalize_unit(from_unit), normalize_unit(to_unit)
    if source is None or target is None:
        return None
    f, t = reg.units[source], reg.units[target]
    if f.dimension == t.dimension:
        return _tidy(value * f.factor / t.factor)
    if concept_key is None:
        return None
    from fhir_adapter.terminology import lexicon

    lex = lexicon()
    if concept_key not in lex:
        return None
    for conversion in lex.get(concept_key).conversions:
        a_code, b_code = normalize_unit(conversion.from_unit), normalize_unit(conversion.to_unit)
        if a_code is None or b_code is None:
            continue
        a, b = reg.units[a_code], reg.units[b_code]
        if f.dimension == a.dimension and t.dimension == b.dimension:
            return _tidy(value * f.factor / a.factor * conversion.factor * b.factor / t.factor)
        if f.dimension == b.dimension and t.dimension == a.dimension:
            return _tidy(value * f.factor / b.factor / conversion.factor * a.factor / t.factor)
    return None
