"""Residues: the clauses of a criterion that its main statement does not check (exceptions, permissions,
conditions on some patients, severity and narrowing words, alternative thresholds), each kept with its text, its
effect and its reason, or the reason the atom is left for review when such a clause cannot be set aside."""

from __future__ import annotations

import re

from fhir_adapter.criteria.about import (
    about_something_else,
    last_match,
    relative_before,
    suspicion_before,
)
from fhir_adapter.criteria.head import (
    PRESENCE_CATEGORIES,
    SEPARATOR,
    Head,
    open_paren_before,
    word_tokens,
)
from fhir_adapter.criteria.model import FINDING_CATEGORIES, TREATMENT_CATEGORIES, Kind, Residue, ResidueEffect
from fhir_adapter.criteria.narrower import narrower_codings
from fhir_adapter.criteria.numbers import find_min_elapsed, find_thresholds, find_windows
from fhir_adapter.criteria.permissions import (
    listed_as_allowed,
    negated_permission,
    permission_for,
    permitted_concept,
)
from fhir_adapter.criteria.phrases import Phrases
from fhir_adapter.criteria.routes import dosing_before, route_before, route_reading
from fhir_adapter.criteria.source import Source, head_offset, same_sentence, sentence
from fhir_adapter.terminology import Concept

_CALENDAR_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?:\s*(?:-|to|and)\s*(?:19|20)\d\d)?(?!\d)")
"""A calendar year or period ("a pregnancy between 1991-2001"): not a time relative to today."""


RESTRICTION_REASON = "a restriction not combined in coded data"


def extent(work: str, start: int) -> tuple[int, int]:
    """The residue around a marker at ``start``: the rest of its parenthesis, else of its sentence or clause."""
    paren = open_paren_before(work, start, 0)
    if paren is not None:
        close = work.find(")", start)
        return paren + 1, close if close != -1 else len(work)
    stop = re.search(r";|\.\s|\.$|\(", work[start:])
    return start, start + stop.start() if stop else len(work)


def widening(kind: Kind) -> ResidueEffect:
    """A permission or a condition on who must meet the criterion: more patients pass an inclusion, fewer are
    excluded by an exclusion."""
    return "widens" if kind == "inclusion" else "narrows"


def of_an_absence(residue: Residue) -> Residue:
    """A residue that restricts the concept narrows a presence atom and widens an absence atom: "no severe
    arrhythmia" is met by no arrhythmia at all, and a recorded arrhythmia (perhaps mild) is to confirm."""
    if residue.effect != "narrows":
        return residue
    return residue.model_copy(update={"effect": "widens"})


