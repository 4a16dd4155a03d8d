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


VACCINE_REASON = "named after a vaccine word as an example ('vaccines such as measles'): the vaccine, not the finding"


def vaccine_example_before(work: str, head: Head, p: Phrases) -> str | None:
    """The vaccine word whose examples the finding at ``head`` is one of ("Received a live vaccine within 30 days
    (e.g., measles, mumps, ... yellow fever)", "live attenuated vaccines such as measles, chickenpox"): the list
    opens after the vaccine word with an example marker, a parenthesis or a colon that is still open at the head,
    in the same clause."""
    vaccine = None
    for found in p.vaccine_words.finditer(work, max(0, head.start - 240), head.start):
        vaccine = found
    if vaccine is None:
        return None
    gap = work[vaccine.end() : head.start]
    if ";" in gap or ". " in gap:
        return None
    marker = example_marker_before(work, head, p) is not None and p.example_markers.search(gap) is not None
    opened = open_paren_before(work, head.start, vaccine.end()) is not None
    return vaccine.group(0) if marker or opened or ":" in gap else None
