"""Heads rewritten into the statements they stand for: two-sided ranges, blood-pressure readings and lab groups
(one atom per part), alternatives ("< 3.5 or > 5.1"), any-of groups, and findings narrowed by a threshold."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from typing import cast

from fhir_adapter.criteria.head import (
    SEPARATOR,
    THRESHOLD_CATEGORIES,
    Draft,
    Head,
    word_tokens,
)
from fhir_adapter.criteria.lexicon import Lexicon, Units
from fhir_adapter.criteria.model import TREATMENT_CATEGORIES, Kind, Residue
from fhir_adapter.criteria.numbers import READING, Threshold
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.criteria.source import Source
from fhir_adapter.criteria.text import Normalised
from fhir_adapter.criteria.values import unit_text
from fhir_adapter.terminology import Concept


def two_sided(work: str, heads: list[Head], kind: Kind) -> list[Head]:
    """A lower and an upper bound on one test ("7.0 % <= HbA1c <= 10.5 %", "BMI >= 18.5 and <= 30"). In an
    inclusion both must hold: two atoms, each keeping its own strictness. In an exclusion the patient is
    excluded only inside the range: one "between" atom (its ends counted inclusive)."""
    out: list[Head] = []
    for head in heads:
        out.append(head)
        if len(head.thresholds) < 2:
            continue
        low, high = head.thresholds[0], head.thresholds[1]
        if low.comparator not in ("ge", "gt") or high.comparator not in ("le", "lt"):
            continue
        if low.uln is not None or high.uln is not None or low.lln is not None or high.lln is not None:
            continue
        gap = work[low.end : high.start]
        if low.value is None or high.value is None or low.value > high.value:
            continue
        if not (head.start >= low.end and head.end <= high.start) and not re.fullmatch(r"\s*(?:and|but)\s*", gap):
            continue
        unit_from = high if high.unit_span is not None else low
        if kind == "inclusion":
            # "between >140 mg and <400 mg/dL": a unit cut short is the other end's
            cut_short = low.unit_raw and high.unit_raw and high.unit_raw.lower().startswith(low.unit_raw.lower() + "/")
            keep = low.unit_span is not None and not cut_short
            low = replace(
                low,
                unit_raw=low.unit_raw if keep else unit_from.unit_raw,
                unit_span=low.unit_span if keep else unit_from.unit_span,
            )
            head.thresholds = [low]
            out.append(replace(head, thresholds=[high, *head.thresholds[2:]], inherits=True, or_sibling=False))
            continue
        merged = replace(
            low,
            end=high.end,
            comparator="between",
            high=high.value,
            unit_raw=unit_from.unit_raw,
            unit_span=unit_from.unit_span,
        )
        head.thresholds = [merged, *head.thresholds[2:]]
    return out


def narrow_by_thresholds(heads: list[Head], drafts: list[Draft], src: Source) -> None:
    """An excluded finding stated with a threshold next to it ("NYHA class III or IV heart failure", "severe
    anemia (hemoglobin < 8 g/dL)") is excluded only with that threshold: the finding's own atom would exclude
    every patient who has it, so it keeps the threshold as a residue to confirm (the threshold atom decides)."""
    work = src.norm.text
    for i, head in enumerate(heads):
        fields = drafts[i].fields
        if fields.get("comparator") != "present" or not fields.get("computable"):
            continue
        for j, other in enumerate(heads):
            if j == i or other.concept.category not in THRESHOLD_CATEGORIES:
                continue
            if not drafts[j].fields.get("computable"):
                continue
            lo, hi = (_threshold_end(work, other), head.start) if j < i else (head.end, other.start)
            gap = work[lo:hi]
            if hi < lo or SEPARATOR.search(gap) or len(word_tokens(gap)) > 4:
                continue  # list siblings ("diabetes, hypertension, or ALT > 3 x ULN") are separate findings
            residues = cast(list[Residue], fields["residues"])
            text = src.clause(other.seg_start, other.seg_end)
            if text and all(r.text != text for r in residues):
                residues.append(Residue(text=text, effect="narrows", reason="excluded only with this threshold"))


@lru_cache(maxsize=256)
def _class_patterns(labels: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A run of a score's classes and the words that join them, and one class label."""
    alternatives = "|".join(re.escape(label.lower()) for label in labels)
    run = re.compile(rf"(?:\s*(?:class(?:es)?|or|and|to|[-/,]|>=|<=|≥|≤|>|<|(?:{alternatives})(?![a-z])))+")
    return run, re.compile(rf"(?<![a-z])(?:{alternatives})(?![a-z])")


def class_run(concept: Concept, text: str, start: int = 0) -> re.Match[str] | None:
    """The run of a score's classes written at ``start`` ("class III or IV" after "NYHA"), if any."""
    if not concept.classes:
        return None
    return _class_patterns(tuple(concept.classes))[0].match(text, start)


def only_classes(concept: Concept, gap: str) -> bool:
    """Whether ``gap`` is nothing but a run of the score's classes ("class III or IV" between "NYHA" and "heart
    failure"): the noun after it is what the score grades, not a finding of its own."""
    run = class_run(concept, gap)
    if run is None or gap[run.end() :].strip():
        return False
    return _class_patterns(tuple(concept.classes))[1].search(run.group(0)) is not None


def _threshold_end(work: str, head: Head) -> int:
    """Where a threshold head's statement ends: its last threshold, or its run of classes ("NYHA class III or IV")."""
    ends = [t.end for t in head.thresholds]
    run = class_run(head.concept, work, head.end)
    if run:
        ends.append(head.end + len(run.group(0).rstrip(" ,/-")))
    return max([head.end, *ends])


def trailing_components(work: str, heads: list[Head]) -> list[Head]:
    """ "Blood pressure > 150 mm Hg systolic and > 100 mm Hg diastolic": a component named right after a reading
    takes that reading (read alone, "systolic" would take the "> 100" that follows it). A parent left without a
    reading of its own gives no atom: its components state the criterion."""
    components = {k for h in heads for k in h.concept.components}
    if not components:
        return heads
    taken = False
    for i, head in enumerate(heads):
        if i == 0 or head.concept.key not in components:
            continue
        before = heads[i - 1]
        reading = next((t for t in before.thresholds if not work[t.end : head.start].strip()), None)
        if reading is None:
            continue
        before.thresholds = [t for t in before.thresholds if t is not reading]
        if before.seg_end > reading.start:
            before.seg_end = reading.start
        head.thresholds = [reading, *head.thresholds]
        head.seg_start = min(head.seg_start, reading.start)
        taken = True
    if not taken:
        return heads
    return [h for h in heads if h.thresholds or h.shared_threshold or not h.concept.components]


def split_components(work: str, heads: list[Head], lexicon: Lexicon, kind: Kind) -> list[Head]:
    """ "Blood pressure >= 140/90 mmHg" is one threshold per component (systolic >= 140, diastolic >= 90).
    An inclusion ">=" reading is met by either part (an any-of group); "<" needs both; exclusions are
    separate atoms (either part excludes)."""
    out: list[Head] = []
    for head in heads:
        if head.concept.category == "lab" and head.concept.members:
            # "transaminases <= 2.5 x ULN": the limit holds for each test of the group
            out.extend(replace(head, concept=m) for k in head.concept.members if (m := lexicon.get(k)) is not None)
            continue
        parts = [lexicon.get(k) for k in head.concept.components]
        readings = [
            (t, READING.match(work, t.num_end))
            for t in head.thresholds
            if t.num_end is not None and t.value is not None
        ]
        if len(parts) != 2 or None in parts or not readings or any(second is None for _, second in readings):
            out.append(head)
            continue
        per_part: list[list[Threshold]] = [[t for t, _ in readings], []]
        for t, second in readings:
            assert second is not None
            per_part[1].append(replace(t, value=float(second.group(1))))
        either = kind == "inclusion" and len(readings) == 1 and readings[0][0].comparator in ("ge", "gt")
        for index, (concept, thresholds) in enumerate(zip(parts, per_part, strict=True)):
            assert concept is not None
            out.append(
                replace(
                    head,
                    concept=concept,
                    thresholds=thresholds,
                    or_sibling=either and index > 0,
                    inherits=index > 0,
                )
            )
    return out


def _outside(low: Threshold, high: Threshold) -> bool:
    """ "< 20 and > 35": below one bound and above a higher one (not a range)."""
    return (
        low.comparator in ("lt", "le")
        and high.comparator in ("gt", "ge")
        and low.value is not None
        and high.value is not None
        and low.value < high.value
    )


def split_alternative_thresholds(work: str, heads: list[Head], vocab: Phrases, kind: Kind) -> list[Head]:
    """A test with thresholds joined by "or" ("potassium < 3.5 or > 5.1 mmol/L") gives one head per threshold
    (not when a condition follows: "ALT <= 2.5 x ULN, or <= 5 x ULN if liver metastases" is a residue). In an
    exclusion, "BMI < 20 and > 35 kg/m2" names the two sides outside a range: either one excludes."""
    out: list[Head] = []
    for head in heads:
        out.append(head)
        for previous, t in zip(head.thresholds, head.thresholds[1:], strict=False):
            joined = work[previous.end : t.start]
            either = re.fullmatch(r"\s*(?:,\s*)?(?:or|and/or)\s*", joined) or (
                kind == "exclusion" and _outside(previous, t) and re.fullmatch(r"\s*(?:,\s*)?and\s*", joined)
            )
            if not either:
                break
            after = work[t.end : t.end + 60]
            if vocab.conditional.search(after) or vocab.lab_condition.search(after):
                break
            if previous.unit_span is None and t.unit_span is not None and previous.uln is None:
                # "< 3.5 or > 5.1 mmol/L": the unit written once applies to both
                head.thresholds[head.thresholds.index(previous)] = replace(
                    previous, unit_raw=t.unit_raw, unit_span=t.unit_span
                )
            clone = replace(head, thresholds=[t], or_sibling=True, inherits=True)
            out.append(clone)
        if len(out) > 1 and out[-1] is not head and out[-1].concept == head.concept:
            head.thresholds = head.thresholds[:1]
    return out


_AND = re.compile(r"(?<![/\w])and(?![/\w])")
_BRACKETED = re.compile(r"\([^()]*\)")


def distribute_negation(work: str, heads: list[Head], vocab: Phrases) -> None:
    """ "No prior chemotherapy for STS, or radiation to affected limb": the negation opening a list joined by "or"
    denies every member, as "No A or B" does (neither), also after words that restrict the member before; not a
    member with words of its own ("either no chemotherapy or prior radiotherapy")."""
    for i in range(1, len(heads)):
        head, before = heads[i], heads[i - 1]
        gap = work[before.end : head.start]
        own_words = _NEW_STATEMENT.search(gap) or vocab.any_qualifier.search(gap) or _EITHER.search(work, 0, head.start)
        if before.negated and head.or_sibling and not head.negated and not own_words:
            head.negated = True


_EITHER = re.compile(r"\beither\b")
_NEW_STATEMENT = re.compile(r"[;:.]|\b(?:is|are|was|were|has|have|had|must|should|with|without|but|who|which)\b")


def any_of_groups(work: str, heads: list[Head]) -> dict[int, int]:
    """Head index -> index of the first head of its any-of group, for runs of sibling heads joined by "or"
    ("A, B or C", "creatinine <= 1.5 x ULN or CrCl >= 60 mL/min") with no "and" between them."""
    groups: dict[int, int] = {}
    start = 0
    for i in range(1, len(heads) + 1):
        joined = i < len(heads) and (heads[i].or_sibling or heads[i].inherits)
        if joined:
            continue
        run = range(start, i)
        gaps = [work[heads[k - 1].end : heads[k].start] for k in run if k > start]
        # an "and" inside brackets ("creatinine clearance (Cockcroft and Gault) >= 40 mL/min OR ...") joins nothing
        gaps = [_BRACKETED.sub(" ", g) for g in gaps]
        # "No history of asthma or COPD" requires neither: absences joined by "or" are no alternatives
        alternatives = any(heads[k].or_sibling for k in run) and not all(heads[k].negated for k in run)
        if len(run) > 1 and alternatives and not any(_AND.search(g) for g in gaps):
            groups.update({k: start for k in run})
        start = i
    return groups


def parenthesised_options(work: str, heads: list[Head]) -> dict[int, int]:
    """Head index -> index of a treatment class whose parenthesis lists them ("≥ 1 DMARD (methotrexate,
    hydroxychloroquine, ..., azathioprine)"): in an inclusion, two or more treatments listed right after their class
    are the ways to meet it, one any-of group with the class, never each required."""
    groups: dict[int, int] = {}
    for i, head in enumerate(heads):
        if head.concept.category not in TREATMENT_CATEGORIES or not head.concept.members or i + 1 >= len(heads):
            continue
        opening = work.find("(", head.end, heads[i + 1].start)
        if opening < 0 or len(work[head.end : opening].split()) > 3:
            continue
        closing = work.find(")", opening)
        listed = [
            k
            for k in range(i + 1, len(heads))
            if heads[k].start < (closing if closing >= 0 else len(work))
            and heads[k].concept.category == head.concept.category
        ]
        gaps = [_BRACKETED.sub(" ", work[heads[k - 1].end : heads[k].start]) for k in listed[1:]]
        if len(listed) >= 2 and not any(_AND.search(g) for g in gaps):
            groups.update({k: i for k in (i, *listed)})
    return groups


def switch_by_unit(raw: str, norm: Normalised, heads: list[Head], lexicon: Lexicon, units: Units) -> None:
    """A test named with the unit of another concept is that concept ("FEV1 >= 50 % of predicted" is FEV1 %
    predicted; "creatinine clearance < 30 mL/min/1.73 m2" is an eGFR): the lexicon's ``by_unit`` says which."""
    for head in heads:
        if not head.concept.by_unit or not head.thresholds:
            continue
        written = next((w for t in head.thresholds if (w := unit_text(raw, norm, t))), None)
        code = units.normalize_unit(written) if written else None
        target = head.concept.by_unit.get(code or "")
        if target is not None and (concept := lexicon.get(target)) is not None:
            head.concept = concept