def presence_residues(head: Head, kind: Kind, src: Source, vocab: Phrases) -> tuple[str | None, list[Residue]]:
    """Why a presence atom is not computable, or the residues that narrow it (severity words, restrictions)."""
    concept = head.concept
    if not concept.codings and not concept.code_prefixes:
        return f"concept has no codes: {concept.key}", []
    work = src.norm.text
    about = about_something_else(head, kind, work, vocab, src.norm.cased)
    if about is not None:
        return about, []
    suspicion = suspicion_before(head, work, vocab) if kind == "inclusion" else None
    if suspicion is not None and suspicion[1] is None:
        return f"'{suspicion[0]}' before the finding: a suspicion is not a diagnosis", []
    residues: list[Residue] = []
    if suspicion is not None and suspicion[1] is not None:  # "suspected or confirmed COVID-19"
        text = src.clause(*suspicion[1])
        residues.append(Residue(text=text, effect="widens", reason=f"'{suspicion[0]}': a suspicion also admitted"))
    relative = relative_before(work, head, vocab)
    if relative is not None and not vocab.personal_history.search(work, 0, head.start):
        return f"'{relative.group(0)}': a relative's finding (FamilyMemberHistory), not the patient's", []
    if relative is not None:  # "a personal or family history of X": the patient's history decides
        text = src.clause(relative.start(), relative.end())
        residues.append(Residue(text=text, effect="widens", reason="a relative's finding to confirm"))
    for qualifier, why in (
        ("uncontrolled", "'uncontrolled' is not recorded in coded data"),
        ("recurrent", "'recurrent' is not recorded in coded data"),
    ):
        if qualifier not in head.qualifiers or (qualifier == "recurrent" and "inherent:recurrent" in head.modifiers):
            continue
        pattern = dict(vocab.qualifiers)[qualifier]
        found = pattern.search(work, max(0, head.seg_start - 80), head.end)
        text = src.clause(found.start(), found.end()) if found else src.clause(head.start, head.end)
        residues.append(Residue(text=text, effect="narrows", reason=why))
    count = vocab.count_re.search(work, head.seg_start, max(head.seg_end, head.end))
    if count is not None and not _one_or_more(work, count):
        return f"a count ('{count.group(0)}') is not decided from coded data", []
    seg_start, seg_end = max(head.seg_start, 0), max(head.seg_end, head.end)
    # a year starts with 19 or 20: most segments have neither, and need no scan
    has_century = work.find("19", seg_start, seg_end) >= 0 or work.find("20", seg_start, seg_end) >= 0
    year = _CALENDAR_YEAR.search(work, seg_start, seg_end) if has_century else None
    if year is not None and not vocab.citation_year.match(work, year.start()):
        return f"a calendar period ('{year.group(0)}') is not checked", []
    route = route_before(work, head, vocab) if concept.category == "medication" else None
    if route is not None:
        local_use, narrowed = route_reading(route, head, src, vocab)
        if local_use is not None:
            return local_use, []
        residues.extend([narrowed] if narrowed is not None else [])
    untreated = vocab.untreated_before.search(work, max(head.seg_start, head.start - 40), head.start)
    if untreated is not None and concept.category in FINDING_CATEGORIES:  # "Untreated hyperthyroidism"
        text = src.clause(untreated.start(), head.end)
        residues.append(Residue(text=text, effect="narrows", reason="whether it is treated is not recorded"))
    treated = _treatment_before(work, head, vocab) if concept.category in FINDING_CATEGORIES else None
    if treated is not None and (find_windows(work) or find_min_elapsed(work) is not None):
        return "a time of the finding's treatment or admission, which is not coded (not of the finding)", []
    if treated is not None:  # "any other systemic therapy for their melanoma": no melanoma, no therapy for it
        text = src.clause(treated, head.end)
        residues.append(Residue(text=text, effect="narrows", reason="a treatment of the finding, not coded"))
    dosing = dosing_before(work, head, vocab, src) if concept.category == "medication" else None
    residues.extend([dosing] if dosing is not None else [])
    recency = _undated_recency(work, head, vocab) if concept.category in TREATMENT_CATEGORIES else None
    if recency is not None:  # "has recently received chemotherapy": recent, but how recent is not said
        text = src.clause(*recency)
        residues.append(Residue(text=text, effect="narrows", reason="a time ('recently') not stated in days"))
    measure = _measure_of_finding(work, head) if concept.category in FINDING_CATEGORIES else None
    if measure is not None:  # "Myopia > 6D", "Peripheral neuropathy of Grade 2 or greater"
        text = src.clause(*measure)
        residues.append(Residue(text=text, effect="narrows", reason="a measure of the finding not compared"))
    if concept.category == "medication" and head.thresholds:
        dose = head.thresholds[0]
        residues.append(
            Residue(text=src.clause(dose.start, dose.end), effect="narrows", reason="a dose limit not compared")
        )
    finding = concept.category in {"condition", "infection", "pregnancy", "procedure"} and not head.excluded
    narrower = _narrowing_word(work, head, vocab) if finding else None
    if narrower is not None:
        kind_text = src.clause(narrower, head.end)
        codes = tuple(narrower_codings(work[narrower : head.end]))
        residues.append(Residue(text=kind_text, effect="narrows", reason="a narrower kind", codes=codes))
    numbered = _KIND_NUMBER_AFTER.match(work, head.end) if finding else None
    if numbered is not None:  # "HCV genotype 1", "breast cancer stage IV"
        text = src.clause(head.start, numbered.end())
        residues.append(Residue(text=text, effect="narrows", reason="a narrower kind"))
    if head.phrase.lower() in concept.narrower_names:  # "thoracic radiotherapy": counted by any radiotherapy's codes
        text = src.clause(head.start, head.end)
        residues.append(Residue(text=text, effect="narrows", reason="a narrower kind than the codes single out"))
    if head.site_end is not None:
        text = src.clause(head.end, head.site_end)
        residues.append(Residue(text=text, effect="narrows", reason="a site that the finding's codes do not name"))
    if head.modifier_end is not None and concept.category in {"condition", "infection"}:
        text = src.clause(head.end, head.modifier_end)
        if text:
            residues.append(Residue(text=text, effect="narrows", reason=RESTRICTION_REASON))
    elif concept.category in FINDING_CATEGORIES or concept.category in TREATMENT_CATEGORIES:
        restriction = _restrictive_clause(work, head, kind, vocab)
        if restriction is not None:
            text = src.clause(*restriction)
            residues.append(Residue(text=text, effect="narrows", reason=RESTRICTION_REASON))
    return None, residues


