"""Items -> atoms: concepts, comparators, values, units, qualifiers, negation, computability.

One clause (a piece of an item between semicolons) gives one atom per *head* concept found by the
lexicon. Concepts joined by list connectors ("A, B or C") are sibling heads (one atom each);
a concept after a modifier word ("treatment *for* colorectal cancer") qualifies the head before it
and gives no atom; "non-A B" and "B except A" make A an excluded concept of B. A threshold belongs
to the head before it; heads without one share the next sibling's ("AST and ALT <= 2.5 x ULN").
Qualifiers before a head apply to it; siblings joined only by connectors inherit them; heads inside
parentheses ("uncontrolled diseases (e.g. diabetes, hypertension)") inherit those before the "(".
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from typing import cast

from fhir_adapter.criteria.about import last_match
from fhir_adapter.criteria.allergies import allergy_before
from fhir_adapter.criteria.alternatives import alternatives_count
from fhir_adapter.criteria.concept_roles import find_heads
from fhir_adapter.criteria.definitions import (
    SUBJECT_NOUNS,
    THRESHOLD_SUBJECT,
    defined_by_threshold,
    excluded_support,
    subgroup_after_threshold,
    threshold_subjects,
)
from fhir_adapter.criteria.ellipsis import shared_noun_end, shared_tail_end
from fhir_adapter.criteria.examples import EXAMPLE_REASON, example_marker_before
from fhir_adapter.criteria.head import (
    PRESENCE_CATEGORIES,
    Draft,
    Head,
    trim_span,
)
from fhir_adapter.criteria.lab_residues import lab_residues, not_the_value, some_patients_only
from fhir_adapter.criteria.lexicon import Lexicon, Units
from fhir_adapter.criteria.mentions import find_concepts
from fhir_adapter.criteria.model import (
    FINDING_CATEGORIES,
    TREATMENT_CATEGORIES,
    Atom,
    Category,
    Coding,
    Kind,
    Residue,
)
from fhir_adapter.criteria.notes import NOTE_REASON, in_note, note_spans, withdrawn_reason
from fhir_adapter.criteria.numbers import Threshold, find_thresholds, find_window, find_windows
from fhir_adapter.criteria.permissions import prohibited_in_inclusion
from fhir_adapter.criteria.phrases import Phrases, phrases
from fhir_adapter.criteria.qualifiers import attach_qualifiers, time_of_fields
from fhir_adapter.criteria.readings import (
    any_of_groups,
    distribute_negation,
    narrow_by_thresholds,
    parenthesised_options,
    split_alternative_thresholds,
    split_components,
    switch_by_unit,
    trailing_components,
    two_sided,
)
from fhir_adapter.criteria.residues import (
    RESTRICTION_REASON,
    disqualifying_in_inclusion,
    item_residues,
    of_an_absence,
    presence_residues,
    widening,
)
from fhir_adapter.criteria.scope import subgroup_scope
from fhir_adapter.criteria.segments import WORD_OR, segment
from fhir_adapter.criteria.sites import site_after
from fhir_adapter.criteria.source import Source, clause_source
from fhir_adapter.criteria.split import Item, Span, split_clauses
from fhir_adapter.criteria.text import normalise
from fhir_adapter.criteria.topics import apply_topic, topic_of, topic_reason, unnoted
from fhir_adapter.criteria.values import (
    age_fields,
    drop_time_thresholds,
    lab_fields,
    score_fields,
)
from fhir_adapter.criteria.windows import head_windows
from fhir_adapter.terminology import Concept, ConceptMatch

_LEAD_IN_CHARS = re.compile(r"[():]")


DEFINITION_REASON = "an element of the definition of the finding before the colon, not a criterion of its own"


def _definition_colon(work: str, lead: int, matches: list[ConceptMatch], p: Phrases) -> int | None:
    """Where the colon of a lead-in that defines the finding it names stands ("inflammatory breast cancer according to
    international consensus criteria: (1) onset: ... erythema, edema"), None when the lead-in is no definition."""
    if lead == 0 or not p.definition_lead.search(work, 0, lead):
        return None
    named = [m for m in matches if m.start < lead]
    return lead - 1 if any(m.concept.category in FINDING_CATEGORIES for m in named) else None


PERMITTED_VALUE = "a value the trial also allows"
PERMITTED_VALUE_REASON = PERMITTED_VALUE + " ('{marker}'), not a requirement"
_PERMITTED_SUBJECT = re.compile(rf"\s*(?:{SUBJECT_NOUNS}\s+)?(?:(?:with|who\s+have)\s+)?(?:an?\s+)?")


def _permitted_value(work: str, head: Head, fields: dict[str, object], p: Phrases) -> str | None:
    """ "ECOG 0-2; may include patients with performance status > 2 attributable to LAL": a threshold right after a
    permission's words is what the permission allows, no requirement of every patient; the words, or None."""
    if fields.get("comparator") in (None, "present", "absent"):
        return None
    # (no separator before the head: its statement's words are those right before it)
    low = head.seg_start if head.seg_start < head.start else max(0, head.start - 60)
    found = last_match(p.permission, work, low, head.start)
    subject = _PERMITTED_SUBJECT.fullmatch(work, found.end(), head.start) if found is not None else None
    return " ".join(work[found.start() : head.start].split()) if found is not None and subject else None


def _widen_permitted_limits(text: str, drafts: list[Draft], kind: Kind) -> None:
    """The limit of a test stated before a permitted value of it ("ECOG 0-2; may include patients with PS > 2
    ..."): the permitted patients pass too, a residue to confirm on the limit."""
    for i, permitted in enumerate(drafts):
        if not str(permitted.fields.get("reason") or "").startswith(PERMITTED_VALUE):
            continue
        key = permitted.fields.get("concept_key")
        earlier = [d for d in drafts[:i] if d.fields.get("concept_key") == key and d.fields.get("computable")]
        if earlier:
            residues = cast(list[Residue], earlier[-1].fields.setdefault("residues", []))
            value = text[permitted.start : permitted.end].strip()
            residues.append(Residue(text=value, effect=widening(kind), reason=PERMITTED_VALUE))


_TIGHT_JOIN = re.compile(r"\s*(?:/|or|and/or)\s*")


def _share_restrictions(work: str, heads: list[Head], drafts: list[Draft], p: Phrases) -> None:
    """ "(non-infectious) pneumonitis/interstitial lung disease that required steroids": a clause restricting the
    last member of a list joined by "/" or "or" restricts the members before it too (a residue each)."""
    for i in range(len(heads) - 2, -1, -1):
        gap = work[heads[i].end : heads[i + 1].start]
        if not _TIGHT_JOIN.fullmatch(gap) or heads[i].concept.category != heads[i + 1].concept.category:
            continue  # (not across a comma: "chronic liver disease, kidney failure requiring dialysis")
        later = cast(list[Residue], drafts[i + 1].fields.get("residues") or [])
        after = " ".join(work[heads[i + 1].end : heads[i + 1].end + 200].split()).lower()
        slash = "/" in gap  # "or" shares no "with" clause: "sleep apnea or morbid obesity with possible sleep apnea"
        shared = [
            r
            for r in later
            if r.reason == RESTRICTION_REASON
            and after.startswith(r.text.lower())
            and (slash or not r.text.lower().startswith("with"))
        ]
        own = cast(list[Residue], drafts[i].fields.get("residues"))
        if shared and drafts[i].fields.get("computable") and isinstance(own, list):
            own.extend(r for r in shared if r not in own)


def _inline_alternatives(text: str, item: Item, drafts: list[Draft]) -> list[Draft]:
    """ "Previous diagnosis of type 2 diabetes, fulfilling at least one of the following criteria: 1) current
    treatment with oral antidiabetic drugs; 2) a fasting glucose value above 126 mg/dl; ...": the statements after
    a one-of lead-in's colon in the item's own text are alternatives, one any-of group (not each required)."""
    item_text = text[item.start : item.end]
    colon = item_text.find(":")
    if colon < 0 or alternatives_count(item_text[: colon + 1]) != 1:
        return drafts
    after = item.start + colon
    group = ("inline", item.start)
    return [replace(d, fields={**d.fields, "_group": group}) if d.end > after else d for d in drafts]


def _lead_in_end(work: str, matches: list[ConceptMatch]) -> int:
    """Skip "Adequate organ function:" before a list of tests (when a concept follows the colon)."""
    if ":" not in work:
        return 0
    depth = 0
    for found in _LEAD_IN_CHARS.finditer(work):
        i, char = found.start(), found.group()
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == ":" and depth == 0:
            if (
                any(m.start > i for m in matches)
                and not find_thresholds(work[:i])
                and not _earlier_sentence(work, i, matches)
            ):
                return i + 1
            return 0
    return 0


_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)[.;]\s+")


