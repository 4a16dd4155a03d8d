"""Text of an item that is not a criterion: a note that explains one, or a section the registry says no longer applies.

* A note ("(Note that study treatment may be the first chemotherapy treatment for advanced cancer)", "Note: results
  are from the central laboratory") explains the criterion around it. The concepts and numbers it names are not
  read: they are neither required nor excluded, and a number in it is no second limit. The note stays in the text of
  the atom around it; a clause that is all note is kept as text with :data:`NOTE_REASON`.
* A withdrawn section ("participants will no longer be asked to undergo apheresis. This content is being retained
  for historical reference") keeps its items as text with the registry's own words as the reason.

The trigger words are data: ``note_markers`` and ``withdrawn_markers`` in ``mappings/criteria_phrases.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_adapter.criteria.phrases import Phrases

NOTE_REASON = "a note explaining the criterion, not a criterion of its own"


def note_spans(work: str, p: Phrases) -> list[tuple[int, int]]:
    """Where the notes of a clause are: a parenthesis that opens with a note marker, up to its close; a clause
    that starts with one, to its end."""
    spans: list[tuple[int, int]] = []
    if p.note_markers.match(work) and not work.startswith("("):
        return [(0, len(work))]
    paren = work.find("(")
    while paren != -1:
        found = p.note_markers.match(work, paren)
        if found is not None:
            close = work.find(")", found.end())
            spans.append((paren, close + 1 if close != -1 else len(work)))
        paren = work.find("(", paren + 1)
    return spans


def in_note(spans: Sequence[tuple[int, int]], position: int) -> bool:
    return any(start <= position < end for start, end in spans)


def withdrawn_reason(marker: str) -> str:
    return f"the registry says this section no longer applies ('{marker}')"