def _treatment_before(work: str, head: Head, vocab: Phrases) -> int | None:
    """Where treatment words ending right before the finding (or before the first member of its list: "treatment
    for hypertension or diabetes") start."""
    start = head.start
    if head.list_start is not None and ";" not in work[head.list_start : head.start]:
        start = head.list_start  # not across a semicolon: "treatment of TB or HIV; renal insufficiency"
    found = vocab.treatment_of_finding.search(work, max(0, start - 60), start)
    return found.start() if found is not None else None


def _undated_recency(work: str, head: Head, vocab: Phrases) -> tuple[int, int] | None:
    """ "recently" before a treatment in its segment, with no number there to date it ("within 4 weeks")."""
    start = max(head.seg_start, head.start - 40, 0)
    found = vocab.recency.search(work, start, head.start)
    if found is None or re.search(r"\d", work[head.seg_start : max(head.seg_end, head.end)]):
        return None
    if head.concept.category != "medication" and not work[found.end() : head.start].strip():
        return None  # "recent stent implantation": the word before a procedure is read as its narrower kind
    return found.start(), head.end


_NOT_A_MEASURE = re.compile(
    r"\b(?:years?|yrs?|months?|mos?|weeks?|wks?|days?|hours?|hrs?|h|minutes?|mins?|ago|old|age[ds]?|prior|before)\b",
    re.IGNORECASE,
)
"""Words near a number that make it an age, a duration or a date rather than a measure of the finding."""


def _measure_of_finding(work: str, head: Head) -> tuple[int, int] | None:
    """ "Myopia > 6D": a threshold of the finding's own segment that no test took, unless it is an age, a time or
    a date (those are read elsewhere, as windows and ages)."""
    for threshold in head.thresholds:
        around = work[max(0, threshold.start - 15) : min(len(work), threshold.end + 12)]
        if not _NOT_A_MEASURE.search(around):
            return threshold.start, threshold.end
    return None


_CLAUSE_END = re.compile(r"[;,.(]|\b(?:or|and|nor)\b")


def _restrictive_clause(work: str, head: Head, kind: Kind, vocab: Phrases) -> tuple[int, int] | None:
    """ "renal failure requiring dialysis", "pneumonitis that required steroids": the clause after the finding that
    restricts it, to its end; after a treatment, its purpose ("radiation for palliative intent"). In an inclusion,
    a clause that is a required concept of its own (another head's segment) is that concept's atom, not a residue."""
    # the lexicon may name the restricted finding itself ("pneumonitis that required steroids")
    if head.concept.category in TREATMENT_CATEGORIES:
        # "radiation for palliative intent", "artificial heart valves requiring treatment with an anticoagulant"
        purpose = None if head.modifiers else vocab.treatment_purpose.match(work, head.end)
        found = purpose or vocab.restrictive_clause.match(work, head.end)
    else:
        found = (
            vocab.restrictive_clause.search(work, head.start, head.end)
            or vocab.restrictive_clause.match(work, head.end)
            or vocab.restrictive_with.match(work, head.end)  # not in the finding's own name: "granulomatosis with"
        )
    if found is None:
        return None
    start = found.end() - len(found.group(0).lstrip(" ,"))
    if kind == "inclusion" and found.end() > max(head.seg_end, head.end):
        return None
    end = _CLAUSE_END.search(work, found.end())
    stop = min(end.start() if end else len(work), found.end() + 80)
    return start, len(work[:stop].rstrip())


