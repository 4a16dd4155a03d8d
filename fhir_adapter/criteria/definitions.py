"""How one item's atoms read together: a finding defined by a threshold, and support excluded from a lab value.

A finding defined by a threshold: "Severe anemia (hemoglobin < 8 g/dL)", "CKD determined by eGFR < 60",
"severe renal insufficiency with creatinine clearance < 30 mL/min".

The threshold is what the criterion means; the finding's name alone is broader (any anaemia, any renal
impairment), and as a separate exclusion it would exclude patients the trial accepts. So the finding and its
threshold are one atom, decided by the threshold; its text keeps the finding's words.

Support excluded from a lab value: "Hemoglobin >= 9 g/dL without transfusion", "ANC >= 1.5 independent of growth
factor support within 7 days". The support is about the days before the measurement. With its time frame stated it
is an atom of its own ("no transfusion within 14 days"); without one, "no transfusion" would exclude every patient
ever transfused, so it is left to confirm (not computable, with its reason). The window written for the support
is the support's, not the lab's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from fhir_adapter.criteria.head import Draft, Head
from fhir_adapter.criteria.model import FINDING_CATEGORIES
from fhir_adapter.criteria.numbers import find_window
from fhir_adapter.criteria.phrases import phrases

_MEASURES = frozenset({"lab", "performance-status"})
_DEFINER = re.compile(
    r"(?:\(|\[|:|,?\s*\bwith\b|\bdefined\s+(?:as|by)\b|\bdetermined\s+by\b|\bdiagnosed\s+by\b"
    r"|\bas\s+(?:evidenced|measured|shown|assessed|defined|determined)\s+by\b|\bi\.\s?e\.?,?|\bmeaning\b"
    r"|\bbased\s+on\b|\bconfirmed\s+by\b)\s*$",
    re.IGNORECASE,
)


_ENDS_WITH_CLASS = re.compile(r"(?:\b[ivx]+|\b[a-d]|\d+(?:\.\d+)?)\s*[).\]]?\s*$", re.IGNORECASE)
"""A score's words that end with its class or value ("NYHA III/IV", "Child-Pugh B or C", "MMSE < 20")."""


def _defines(text: str, finding: Draft, measure: Draft, after: Draft | None) -> bool:
    """Whether the words between a finding and the measure that follows it make the measure its definition."""
    if measure.start < finding.start:
        return False
    between = text[finding.start : measure.start].rstrip()
    if between.endswith(",") and measure.fields.get("concept_key") in phrases().grading_scales:
        # "Heart failure, NYHA III/IV", "Cirrhosis, Child-Pugh B or C": a scale grading the finding, unless it
        # grades the finding written after its class ("vascular disease, NYHA III or IV congestive heart failure")
        return _ENDS_WITH_CLASS.search(text, measure.start, measure.end) is not None and (
            after is None or bool(text[measure.end : after.start].strip(" \t"))
        )
    return bool(_DEFINER.search(between))


def defined_by_threshold(text: str, drafts: Sequence[Draft]) -> list[Draft]:
    """The drafts with each finding that a threshold right after it defines merged into that threshold's draft:
    its span starts at the finding, so the atom reads "Severe anemia (hemoglobin < 8 g/dL)" and is decided by
    the threshold alone."""
    out: list[Draft] = []
    skip = False
    for i, draft in enumerate(drafts):
        if skip:
            skip = False
            continue
        following = drafts[i + 1] if i + 1 < len(drafts) else None
        after = drafts[i + 2] if i + 2 < len(drafts) else None
        if following is not None and _is_definition(text, draft, following, after):
            # a positive test that defines a finding ("Hepatitis C infection (anti-HCV reactive)") joins the
            # finding, which records either; a threshold decides the finding
            merged = replace(draft, end=following.end) if _is_positive_test(following) else None
            out.append(merged or replace(following, start=draft.start))
            skip = True
        else:
            out.append(draft)
    return out


def _is_positive_test(draft: Draft) -> bool:
    key = draft.fields.get("concept_key")
    return isinstance(key, str) and key.startswith("lab.") and draft.fields.get("comparator") == "present"


def _is_measure(draft: Draft) -> bool:
    """A threshold, a score, or a test read as positive ("Hepatitis C infection (Hepatitis C antibody reactive)")."""
    return draft.fields.get("category") in _MEASURES or _is_positive_test(draft)


def _is_definition(text: str, finding: Draft, measure: Draft, after: Draft | None = None) -> bool:
    return (
        finding.fields.get("category") in FINDING_CATEGORIES
        and bool(finding.fields.get("computable"))
        and finding.fields.get("comparator") == "present"
        and not finding.fields.get("negated")
        and _is_measure(measure)
        and "_group" not in finding.fields
        and _defines(text, finding, measure, after)
    )


