"""The role of each concept a clause names: a head (an atom of its own), or something the head before it is
about: a modifier ("treatment for colorectal cancer"), a cause ("edema caused by heart failure"), a manifestation
("hypersensitivity manifested as hives"), an exception ("malignancy other than basal cell carcinoma"), or the
negated kind of a broader head ("non-colorectal cancer malignancies")."""

from __future__ import annotations

import re

from fhir_adapter.criteria.head import (
    SEPARATOR,
    THRESHOLD_CATEGORIES,
    Head,
    connector_only,
    open_paren_before,
    word_tokens,
)
from fhir_adapter.criteria.model import FINDING_CATEGORIES, TREATMENT_CATEGORIES, Kind
from fhir_adapter.criteria.numbers import Threshold
from fhir_adapter.criteria.phrases import Phrases, search_exception
from fhir_adapter.criteria.readings import only_classes
from fhir_adapter.criteria.residues import narrowing_word
from fhir_adapter.terminology import Concept, ConceptMatch

_COMPOUND_LINK = re.compile(
    r"\s*-?\s*(?:related|associated|induced|caused|mediated|dependent|due|eluting|coated)\s*", re.IGNORECASE
)


# compiled once (the module-level ``re.search`` looks its pattern up in re's cache on every call, per match)
_NON_BEFORE = re.compile(r"(?<![a-z])non[- ]?$")


_WITH_OR_WITHOUT = re.compile(r"with or without(?:\s+[a-z-]+){0,2}\s*$")


_CLAUSE_BREAK = re.compile(r";|\.\s")
_PARENTHESIS_ONLY = re.compile(r"\s*(?:\([^()]*)?\)\s*")


def _excepted_right_before(work: str, start: int, vocab: Phrases, floor: int) -> bool:
    """An exception word before ``start`` (after ``floor``, the end of the last head) in the same phrase: no comma,
    clause end or relative clause between them ("surgery except simple appendectomy and cholecystectomy"), or at
    the start of the parenthesis ``start`` is in ("(with the exception of Gilbert's syndrome or asymptomatic
    gallstones)"). ("Any condition other than the study indication that requires steroids": the relative clause
    states the criterion; "Exclude patients with bleeding": nothing before the word to except from.)"""
    window_start = max(floor, start - 80)
    window = work[window_start:start]
    found = search_exception(vocab, window)
    if (
        found is not None
        and not _EXCEPTION_SCOPE_END.search(window, found.end())
        and re.search(r"\w", work[: window_start + found.start()])
    ):
        return True
    paren = open_paren_before(work, start, max(floor, start - 120))
    if paren is None or ";" in work[paren:start]:
        return False
    opening = search_exception(vocab, work[paren + 1 : paren + 30])
    if opening is not None:
        return len(work[paren + 1 : paren + 1 + opening.start()].split()) <= 2  # "(except", "(with the exception of"
    return _illustrates_exception(work, paren, vocab)


_EXCEPTION_SCOPE_END = re.compile(r"[,;)]|\.\s|\b(?:that|which|who|whom|requir\w*|unless)\b")


def _illustrates_exception(work: str, paren: int, vocab: Phrases) -> bool:
    """A parenthesis that lists examples of what an exception before it names ("surgeries except simple
    appendectomy and common OB/GYN procedures in the pelvis (hysterectomy, ...)"): its concepts are excepted too.
    A comma, a clause end or a relative clause between the exception and the parenthesis ends the exception."""
    before = work[max(0, paren - 100) : paren]
    found = search_exception(vocab, before)
    return found is not None and not _EXCEPTION_SCOPE_END.search(before, found.end())


def _threshold_outside_parentheses(work: str, start: int, end: int, thresholds: list[Threshold]) -> bool:
    """A threshold between ``start`` and ``end`` that is not in a parenthesis of its own there ("peripheral
    ischemia, except for brief (< 24 hrs) episodes of ischemia": the duration belongs to the exception)."""
    for t in thresholds:
        if start <= t.start < end:
            opened = work.rfind("(", start, t.start)
            if opened == -1 or work.find(")", opened, t.start) != -1 or work.find(")", t.end, end) == -1:
                return True
    return False