_WORD_END = re.compile(r"([a-z][a-z'\-]*)\s*$")


def _narrowing_word(work: str, head: Head, vocab: Phrases) -> int | None:
    return narrowing_word(work, head.start, head.seg_start, head.concept, vocab)


_KIND_OF = re.compile(r"(?<![a-z])(?:forms?|types?|kinds?|variants?|subtypes?|onset)\s+of\s+(?:the\s+)?$")


_KIND_NUMBER_BEFORE = re.compile(r"\b(?:type|grade|stage|class|genotype|subtype)\s*-?\s*[0-9ivx]{1,4}[a-d]?\s*$")


_KIND_NUMBER_AFTER = re.compile(
    r"\s*,?\s*(?:type|grade|stage|class|genotype|subtype|serotype)\s*-?\s*[0-9ivx]{1,4}[a-d]?\b"
)
"""A numbered kind before or after a finding ("Type 2 diabetic", "HCV genotype 1"): narrower than its codes."""


def narrowing_word(work: str, start: int, floor: int, concept: Concept, vocab: Phrases) -> int | None:
    """Where a word before the finding at ``start`` that narrows it starts ("arterial thrombosis", "twin
    pregnancy"), looking no further back than ``floor``."""
    kind_of = _KIND_OF.search(work, max(floor, start - 40), start)
    if kind_of is not None:  # "secondary forms of diabetes": the word before "forms of" narrows the finding
        adjective = _WORD_END.search(work, max(floor, kind_of.start() - 30), kind_of.start())
        if adjective is None or adjective.group(1) in vocab.any_kind_words:
            return None
        return adjective.start(1)
    numbered = _KIND_NUMBER_BEFORE.search(work, max(floor, start - 24), start)
    if numbered is not None:  # "Type 2 diabetic", "stage IV breast cancer": the kind's number is too short a word
        return numbered.start()
    found = _WORD_END.search(work, max(floor, start - 30), start)
    if found is None or found.end() < start - 2:
        return None
    word = found.group(1).strip("-'")
    if word in vocab.neutral_before_finding or len(word) < 3 or vocab.list_connector.__contains__(word):
        return None
    if word in vocab.test_results and concept.is_presence_test:
        return None
    if vocab.qualifiers and any(p.fullmatch(word) for _, p in vocab.qualifiers):
        return None
    return found.start(1)


