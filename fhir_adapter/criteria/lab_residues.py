"""Residues and refusals of a lab threshold: a conditional alternative for some patients, a restatement in other
units, a change in the measurement rather than its value."""

from __future__ import annotations

import re
from typing import Any

from fhir_adapter.criteria.about import marker_before
from fhir_adapter.criteria.head import Head, open_paren_before
from fhir_adapter.criteria.lexicon import Units
from fhir_adapter.criteria.model import Kind, Residue
from fhir_adapter.criteria.numbers import Threshold
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.criteria.residues import extent, widening
from fhir_adapter.criteria.source import Source
from fhir_adapter.criteria.values import threshold_fields
from fhir_adapter.terminology import Concept

_BLOOD_PRESSURES = frozenset(
    {"lab.systolic-bp", "lab.diastolic-bp", "lab.blood-pressure", "lab.mean-arterial-pressure"}
)
_RATIO_AFTER = re.compile(r"\s*\)?\s*/[^,;.]{0,40}?(?<![a-z])(?<!normalized )(?<!normalised )ratios?(?![a-z])")


def not_the_value(work: str, head: Head, vocab: Phrases) -> str | None:
    """Why the test's thresholds are not limits on its value: the statement is about something else ("diastolic
    dysfunction showing E/E' > 10" is no diastolic blood pressure), or about a change in it."""
    about = vocab.about_the_test.match(work, head.end)
    if about is not None:
        return f"'{about.group(0).strip(' -')}' after the test: the statement is about something else"
    if head.concept.key in _BLOOD_PRESSURES:
        vessel = marker_before(vocab.other_pressure_before, work, head, vocab, max_words=1)
        if vessel is not None:  # "Mean pulmonary arterial pressure >= 25 mmHg"
            return f"'{vessel}' before the pressure: another vessel's pressure, not the blood pressure"
    ratio = _RATIO_AFTER.match(work, head.end)
    if ratio is not None:  # "FEV1/(forced vital capacity)FVC ratio of <= 0.70": neither test's own value
        return "a ratio of two tests: not the value of either"
    change = _change_of_measurement(work, head, vocab)
    if change is not None:
        return f"'{change}': a change in the measurement is not its value, not compared"
    return None


def some_patients_only(work: str, start: int, vocab: Phrases, *, lead_in_subject: bool = True) -> str | None:
    """ "Patients with Gilbert's syndrome: bilirubin < 5 mg/dL", "For participants with HCC only: Child-Pugh <= 7":
    words before a threshold (at ``start``) that make it apply to some patients only; the reason to leave it for
    review. ``lead_in_subject``: also the patients a "with ...:" lead-in names (a score after "Patients with severe
    cardiac conditions: heart failure (NYHA Class 3 or 4)" grades the listed finding)."""
    before = _condition_before(work, start, vocab)
    subject = vocab.lab_condition.search(work, 0, start)
    if (
        before is None
        and lead_in_subject
        and subject is not None
        and re.search(r"\b(?:with|who|for)\b", subject.group(0))
        and ":" in work[subject.end() : start]
    ):
        before = subject  # not "patients with X (Y < 2)"
    if before is None:
        return None
    return f"the threshold applies only to some patients ('{before.group(0)}'): to confirm"


def _change_of_measurement(work: str, head: Head, vocab: Phrases) -> str | None:
    """ "change in weight of more than 5 kg", "an increase in serum creatinine of >= 0.3 mg/dL", "eGFR decline of
    more than 30%": the words that make the threshold a change in the measurement, not its value."""
    after = vocab.change_after_test.match(work, head.end)
    if after is not None:
        return after.group(0).strip(" -")
    return marker_before(vocab.change_before_test, work, head, vocab, max_words=2)


