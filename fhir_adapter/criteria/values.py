"""What a head states: a threshold in the concept's canonical unit, a ULN/LLN multiple, a score or an age."""

from __future__ import annotations

import re

from fhir_adapter.criteria.head import (
    AGE_CONCEPT,
    Head,
)
from fhir_adapter.criteria.lexicon import Units
from fhir_adapter.criteria.model import Comparator
from fhir_adapter.criteria.numbers import NOT_UNIT, Threshold
from fhir_adapter.criteria.phrases import Phrases, phrases
from fhir_adapter.criteria.text import Normalised
from fhir_adapter.terminology import Concept
from fhir_adapter.units import observation_units

_SCORE = re.compile(r"(?<![\d.])(\d{1,3})(?:\s*%)?(?![\d.]|\s*(?:x|times|days?|weeks?|months?|years?|mg|g/|ml))")


def unit_text(raw: str, norm: Normalised, threshold: Threshold) -> str | None:
    if threshold.unit_span is None:
        return None
    a, b = norm.span(*threshold.unit_span)
    text = normalise_unit_text(raw[a:b])
    return text or None


def normalise_unit_text(text: str) -> str:
    """``×10\\^9/L`` -> ``10^9/L``: markdown escapes, the leading multiplication sign and spaces removed."""
    cleaned = text.replace("\\", "").replace("×", "x").replace("µ", "u").replace("μ", "u")
    cleaned = re.sub(r"^\s*[x*]\s*", "", cleaned)
    sup = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
    cleaned = re.sub(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: "10^" + m.group(1).translate(sup), cleaned)
    return " ".join(cleaned.translate(sup).split())


def _age_unit(raw: str | None) -> str | None:
    if raw is None:
        return "a"
    word = raw.strip().lower()
    if word.startswith("y"):
        return "a"
    if word.startswith("mo"):
        return "mo"
    if word.startswith("w"):
        return "wk"
    if word.startswith("d"):
        return "d"
    return None


def age_fields(work: str, thresholds: list[Threshold], vocab: Phrases) -> dict[str, object] | None:
    usable = [t for t in thresholds if t.uln is None and t.lln is None and t.value is not None]
    units = {_age_unit(t.unit_raw) for t in usable}
    if not usable or None in units or len(units) > 1:
        return None
    unit = units.pop()
    low: float | None = None
    high: float | None = None
    for t in usable:
        if t.comparator == "between":
            low, high = t.value, t.high
        elif t.comparator == "ge":
            low = t.value
        elif t.comparator == "gt":
            # "older than 18 years" includes 18 years and 6 months: whole-year age >= 18, not >= 19
            low = t.value
        elif t.comparator == "le":
            high = t.value
        elif t.comparator == "lt":
            high = (t.value or 0) - 1
    comparator: Comparator
    if low is not None and high is not None and low > high:
        # "< 18 or > 65": outside a range, two alternatives that one threshold atom cannot state
        reason = "age outside a range ('< A or > B') is two alternatives; the structured age limits state it"
        return {"category": "demographic", "concepts": [AGE_CONCEPT], "computable": False, "reason": reason}
    if low is not None and high is not None:
        comparator, value = "between", low
    elif low is not None:
        comparator, value, high = "ge", low, None
    elif high is not None:
        comparator, value, high = "le", high, None
    else:
        return None
    return {
        "category": "demographic",
        "concepts": [AGE_CONCEPT],
        "comparator": comparator,
        "value": value,
        "high": high,
        "unit": unit,
        "computable": True,
    }


def _plausible(concept: Concept) -> tuple[float, float] | None:
    return concept.plausible


_UNREAD_UNIT = re.compile(r"\s*(" + NOT_UNIT + r"[a-z]+(?:/[a-z]+)?)")
"""A word right after a number that the unit grammar did not read ("9 furlongs/fortnight")."""


_NUMBER_AFTER = re.compile(r"[ \t]+\d+(?:[.,]\d+)?(?=\s*(?:times|x|×|-?fold)\b)", re.IGNORECASE)
"""Another number right after a threshold's number, itself a multiple ("3 5 times the normal")."""


def _unitless(value: float, concept: Concept, units: Units) -> str | None:
    """The unit of a threshold written without one: the concept's canonical unit (the one criteria use most,
    "hemoglobin >= 9" is g/dL) when the value is plausible in it, else the one recorded unit in which it is
    plausible ("platelets > 100,000" is per µL, "fasting glucose > 7.0" mmol/L); None when no unit or several
    different readings are plausible."""
    plausible = _plausible(concept)
    if concept.unit is None or plausible is None:
        return None
    if plausible[0] <= value <= plausible[1]:
        return concept.unit
    found: dict[float, str] = {}
    for unit in observation_units():
        converted = units.convert(value, unit, concept.unit, concept.key)
        if converted is not None and plausible[0] <= converted <= plausible[1]:
            found.setdefault(round(converted, 9), unit)
    return next(iter(found.values())) if len(found) == 1 else None