def _earlier_sentence(work: str, colon: int, matches: list[ConceptMatch]) -> bool:
    """A concept in a sentence before the one the colon ends ("autoimmune diseases, including Crohn's disease,
    etc. The following exceptions apply: type I diabetes"): the words before the colon are no lead-in, and that
    sentence's concepts are criteria."""
    ends = [found.start() for found in _SENTENCE_END.finditer(work, 0, colon)]
    return bool(ends) and any(m.start < ends[-1] for m in matches)


_CLASS_DEFINITION = re.compile(r"\s*(?:class\s*)?[ivx\d]{1,4}[ab]?\s*:\s*[a-z]{3,}")
"""A class of a scale followed by a colon and its description: a line that defines the class."""


# The lead-in readings are asked for every sub-item (and every atom) under the same line: cached by its text.


@lru_cache(maxsize=1024)
def lead_in_window(text: str) -> int | None:
    """The time window (days) a lead-in line states ("within 6 months prior to enrolment:")."""
    window = find_window(normalise(text).text)
    return window[2] if window else None


@lru_cache(maxsize=1024)
def introduces_exceptions(text: str) -> bool:
    """A lead-in whose sub-items are exceptions ("... with the exception of:", "except the following:", "The
    following are exceptions to this criterion:")."""
    p = phrases()
    tail = normalise(text).text.rstrip(" :.")[-60:]
    found = list(p.except_words.finditer(tail))
    if found and len(tail[found[-1].end() :].split()) <= 4:
        return True
    return any(word.strip(",;()") in p.exception_nouns for word in tail.split()[-4:])