def find_heads(
    work: str, matches: list[ConceptMatch], thresholds: list[Threshold], vocab: Phrases, kind: Kind
) -> list[Head]:
    heads: list[Head] = []
    pending_non: list[Concept] = []
    pending_matches: list[ConceptMatch] = []
    neutral_end: int | None = None
    for m in matches:
        close_before = work[max(0, m.start - 4) : m.start]
        is_non = "non" in close_before and bool(_NON_BEFORE.search(close_before))  # (the test is quicker)
        if heads:
            prev = heads[-1]
            gap = work[prev.end : m.start]
            gap_has_threshold = any(prev.end <= t.start < m.start for t in thresholds)
            if (
                prev.concept.key == m.concept.key
                and not gap_has_threshold
                and ";" not in gap
                and len(word_tokens(gap)) <= 6
                and not vocab.any_topic.search(gap)
            ):
                prev.end = m.end  # "PD-1 or PD-L1", "HIV or AIDS": one concept
                continue
            if _PARENTHESIS_ONLY.fullmatch(gap) and m.phrase.lower() in vocab.generic_head_nouns:
                prev.end = m.end  # "HIV (Human Immunodeficiency Virus) infection": the noun ends the name
                continue
            excepted = search_exception(vocab, gap)
            if (
                excepted
                and not _threshold_outside_parentheses(work, prev.end, m.start, thresholds)
                and not SEPARATOR.search(gap[: excepted.start()].rstrip(" ,"))  # "malignancies, except ..."
                and not _CLAUSE_BREAK.search(gap, excepted.end())
            ):
                # "malignancy other than basal cell carcinoma", "malignancies, except in situ carcinoma of the
                # cervix, or basal cell carcinoma": each listed concept is an exception, unless a word before it
                # names a narrower kind ("excluding in-situ cervical cancer"): that exception stays a residue
                if m.concept.key == prev.concept.key:
                    # "cancer (other than ... skin cancer) in the past 3 years or current treatment for the active
                    # cancer": the head named again, after its exception's words; never an exception of itself
                    pass
                elif m.phrase.lower() in prev.phrase.lower():
                    # "peripheral ischemia, except for brief episodes of ischemia ...": the finding named again by
                    # its broader name, for some of its episodes: an exception to confirm, not other codes
                    prev.narrowed_exception = True
                elif narrowing_word(work, m.start, prev.end + excepted.end(), m.concept, vocab) is None:
                    prev.excluded.append(m.concept)
                else:
                    prev.narrowed_exception = True
                continue
            if (
                _COMPOUND_LINK.fullmatch(gap) or _treatment_adjunct(prev.concept, m.concept, gap)
            ) and not gap_has_threshold:
                # "breast cancer related lymphedema", "chemotherapy-induced neuropathy": the last concept is
                # the finding, the first one its cause
                heads[-1] = Head(concept=m.concept, start=m.start, end=m.end, phrase=m.phrase)
                heads[-1].modifiers.append(prev.phrase)
                continue
            if _manifestation_of(prev, m, work, vocab):
                continue  # "hypersensitivity to eggs manifested as hives, ..., hypotension, or shock"
            if (
                _another_cause(prev, m, work, gap_has_threshold, vocab)
                or _named_as_cause(m, gap, gap_has_threshold, vocab)
                or _listed_cause(prev, m, work, vocab)
            ):
                # "not caused by diabetes *or hypertension*", "visual impairment due to new vessel ingrowth and/or
                # *macular edema*": a cause of the finding before, not a criterion of its own
                prev.modifiers.append(m.phrase)
                prev.modifier_end = m.end
                prev.cause_category = m.concept.category
                continue
            measured = m.concept.category in THRESHOLD_CATEGORIES and any(
                m.end <= t.start <= m.end + 30 for t in thresholds
            )  # "hepatitis as documented by ALT > 10 x ULN": the test and its threshold are a statement
            if (
                not is_non
                and not measured
                and not gap_has_threshold
                and (only_classes(prev.concept, gap) or not SEPARATOR.search(vocab.stage_pair.sub(" ", gap)))
                and (vocab.modifier.search(gap) or not connector_only(gap, vocab))
            ):
                prev.modifiers.append(m.phrase)  # "treatment for colorectal cancer"
                prev.modifier_end = m.end
                if vocab.cause_markers.search(gap):
                    prev.cause_category = m.concept.category
                continue
        if is_non:
            pending_non.append(m.concept)  # "non-colorectal cancer malignancies"
            pending_matches.append(m)
            continue
        if m.concept.category == "allergy" and not vocab.allergy_words.search(work):
            continue  # an allergen counts only where the clause speaks of an allergy ("egg retrieval" is not one)
        if m.concept.category == "medication" and vocab.substance_test.search(work, 0, m.start):
            continue  # "positive urine drug screen for cocaine or opiates": tested for, not taken
        if _excepted_right_before(work, m.start, vocab, heads[-1].end if heads else 0):
            # "infection other than COVID-19", "during nucleos(t)ide analogue (except Telbivudine) treatment": an
            # exception of a concept the lexicon does not name
            continue
        before = work[max(0, m.start - 40) : m.start]
        context = vocab.neutral_context.search(work[max(0, m.start - 25) : m.start])
        neutral = context is not None and (
            not heads or "with or without" in before or _cause_of(heads[-1], work, m.start, context.group(0), vocab)
        )
        neutral = neutral or ("with or without" in before and bool(_WITH_OR_WITHOUT.search(before)))
        # an excluded effect does not exclude its causes; a required one requires them ("impairment due to
        # macular edema"), so an inclusion keeps them
        neutral = neutral or (kind == "exclusion" and not heads and _after_cause(work, m.start, vocab))
        if neutral or (neutral_end is not None and connector_only(work[neutral_end : m.start], vocab)):
            neutral_end = m.end  # "diet during pregnancy or lactation": the list shares the context
            continue  # "edema caused by heart failure", "diet during pregnancy", "with or without chemotherapy"
        neutral_end = None
        head = Head(concept=m.concept, start=m.start, end=m.end, phrase=m.phrase)
        # "non-insulin injectables or insulin therapy": a "non-" of the head's own concept excepts nothing of it
        head.excluded.extend(c for c in pending_non if c.key != m.concept.key)
        pending_non = []
        pending_matches = []
        heads.append(head)
    for m in pending_matches:
        # "non-pregnant female": no broader concept follows the "non-", so it states the absence
        heads.append(Head(concept=m.concept, start=m.start, end=m.end, phrase=m.phrase, absent=True))
    return heads