LOST_SIGN_REASON = "'=' before a measured value: the comparator (≥ or ≤?) was lost, to confirm"


def threshold_fields(
    raw: str, norm: Normalised, t: Threshold, concept: Concept, units: Units
) -> tuple[dict[str, object], str | None]:
    """Comparator, value(s) in the concept's canonical unit or a ULN/LLN multiple; a reason when unsure."""
    fields: dict[str, object] = {"comparator": t.comparator}
    if t.comparator == "eq" and concept.category == "lab":
        # "Neutrophils=1.5x10^9/L", "DBP =90 mmHg": no limit on a measured value is an equality; the sign is a
        # "≥" or "≤" lost in the registry's encoding
        return fields, LOST_SIGN_REASON
    if t.uln is not None or t.lln is not None:
        fields.update(uln_multiple=t.uln, lln_multiple=t.lln, unit=concept.unit)
        return fields, None
    fields.update(value=t.value, high=t.high)
    written = unit_text(raw, norm, t)
    unit = units.normalize_unit(written) if written is not None else None
    if written is None and t.value is not None:
        unread = _UNREAD_UNIT.match(norm.text, t.end)
        if unread:
            return fields, f"ambiguous unit: {unread.group(1)}"
        second = _NUMBER_AFTER.match(norm.text, t.end)
        if second:  # "no greater than 3 5 times the normal": which number is the limit, and of what?
            return fields, f"ambiguous value: two numbers in a row ('{norm.text[t.start : second.end()].strip()}')"
        unit = _unitless(t.value, concept, units)
        if unit is None:
            return fields, "ambiguous unit (none given)"
    if unit is None:
        return fields, f"ambiguous unit: {written}"
    if concept.unit is None:
        fields["unit"] = unit
        return fields, "lab concept has no canonical unit"
    if unit != concept.unit:
        value = units.convert(t.value, unit, concept.unit, concept.key) if t.value is not None else None
        high = units.convert(t.high, unit, concept.unit, concept.key) if t.high is not None else None
        if value is None or (t.high is not None and high is None):
            fields["unit"] = unit
            return fields, f"unit {unit} cannot be converted to {concept.unit}"
        fields.update(value=round(value, 6), high=None if high is None else round(high, 6))
    fields["unit"] = concept.unit
    plausible = _plausible(concept)
    converted = [v for v in (fields.get("value"), fields.get("high")) if isinstance(v, float | int)]
    if plausible and any(not plausible[0] <= v <= plausible[1] for v in converted):
        return fields, f"implausible value for {concept.display} in {concept.unit} (unit typo?): left for review"
    return fields, None


def drop_time_thresholds(raw: str, norm: Normalised, heads: list[Head], units: Units) -> None:
    """A lab head keeps no threshold written in a time unit unless the test itself is a time ("HbA1c <= 10%" in
    "Last (less than 3 months) HbA1c <= 10%"; "18 to 65 years old with a BMI of 35 kg/m2 or greater"): such a
    number dates the test or states an age."""
    for head in heads:
        concept = head.concept
        if concept.category != "lab" or not head.thresholds or _a_time(concept.unit, units):
            continue
        kept = [t for t in head.thresholds if not _a_time(_written_unit(raw, norm, t, units), units)]
        if kept:
            head.thresholds = kept


def _written_unit(raw: str, norm: Normalised, t: Threshold, units: Units) -> str | None:
    written = unit_text(raw, norm, t)
    return units.normalize_unit(written) if written is not None else None


def _a_time(unit: str | None, units: Units) -> bool:
    return unit is not None and units.convert(1.0, unit, "d") is not None


def lab_fields(raw: str, norm: Normalised, head: Head, units: Units) -> tuple[dict[str, object], str | None]:
    concept = head.concept
    thresholds = head.thresholds or ([head.shared_threshold] if head.shared_threshold else [])
    if not thresholds:
        before = norm.text[max(head.seg_start, head.start - 25) : head.start]
        vocab = phrases()
        if vocab.above_normal.search(before):
            return {"comparator": "gt", "uln_multiple": 1.0, "unit": concept.unit}, None  # "elevated liver enzymes"
        if vocab.below_normal.search(before):
            return {"comparator": "lt", "lln_multiple": 1.0, "unit": concept.unit}, None  # "low platelet count"
        return {}, "no threshold"
    return threshold_fields(raw, norm, thresholds[0], concept, units)


