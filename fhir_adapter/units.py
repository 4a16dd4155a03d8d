"""Unit text to UCUM, and value conversion between units.

``mappings/units.yaml`` holds the UCUM units (dimension, factor and offset to the dimension's base
unit), the spellings met in criteria text and in FHIR ``Quantity.unit`` / ``Quantity.code``, word-level
spellings ("grams per deciliter") and the units in which Observations may be recorded; analyte-specific
factors (bilirubin mg/dL -> umol/L, mEq/L -> mmol/L by valence) are the ``conversions`` of the lab
concepts in ``labs.yaml``.

Conversions are linear (``value * factor``) except temperatures (affine: ``[degF]`` -> ``Cel``) and
log10 viral loads (``{log_copies}/mL`` -> ``{copies}/mL`` is ``10 ** value``). :func:`convert` handles
all of them; :func:`linear_conversion` gives ``(scale, shift)`` for callers that build expressions
(``value * scale + shift``) and returns None for the non-linear log units.
"""

from __future__ import annotations

import math
import re
from functools import cache, lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fhir_adapter.errors import ConfigError
from fhir_adapter.mappings import load_table

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_POWER_OF_TEN = re.compile(r"^(?:[x*·.]|)10(?:\^|\*|\*\*|e|E)?\(?(-?\d+)\)?(/.+)$")
_POWER_NUMERATOR = re.compile(r"^(?:[x*·]|)10(?:\^|\*\*?|e)\(?(-?\d+)\)?$|^[x*·]10\(?(-?\d+)\)?$")
_SUPERSCRIPT_POWER = re.compile(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)")
_PER = re.compile(r"\s+per\s+|\s*/\s*", re.IGNORECASE)
_EDGE_PUNCTUATION = " \t.,;:()[]"


class UnitDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dimension: str
    factor: float = Field(gt=0)
    """Value in the dimension's base unit = value in this unit * factor + offset."""
    offset: float = 0.0
    """Non-zero for affine units only (``[degF]``: Cel = degF * 5/9 - 17.78)."""
    log10_of: str | None = None
    """A log unit: the value is log10 of the value in this unit (``{log_copies}/mL`` of ``{copies}/mL``)."""


class _UnitTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    units: dict[str, UnitDef]
    aliases: dict[str, str]
    case_sensitive_aliases: dict[str, str] = Field(default_factory=dict)
    words: dict[str, str] = Field(default_factory=dict)
    observation_units: list[str] = Field(default_factory=list)


_WORDS_READ_SIZE = 8192


