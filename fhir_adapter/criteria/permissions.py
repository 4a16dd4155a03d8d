"""Permissions: the words that allow a concept rather than require or exclude it ("hypothyroidism is allowed",
"Patients with a past or resolved HBV infection (...) are eligible", "the following are allowed: ...", "Not
applicable to patients with ..."), which concepts they are about, and the prohibitions written with them ("is not
permitted")."""

from __future__ import annotations

import re

from fhir_adapter.criteria.head import SEPARATOR, Head, word_tokens
from fhir_adapter.criteria.model import Kind
from fhir_adapter.criteria.phrases import Phrases, phrases
from fhir_adapter.criteria.source import Source, head_offset, same_sentence, sentence

_LIST_OPENS = re.compile(r"\s*:")


_THE_FOLLOWING = re.compile(r"\s+the\s+following\b[^.;:]{0,80}:")
"""A permission's object named as the list after the colon ("may have received the following prior therapy: ...")."""


_NEGATION_WORD = re.compile(r"(?<![a-z])(?:not|no|never|nor)(?![a-z])")


_NEGATIONS = frozenset({"not", "no", "never", "nor", "neither"})


def listed_as_allowed(head: Head, src: Source, vocab: Phrases) -> re.Match[str] | None:
    """The permission that opens a list the head is in ("however, the following are allowed: a. ...", "Patients
    may have received the following prior AR directed therapy prior to enrollment: bicalutamide, ...")."""
    item_work = src.item_norm.text
    start = head_offset(head, src)
    permitted = [
        m for m in vocab.permitted_before.finditer(item_work, 0, start) if _THE_FOLLOWING.match(item_work, m.end())
    ]
    for permission in sorted([*src.item_facts.permissions, *permitted], key=lambda m: m.start()):
        if permission.end() > start:
            break
        clause_start = max(item_work.rfind(mark, 0, permission.start()) for mark in (". ", ";", ",")) + 1
        negated = _NEGATION_WORD.search(item_work, clause_start, permission.start())  # in its own clause
        opens = _LIST_OPENS.match(item_work, permission.end()) or _THE_FOLLOWING.match(item_work, permission.end())
        if opens and negated is None:
            return permission
    return None


def permission_for(head: Head, src: Source) -> re.Match[str] | None:
    """The permission of the head's own sentence, else the item's first."""
    start = head_offset(head, src)
    item_work = src.item_norm.text
    own = [m for m in src.item_facts.permissions if same_sentence(item_work, start, m.start())]
    return own[0] if own else src.item_facts.permission


def prohibited_in_inclusion(head: Head, kind: Kind, src: Source) -> bool:
    """ "Concomitant use of warfarin is not permitted" among the inclusions: the concept must be absent. The
    concept is the prohibition's subject: right before its words, or the first words of its sentence ("Use of X in
    subjects without Y, except for Z, was not permitted")."""
    permission = src.item_facts.permission
    if kind != "inclusion" or permission is None or not negated_permission(src.item_norm.text, permission):
        return False
    item_work = src.item_norm.text
    return permitted_concept(item_work, permission.start(), head, src)


def _sentence_subject(item_work: str, start: int, marker: int) -> bool:
    """Whether the concept at ``start`` opens the sentence whose verb is at ``marker`` ("Prophylactic use of X in
    subjects without Y, except for Z, was not permitted"): at most three words before it, none a separator."""
    sentence_start = max(item_work.rfind(". ", 0, marker) + 1, 0)
    lead = item_work[sentence_start:start]
    return (
        sentence_start <= start < marker
        and same_sentence(item_work, start, marker)
        and len(word_tokens(lead)) <= 3
        and not SEPARATOR.search(lead)
        # "Uncontrolled hypertension (Patients ... are eligible)": a permission of its own inside the parenthesis
        and item_work.count("(", start, marker) <= item_work.count(")", start, marker)
    )


def negated_permission(text: str, marker: re.Match[str]) -> bool:
    """ "not allowed", "No concomitant treatment is allowed", "is not permitted": a prohibition."""
    sentence_start = max(text.rfind(". ", 0, marker.start()) + 1, 0)
    words = word_tokens(text[sentence_start : marker.start()])
    # the sentence opens with the negation, or it stands right before the permission: "psoriasis not requiring
    # systemic treatment ... are permitted" is a permission
    return bool(words) and (words[0] in _NEGATIONS or any(w in _NEGATIONS for w in words[-3:]))


def permitted_concept(item_work: str, marker: int, head: Head, src: Source) -> bool:
    """Whether the permission is about this concept: the concept comes right before the permission words in the
    same sentence ("hypothyroidism is allowed"), with no list separator between them."""
    start = head_offset(head, src)
    end = start + (head.end - head.start)
    if start > marker and phrases().exemption.match(item_work, marker) and same_sentence(item_work, marker, start):
        return True  # "(Not applicable to patients with bilateral oophorectomy and/or hysterectomy)"
    if not same_sentence(item_work, marker, start) or end > marker:
        return False
    close = item_work.find(")", end, marker)
    if close >= 0 and item_work.count("(", end, close) == 0:
        end = close + 1  # "(such as zolpidem, eszopiclone, or zaleplon) during this period is allowable"
    gap = item_work[end:marker]
    if not SEPARATOR.search(gap) and len(word_tokens(gap)) <= 6:
        return True
    # "Prior therapy with trastuzumab in the neoadjuvant, adjuvant or metastatic setting was permitted"; "Occasional
    # use of benzodiazepines or non-benzodiazepine sedatives (...) during this period is allowable": a list
    # opening the sentence is its subject
    list_start = start if head.list_start is None else start - (head.start - head.list_start)
    if _sentence_subject(item_work, list_start, marker):
        return True
    # "ranitidine or its equivalent and/or omeprazole or its equivalent is acceptable": a list with no comma
    # and no clause of its own between the concept and the permission is its subject
    if "," not in gap and "(" not in gap and not phrases().subordinate.search(gap) and len(word_tokens(gap)) <= 12:
        return True
    return _in_permitted_subject(item_work, start, marker)


_COPULA_END = re.compile(r"[\s,]*\b(?:is|are|was|were|will\s+be|shall\s+be|may\s+be|can\s+be|be)?\s*$")


def _in_permitted_subject(item_work: str, start: int, marker: int) -> bool:
    """ "Patients with a past or resolved HBV infection (defined as ...) are eligible", "Chronic, stable atrial
    fibrillation on stable anticoagulation therapy, including low molecular-weight heparin, is allowed.": a sentence
    that ends with its permission and has no verb before it is one subject, every concept in it permitted."""
    vocab = phrases()
    found = vocab.permission.match(item_work, marker)
    sentence_start, sentence_end = sentence(item_work, marker)
    if found is None or len(word_tokens(item_work[found.end() : sentence_end])) > 3:
        return False  # the sentence goes on after the permission ("... is allowed if ...")
    words = word_tokens(_COPULA_END.sub("", item_work[sentence_start:marker]))  # "... heparin, is allowed"
    verbs = [w for w in words if w in vocab.clause_verbs or w in vocab.subordinate_words]
    balanced = item_work.count("(", sentence_start, marker) == item_work.count(")", sentence_start, marker)
    return sentence_start <= start < marker and not verbs and balanced