def _shown_by_sub_items(work: str, head: Head, p: Phrases) -> int | None:
    """Where the evidence starts after a finding the lead-in requires, whose sub-items only say how it is shown
    ("Has laboratory-confirmed SARS-CoV-2 infection as determined by PCR ..., as documented by either of the
    following:"); None for any other lead-in."""
    if head.concept.category not in PRESENCE_CATEGORIES or head.negated:
        return None
    found = p.evidence_phrases.search(work, head.end, head.end + 40)
    return found.start() if found is not None else None


def _category_hint(text: str, vocab: Phrases) -> Category:
    padded = f" {text} "
    for hint in vocab.category_hints:
        if hint.pattern.search(padded):
            return hint.category
    return "other"


NEGATED_EXCLUSION_REASON = (
    "a negated exclusion ('no X', 'without X' among the exclusions) may restate the exclusion or ask for X: "
    "left for review"
)


def _a_test(concept: Concept) -> bool:
    """A test result, recorded as Observations only ("without a negative pregnancy test" asks for its absence)."""
    return concept.resource_types == ("Observation",)


def _negated_exclusion(fields: dict[str, object], head: Head, work: str, vocab: Phrases) -> str | None:
    """An exclusion that says what the patient must not have ("Participants must not have received warfarin",
    "concomitant warfarin is not allowed") excludes the concept: the negation restates the exclusion. Any other
    negation in an exclusion ("No beta-blockers", "including but not limited to", "free from malignancy",
    "healthy controls with no psychiatric disorders") is as often a writing slip as a requirement of the
    concept, and excluding every patient without it would be dangerous: left for review."""
    if vocab.restating_negation.search(work, 0, min(len(work), head.end + 25)):
        fields.update(comparator="present", negated=False)
        return None
    return NEGATED_EXCLUSION_REASON