def item_residues(head: Head, kind: Kind, src: Source, vocab: Phrases) -> tuple[str | None, list[Residue]]:
    """Exceptions, permissions and conditions written anywhere in the item, as residues of a presence atom;
    a minimum time since an event still leaves the atom for review."""
    work, item_work = src.norm.text, src.item_norm.text
    if head.concept.category == "lab":
        return _lab_statement(head, src, vocab), []
    if head.concept.category not in PRESENCE_CATEGORIES:
        return None, []
    if src.item_facts.min_elapsed:
        return "a minimum time since an event ('at least 4 weeks prior', 'more than 5 years ago') is not coded", []
    washout = vocab.washout.search(work, head.end, head.end + 40)
    if washout is not None and not SEPARATOR.search(work, head.end, washout.start()):
        # "Prior radiotherapy must have been completed 2 weeks prior to first dose": the treatment is allowed
        return f"a washout ('{washout.group(0)}'): the treatment is allowed when it ended in time", []
    subject = _requirement_subject(work, head, vocab)
    if subject is not None:
        return f"names the patients a requirement applies to ('{subject}'): the concept is not the criterion", []
    subject = _threshold_subject(work, head, vocab)
    if subject is not None:  # "(patients with Gilbert's syndrome total bilirubin <= 2.5 x ULN)"
        return f"names the patients a threshold applies to ('{subject}'): the concept is not the criterion", []
    condition = next(
        (c for c in vocab.conditional.finditer(work, 0, head.start) if not _in_closed_brackets(work, c.start(), head)),
        None,
    )
    if condition is not None and not find_thresholds(work[condition.end() : head.start]):
        # "If a patient is on corticosteroids, the dose must be stable": the concept is the condition, not
        # the requirement
        return f"conditional criterion ('{condition.group(0)}'): the concept is the condition, not the requirement", []
    residues: list[Residue] = []
    listed = listed_as_allowed(head, src, vocab)
    if listed is not None:
        # "... is not allowed; however, the following are allowed: a. endocrine therapy ...": a listed concept
        return f"a permission ('{listed.group(0)}'): the listed concept is allowed, not required or excluded", []
    permission = permission_for(head, src)
    if permission is not None and negated_permission(item_work, permission):
        permission = None  # "no anticancer treatment is allowed": a prohibition, the criterion itself
    if (
        permission is not None
        and permitted_concept(item_work, permission.start(), head, src)
        and not vocab.permission_conditions.search(item_work, *sentence(item_work, permission.start()))
    ):
        # "Use of intranasal DDAVP during menses will be permitted": the concept is what is allowed
        return f"a permission ('{permission.group(0)}'): the concept is allowed, not required or excluded", []
    markers: list[tuple[re.Match[str] | None, ResidueEffect, str]] = [
        (permission, widening(kind), "a permission ('allowed', 'eligible') to confirm"),
        (
            src.item_facts.exception
            if not head.excluded or head.concept in head.excluded or head.narrowed_exception
            else None,
            "narrows",
            "an exception not coded in the lexicon",
        ),
        (src.item_facts.condition, widening(kind), "a condition to confirm"),
    ]
    for found, effect, why in markers:
        if found is None:
            continue
        span = sentence(item_work, found.start()) if found is permission else extent(item_work, found.start())
        text = src.item(*span)
        if text and all(r.text != text for r in residues):
            residues.append(Residue(text=text, effect=effect, reason=why))
    return None, residues


_FOR_PATIENTS_WITH = re.compile(
    r"(?<![a-z])for\s+(?:the\s+)?(?:patients?|subjects?|participants?|those|women|men|individuals)\s+with\s+$"
)


def _lab_statement(head: Head, src: Source, vocab: Phrases) -> str | None:
    """Why a lab's threshold is not the criterion: negated ("Alkaline phosphatase and AST/ALT may not both be >
    the ULN"), the patients a requirement applies to ("Patients with AST/ALT > ULN must have liver imaging"), or
    allowed ("bilirubin > 1.5 x ULN is acceptable if ...", "with PT-INR <= 1.5 x ULN is permitted")."""
    work, item_work = src.norm.text, src.item_norm.text
    first = head.thresholds[0] if head.thresholds else head.shared_threshold
    if first is not None and vocab.negation.search(work, head.seg_start, max(head.seg_start, first.start)):
        return "negated threshold ('may not', 'not'): left for review"
    subject = _requirement_subject(work, head, vocab)
    if subject is not None:
        return f"names the patients a requirement applies to ('{subject}'): the threshold is not the criterion"
    named_for = _FOR_PATIENTS_WITH.search(work, max(0, head.start - 40), head.start)
    if named_for is not None:  # "Creatinine clearance >= 30 mL/min for subject with creatinine levels > 1.5 x ULN"
        return f"names the patients another threshold applies to ('{named_for.group(0).strip()}')"
    permission = permission_for(head, src)
    if (
        permission is not None
        and not negated_permission(item_work, permission)
        and permitted_concept(item_work, permission.start(), head, src)
    ):
        return f"a permission ('{permission.group(0)}'): the threshold is allowed, not required or excluded"
    return None