class UnitRegistry:
    """The units of ``units.yaml`` with their aliases (exact first, then unambiguous lower-case)."""

    def __init__(
        self,
        units: dict[str, UnitDef],
        aliases: dict[str, str],
        case_sensitive_aliases: dict[str, str] | None = None,
        words: dict[str, str] | None = None,
        observation_units: list[str] | None = None,
    ) -> None:
        self.units = dict(units)
        self.words = {_squeeze(k).lower(): v for k, v in (words or {}).items()}
        self.observation_units = list(observation_units or [])
        for code, unit in self.units.items():
            if unit.log10_of is not None and unit.log10_of not in self.units:
                raise ConfigError(
                    f"unit {code!r} is log10 of unknown unit {unit.log10_of!r}", source="mappings/units.yaml"
                )
        self._exact: dict[str, str] = {}
        lower: dict[str, set[str]] = {}
        exact_only = (case_sensitive_aliases or {}).items()
        for text, code, fold in [
            *((u, u, True) for u in units),
            *((t, c, True) for t, c in aliases.items()),
            *((t, c, False) for t, c in exact_only),
        ]:
            if code not in units:
                raise ConfigError(f"alias {text!r} names unknown unit {code!r}", source="mappings/units.yaml")
            key = _squeeze(text)
            self._exact[key] = code
            if fold:
                lower.setdefault(key.lower(), set()).add(code)
        self._lower = {k: next(iter(v)) for k, v in lower.items() if len(v) == 1}
        self._words_read: dict[str, str | None] = {}
        """:meth:`_word` by its text: :func:`unit_prefix` tries every prefix of the text after a number, so
        the same words are read again and again."""

    def lookup(self, text: str) -> str | None:
        return self._exact.get(text) or self._lower.get(text.lower())

    def power_of_ten(self, text: str) -> str | None:
        """``10^9/L``, ``x10(9)/L``, ``10e3/mm3``: a power of ten before a known per-volume unit."""
        match = _POWER_OF_TEN.match(text)
        if match is None:
            return None
        rest = self.lookup(match.group(2)) or self.lookup(self.rewrite_words(match.group(2)))
        if rest is None or not rest.startswith("/"):
            return None
        return self._scaled(int(match.group(1)), rest)

    def _scaled(self, exponent: int, rest: str) -> str | None:
        """The unit equal to ``10^exponent`` times ``rest`` (same dimension), the literal code preferred."""
        candidate = f"10*{exponent}{rest}"
        if candidate in self.units:
            return candidate
        found = self.lookup(candidate)
        if found is not None:
            return found
        base = self.units[rest]
        wanted = 10.0**exponent * base.factor
        for code, unit in self.units.items():
            if (
                unit.dimension == base.dimension
                and unit.offset == 0
                and math.isclose(unit.factor, wanted, rel_tol=1e-9)
            ):
                return code
        return None

    def rewrite_words(self, text: str) -> str:
        """Each ``/``- or ``per``-separated part rewritten by the ``words`` table (``grams per dl`` -> ``g/dL``)."""
        parts = _PER.split(text.strip(_EDGE_PUNCTUATION))
        out: list[str] = []
        for part in parts:
            rewritten = self._word(part)
            if rewritten is None and len(part.split()) > 1:
                tokens = [self._word(token) for token in part.split()]
                if all(t is not None for t in tokens):
                    rewritten = "".join(t for t in tokens if t)
            out.append(_squeeze(part).strip(_EDGE_PUNCTUATION) if rewritten is None else rewritten)
        return "/".join(out)

    def _word(self, text: str) -> str | None:
        try:
            return self._words_read[text]
        except KeyError:
            if len(self._words_read) >= _WORDS_READ_SIZE:
                self._words_read.clear()  # bounded: a service reads arbitrary texts
            found = self._words_read[text] = self._read_word(text)
            return found

    def _read_word(self, text: str) -> str | None:
        word = _squeeze(text).lower().strip(_EDGE_PUNCTUATION)
        power = _POWER_NUMERATOR.match(word)
        if power is not None:
            return f"10*{int(power.group(1) or power.group(2))}"
        rewritten = self.words.get(word)
        if rewritten is None and word.endswith("s") and len(word) > 3:
            rewritten = self.words.get(word[:-1])
        return rewritten


def _squeeze(text: str) -> str:
    return "".join(text.split())  # str.split() splits on exactly what \s matches (str.isspace)