def _head_fields(head: Head, kind: Kind, units: Units, vocab: Phrases, src: Source) -> dict[str, object]:
    concept = head.concept
    fields: dict[str, object] = {
        "category": concept.category,
        "concept_key": concept.key,
        # a concept coded by code prefixes alone ("C79.32" and below) names its prefixes' own codes: an empty
        # list would read as a criterion that can match nothing
        "concepts": list(concept.codings) or [Coding(system=p.system, code=p.prefix) for p in concept.code_prefixes],
        "qualifiers": list(head.qualifiers),
        "negated": head.negated,
        "resource_types": list(concept.resource_types),
    }
    if head.excluded:
        fields["excluded_concept_key"] = head.excluded[0].key
        fields["excluded_concepts"] = [c for e in head.excluded for c in e.codings]
    reason: str | None
    residues: list[Residue] = []
    raw = src.text[src.clause_start : src.clause_start + src.norm.origin[-1]]
    if concept.category == "lab":
        extra, reason = lab_fields(raw, src.norm, head, units)
        fields.update(extra)
        reason = not_the_value(src.norm.text, head, vocab) or reason  # the truer reason of the two
        if reason is None:
            reason, residues = lab_residues(head, kind, src, units, vocab)
    elif concept.category == "performance-status":
        extra, reason = score_fields(src.norm.text, head, vocab, src.norm.cased or src.norm.text)
        fields.update(extra)
        if _CLASS_DEFINITION.match(src.norm.text, head.end):  # "NYHA II : Slight limitation of physical activity"
            reason = "defines a class of the scale, not a criterion"
        if reason is None:
            reason = some_patients_only(src.norm.text, head.start, vocab, lead_in_subject=False)
    elif concept.category in PRESENCE_CATEGORIES:
        if not head.negated and prohibited_in_inclusion(head, kind, src):
            head.negated = fields["negated"] = True  # "use of warfarin is not permitted" among the inclusions
        fields["comparator"] = "absent" if head.negated else "present"
        if allergy_before(head, src.norm.text, vocab):
            fields.update(category="allergy", resource_types=["AllergyIntolerance"])
        reason, residues = presence_residues(head, kind, src, vocab)
        if kind == "exclusion" and head.negated and reason is None and not _a_test(concept):
            reason = _negated_exclusion(fields, head, src.norm.text, vocab)
        if fields["comparator"] == "absent":
            residues = [of_an_absence(r) for r in residues]  # "no severe arrhythmia": a mild one is to confirm
    else:
        reason = f"no presence or threshold semantics for category {concept.category}"
    if reason is None:
        reason = disqualifying_in_inclusion(head, kind, src, vocab) or subgroup_scope(head, src, vocab)
    if reason is None:
        reason, more = item_residues(head, kind, src, vocab)
        residues += [r for r in more if r not in residues]
    fields["computable"] = reason is None
    fields["reason"] = reason
    fields["residues"] = list(dict.fromkeys(residues)) if reason is None else []  # one residue stated once
    return fields


def _phrase(text: str) -> str:
    words = text.split()
    short = " ".join(words[:10])
    return short + (" ..." if len(words) > 10 else "")


