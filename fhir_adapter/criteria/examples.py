"""Examples of a broader class in an inclusion criterion ("malignant lesions (e.g. invasive ductal carcinoma)",
"a chronic disease such as diabetes or hypertension"): the criterion requires the class, any member of it, so an
example is no requirement of its own. (In an exclusion, or a negated inclusion, each example is excluded, which
the text does say: those stay computable.)"""

from __future__ import annotations

from fhir_adapter.criteria.head import Head, open_paren_before
from fhir_adapter.criteria.phrases import Phrases

EXAMPLE_REASON = "an example of a broader class ('e.g.', 'such as'): the inclusion requires the class, not this example"


def example_marker_before(work: str, head: Head, p: Phrases) -> str | None:
    """The example marker ("e.g.", "such as", "including") whose list the head belongs to: the marker comes before
    the head in the clause, inside the same parenthesis when it opened one, with no ";" between them."""
    last = None
    for found in p.example_markers.finditer(work, 0, head.start):
        last = found
    if last is None or ";" in work[last.end() : head.start]:
        return None
    paren = open_paren_before(work, last.start(), 0)
    if paren is not None and ")" in work[last.end() : head.start]:
        return None  # "(e.g. X) and Y": Y is outside the example list
    return last.group(0)
