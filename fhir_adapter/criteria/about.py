"""Statements about something other than the concept they name: a marker before it ("risk of thrombosis",
"contraindication to dipyridamole", "donor is sero-positive", "can be receiving"), words after it ("AIDS-defining",
"ADP receptor antagonists"), an example after a vaccine word, a definition of a term, a test named without its
result, the procedure an included patient is to have, a finding beside its own negation ("diabetic and
nondiabetic"), a word of an acronym's expansion, a suspicion of the finding. Such an atom is left for review with
the words named."""

from __future__ import annotations

import re

from fhir_adapter.criteria.examples import VACCINE_REASON, vaccine_example_before
from fhir_adapter.criteria.head import SEPARATOR, Head, word_tokens
from fhir_adapter.criteria.model import FINDING_CATEGORIES, TREATMENT_CATEGORIES, Kind
from fhir_adapter.criteria.phrases import Phrases


def about_something_else(head: Head, kind: Kind, work: str, vocab: Phrases, cased: str = "") -> str | None:
    """Why the presence atom of ``head`` is about something other than its concept, or None (``cased``: the
    clause with its letter case, where acronyms are read)."""
    concept = head.concept
    acronym = _expanded_acronym(cased, head) if cased else None
    if acronym is not None:
        return f"a word of the name that '{acronym}' abbreviates, not a criterion of its own"
    about_words = {"medication": vocab.about_the_drug, "procedure": vocab.about_the_procedure}.get(
        concept.category, vocab.about_the_finding
    )
    about = about_words.match(work, head.end) or _about_after_sibling(about_words, work, head)
    if about is not None and concept.category in {"condition", "infection", "medication", "procedure"}:
        return f"'{about.group(0).strip(' -')}' after the finding: the statement is about something else"
    if concept.category in FINDING_CATEGORIES and vaccine_example_before(work, head, vocab) is not None:
        return VACCINE_REASON
    # "Upper extremity lymphedema is defined as a more than 10% volume difference": in an inclusion the sentence
    # defines a term the criteria require elsewhere (an exclusion's definition may be all it states of the term)
    defined = _DEFINED.match(work, head.end) if kind == "inclusion" else None
    if defined is not None:
        return f"'{defined.group(1)}' after the term: a definition of it, not a criterion"
    if concept.is_presence_test and not head.negated and _test_without_result(work, head, vocab):
        return "a test named without its result: that it is done is not the criterion"
    planned = _planned_procedure(head, kind, work, vocab)
    if planned is not None:
        return f"'{planned}' before the procedure: the one the patient is to have, not a past one"
    both = _with_its_negation(work, head)
    if both is not None:
        return f"'{both}': patients with and without it are eligible, no criterion"
    if _any_marker(vocab).search(work, *_marker_window(work, head)) is None:
        return None  # one scan for every list's words first: most heads have none of them before them
    for markers, categories, max_words, why in _NOT_THE_CONCEPT:
        if categories and concept.category not in categories:
            continue
        marker = marker_before(getattr(vocab, markers), work, head, vocab, max_words=max_words)
        if marker is not None:
            return f"'{marker}' before the {why}"
    return None


def _any_marker(vocab: Phrases) -> re.Pattern[str]:
    """The words of every marker list of ``_NOT_THE_CONCEPT`` in one pattern, kept on the vocabulary (as its
    remembered readings are)."""
    found: re.Pattern[str] | None = vars(vocab).get("_any_not_the_concept")
    if found is None:
        parts = [getattr(vocab, markers).pattern for markers, *_ in _NOT_THE_CONCEPT]
        found = vars(vocab)["_any_not_the_concept"] = re.compile("|".join(f"(?:{p})" for p in parts), re.I)
    return found


def _marker_window(work: str, head: Head) -> tuple[int, int]:
    """Where :func:`marker_before` looks: up to 60 characters before the head (or before its list), in its segment
    unless a lead-in's colon opens the list."""
    start, floor = (head.start, head.seg_start) if head.list_start is None else (head.list_start, 0)
    if work[:floor].rstrip().endswith(":"):  # a lead-in's words apply to its list ("contra-indication to: X, Y")
        floor = 0
    elif floor >= start:  # no separator before the head: the words right before it are its own ("prior to
        floor = 0  # receiving pembrolizumab"); marker_before still stops at a separator and counts the words
    return max(floor, start - 60), start