def parse_clause(
    text: str, item: Item, span: Span, *, lexicon: Lexicon, units: Units, vocab: Phrases | None = None
) -> list[Draft]:
    """The atoms of one clause (spans index ``text``, the whole criteria text)."""
    p = vocab or phrases()
    raw = text[span.start : span.end]
    norm = normalise(raw)
    work = norm.text
    matches = find_concepts(work, lexicon, p, norm.cased)
    lead = _lead_in_end(work, matches)
    defined_at = _definition_colon(work, lead, matches, p)
    if defined_at is not None:
        lead = 0  # the finding the lead-in names is the criterion; what follows its colon defines it
    notes = note_spans(work, p)
    # "Body mass index (BMI): 18 <= BMI <= 32 kg/m2": the lead-in names the test its statement then states
    named_in_lead = {m.concept.key: m.start for m in reversed(matches) if m.start < lead}
    matches = [m for m in matches if m.start >= lead and not in_note(notes, m.start)]
    thresholds = [
        t
        for t in find_thresholds(work)
        if t.start >= lead and not _in_count(work, t, p) and not in_note(notes, t.start)
    ]
    windows = find_windows(work)
    within_days = windows[0][2] if windows else None  # a clause without a concept: its first window
    context = f"{item.context or ''} {work}"
    item_text = text[item.start : item.end]
    intro = item.has_children and item_text.rstrip().endswith((":", "：")) and not introduces_exceptions(item_text)

    def draft(start: int, end: int, fields: dict[str, object]) -> Draft:
        start, end = trim_span(work, start, end)
        a, b = norm.span(start, end) if end > start else (0, len(raw))
        fields.setdefault("within_days", within_days)
        return Draft(span.start + a, span.start + b, fields)

    heads = find_heads(work, matches, thresholds, p, item.kind)
    for head in heads:
        site = site_after(work, head.concept, head.phrase, head.end, lexicon, p)
        head.site_end = site.end if site is not None and site.concept is None else None
    if not heads:
        fields: dict[str, object] = {"category": _category_hint(context, p), "computable": False}
        age = age_fields(work, thresholds, p) if p.age_words.search(context) else None
        topic = topic_of(work, p)
        if intro:
            fields["reason"] = "introduces the sub-items that follow"
        elif in_note(notes, lead):
            fields["reason"] = NOTE_REASON
        elif age is not None and (topic is None or topic.on_threshold == "ignore"):
            fields.update(age)  # an age is decided by its threshold ("aged 6 to 12 weeks at enrollment")
            fields["resource_types"] = ["Patient"]
        else:
            a, b = trim_span(work, lead, len(work))
            fields["reason"] = topic.reason if topic else f"concept not in lexicon: {_phrase(work[a:b])}"
        return [draft(lead, len(work), fields)]

    tail_start = segment(work, heads, thresholds, lead, p)
    for i in range(len(heads) - 2, -1, -1):
        head, nxt = heads[i], heads[i + 1]
        if not head.thresholds and nxt.inherits and head.concept.category == nxt.concept.category:
            shared = nxt.thresholds[:1] or ([nxt.shared_threshold] if nxt.shared_threshold else [])
            if shared:
                head.shared_threshold = shared[0]
                head.seg_end = max(head.seg_end, shared[0].end)
    attach_qualifiers(work, heads, lead, p)
    distribute_negation(work, heads, p)
    switch_by_unit(raw, norm, heads, lexicon, units)
    drop_time_thresholds(raw, norm, heads, units)
    heads = split_components(work, trailing_components(work, heads), lexicon, item.kind)
    heads = two_sided(work, heads, item.kind)
    heads = split_alternative_thresholds(work, heads, p, item.kind)
    src = clause_source(text, span.start, norm, item)
    groups = {**parenthesised_options(work, heads), **any_of_groups(work, heads)} if item.kind == "inclusion" else {}
    drafts: list[Draft] = []
    list_starts = _list_starts(heads)
    for index, (head, head_days) in enumerate(zip(heads, head_windows(work, heads, windows, p), strict=True)):
        seg_end = head.seg_end
        if head.shared_threshold is not None:
            seg_end = max(seg_end, head.shared_threshold.end)
        fields = _head_fields(head, item.kind, units, p, src)
        fields["within_days"] = head_days
        time_of_fields(fields, item.kind, src.item_norm.text, p)
        prefix_text = unnoted(work, lead, notes)[: heads[0].start - lead] if head is not heads[0] else ""
        shown_by = _shown_by_sub_items(work, head, p) if intro else None
        if intro and shown_by is None:
            fields.update(computable=False, reason="introduces the sub-items that follow", residues=[])
        else:
            # a finding the sub-items only show: its words end where the evidence starts
            end = min(seg_end, shown_by) if shown_by is not None else seg_end
            apply_topic(fields, head, (head.seg_start, end), prefix_text, src, head_days, p, notes, list_starts[index])
        if item.kind == "inclusion" and _example_of_class(fields, work, head, p):
            fields.update(computable=False, reason=EXAMPLE_REASON, residues=[])
        if defined_at is not None and head.start > defined_at and head.concept.category in FINDING_CATEGORIES:
            fields.update(computable=False, reason=DEFINITION_REASON, residues=[])
        permitted = _permitted_value(work, head, fields, p)
        if permitted is not None:
            fields.update(computable=False, reason=PERMITTED_VALUE_REASON.format(marker=permitted), residues=[])
        subgroup = subgroup_after_threshold(work, head, heads)
        if subgroup is not None:
            fields.update(computable=False, reason=THRESHOLD_SUBJECT.format(marker=subgroup), residues=[])
        if index in groups:
            fields["_group"] = (span.start, groups[index])
        noun_end = shared_noun_end(work, head.start, head.end, p)  # "liver" in "liver or kidney disease"
        if noun_end is None and index + 1 < len(heads):  # "prostate" in "prostate or breast cancer"
            following = [(h.start, h.end) for h in heads[index + 1 :]]
            noun_end = shared_tail_end(work, head.start, head.end, following, lexicon)
        start = min(named_in_lead.get(head.concept.key, head.seg_start), head.seg_start)
        drafts.append(draft(start, max(seg_end, noun_end or 0), fields))
    _share_restrictions(work, heads, drafts, p)
    if item.kind == "exclusion":
        narrow_by_thresholds(heads, drafts, src)
    if tail_start is not None:
        tail = work[tail_start:]
        if item.kind == "inclusion" and drafts:
            _widen_by_uncoded_alternative(drafts[-1], work, heads[-1], tail_start, src)
        drafts.append(
            draft(
                tail_start,
                len(work),
                {
                    "category": _category_hint(tail, p),
                    "computable": False,
                    "reason": topic_reason(tail, p)
                    or f"concept not in lexicon: {_phrase(work[slice(*trim_span(work, tail_start, len(work)))])}",
                },
            )
        )
    return drafts