def _class_fields(
    text: str, concept: Concept, scale: tuple[float, float] | None, vocab: Phrases
) -> dict[str, object] | None:
    """A score written as classes ("NYHA class III or IV", "Child-Pugh A or B", "ASA >= II"): the union of the
    classes' bands, as a threshold on the score (a comparator before the first class applies to it)."""
    labels = "|".join(re.escape(label) for label in sorted(concept.classes, key=len, reverse=True))
    run = re.match(
        rf"(?:\s*(?:(?i:class(?:es)?|stage|grade|functional|score|status|physical|of|or|and|to|at least|at most)"
        rf"(?![A-Za-z])"
        rf"|[-–/,:]|>=|<=|≥|≤|>|<|(?:{labels})(?![A-Za-z])))+",
        text,
    )
    full = text
    text = run.group(0) if run else ""
    found = list(re.finditer(rf"(?<![A-Za-z])({labels})(?![A-Za-z])", text))
    if not found:
        return None
    low = min(concept.classes[m.group(1)][0] for m in found)
    high = max(concept.classes[m.group(1)][1] for m in found)
    after = re.match(rf"\s*({vocab.postfix_re})(?![a-z])", full[found[-1].end() :].lower())  # "Class II or higher"
    postfix = vocab.postfix_comparators.get(" ".join(after.group(1).split())) if after else None
    if postfix in ("ge", "gt"):
        high = scale[1] if scale else high
    elif postfix in ("le", "lt"):
        low = scale[0] if scale else low
    before = text[: found[0].start()].lower()
    if re.search(r"(?:>=|≥|at least|or (?:more|higher|worse|greater))\s*(?:class\s*)?$", before):
        high = scale[1] if scale else high
    elif re.search(r"(?:>|greater than|more than|higher than|worse than|above)\s*(?:class\s*)?$", before):
        low, high = concept.classes[found[0].group(1)][1] + 1, scale[1] if scale else high
    elif re.search(r"(?:<=|≤|at most|or (?:less|lower|better))\s*(?:class\s*)?$", before):
        low = scale[0] if scale else low
    elif re.search(r"(?:<|less than|lower than|better than|below)\s*(?:class\s*)?$", before):
        low, high = scale[0] if scale else low, concept.classes[found[0].group(1)][0] - 1
    if scale and low <= scale[0]:
        return {"comparator": "le", "value": high}
    if scale and high >= scale[1]:
        return {"comparator": "ge", "value": low}
    return {"comparator": "between", "value": low, "high": high}


def score_fields(work: str, head: Head, vocab: Phrases, cased: str = "") -> tuple[dict[str, object], str | None]:
    scale = head.concept.scale or vocab.score_scales.get(head.concept.key)
    t = head.thresholds[0] if head.thresholds else None
    if t is not None and t.value is not None and scale and not scale[0] <= t.value <= scale[1]:
        t = None  # "Child-Pugh Score C, ICGR15 > 30%": a number off the scale is another measure's
    if t is not None and t.uln is None and t.lln is None and t.value is not None:
        if t.comparator == "between" and scale and t.high is not None:
            if t.value <= scale[0]:
                return {"comparator": "le", "value": t.high}, None
            if t.high >= scale[1]:
                return {"comparator": "ge", "value": t.value}, None
        if t.comparator == "eq" and t.value not in (scale or ()) and work[t.start : t.end].lstrip().startswith("="):
            # "Mini-Mental State Exam = 24": inside the scale an equality is a "≥" or "≤" lost in the encoding
            return {"comparator": "eq", "value": t.value}, LOST_SIGN_REASON
        return {"comparator": t.comparator, "value": t.value, "high": t.high}, None
    segment = work[head.end : head.seg_end]
    segment = re.split(r"[.;]\s|\(", segment, maxsplit=1)[0] if "(" not in segment[:3] else segment
    if head.concept.classes:
        by_class = _class_fields(cased[head.end : head.end + 80], head.concept, scale, vocab)
        if by_class is not None:
            return by_class, None
    scores = sorted({float(s) for s in _SCORE.findall(segment)})
    if scale:
        scores = [s for s in scores if scale[0] <= s <= scale[1]]
    if not scores:
        return {}, "no threshold"
    if len(scores) == 1:
        return {"comparator": "eq", "value": scores[0]}, None
    low, high = scores[0], scores[-1]
    if scale and low <= scale[0]:
        return {"comparator": "le", "value": high}, None
    if scale and high >= scale[1]:
        return {"comparator": "ge", "value": low}, None
    return {"comparator": "between", "value": low, "high": high}, None