@cache
def _table() -> _UnitTable:
    try:
        return _UnitTable.model_validate(load_table("units"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"malformed entry {where}: {first['msg']}", source="mappings/units.yaml") from exc


@cache
def registry() -> UnitRegistry:
    """The units of the shipped ``units.yaml`` (loaded once)."""
    table = _table()
    return UnitRegistry(table.units, table.aliases, table.case_sensitive_aliases, table.words, table.observation_units)


@lru_cache(maxsize=1024)
def proportional(unit: str) -> bool:
    """Whether values in ``unit`` convert by a factor alone (not an affine unit such as [degF], not a log unit)."""
    code = normalize_unit(unit)
    definition = registry().units.get(code) if code else None
    return definition is None or (definition.offset == 0 and definition.log10_of is None)


def observation_units() -> list[str]:
    """The unit codes in which Observations may be recorded (``Quantity.code``: UCUM or a legacy spelling)."""
    return list(registry().observation_units)


def _clean(text: str) -> str:
    s = text.strip().replace("\\^", "^").replace("\\*", "*").replace("µ", "u").replace("μ", "u").replace("×", "x")
    s = s.replace("º", "°").replace("⋅", ".").replace("·", ".")
    s = _SUPERSCRIPT_POWER.sub(lambda m: "10^" + m.group(1).translate(_SUPERSCRIPTS), s)
    return s.translate(_SUPERSCRIPTS)


@lru_cache(maxsize=8192)
def normalize_unit(text: str | None) -> str | None:
    """The UCUM code for unit text as written (``×10⁹/L`` -> ``10*9/L``, ``µmol/L`` -> ``umol/L``), None if unknown.

    Tried in turn: the text without spaces (exactly, then lower-cased when unambiguous), a power of ten
    before a per-volume unit (``10^3/mm3``), then the text rewritten word by word (``grams per deciliter``,
    ``K/cumm``, ``cells/µL``, ``ml/min per 1.73m2``).
    """
    if not text or not text.strip():
        return None
    found = _normalize(text)
    if found is not None or not _BRACKETED.search(text):
        return found
    # "mL/min/(1.73 m2)": the brackets are part of the unit; "kilogram (kg)", "millimeters of mercury
    # [mmHg]": the bracket restates the unit; "(mg/dL)": a bracketed unit alone.
    found = _normalize(re.sub(r"[()\[\]]", " ", text))
    if found is not None:
        return found
    outside = _BRACKETED.sub(" ", text).strip()
    inner = [_normalize(part) if part.strip() else None for part in _BRACKETED.findall(text)]
    if not outside:
        return inner[0] if len(inner) == 1 else None
    found = _normalize(outside)
    return found if found is not None and all(code == found for code in inner) else None


_BRACKETED = re.compile(r"[(\[]([^()\[\]]*)[)\]]")
_PREFIX_END_CHARS = ",;:)]"
_MAX_UNIT_CHARS = 60


def unit_prefix(text: str) -> tuple[str, int] | None:
    """The unit written at the start of ``text`` (after a number): its UCUM code and how many characters it takes.

    The longest prefix ending at a word boundary that :func:`normalize_unit` knows wins:
    ``"kilograms (kg) and BMI"`` -> ``("kg", 14)``, ``"log IU/ml (LLOD)"`` -> ``("{log_IU}/mL", 9)``,
    ``"umol per liter (5.8 mg/dL)"`` -> ``("umol/L", 14)``, ``"mm Hg or DBP"`` -> ``("mm[Hg]", 5)``.
    None when no prefix is a unit (``"x ULN"``, ``"years old"`` is ``("a", 5)``).
    """
    return _unit_prefix(text[:_MAX_UNIT_CHARS])


@lru_cache(maxsize=4096)
def _unit_prefix(head: str) -> tuple[str, int] | None:
    lead = len(head) - len(head.lstrip())
    # a prefix ends before a space or ,;:)] or at the end, or after a closing bracket (checked char by char: a
    # regex for empty matches at every position costs more)
    ends = [
        i
        for i in range(len(head), lead, -1)
        if i == len(head) or head[i].isspace() or head[i] in _PREFIX_END_CHARS or head[i - 1] in ")]"
    ]
    for end in ends:
        prefix = head[:end]
        if prefix.count("(") + prefix.count("[") != prefix.count(")") + prefix.count("]"):
            continue
        code = normalize_unit(prefix)
        if code is not None:
            return code, len(prefix.rstrip(" .,;:"))
    return None


def _normalize(text: str) -> str | None:
    reg = registry()
    cleaned = _clean(text)
    squeezed = _squeeze(cleaned)
    found = reg.lookup(squeezed) or reg.power_of_ten(squeezed)
    if found is not None:
        return found
    rewritten = reg.rewrite_words(cleaned)
    if rewritten and rewritten != squeezed:
        return reg.lookup(rewritten) or reg.power_of_ten(rewritten)
    return None


def dimension(unit: str) -> str | None:
    """The dimension of a unit (``number-concentration``...), None if unknown."""
    code = normalize_unit(unit)
    return registry().units[code].dimension if code else None


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


def _to_base(value: float, unit: UnitDef) -> float:
    return value * unit.factor + unit.offset


def _from_base(value: float, unit: UnitDef) -> float:
    return (value - unit.offset) / unit.factor


def _delog(value: float, code: str) -> tuple[float, str]:
    """A log10 unit's value as the plain value in the unit it is the log of."""
    unit = registry().units[code]
    if unit.log10_of is None:
        return value, code
    return 10.0**value, unit.log10_of


def _linear(value: float, source: str, target: str, concept_key: str | None) -> float | None:
    """``value`` in unit code ``source`` as unit code ``target`` (neither a log unit)."""
    reg = registry()
    f, t = reg.units[source], reg.units[target]
    if f.dimension == t.dimension:
        return _from_base(_to_base(value, f), t)
    if concept_key is None:
        return None
    step = _dimension_step(concept_key, f.dimension, t.dimension)
    if step is None:
        return None
    scale, shift = step
    return _from_base(_to_base(value, f) * scale + shift, t)


@lru_cache(maxsize=4096)
def _dimension_step(concept_key: str, source: str, target: str) -> tuple[float, float] | None:
    """``(scale, shift)`` between two dimensions' base units for one analyte: base[target] = base[source] * scale +
    shift (cached: the same few pairs recur)."""
    from fhir_adapter.terminology import lexicon

    reg = registry()
    lex = lexicon()
    if concept_key not in lex:
        return None
    # The concept's conversions link dimensions (mass <-> substance, equivalents -> substance, NGSP % <-> IFCC
    # mmol/mol...): a path of them from the source to the target dimension, each step affine between the
    # dimensions' bases (mEq/L -> mmol/L -> mg/dL for calcium).
    edges: dict[str, list[tuple[str, float, float]]] = {}
    for conversion in lex.get(concept_key).conversions:
        a_code, b_code = normalize_unit(conversion.from_unit), normalize_unit(conversion.to_unit)
        if a_code is None or b_code is None:
            continue
        a, b = reg.units[a_code], reg.units[b_code]
        if a.offset or b.offset or a.log10_of or b.log10_of or a.dimension == b.dimension:
            continue
        # base_b = (base_a / a.factor * factor + offset) * b.factor
        scale = conversion.factor * b.factor / a.factor
        shift = conversion.offset * b.factor
        edges.setdefault(a.dimension, []).append((b.dimension, scale, shift))
        edges.setdefault(b.dimension, []).append((a.dimension, 1 / scale, -shift / scale))
    steps = {source: (1.0, 0.0)}
    queue = [source]
    while queue:
        current = queue.pop(0)
        scale_so_far, shift_so_far = steps[current]
        for nxt, scale, shift in edges.get(current, []):
            if nxt not in steps:
                steps[nxt] = (scale_so_far * scale, shift_so_far * scale + shift)
                queue.append(nxt)
    return steps.get(target)


@lru_cache(maxsize=8192)
def _dimensions(source: str, target: str) -> tuple[str, str]:
    """The dimensions :func:`_linear` compares when converting unit code ``source`` to ``target`` (a log unit's
    is that of the unit it is the log of)."""
    units = registry().units
    delogged_source = units[source].log10_of
    delogged_target = units[target].log10_of
    return (
        units[delogged_source if delogged_source is not None else source].dimension,
        units[delogged_target if delogged_target is not None else target].dimension,
    )


def convert(value: float, from_unit: str, to_unit: str, concept_key: str | None = None) -> float | None:
    """``value`` in ``from_unit`` expressed in ``to_unit``, None when not convertible.

    Units of one dimension convert by their factors (1.5 10*9/L = 1500 /uL; 10 g/dL = 100 g/L) and
    offsets (98.6 [degF] = 37 Cel). Across dimensions (mass <-> substance concentration) only with
    ``concept_key`` naming a lab concept whose ``conversions`` link the two dimensions (bilirubin
    1 mg/dL = 17.1 umol/L). Log10 units convert through the unit they are the log of
    (4.7 {log_copies}/mL = 50118.7 {copies}/mL).
    """
    source, target = normalize_unit(from_unit), normalize_unit(to_unit)
    if source is None or target is None:
        return None
    source_dimension, target_dimension = _dimensions(source, target)
    if source_dimension != target_dimension and (
        concept_key is None or _dimension_step(concept_key, source_dimension, target_dimension) is None
    ):
        return None  # no path between the dimensions (most pairs of units): what _linear finds, found sooner
    value, source = _delog(value, source)
    log_target = registry().units[target].log10_of
    result = _linear(value, source, log_target or target, concept_key)
    if result is None:
        return None
    if log_target is not None:
        if result <= 0:
            return None
        result = math.log10(result)
    return _tidy(result)


def linear_conversion(from_unit: str, to_unit: str, concept_key: str | None = None) -> tuple[float, float] | None:
    """``(scale, shift)`` with ``value[to_unit] = value[from_unit] * scale + shift``, None when not convertible.

    ``shift`` is 0 except between temperatures; log10 units are not linear (None). For building
    expressions over recorded values (the FHIRPath compiler) instead of ``convert(1.0, ...)``, which is
    only a factor when the shift is 0.
    """
    source, target = normalize_unit(from_unit), normalize_unit(to_unit)
    if source is None or target is None:
        return None
    units = registry().units
    if units[source].log10_of is not None or units[target].log10_of is not None:
        return None
    zero = _linear(0.0, source, target, concept_key)
    one = _linear(1.0, source, target, concept_key)
    if zero is None or one is None:
        return None
    return _tidy(one - zero), _tidy(zero)