def lab_residues(head: Head, kind: Kind, src: Source, units: Units, vocab: Phrases) -> tuple[str | None, list[Residue]]:
    """A lab's thresholds after the first: a conditional alternative ("(<= 5 x ULN with liver metastases)")
    becomes a residue with its own threshold; a restatement in other units ("(5.6 mmol/L)") is dropped; a
    condition elsewhere in the item ("for patients with Gilbert's syndrome: ...") a residue without one."""
    work, item_work = src.norm.text, src.item_norm.text
    residues: list[Residue] = []
    first = head.thresholds[0] if head.thresholds else head.shared_threshold
    if first is None:
        return None, []
    for t in head.thresholds[1:]:
        repeated = _REPEATED.match(work, t.end)
        if repeated is not None:
            # "fasting glucose > 126 mg/dL on at least 2 occasions": the number of measurements is not checked
            text = src.clause(t.start, repeated.end())
            residues.append(Residue(text=text, effect="narrows", reason="the number of measurements is not checked"))
            continue
        context = work[first.end : min(len(work), t.end + 60)]
        marker = vocab.conditional.search(context) or vocab.lab_condition.search(context)
        # "(5.6 mmol/L)", "[<147 picomole per liter]": in brackets after the first limit
        in_paren = open_paren_before(work, t.start, first.end) is not None or (
            work.rfind("[", first.end, t.start) > work.rfind("]", first.end, t.start)
        )
        if marker is None and in_paren and t.comparator == first.comparator:
            continue  # the same limit restated in other units
        if marker is None and not in_paren:
            return "several thresholds for one test", []
        fields, reason = _residue_threshold(src, t, head.concept, units)
        start, end = extent(work, t.start) if in_paren else (t.start, extent(work, t.start)[1])
        residues.append(
            Residue(
                text=src.clause(start, end) or src.clause(t.start, t.end),
                effect=widening(kind),
                reason="an alternative threshold for some patients",
                **(fields if reason is None else {}),
            )
        )
    clause_marker = (
        vocab.conditional.search(work, 0, first.start)
        or vocab.lab_condition.search(work, 0, first.start)
        or vocab.conditional.search(work, first.end)
        or vocab.lab_condition.search(work, first.end)
    )
    some = some_patients_only(work, first.start, vocab)
    if some is not None and not residues:
        # the item's main threshold carries it as a residue
        return some, []
    if clause_marker is not None and not residues:
        residues.append(
            Residue(
                text=src.clause(*extent(work, clause_marker.start())),
                effect=widening(kind),
                reason="the threshold applies to some patients only",
            )
        )
    elif not residues:
        clause_span = (src.clause_start - src.item_start, src.clause_start - src.item_start + len(work))
        for found in vocab.lab_condition.finditer(item_work):
            if not clause_span[0] <= found.start() < clause_span[1]:
                residues.append(
                    Residue(
                        text=src.item(*extent(item_work, found.start())),
                        effect=widening(kind),
                        reason="another threshold applies to some patients",
                    )
                )
                break
    return None, residues


_REPEATED = re.compile(
    r"\s*(?:separate\s+|different\s+|consecutive\s+)?(?:occasions?|times|measurements?|readings?|visits?)\b"
)


def _condition_before(work: str, end: int, vocab: Phrases) -> re.Match[str] | None:
    """A conditional marker before ``end`` that makes what follows apply to some patients only; "excluded if
    they have", "if applicable" state the criterion itself."""
    for found in vocab.conditional.finditer(work, 0, end):
        if not vocab.criterion_if.search(work[max(0, found.start() - 30) : found.end() + 12]):
            return found
    return None


def _residue_threshold(src: Source, t: Threshold, concept: Concept, units: Units) -> tuple[dict[str, Any], str | None]:
    """A residue's own threshold, in the fields a :class:`Residue` takes."""
    raw = src.text[src.clause_start : src.clause_start + src.norm.origin[-1]]
    fields, reason = threshold_fields(raw, src.norm, t, concept, units)
    keep = ("comparator", "value", "high", "uln_multiple", "lln_multiple")
    return {k: fields[k] for k in keep if fields.get(k) is not None}, reason
