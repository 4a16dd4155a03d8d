"""Whether a drug is the object of an allergy ("hypersensitivity to penicillin"), not a drug the patient uses."""

from __future__ import annotations

import re

from fhir_adapter.criteria.head import Head, open_paren_before
from fhir_adapter.criteria.phrases import Phrases


def allergy_before(head: Head, work: str, vocab: Phrases) -> bool:
    """A drug named as the object of an allergy ("hypersensitivity to penicillin", "allergic reactions to
    contrast, iodine or opioids", "ketamine allergy")."""
    if head.concept.category != "medication":
        return False
    if _allergy_words_before(work, head.start if head.list_start is None else head.list_start, vocab):
        return True  # "hypersensitivity to perindopril or any other ACE inhibitor, amlodipine, dihydropyridines"
    # "sensitivity or contraindication to drug used in the study (local anesthetics, opioids)": a list in
    # parentheses names the objects of the allergy written before it
    paren = open_paren_before(work, head.start, max(0, head.start - 120))
    listed = paren is not None and _ALLERGEN_LIST.fullmatch(work[paren + 1 : head.start]) is not None
    if listed and paren is not None and _allergy_words_before(work, paren, vocab):
        return True
    if vocab.allergy_words.match(work[head.end : head.end + 20].lstrip(" -")):
        return True
    # "Aspirin, ticagrelor or clopidogrel allergies", "dexmedetomidine or other drugs allergy": the allergy word
    # after the list the drug opens
    return _list_then_allergy(vocab).match(work, head.end) is not None


_MEMBER_WORD = r"(?!(?:or|and|else)\b)[\w-]+"
_LIST_THEN = rf"(?:\s*(?:,|/|\bor\b|\band\b|\band/or\b)\s*{_MEMBER_WORD}(?:\s+{_MEMBER_WORD})?)+\s*"
"""The other members of a short list after a drug, up to the word after them."""


def _list_then_allergy(vocab: Phrases) -> re.Pattern[str]:
    """The list after a drug followed by an allergy word, kept on the vocabulary."""
    found: re.Pattern[str] | None = vars(vocab).get("_list_then_allergy")
    if found is None:
        pattern = f"{_LIST_THEN}(?:{vocab.allergy_words.pattern})"
        found = vars(vocab)["_list_then_allergy"] = re.compile(pattern, re.IGNORECASE)
    return found


_ALLERGEN_LIST = re.compile(r"\s*(?:[\w-]+(?:\s+[\w-]+){0,3}\s*(?:,|/|\bor\b|\band\b)\s*){0,4}")
"""The start of a parenthesised list up to the concept ("local anesthetics, "), not a clause ("and approved
therapies must have included all the following a fluoropyrimidine, ")."""


def _allergy_words_before(work: str, at: int, vocab: Phrases) -> bool:
    before = work[max(0, at - 80) : at]
    found = list(vocab.allergy_words.finditer(before))
    between = before[found[-1].end() :] if found else ""
    return bool(found) and not re.search(r"[.;]\s", between) and not vocab.medication_use.search(between)