def _list_starts(heads: list[Head]) -> list[int | None]:
    """Where the list each later member belongs to starts: its first member's segment start ("a candidate for
    radical surgery and/or radiotherapy, or chemotherapy": the words before radiotherapy are chemotherapy's too)."""
    firsts = {h.start: h for h in heads}
    starts: list[int | None] = []
    for head in heads:
        first = firsts.get(head.list_start) if head.list_start is not None else None
        # a member of another kind starts a criterion of its own ("allergy to doxycycline, pregnancy"); treatments
        # are one kind ("radiotherapy, or chemotherapy")
        same_kind = first is not None and _kind_of_concept(first.concept) == _kind_of_concept(head.concept)
        starts.append(first.seg_start if first is not None and same_kind else None)
    return starts


def _kind_of_concept(concept: Concept) -> str:
    return "treatment" if concept.category in TREATMENT_CATEGORIES else concept.category


def _widen_by_uncoded_alternative(last: Draft, work: str, head: Head, tail_start: int, src: Source) -> None:
    """ "adenocarcinoma of the stomach or the gastroesophageal junction": an alternative after "or" that the
    lexicon does not code widens the inclusion before it (a patient without the stomach cancer may have the
    other): a residue to confirm."""
    if not WORD_OR.search(work, head.end, tail_start) or not last.fields.get("computable"):
        return
    text = src.clause(*trim_span(work, tail_start, len(work)))
    residues = cast(list[Residue], last.fields.setdefault("residues", []))
    residues.append(Residue(text=text, effect="widens", reason="an alternative the lexicon does not code"))