_AND_NON_AFTER = re.compile(r"\s*(?:and/or|and|or|as well as|,)\s*non[- ]?([a-z]+)", re.IGNORECASE)
_NON_AND_BEFORE = re.compile(r"non[- ]?([a-z]+)\s*(?:and/or|and|or|,)\s*$", re.IGNORECASE)


_ACRONYM_EXPANDED = re.compile(r"\b([A-Z][A-Z0-9-]{2,9})\s*[\[(]([^\[\]()]{5,160})[\])]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _expanded_acronym(cased: str, head: Head) -> str | None:
    """ "MELAS [mitochondrial myopathy, encephalopathy, lactic acidosis, stroke]": the head lies in the brackets
    that spell out an acronym (its letters are the initials of the words, in order)."""
    for found in _ACRONYM_EXPANDED.finditer(cased, max(0, head.start - 200), min(len(cased), head.end + 200)):
        if not found.start(2) <= head.start < found.end(2):
            continue
        letters = [c for c in found.group(1).upper() if c.isalpha()]
        initials = iter(w[0].upper() for w in _WORD.findall(found.group(2)))
        if all(letter in initials for letter in letters):  # a subsequence, in order
            return found.group(1)
    return None


def _planned_procedure(head: Head, kind: Kind, work: str, vocab: Phrases) -> str | None:
    """ "Patients requiring a primary total knee replacement", "Need for dual organ transplant": the words before a
    one-off procedure that make it the one to come. (Among the exclusions, "undergoing" is what a patient is
    having now: "patients undergoing hemodialysis".)"""
    concept = head.concept
    if concept.category != "procedure":
        return None
    name = f"{concept.key.split('.', 1)[-1]} {concept.display}".lower()  # not the category in "procedure.x"
    if not vocab.one_off_procedure.search(name):
        return None
    marker = marker_before(vocab.planned_procedure_before, work, head, vocab, max_words=4)
    if kind == "exclusion" and marker is not None and "undergo" in marker:
        return None
    return marker


def _with_its_negation(work: str, head: Head) -> str | None:
    """ "Diabetic and nondiabetic patients", "non-smokers or smokers": the concept and its negation side by side
    admit everyone."""
    last = head.phrase.split()[-1].lower() if head.phrase.split() else ""
    after = _AND_NON_AFTER.match(work, head.end)
    if after is not None and last[:5] == after.group(1).lower()[:5]:
        return work[head.start : after.end()]
    before = _NON_AND_BEFORE.search(work, max(0, head.start - 30), head.start)
    if before is not None and last[:5] == before.group(1).lower()[:5]:
        return work[before.start() : head.end]
    return None


def relative_before(work: str, head: Head, vocab: Phrases) -> re.Match[str] | None:
    """ "family history of diabetes, hypertension or stroke": the last relative's words before the finding, in its
    clause and sentence."""
    found = last_match(vocab.relative_markers, work, 0, head.start)
    if found is None or re.search(r"[;.]", work[found.end() : head.start]):
        return None
    return found


_DEFINED = re.compile(
    r"\s*(?:\([^)]{0,40}\)\s*)?(?:status\s+|disease\s+)?((?:is|are|will be|shall be)\s+defined)\b", re.IGNORECASE
)
"""A term followed by "is defined (as/by)": the sentence defines it (the criterion names it elsewhere)."""


def last_match(pattern: re.Pattern[str], text: str, start: int, end: int) -> re.Match[str] | None:
    """The last match of ``pattern`` in ``text[start:end]`` (the words nearest before a finding)."""
    found = list(pattern.finditer(text, start, end))
    return found[-1] if found else None


_COORDINATED_SIBLING = re.compile(r"\s+(?:and|or)((?:\s+[\w'-]+){1,3})")


def _about_after_sibling(about_words: re.Pattern[str], work: str, head: Head) -> re.Match[str] | None:
    """ "hepatitis B and hepatitis C tests": the words after a sibling joined by "and"/"or" that repeats the head's
    first word, whose noun the two share."""
    sibling = _COORDINATED_SIBLING.match(work, head.end)
    if sibling is None:
        return None
    words = list(re.finditer(r"[\w'-]+", sibling.group(1)))
    if words[0].group(0).lower() != head.phrase.split()[0].lower():
        return None
    for word in words:
        about = about_words.match(work, sibling.start(1) + word.end())
        if about is not None:
            return about
    return None


_INCLUDING = re.compile(r"(?<![a-z])(?:includ(?:ing|es)|like)(?![a-z])")
_FINDINGS, _TREATMENTS = FINDING_CATEGORIES, TREATMENT_CATEGORIES  # short names for the table below
_NOT_THE_CONCEPT: tuple[tuple[str, frozenset[str], int, str], ...] = (
    # (the vocabulary's markers, the categories they apply to (all when empty), their reach in words, why)
    ("risk_of_finding", frozenset(), 3, "finding: a risk or a cause of the finding is not the finding"),
    ("dose_reference_before", _TREATMENTS, 1, "treatment: a point in time of the trial, not its use"),
    ("contraindication_before", _TREATMENTS, 3, "treatment: a contraindication to it or its refusal is not its use"),
    # ("exposure to sunlight or UV radiation": an exposure is no radiotherapy either)
    ("exposure_to_finding", _FINDINGS | {"procedure"}, 5, "finding: an exposure or a vaccination is not the finding"),
    ("prevention_of_finding", _FINDINGS | {"pregnancy"}, 3, "finding: its prevention is not the finding"),
    ("interaction_with_drug", _TREATMENTS, 3, "treatment: an interaction with it is not its use"),
    ("dose_change_before", _TREATMENTS, 3, "treatment: a change in its dose or its stopping is not its use"),
    ("response_to_treatment", _TREATMENTS, 5, "treatment: the response to it is not recorded in coded data"),
    ("other_person_before", _FINDINGS, 5, "finding: another person's, not the patient's"),
    ("unknown_status_before", frozenset(), 2, "finding: its status is unknown, not present"),
    ("mother_before", frozenset(), 4, "finding: the mother's, not the patient's"),
    ("manifestation_before", _FINDINGS, 6, "finding: a manifestation of another statement, not the criterion"),
    ("permitted_before", _TREATMENTS, 4, "treatment: permitted, or a way to reach a value, not a requirement"),
    ("candidacy_before", _TREATMENTS, 4, "treatment: a candidacy for it, not its record"),
)
"""Words before a concept that make the statement about something else than the concept."""


def _test_without_result(work: str, head: Head, vocab: Phrases) -> bool:
    """ "must have a pregnancy test within 7 days": the test named as a test, no positive result in its segment."""
    named_as_test = vocab.test_nouns.search(work, head.start, min(len(work), head.end + 12)) is not None
    segment = work[head.seg_start : max(head.seg_end, head.end)]
    return named_as_test and vocab.positive_results.search(segment) is None


def marker_before(markers: re.Pattern[str], work: str, head: Head, vocab: Phrases, *, max_words: int) -> str | None:
    """ "high risk of thrombosis", "close contact with a case of active TB": the marker words before the finding,
    in its list element and at most ``max_words`` words before it."""
    # a list's members share the words before its first one ("vaccinated against hepatitis B, influenza or measles")
    low, start = _marker_window(work, head)
    found = last_match(markers, work, low, start)
    gap = work[found.end() : start] if found is not None else ""
    if found is None or SEPARATOR.search(gap.replace("/", " ")):  # "cause for secondary/primary X": one phrase
        return None
    if "(" in gap:  # "causing symptoms (symptomatic bradycardia)": the parenthesis names the finding itself
        return None
    if ":" in gap and word_tokens(gap.split(":", 1)[0]):
        return None  # "causes of liver disease: alcoholic liver disease, ...": the marker's object is before the colon
    if len(word_tokens(gap)) > max_words:  # far from the words: a statement of its own
        return None
    if _INCLUDING.search(gap) or vocab.example_markers.search(gap):
        return None  # "contraindications to MRI including cardiac pacemaker", "risk factors such as diabetes"
    return found.group(0)


def suspicion_before(head: Head, work: str, vocab: Phrases) -> tuple[str, tuple[int, int] | None] | None:
    """ "Suspected coronary artery disease": the suspicion word before a finding (at most 3 words before it, or
    before its list), with its span when the diagnosis is written as its alternative ("suspected or confirmed")."""
    if head.concept.category not in FINDING_CATEGORIES:
        return None
    marker = marker_before(vocab.suspicion_before, work, head, vocab, max_words=3)
    if marker is not None:
        return marker, None
    start = head.start if head.list_start is None else head.list_start
    found = last_match(vocab.suspicion_before, work, max(0, start - 60), start)
    if found is None:
        return None
    confirmed = vocab.confirmed_alternative.match(work, found.end() + 1)
    rest = work[confirmed.end() : start] if confirmed is not None else ""
    if confirmed is None or SEPARATOR.search(rest) or len(word_tokens(rest)) > 2:
        return None
    return found.group(0), found.span()
