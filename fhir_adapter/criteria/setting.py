"""The trial's own procedure: "Analgesic Efficacy of Retrolaminar Block ... in Modified Radical Mastectomy" enrols
patients who are to undergo the mastectomy, so an inclusion that names it ("Type of surgery: Modified Radical
Mastectomy (MRM)") does not ask for a past one. Read as a recorded procedure, it made every candidate ineligible.

An inclusion that requires a procedure is left for review when a title of the trial names that procedure as its
setting (after "in", "undergoing", "during", "for" ... and at most three other words: ``setting_markers``),
unless the atom's own words place it in the past ("prior", "history of", "after", "post-": ``past_markers``).
Both lists are data in ``mappings/criteria_phrases.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_adapter.criteria.lexicon import Lexicon
from fhir_adapter.criteria.model import Atom
from fhir_adapter.criteria.phrases import Phrases, phrases
from fhir_adapter.criteria.reconcile import left_for_review

PLANNED_REASON = "the trial's own procedure (its title names it as the setting): to be done, not a past record"


def _setting_procedures(titles: Sequence[str | None], lexicon: Lexicon, vocab: Phrases) -> frozenset[str]:
    """Keys of the procedures the titles name as the trial's setting."""
    keys: set[str] = set()
    for title in titles:
        if not title:
            continue
        for match in lexicon.find(title):
            if match.concept.category != "procedure":
                continue
            before = title[max(0, match.start - 60) : match.start]
            setting = vocab.setting_markers.search(before)
            # "in Women After Mastectomy": a past procedure, even after a setting word
            if setting is not None and not vocab.past_markers.search(setting.group(0)):
                keys.add(match.concept.key)
    return frozenset(keys)


def planned_procedures(
    atoms: Sequence[Atom], titles: Sequence[str | None], lexicon: Lexicon, vocab: Phrases | None = None
) -> list[Atom]:
    """The atoms, with inclusions that require the trial's own procedure left for review."""
    p = vocab or phrases()
    candidates = [
        a
        for a in atoms
        if a.kind == "inclusion" and a.computable and a.category == "procedure" and a.comparator == "present"
    ]
    if not candidates:
        return list(atoms)
    settings = _setting_procedures(titles, lexicon, p)
    planned = {a.id for a in candidates if a.concept_key in settings and not p.past_markers.search(a.text)}
    return [left_for_review(a, PLANNED_REASON) if a.id in planned else a for a in atoms]


