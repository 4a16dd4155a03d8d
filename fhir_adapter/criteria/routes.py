"""A route written before a drug ("parenteral iron", "oral or IV antibiotics", "intranasal steroid use").

The drug's codes name no route: for most drugs the route narrows the criterion (a residue to confirm); a class
counted for systemic use only already is the systemic routes', and cannot count a local use (left for review)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fhir_adapter.criteria.head import Head
from fhir_adapter.criteria.model import Residue
from fhir_adapter.criteria.phrases import Phrases

if TYPE_CHECKING:
    from fhir_adapter.criteria.source import Source


def route_before(work: str, head: Head, vocab: Phrases) -> tuple[int, int] | None:
    """ "parenteral iron", "oral or IV antibiotics": the route words right before the drug or opening its name
    (the lexicon knows "iv iron"), unless the concept itself is the route's ("oral anticoagulants")."""
    found = vocab.route_before.search(work, max(head.seg_start, head.start - 60, 0), head.start)
    if found is None or found.end() != head.start:
        found = vocab.route_lead.match(work, head.start, head.end)
    if found is None:
        return None
    named = f"{head.concept.key} {head.concept.display}".lower()
    if any(word in named for word in re.findall(r"[a-z]{3,}", found.group(0).lower())):
        return None
    return found.start(), found.start() + len(found.group(0).rstrip())


def route_reading(route: tuple[int, int], head: Head, src: Source, vocab: Phrases) -> tuple[str | None, Residue | None]:
    """What a route before a drug does: a class counted for systemic use only already is the systemic routes' and
    cannot count a local one (left for review); any other drug is narrowed to the route (a residue)."""
    text = src.clause(*route)
    local = [w for w in re.findall(r"[a-z][a-z.\-]*", text.lower()) if w in vocab.local_routes]
    # "antibacterials for systemic use" (ATC J01) are the systemic routes' too
    if head.concept.systemic_only or "systemic" in head.concept.display.lower():
        reason = f"'{local[0]}': a local use of a class counted for systemic use only" if local else None
        return reason, None
    return None, Residue(text=text, effect="narrows", reason="a route that the drug's codes do not name")


def dosing_before(work: str, head: Head, vocab: Phrases, src: Source) -> Residue | None:
    """ "high-dose steroids", "long-term use of NSAIDs", "chronic systemic corticosteroids": a dose or a duration
    that the drug's codes do not state narrows the criterion (a residue to confirm)."""
    found = vocab.dosing_before.search(work, max(head.start - 80, 0), head.start)
    if found is None:  # the lexicon's own name may hold the words ("high-dose steroids")
        found = vocab.dosing_word.search(work, head.start, head.end)
        if found is None or found.group(0).lower() in head.concept.display.lower():
            return None
    return Residue(
        text=src.clause(found.start(), head.end), effect="narrows", reason="a dose or a duration not compared"
    )