def _requirement_subject(work: str, head: Head, vocab: Phrases) -> str | None:
    """ "Patients with a positive HBsAg must have a negative viral load": the words naming the patients a
    requirement applies to, when the head is in them ("... must be excluded" states the criterion itself)."""
    # the modal after the head first: most heads have none, and then the subject's words need no scan
    modal = vocab.requirement_modals.search(work, head.end)
    gap = work[head.end : modal.start()] if modal is not None else ""
    if modal is None or re.search(r"[;.]", gap) or gap.count("(") > gap.count(")"):
        return None  # "... lactating (though the possibility ... should be very low)": not the requirement's modal
    subject = None
    for found in vocab.subject_markers.finditer(work, 0, head.start):
        subject = found
    # "Patients with AST/ALT or alkaline phosphatase > ULN must ...": a list may name them, not a clause
    if subject is None or re.search(r"[;.]", work[subject.end() : head.start]):
        return None
    if len(word_tokens(work[subject.end() : head.start])) > 6:
        return None
    if vocab.requirement_modals.search(work, subject.end(), head.start):
        return None  # "Patients on ongoing hypertensive therapy must have a blood pressure >= 135/85": the object
    if vocab.criterion_statement.match(work, modal.end()):
        return None
    return work[subject.start() : modal.end()]


def _in_closed_brackets(work: str, at: int, head: Head) -> bool:
    """ "Pregnancy (a negative test should be available for women of child-bearing potential) or lactation": words
    in brackets closed before the head are no condition of it."""
    return work.count(")", at, head.start) > work.count("(", at, head.start)


def _threshold_subject(work: str, head: Head, vocab: Phrases) -> str | None:
    """ "Total bilirubin <= 1.5 x ULN (patients with Gilbert's syndrome total bilirubin <= 2.5 x ULN)": after a
    threshold, a finding right after the words naming patients, with a threshold right after it: the patients an
    alternative threshold applies to."""
    subject = last_match(vocab.subject_markers, work, max(0, head.start - 40), head.start)
    if subject is None or SEPARATOR.search(work, subject.end(), head.start):
        return None
    if not find_thresholds(work[: subject.start()]):
        return None  # no threshold before: "Patients with HIV infection with CD4 count > 200" requires the HIV
    if len(word_tokens(work[subject.end() : head.start])) > 2:
        return None
    after = work[head.end : head.end + 40]
    threshold = next(iter(find_thresholds(after)), None)
    if threshold is None or re.search(r"[;.,)]", after[: threshold.start]):
        return None
    return work[subject.start() : head.end]


_ONE = re.compile(r"(?:1|one)\b", re.IGNORECASE)


_AT_LEAST = re.compile(r"(?:at\s+least|≥|>=|a\s+minimum\s+of|no\s+less\s+than|not\s+less\s+than)\s*$", re.IGNORECASE)


_OR_MORE = re.compile(r"(?:1|one)\s*(?:or\s+more|\+)", re.IGNORECASE)


def _one_or_more(work: str, count: re.Match[str]) -> bool:
    """ "at least 1 transfusion", "one or more seizures": a count of one or more is the presence itself."""
    text = count.group(0)
    if not _ONE.match(text):
        return False
    return bool(_OR_MORE.match(text) or _AT_LEAST.search(work, 0, count.start()))


_FOR_A_TREATMENT = re.compile(r"\s+(?:for|to)\b")


def disqualifying_in_inclusion(head: Head, kind: Kind, src: Source, vocab: Phrases) -> str | None:
    """ "The following individual laboratory results will independently disqualify individuals: Cholesterol >250
    mg/dl": among the inclusions, the words that make a concept after them in their sentence an exclusion; or
    before them ("osteopenia, osteomalacia ... are relative contraindications")."""
    if kind != "inclusion":
        return None
    item_work = src.item_norm.text
    start = head_offset(head, src)
    found = last_match(vocab.disqualifying, item_work, 0, start)
    if found is None or not same_sentence(item_work, found.start(), start):
        found = vocab.disqualifying_after.search(item_work, start)
        # ("Hepatocellular carcinoma (fibrolamellar subtypes are not eligible)": the words in parentheses speak of
        # the concepts inside them)
        if (
            found is None
            or not same_sentence(item_work, start, found.start())
            or "(" in item_work[start : found.start()]
            or _FOR_A_TREATMENT.match(item_work, found.end())
        ):
            return None
    return f"'{found.group(0)}': an exclusion written among the inclusions, left for review"