def _manifestation_of(prev: Head, m: ConceptMatch, work: str, vocab: Phrases) -> bool:
    """A concept after "manifested as" (or the like) that follows the head before, in its sentence: how that
    finding shows, no criterion of its own."""
    if m.concept.category not in FINDING_CATEGORIES:
        return False  # "diabetes characterized by HbA1c > 8%": a measurement states a criterion
    marker = vocab.manifestation.search(work, prev.end, m.start)
    return marker is not None and not re.search(r";|\.\s", work[prev.end : m.start])


def _another_cause(prev: Head, m: ConceptMatch, work: str, gap_has_threshold: bool, vocab: Phrases) -> bool:
    """A concept listed right after the cause of a head, of the cause's category: another cause ("kidney disease
    not caused by diabetes or hypertension"). A concept of another kind starts a criterion of its own ("heparin due
    to a coagulation disorder or anticoagulation medication")."""
    return (
        prev.cause_category == m.concept.category
        and prev.modifier_end is not None
        and not gap_has_threshold
        and connector_only(work[prev.modifier_end : m.start], vocab)
    )


def _listed_cause(prev: Head, m: ConceptMatch, work: str, vocab: Phrases) -> bool:
    """A finding in a parenthesis that opens after the causal words that follow the head ("cognitive impairment
    from other causes (i.e., vascular dementia, thyroid disorders, metabolic diseases)"): the causes listed."""
    if m.concept.category not in FINDING_CATEGORIES:
        return False
    paren = open_paren_before(work, m.start, prev.end)
    if paren is None or re.search(r"[;)]|\.\s", work[prev.end : paren]):
        return False
    return vocab.cause_markers.search(work, prev.end, paren) is not None


def _named_as_cause(m: ConceptMatch, gap: str, gap_has_threshold: bool, vocab: Phrases) -> bool:
    """A finding after the causal words that follow the finding before, with no comma or semicolon in between:
    one of its causes, however many words name the first one ("due to abnormal new vessel ingrowth and/or macular
    edema"). A treatment there may be a criterion of its own ("heparin due to a coagulation disorder or
    anticoagulation medication"), and after a comma the causal words may explain another finding ("convulsion,
    paralysis due to intracranial hemorrhage or CNS leukemia")."""
    if m.concept.category not in ("condition", "infection") or gap_has_threshold or re.search(r"[,;]", gap):
        return False
    return vocab.cause_markers.search(gap) is not None


def _cause_of(prev: Head, work: str, start: int, context: str, vocab: Phrases) -> bool:
    """A concept right behind causal words, close after a finding with no comma between: the finding's cause,
    even across an "or" ("diabetes mellitus (either primary or secondary to thalassemia)")."""
    gap = work[prev.end : start]
    return bool(vocab.cause_markers.fullmatch(context.strip())) and "," not in gap and len(gap.split()) <= 8


def _after_cause(work: str, start: int, vocab: Phrases) -> bool:
    """A causal word earlier in the clause, after the words it explains and with no comma or semicolon after it
    ("Edema caused by ... or other conditions such as heart failure"): the concept is a cause of what the clause
    states. ("Due to the risk of bleeding, patients with hemophilia": nothing is explained before the words, and
    the comma ends their phrase.)"""
    cause = vocab.cause_markers.search(work, 0, start)
    if cause is None or not re.search(r"\w", work[: cause.start()]):
        return False
    return not re.search(r"[,;]", work[cause.end() : start])


def _treatment_adjunct(before: Concept, finding: Concept, gap: str) -> bool:
    """ "radiation pneumonitis", "steroid myopathy": a treatment written right before a finding names its cause."""
    return (
        not gap.strip(" -")
        and before.category in TREATMENT_CATEGORIES
        and finding.category in ("condition", "infection")
    )
