"""A finding defined by a threshold: "Severe anemia (hemoglobin < 8 g/dL)", "CKD determined by eGFR < 60",
"severe renal insufficiency with creatinine clearance < 30 mL/min".

The threshold is what the criterion means; the finding's name alone is broader (any anaemia, any renal
impairment), and as a separate exclusion it would exclude patients the trial accepts. So the finding and its
threshold are one atom, decided by the threshold; its text keeps the finding's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from fhir_adapter.criteria.head import Draft

_FINDINGS = frozenset({"condition", "infection"})
_MEASURES = frozenset({"lab", "performance-status"})
_DEFINER = re.compile(
    r"(?:\(|\[|:|,?\s*\bwith\b|\bdefined\s+(?:as|by)\b|\bdetermined\s+by\b|\bdiagnosed\s+by\b"
    r"|\bas\s+(?:evidenced|measured|shown|assessed|defined|determined)\s+by\b|\bi\.\s?e\.?,?|\bmeaning\b"
    r"|\bbased\s+on\b|\bconfirmed\s+by\b)\s*$",
    re.IGNORECASE,
)


def _defines(text: str, finding: Draft, measure: Draft) -> bool:
    """Whether the words between a finding and the measure that follows it make the measure its definition."""
    if measure.start < finding.start:
        return False
    return bool(_DEFINER.search(text[finding.start : measure.start].rstrip()))


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
        if following is not None and _is_definition(text, draft, following):
            out.append(replace(following, start=draft.start))
            skip = True
        else:
            out.append(draft)
    return out


def _is_definition(text: str, finding: Draft, measure: Draft) -> bool:
    return (
        finding.fields.get("category") in _FINDINGS
        and bool(finding.fields.get("computable"))
        and finding.fields.get("comparator") == "present"
        and not finding.fields.get("negated")
        and measure.fields.get("category") in _MEASURES
        and "_group" not in finding.fields
        and _defines(text, finding, measure)
    )