def _in_count(work: str, t: Threshold, p: Phrases) -> bool:
    """ "failed < 5 prior lines of chemotherapy": the number counts treatments, it is no threshold of a concept."""
    number_end = t.num_end if t.num_end is not None else t.end
    count = p.count_re.search(work, t.start, min(len(work), t.end + 60))
    # the count covers the number and whatever was read as its unit ("5 prior lines": "prior" is no unit)
    return count is not None and count.start() < number_end and count.end() >= t.end


def _example_of_class(fields: dict[str, object], work: str, head: Head, p: Phrases) -> bool:
    """A present finding listed after "e.g."/"such as" in an inclusion: an example, not a requirement; so is a test
    named high or low with no number ("at least one cardiovascular risk factor (eg, current smoker, high
    cholesterol levels)"). A test with its number stays a requirement ("adequate organ function, such as ANC >=
    1500/uL")."""
    present = fields.get("comparator") == "present" and fields.get("category") in PRESENCE_CATEGORIES
    segment = work[head.start : max(head.seg_end, head.end)]
    unnumbered = fields.get("category") == "lab" and not any(c.isdigit() for c in segment)
    return (
        fields.get("computable") is True
        and (present or unnumbered)
        and example_marker_before(work, head, p) is not None
    )


def _suffix(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def parse_item(text: str, item: Item, *, lexicon: Lexicon, units: Units, vocab: Phrases | None = None) -> list[Atom]:
    """The atoms of one item, with ids ``inc-3`` (one atom) or ``inc-3a``, ``inc-3b`` ..."""
    drafts = [
        d
        for span in split_clauses(text, item)
        for d in parse_clause(text, item, span, lexicon=lexicon, units=units, vocab=vocab)
    ]
    item_text = text[item.start : item.end].strip()
    atoms: list[Atom] = []
    group_ids: dict[object, str] = {}
    drafts = threshold_subjects(text, excluded_support(text, defined_by_threshold(text, drafts)))
    _widen_permitted_limits(text, drafts, item.kind)
    if item.kind == "inclusion":
        drafts = _inline_alternatives(text, item, drafts)
    if item.withdrawn is not None:
        gone = {"computable": False, "reason": withdrawn_reason(item.withdrawn), "residues": []}
        drafts = [replace(d, fields={**d.fields, **gone}) for d in drafts]
    for index, d in enumerate(drafts):
        atom_id = item.id if len(drafts) == 1 else f"{item.id}{_suffix(index)}"
        atom_text = text[d.start : d.end]
        fields = dict(d.fields)
        group = fields.pop("_group", None)
        if group is not None:
            fields["any_of"] = group_ids.setdefault(group, f"{atom_id}-any")
        atoms.append(
            Atom.model_validate(
                {
                    "id": atom_id,
                    "kind": item.kind,
                    "text": atom_text,
                    "item_text": item_text if item_text != atom_text else None,
                    "cohort": item.cohort,
                    **fields,
                }
            )
        )
    return _drop_lone_groups(atoms)


def _drop_lone_groups(atoms: list[Atom]) -> list[Atom]:
    """A group left with one computable member is that member; a group with a member left for review is
    not decided by the others (the alternative may hold): every member stays, the group is kept."""
    sizes: dict[str, int] = {}
    for atom in atoms:
        if atom.any_of:
            sizes[atom.any_of] = sizes.get(atom.any_of, 0) + 1
    return [a.model_copy(update={"any_of": None}) if a.any_of and sizes[a.any_of] < 2 else a for a in atoms]