_SUPPORT_CUE = re.compile(
    r"\b(?:without|independent\s+of|not\s+requiring|no\s+need\s+for|without\s+the\s+need\s+for"
    r"|in\s+the\s+absence\s+of|not\s+dependent\s+on)\b",
    re.IGNORECASE,
)
_SUPPORT_CATEGORIES = frozenset({"procedure", "medication"})
NO_TIME_FRAME = "support excluded from the lab value: its time frame is not stated"


def excluded_support(text: str, drafts: Sequence[Draft]) -> list[Draft]:
    """The drafts with the support a lab value must do without read as such (see the module doc)."""
    out = list(drafts)
    lab: Draft | None = None
    for i, draft in enumerate(drafts):
        category = draft.fields.get("category")
        if category in _MEASURES and draft.fields.get("computable"):
            lab = draft
            continue
        if lab is None or category not in _SUPPORT_CATEGORIES or draft.fields.get("comparator") != "absent":
            lab = None if category not in _SUPPORT_CATEGORIES else lab
            continue
        if not _SUPPORT_CUE.search(text[lab.start : draft.end]):
            continue
        window = draft.fields.get("within_days")
        if window is None:
            out[i] = replace(draft, fields={**draft.fields, "computable": False, "reason": NO_TIME_FRAME})
        own_window = find_window(text[lab.start : lab.end]) is not None
        if window is not None and lab.fields.get("within_days") == window and not own_window:
            out[out.index(lab)] = replace(lab, fields={**lab.fields, "within_days": None})
    return out


_PRESENCE = frozenset({"present", "absent"})
THRESHOLD_SUBJECT = "names the patients another threshold applies to ('{marker}'), not a criterion of its own"


def threshold_subjects(text: str, drafts: Sequence[Draft]) -> list[Draft]:
    """ "Total bilirubin <= ULN unless ... resulting from Gilbert's disease", "INR and aPTT <= 1.5 x ULN for patients
    who do not receive therapeutic anticoagulation", "ALP <= 2.5 x ULN with the exception: patients with bone
    metastases: ALP <= 5 x ULN": a finding or a treatment after a threshold and a word that makes it the condition of
    that threshold (or of another one) says whom a limit applies to; as an atom of its own it would require (or
    exclude) it of every patient. Left for review, with the marker as its reason."""
    markers = phrases().threshold_subject
    out: list[Draft] = []
    last_measure: Draft | None = None
    for draft in drafts:
        fields = draft.fields
        # "... unless the patient has a grade 1 bilirubin elevation (> ULN to 1.5 x ULN)": the same test again
        # describes those patients, no second limit for everyone
        again = last_measure is not None and fields.get("concept_key") == last_measure.fields.get("concept_key")
        subject = fields.get("comparator") in _PRESENCE or again
        if last_measure is not None and subject and fields.get("computable"):
            found = markers.search(text, last_measure.start, draft.start)
            if found is not None:
                reason = THRESHOLD_SUBJECT.format(marker=found.group(0).strip())
                draft = replace(draft, fields={**fields, "computable": False, "reason": reason, "residues": []})
        if fields.get("category") in _MEASURES and fields.get("comparator") not in (None, *_PRESENCE):
            last_measure = draft
        out.append(draft)
    return out


SUBJECT_NOUNS = r"(?:patients|subjects|participants|those)"
"""The nouns that name the patients a statement is about ("for patients with", "may include patients with")."""
_SUBGROUP_GAP = re.compile(
    rf"\s*\)?\s*(?:(?:for|in)\s+{SUBJECT_NOUNS}\s+)?"
    r"(?:with|for|if|in\s+case\s+of|in\s+the\s+presence\s+of|due\s+to)\s+(?:known\s+|documented\s+)?"
)


def subgroup_after_threshold(work: str, head: Head, heads: Sequence[Head]) -> str | None:
    """ "ALT <= 3 x ULN or <= 5 x ULN with liver metastases or HCC": a finding (or the first of its list) right
    after a lab's threshold, with only "with"/"for" words between, names the patients that threshold is for; the
    words, or None. (:func:`threshold_subjects` reads the markers anywhere between a measure and a finding.)"""
    if head.concept.category not in FINDING_CATEGORIES:
        return None
    start = head.start if head.list_start is None else head.list_start
    ends = [t.end for h in heads if h.concept.category == "lab" for t in h.thresholds if t.end <= start]
    found = _SUBGROUP_GAP.fullmatch(work, max(ends), start) if ends else None
    return " ".join(found.group(0).replace(")", " ").split()) if found is not None else None
