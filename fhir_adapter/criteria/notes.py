"""Text of an item that is not a criterion: a note that explains one, or a section the registry says no longer applies.

* A note ("(Note that study treatment may be the first chemotherapy treatment for advanced cancer)", "Note: results
  are from the central laboratory") explains the criterion around it. The concepts and numbers it names are not
  read: they are neither required nor excluded, and a number in it is no second limit. The note stays in the text of
  the atom around it; a clause that is all note is kept as text with :data:`NOTE_REASON`.
* A study procedure ("An additional serum pregnancy test will be performed upon completion of the study", "They will
  also be counseled on the importance of avoiding pregnancy") says what the study will do, not whom it takes: the
  clause, or the parenthesis holding it, is a note.
* A withdrawn section ("participants will no longer be asked to undergo apheresis. This content is being retained
  for historical reference") keeps its items as text with the registry's own words as the reason.

The trigger words are data: ``note_markers``, ``explanation_markers``, ``procedure_participles`` and
``withdrawn_markers`` in ``mappings/criteria_phrases.yaml``.
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
    # a study procedure is stated with "will" (in any case): an ASCII text without it needs no scan for one
    procedures = not work.isascii() or "will" in work.lower()
    paren = work.find("(")
    while paren != -1:
        close = work.find(")", paren)
        end = close + 1 if close != -1 else len(work)
        if (
            p.note_markers.match(work, paren)
            or p.explanation_markers.match(work, paren)
            or (procedures and p.procedure_statement.search(work, paren, end))
        ):
            spans.append((paren, end))
        paren = work.find("(", paren + 1)
    procedure = p.procedure_statement.search(work) if procedures else None
    if procedure is not None and not in_note(spans, procedure.start()):
        return [(0, len(work))]  # "Pregnancy will not be routinely tested in female patients"
    return spans


def in_note(spans: Sequence[tuple[int, int]], position: int) -> bool:
    return any(start <= position < end for start, end in spans)


def withdrawn_reason(marker: str) -> str:
    return f"the registry says this section no longer applies ('{marker}')"
