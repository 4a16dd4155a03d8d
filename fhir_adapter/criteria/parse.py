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
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, cast

from fhir_adapter.criteria.lexicon import Lexicon, Units
from fhir_adapter.criteria.model import Atom, Category, Coding, Comparator, Kind, Qualifier, Residue, ResidueEffect
from fhir_adapter.criteria.numbers import NOT_UNIT, READING, Threshold, find_min_elapsed, find_thresholds, find_window
from fhir_adapter.criteria.phrases import Phrases, Topic, phrases
from fhir_adapter.criteria.split import Item, Span, split_clauses
from fhir_adapter.criteria.text import Normalised, normalise
from fhir_adapter.terminology import Concept, ConceptMatch
from fhir_adapter.units import observation_units

AGE_CONCEPT = Coding(system="http://loinc.org", code="30525-0", display="Age")
PRESENCE_CATEGORIES: frozenset[str] = frozenset(
    {"condition", "infection", "pregnancy", "medication", "procedure", "allergy"}
)
_SEPARATOR = re.compile(r",|;|/|\bor\b|\band\b|\bnor\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-.]*|[,/()&]", re.IGNORECASE)
_SCORE = re.compile(r"(?<![\d.])(\d{1,3})(?:\s*%)?(?![\d.]|\s*(?:x|times|days?|weeks?|months?|years?|mg|g/|ml))")


@dataclass
class Head:
    """A concept that gets its own atom, with everything attached to it."""

    concept: Concept
    start: int
    end: int
    phrase: str
    seg_start: int = 0
    seg_end: int = 0
    thresholds: list[Threshold] = field(default_factory=list)
    shared_threshold: Threshold | None = None
    qualifiers: list[Qualifier] = field(default_factory=list)
    negated: bool = False
    excluded: list[Concept] = field(default_factory=list)
    modifiers: list[str] = field(default_factory=list)
    or_sibling: bool = False
    inherits: bool = False
    modifier_end: int | None = None
    """End of the last concept that restricts this head ("stroke *due to atrial fibrillation*")."""


def _tokens(text: str) -> list[str]:
    return [t.strip(".").lower() for t in _WORD.findall(text) if t.strip(".")]


def _connector_only(gap: str, vocab: Phrases) -> bool:
    return all(tok in vocab.list_connector for tok in _tokens(gap))


def _qualifiers(window: str, vocab: Phrases) -> list[Qualifier]:
    if not vocab.any_qualifier.search(window):
        return []
    found: list[Qualifier] = []
    for qualifier, pattern in vocab.qualifiers:
        if pattern.search(window) and qualifier not in found:
            found.append(qualifier)
    return found


def _negated(window: str, vocab: Phrases) -> bool:
    cleaned = window
    for qualifier, pattern in vocab.qualifiers:
        if qualifier == "uncontrolled":
            cleaned = pattern.sub(" ", cleaned)
    return bool(vocab.negation.search(cleaned))


def _drop_overlaps(matches: list[ConceptMatch]) -> list[ConceptMatch]:
    kept: list[ConceptMatch] = []
    for m in sorted(matches, key=lambda m: (m.start, -(m.end - m.start))):
        if kept and m.start < kept[-1].end:
            continue
        kept.append(m)
    return kept


_NON = re.compile(r"(?<![a-z])non-(?=[a-z])")
_COMPOUND_LINK = re.compile(r"\s*-?\s*(?:related|associated|induced|caused|mediated|dependent|due)\s*", re.IGNORECASE)
_NON_CASED = re.compile(r"(?<![A-Za-z])([Nn][Oo][Nn])-(?=[A-Za-z])")


_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z0-9]*)[\s,-]*$")


def _names_a_specific_disease(work: str, match: ConceptMatch, p: Phrases) -> bool:
    """A bare "cancer" after a site or type word ("prostate cancer") is not "any malignancy"."""
    if match.concept.key not in p.site_specific_concepts or match.phrase.lower() not in p.site_specific_nouns:
        return False
    before = _WORD_BEFORE.search(work[: match.start])
    return before is not None and before.group(1).lower() not in p.generic_modifiers


_HYPHEN_PREFIX = re.compile(r"[a-z]{2,}-$")
"""A word joined to the match by a hyphen ("pre-gestational diabetes", "post-transplant"): a compound that
names something else ("non-" is handled apart: "non-colorectal cancer" is an excepted concept)."""


def _in_compound(work: str, match: ConceptMatch) -> bool:
    before = work[max(0, match.start - 12) : match.start]
    return bool(_HYPHEN_PREFIX.search(before)) and not before.endswith("non-")


def _find_concepts(work: str, lexicon: Lexicon, p: Phrases, cased: str | None = None) -> list[ConceptMatch]:
    """Lexicon matches, plus concepts written right after "non-" ("non-colorectal cancer"). The lexicon reads
    ``cased`` (the same text with its letter case, so that "MS" or "eGFR" match as written)."""
    source = cased if cased and len(cased) == len(work) else work
    found = [
        m
        for m in lexicon.find(source)
        if 0 <= m.start < m.end <= len(work) and not _names_a_specific_disease(work, m, p) and not _in_compound(work, m)
    ]
    starts = {m.end() for m in _NON.finditer(work)}
    if starts:
        spaced = _NON.sub("non ", work) if source is work else _NON_CASED.sub(r"\1 ", source)
        found.extend(m for m in lexicon.find(spaced) if m.start in starts and 0 <= m.start < m.end <= len(work))
    return _drop_overlaps(found)


def _open_paren_before(text: str, index: int, floor: int) -> int | None:
    depth = 0
    for i in range(index - 1, floor - 1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                return i
            depth -= 1
    return None


def _lead_in_end(work: str, matches: list[ConceptMatch]) -> int:
    """Skip "Adequate organ function:" before a list of tests (when a concept follows the colon)."""
    depth = 0
    for i, char in enumerate(work):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == ":" and depth == 0:
            if any(m.start > i for m in matches) and not find_thresholds(work[:i]):
                return i + 1
            return 0
    return 0


def _heads(work: str, matches: list[ConceptMatch], thresholds: list[Threshold], vocab: Phrases) -> list[Head]:
    heads: list[Head] = []
    pending_non: list[Concept] = []
    neutral_end: int | None = None
    for m in matches:
        is_non = bool(re.search(r"(?<![a-z])non[- ]?$", work[max(0, m.start - 4) : m.start]))
        if heads:
            prev = heads[-1]
            gap = work[prev.end : m.start]
            gap_has_threshold = any(prev.end <= t.start < m.start for t in thresholds)
            if (
                prev.concept.key == m.concept.key
                and not gap_has_threshold
                and ";" not in gap
                and len(_tokens(gap)) <= 6
                and not vocab.any_topic.search(gap)
            ):
                prev.end = m.end  # "PD-1 or PD-L1", "HIV or AIDS": one concept
                continue
            excepted = vocab.except_words.search(gap)
            if excepted and not gap_has_threshold and not _SEPARATOR.search(gap[: excepted.start()]):
                prev.excluded.append(m.concept)  # "malignancy other than basal cell carcinoma"
                continue
            if _COMPOUND_LINK.fullmatch(gap) and not gap_has_threshold:
                # "breast cancer related lymphedema", "chemotherapy-induced neuropathy": the last concept is
                # the finding, the first one its cause
                heads[-1] = Head(concept=m.concept, start=m.start, end=m.end, phrase=m.phrase)
                heads[-1].modifiers.append(prev.phrase)
                continue
            measured = m.concept.category in _THRESHOLD_CATEGORIES and any(
                m.end <= t.start <= m.end + 30 for t in thresholds
            )  # "hepatitis as documented by ALT > 10 x ULN": the test and its threshold are a statement
            if (
                not is_non
                and not measured
                and not gap_has_threshold
                and not _SEPARATOR.search(gap)
                and (vocab.modifier.search(gap) or not _connector_only(gap, vocab))
            ):
                prev.modifiers.append(m.phrase)  # "treatment for colorectal cancer"
                prev.modifier_end = m.end
                continue
        if is_non:
            pending_non.append(m.concept)  # "non-colorectal cancer malignancies"
            continue
        if not heads and vocab.except_words.search(work[max(0, m.start - 25) : m.start]):
            continue  # "infection other than COVID-19": an exception of a concept the lexicon does not name
        before = work[max(0, m.start - 40) : m.start]
        neutral = vocab.neutral_context.search(work[max(0, m.start - 25) : m.start]) and (
            not heads or "with or without" in before
        )
        neutral = neutral or bool(re.search(r"with or without(?:\s+[a-z-]+){0,2}\s*$", before))
        if neutral or (neutral_end is not None and _connector_only(work[neutral_end : m.start], vocab)):
            neutral_end = m.end  # "diet during pregnancy or lactation": the list shares the context
            continue  # "edema caused by heart failure", "diet during pregnancy", "with or without chemotherapy"
        neutral_end = None
        head = Head(concept=m.concept, start=m.start, end=m.end, phrase=m.phrase)
        head.excluded.extend(pending_non)
        pending_non = []
        heads.append(head)
    return heads


def _segments(work: str, heads: list[Head], thresholds: list[Threshold], start: int, vocab: Phrases) -> int | None:
    """Cut the clause into one segment per head; returns where a trailing concept-less sibling starts."""
    for i, head in enumerate(heads):
        head.seg_start = start if i == 0 else head.seg_start
        limit = heads[i + 1].start if i + 1 < len(heads) else len(work)
        own = [t for t in thresholds if head.end <= t.start < limit or (i == 0 and start <= t.start < head.start)]
        head.thresholds = own
        after = max([head.end, *[t.end for t in own if t.start >= head.end]])
        if i + 1 < len(heads):
            gap = work[after : heads[i + 1].start]
            sep = _SEPARATOR.search(gap)
            cut = after + sep.start() if sep else heads[i + 1].start
            head.seg_end = cut
            heads[i + 1].seg_start = after + sep.end() if sep else heads[i + 1].start
            heads[i + 1].or_sibling = bool(re.search(r"\bor\b|/", gap))
            heads[i + 1].inherits = _connector_only(work[head.end : heads[i + 1].start], vocab)
        else:
            head.seg_end = len(work)
            tail = work[after:]
            sep = _SEPARATOR.match(tail.lstrip())
            if sep and len(_tokens(tail)) >= 3:
                rest = tail.lstrip()[sep.end() :].lstrip()
                starts_attached = (
                    vocab.modifier.match(rest)
                    or vocab.conditional.match(rest)
                    or find_window(rest[:40]) is not None
                    or vocab.except_words.match(rest)
                )
                if not starts_attached and len(_tokens(rest)) >= 1:
                    head.seg_end = after + (len(tail) - len(tail.lstrip())) + sep.start()
                    return head.seg_end + sep.end()
    return None


def _attach_qualifiers(work: str, heads: list[Head], clause_start: int, vocab: Phrases) -> None:
    for i, head in enumerate(heads):
        window = work[head.seg_start : head.start]
        if i > 0 and head.seg_start >= head.start:
            # no separator before this head ("hemoglobin >= 9 g/dL independent of transfusion"): its words are
            # those after the previous head's statement
            previous = heads[i - 1]
            window = work[max([previous.end, *(t.end for t in previous.thresholds)]) : head.start]
        paren = _open_paren_before(work, head.start, clause_start)
        if paren is not None:
            window = work[max(clause_start, paren - 80) : paren] + " " + window
        own = _qualifiers(window, vocab)
        inherent = _qualifiers(head.phrase, vocab)
        if i > 0 and head.inherits and not own:
            own = list(heads[i - 1].qualifiers)
            head.negated = heads[i - 1].negated
        else:
            head.negated = _negated(window, vocab)
        after = work[head.end : head.end + 14]
        if vocab.postfix_negation.match(after.lstrip(" -")) or vocab.postfix_negation.match(after):
            head.negated = True
        head.qualifiers = own + [q for q in inherent if q not in own]
        if "recurrent" in inherent:
            head.modifiers.append("inherent:recurrent")


def lead_in_window(text: str) -> int | None:
    """The time window (days) a lead-in line states ("within 6 months prior to enrolment:")."""
    window = find_window(normalise(text).text)
    return window[2] if window else None


def introduces_exceptions(text: str) -> bool:
    """A lead-in whose sub-items are exceptions ("... with the exception of:", "except the following:")."""
    tail = normalise(text).text.rstrip(" :.")[-60:]
    found = list(phrases().except_words.finditer(tail))
    return bool(found) and len(tail[found[-1].end() :].split()) <= 4


def lead_in_qualifiers(text: str) -> list[Qualifier]:
    """The qualifiers a lead-in line states ("History of any of the following:")."""
    return _qualifiers(normalise(text).text, phrases())


def _topic(text: str, vocab: Phrases) -> Topic | None:
    if not vocab.any_topic.search(text):
        return None  # one scan for every topic's words first: most atoms have none
    for topic in vocab.topics:
        if topic.matches(text):
            return topic
    return None


def _topic_reason(text: str, vocab: Phrases) -> str | None:
    topic = _topic(text, vocab)
    return topic.reason if topic else None


def _apply_topic(
    fields: dict[str, object],
    head: Head,
    segment: tuple[int, int],
    prefix_text: str,
    src: Source,
    within_days: int | None,
    vocab: Phrases,
) -> None:
    """What a topic phrase in the atom's text does to it: ignored by an explicit threshold, a residue of a
    presence atom, or the reason the atom is left for review."""
    work = src.norm.text
    topic = _topic(f"{prefix_text} {work[segment[0] : segment[1]]}", vocab)
    if topic is None or topic.on_threshold == "always-ignore":
        return
    threshold = fields.get("category") in ("lab", "performance-status") and fields.get("comparator") is not None
    if threshold and topic.on_threshold == "ignore":
        return
    if fields.get("category") == "allergy" and topic.unless_allergy:
        return
    if topic.window_ok and within_days is not None:
        return
    presence = fields.get("comparator") in ("present", "absent")
    if presence and topic.near_head:
        after = head.end + (15 if topic.near_head == "around" else 0)
        if not topic.matches(work[min(segment[0], head.start) : after]):
            return  # the words are about another part of the statement ("pregnant women ... during the study")
    residue = topic.on_presence == "residue" or fields.get("category") in topic.residue_categories
    if presence and residue and fields.get("computable"):
        found = next((g.search(work, segment[0], segment[1]) for g in topic.groups), None)
        text = src.clause(found.start(), found.end()) if found else src.clause(head.start, head.end)
        residues = cast(list[Residue], fields["residues"])
        residues.append(Residue(text=text, effect="narrows", reason=topic.reason))
        return
    fields.update(computable=False, reason=topic.reason, residues=[])


def _two_sided(work: str, heads: list[Head]) -> None:
    """A lower and an upper bound on one test ("7.0 % <= HbA1c <= 10.5 %", "BMI >= 18.5 and <= 30") are one
    range (the ends counted inclusive)."""
    for head in heads:
        if len(head.thresholds) < 2:
            continue
        low, high = head.thresholds[0], head.thresholds[1]
        if low.comparator not in ("ge", "gt") or high.comparator not in ("le", "lt"):
            continue
        if low.uln is not None or high.uln is not None or low.lln is not None or high.lln is not None:
            continue
        gap = work[low.end : high.start]
        if low.value is None or high.value is None or low.value > high.value:
            continue
        if not (head.start >= low.end and head.end <= high.start) and not re.fullmatch(r"\s*(?:and|but)\s*", gap):
            continue
        unit_from = high if high.unit_span is not None else low
        merged = replace(
            low, end=high.end, comparator="between", high=high.value, unit_raw=unit_from.unit_raw,
            unit_span=unit_from.unit_span,
        )
        head.thresholds = [merged, *head.thresholds[2:]]


_THRESHOLD_CATEGORIES = ("lab", "performance-status")


def _narrow_by_thresholds(heads: list[Head], drafts: list[Draft], src: Source) -> None:
    """An excluded finding stated with a threshold next to it ("NYHA class III or IV heart failure", "severe
    anemia (hemoglobin < 8 g/dL)") is excluded only with that threshold: the finding's own atom would exclude
    every patient who has it, so it keeps the threshold as a residue to confirm (the threshold atom decides)."""
    work = src.norm.text
    for i, head in enumerate(heads):
        fields = drafts[i].fields
        if fields.get("comparator") != "present" or not fields.get("computable"):
            continue
        for j, other in enumerate(heads):
            if j == i or other.concept.category not in _THRESHOLD_CATEGORIES:
                continue
            if not drafts[j].fields.get("computable"):
                continue
            lo, hi = (_threshold_end(work, other), head.start) if j < i else (head.end, other.start)
            gap = work[lo:hi]
            if hi < lo or _SEPARATOR.search(gap) or len(_tokens(gap)) > 4:
                continue  # list siblings ("diabetes, hypertension, or ALT > 3 x ULN") are separate findings
            residues = cast(list[Residue], fields["residues"])
            text = src.clause(other.seg_start, other.seg_end)
            if text and all(r.text != text for r in residues):
                residues.append(Residue(text=text, effect="narrows", reason="excluded only with this threshold"))


def _threshold_end(work: str, head: Head) -> int:
    """Where a threshold head's statement ends: its last threshold, or its run of classes ("NYHA class III or IV")."""
    ends = [t.end for t in head.thresholds]
    if head.concept.classes:
        labels = "|".join(re.escape(label.lower()) for label in head.concept.classes)
        pattern = rf"(?:\s*(?:class(?:es)?|or|and|to|[-/,]|>=|<=|≥|≤|>|<|(?:{labels})(?![a-z])))+"
        run = re.match(pattern, work[head.end :])
        if run:
            ends.append(head.end + len(run.group(0).rstrip(" ,/-")))
    return max([head.end, *ends])


def _split_components(work: str, heads: list[Head], lexicon: Lexicon, kind: Kind) -> list[Head]:
    """ "Blood pressure >= 140/90 mmHg" is one threshold per component (systolic >= 140, diastolic >= 90).
    An inclusion ">=" reading is met by either part (an any-of group); "<" needs both; exclusions are
    separate atoms (either part excludes)."""
    out: list[Head] = []
    for head in heads:
        if head.concept.category == "lab" and head.concept.members:
            # "transaminases <= 2.5 x ULN": the limit holds for each test of the group
            out.extend(replace(head, concept=m) for k in head.concept.members if (m := lexicon.get(k)) is not None)
            continue
        parts = [lexicon.get(k) for k in head.concept.components]
        readings = [
            (t, READING.match(work, t.num_end))
            for t in head.thresholds
            if t.num_end is not None and t.value is not None
        ]
        if len(parts) != 2 or None in parts or not readings or any(second is None for _, second in readings):
            out.append(head)
            continue
        per_part: list[list[Threshold]] = [[t for t, _ in readings], []]
        for t, second in readings:
            assert second is not None
            per_part[1].append(replace(t, value=float(second.group(1))))
        either = kind == "inclusion" and len(readings) == 1 and readings[0][0].comparator in ("ge", "gt")
        for index, (concept, thresholds) in enumerate(zip(parts, per_part, strict=True)):
            assert concept is not None
            out.append(
                replace(
                    head, concept=concept, thresholds=thresholds, or_sibling=either and index > 0,
                    inherits=index > 0,
                )
            )
    return out


def _split_alternative_thresholds(work: str, heads: list[Head], vocab: Phrases) -> list[Head]:
    """A test with thresholds joined by "or" ("potassium < 3.5 or > 5.1 mmol/L") gives one head per threshold
    (not when a condition follows: "ALT <= 2.5 x ULN, or <= 5 x ULN if liver metastases" is a residue)."""
    out: list[Head] = []
    for head in heads:
        out.append(head)
        for previous, t in zip(head.thresholds, head.thresholds[1:], strict=False):
            if not re.fullmatch(r"\s*(?:,\s*)?(?:or|and/or)\s*", work[previous.end : t.start]):
                break
            after = work[t.end : t.end + 60]
            if vocab.conditional.search(after) or vocab.lab_condition.search(after):
                break
            if previous.unit_span is None and t.unit_span is not None and previous.uln is None:
                # "< 3.5 or > 5.1 mmol/L": the unit written once applies to both
                head.thresholds[head.thresholds.index(previous)] = replace(
                    previous, unit_raw=t.unit_raw, unit_span=t.unit_span
                )
            clone = replace(head, thresholds=[t], or_sibling=True, inherits=True)
            out.append(clone)
        if len(out) > 1 and out[-1] is not head and out[-1].concept == head.concept:
            head.thresholds = head.thresholds[:1]
    return out


_AND = re.compile(r"(?<![/\w])and(?![/\w])")


def _any_of_groups(work: str, heads: list[Head]) -> dict[int, int]:
    """Head index -> index of the first head of its any-of group, for runs of sibling heads joined by "or"
    ("A, B or C", "creatinine <= 1.5 x ULN or CrCl >= 60 mL/min") with no "and" between them."""
    groups: dict[int, int] = {}
    start = 0
    for i in range(1, len(heads) + 1):
        joined = i < len(heads) and (heads[i].or_sibling or heads[i].inherits)
        if joined:
            continue
        run = range(start, i)
        gaps = [work[heads[k - 1].end : heads[k].start] for k in run if k > start]
        if len(run) > 1 and any(heads[k].or_sibling for k in run) and not any(_AND.search(g) for g in gaps):
            groups.update({k: start for k in run})
        start = i
    return groups


def _category_hint(text: str, vocab: Phrases) -> Category:
    padded = f" {text} "
    for hint in vocab.category_hints:
        if hint.pattern.search(padded):
            return hint.category
    return "other"


@dataclass(frozen=True)
class Draft:
    """An atom before ids and queries: its span in the criteria text and its fields."""

    start: int
    end: int
    fields: dict[str, object]


def _unit_text(raw: str, norm: Normalised, threshold: Threshold) -> str | None:
    if threshold.unit_span is None:
        return None
    a, b = norm.span(*threshold.unit_span)
    text = normalise_unit_text(raw[a:b])
    return text or None


def normalise_unit_text(text: str) -> str:
    """``×10\\^9/L`` -> ``10^9/L``: markdown escapes, the leading multiplication sign and spaces removed."""
    cleaned = text.replace("\\", "").replace("×", "x").replace("µ", "u").replace("μ", "u")
    cleaned = re.sub(r"^\s*[x*]\s*", "", cleaned)
    sup = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
    cleaned = re.sub(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: "10^" + m.group(1).translate(sup), cleaned)
    return " ".join(cleaned.translate(sup).split())


def _age_unit(raw: str | None) -> str | None:
    if raw is None:
        return "a"
    word = raw.strip().lower()
    if word.startswith("y"):
        return "a"
    if word.startswith("mo"):
        return "mo"
    if word.startswith("w"):
        return "wk"
    if word.startswith("d"):
        return "d"
    return None


def _age_fields(work: str, thresholds: list[Threshold], vocab: Phrases) -> dict[str, object] | None:
    usable = [t for t in thresholds if t.uln is None and t.lln is None and t.value is not None]
    units = {_age_unit(t.unit_raw) for t in usable}
    if not usable or None in units or len(units) > 1:
        return None
    unit = units.pop()
    low: float | None = None
    high: float | None = None
    for t in usable:
        if t.comparator == "between":
            low, high = t.value, t.high
        elif t.comparator == "ge":
            low = t.value
        elif t.comparator == "gt":
            # "older than 18 years" includes 18 years and 6 months: whole-year age >= 18, not >= 19
            low = t.value
        elif t.comparator == "le":
            high = t.value
        elif t.comparator == "lt":
            high = (t.value or 0) - 1
    comparator: Comparator
    if low is not None and high is not None and low > high:
        # "< 18 or > 65": outside a range, two alternatives that one threshold atom cannot state
        reason = "age outside a range ('< A or > B') is two alternatives; the structured age limits state it"
        return {"category": "demographic", "concepts": [AGE_CONCEPT], "computable": False, "reason": reason}
    if low is not None and high is not None:
        comparator, value = "between", low
    elif low is not None:
        comparator, value, high = "ge", low, None
    elif high is not None:
        comparator, value, high = "le", high, None
    else:
        return None
    return {
        "category": "demographic",
        "concepts": [AGE_CONCEPT],
        "comparator": comparator,
        "value": value,
        "high": high,
        "unit": unit,
        "computable": True,
    }


def _plausible(concept: Concept) -> tuple[float, float] | None:
    return concept.plausible


_CALENDAR_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?:\s*(?:-|to|and)\s*(?:19|20)\d\d)?(?!\d)")
"""A calendar year or period ("a pregnancy between 1991-2001"): not a time relative to today."""

_UNREAD_UNIT = re.compile(r"\s*(" + NOT_UNIT + r"[a-z]+(?:/[a-z]+)?)")
"""A word right after a number that the unit grammar did not read ("9 furlongs/fortnight")."""


def _unitless(value: float, concept: Concept, units: Units) -> str | None:
    """The unit of a threshold written without one: the concept's canonical unit (the one criteria use most,
    "hemoglobin >= 9" is g/dL) when the value is plausible in it, else the one recorded unit in which it is
    plausible ("platelets > 100,000" is per µL, "fasting glucose > 7.0" mmol/L); None when no unit or several
    different readings are plausible."""
    plausible = _plausible(concept)
    if concept.unit is None or plausible is None:
        return None
    if plausible[0] <= value <= plausible[1]:
        return concept.unit
    found: dict[float, str] = {}
    for unit in observation_units():
        converted = units.convert(value, unit, concept.unit, concept.key)
        if converted is not None and plausible[0] <= converted <= plausible[1]:
            found.setdefault(round(converted, 9), unit)
    return next(iter(found.values())) if len(found) == 1 else None


def threshold_fields(
    raw: str, norm: Normalised, t: Threshold, concept: Concept, units: Units
) -> tuple[dict[str, object], str | None]:
    """Comparator, value(s) in the concept's canonical unit or a ULN/LLN multiple; a reason when unsure."""
    fields: dict[str, object] = {"comparator": t.comparator}
    if t.uln is not None or t.lln is not None:
        fields.update(uln_multiple=t.uln, lln_multiple=t.lln, unit=concept.unit)
        return fields, None
    fields.update(value=t.value, high=t.high)
    written = _unit_text(raw, norm, t)
    unit = units.normalize_unit(written) if written is not None else None
    if written is None and t.value is not None:
        unread = _UNREAD_UNIT.match(norm.text, t.end)
        if unread:
            return fields, f"ambiguous unit: {unread.group(1)}"
        unit = _unitless(t.value, concept, units)
        if unit is None:
            return fields, "ambiguous unit (none given)"
    if unit is None:
        return fields, f"ambiguous unit: {written}"
    if concept.unit is None:
        fields["unit"] = unit
        return fields, "lab concept has no canonical unit"
    if unit != concept.unit:
        value = units.convert(t.value, unit, concept.unit, concept.key) if t.value is not None else None
        high = units.convert(t.high, unit, concept.unit, concept.key) if t.high is not None else None
        if value is None or (t.high is not None and high is None):
            fields["unit"] = unit
            return fields, f"unit {unit} cannot be converted to {concept.unit}"
        fields.update(value=round(value, 6), high=None if high is None else round(high, 6))
    fields["unit"] = concept.unit
    plausible = _plausible(concept)
    converted = [v for v in (fields.get("value"), fields.get("high")) if isinstance(v, float | int)]
    if plausible and any(not plausible[0] <= v <= plausible[1] for v in converted):
        return fields, f"implausible value for {concept.display} in {concept.unit} (unit typo?): left for review"
    return fields, None


def _lab_fields(
    raw: str, norm: Normalised, head: Head, units: Units
) -> tuple[dict[str, object], str | None]:
    concept = head.concept
    thresholds = head.thresholds or ([head.shared_threshold] if head.shared_threshold else [])
    if not thresholds:
        before = norm.text[max(head.seg_start, head.start - 25) : head.start]
        vocab = phrases()
        if vocab.above_normal.search(before):
            return {"comparator": "gt", "uln_multiple": 1.0, "unit": concept.unit}, None  # "elevated liver enzymes"
        if vocab.below_normal.search(before):
            return {"comparator": "lt", "lln_multiple": 1.0, "unit": concept.unit}, None  # "low platelet count"
        return {}, "no threshold"
    return threshold_fields(raw, norm, thresholds[0], concept, units)


def _class_fields(
    text: str, concept: Concept, scale: tuple[float, float] | None
) -> dict[str, object] | None:
    """A score written as classes ("NYHA class III or IV", "Child-Pugh A or B", "ASA >= II"): the union of the
    classes' bands, as a threshold on the score (a comparator before the first class applies to it)."""
    labels = "|".join(re.escape(label) for label in sorted(concept.classes, key=len, reverse=True))
    run = re.match(
        rf"(?:\s*(?:(?:class(?:es)?|stage|grade|functional|score|status|of|or|and|to|at least|at most)(?![A-Za-z])"
        rf"|[-–/,:]|>=|<=|≥|≤|>|<|(?:{labels})(?![A-Za-z])))+",
        text,
    )
    text = run.group(0) if run else ""
    found = list(re.finditer(rf"(?<![A-Za-z])({labels})(?![A-Za-z])", text))
    if not found:
        return None
    low = min(concept.classes[m.group(1)][0] for m in found)
    high = max(concept.classes[m.group(1)][1] for m in found)
    before = text[: found[0].start()].lower()
    if re.search(r"(?:>=|≥|at least|or (?:more|higher|worse|greater))\s*(?:class\s*)?$", before):
        high = scale[1] if scale else high
    elif re.search(r"(?:>|greater than|more than|higher than|worse than|above)\s*(?:class\s*)?$", before):
        low, high = concept.classes[found[0].group(1)][1] + 1, scale[1] if scale else high
    elif re.search(r"(?:<=|≤|at most|or (?:less|lower|better))\s*(?:class\s*)?$", before):
        low = scale[0] if scale else low
    elif re.search(r"(?:<|less than|lower than|better than|below)\s*(?:class\s*)?$", before):
        low, high = scale[0] if scale else low, concept.classes[found[0].group(1)][0] - 1
    if scale and low <= scale[0]:
        return {"comparator": "le", "value": high}
    if scale and high >= scale[1]:
        return {"comparator": "ge", "value": low}
    return {"comparator": "between", "value": low, "high": high}


def _score_fields(work: str, head: Head, vocab: Phrases, cased: str = "") -> tuple[dict[str, object], str | None]:
    scale = head.concept.scale or vocab.score_scales.get(head.concept.key)
    t = head.thresholds[0] if head.thresholds else None
    if t is not None and t.uln is None and t.lln is None and t.value is not None:
        if t.comparator == "between" and scale and t.high is not None:
            if t.value <= scale[0]:
                return {"comparator": "le", "value": t.high}, None
            if t.high >= scale[1]:
                return {"comparator": "ge", "value": t.value}, None
        return {"comparator": t.comparator, "value": t.value, "high": t.high}, None
    segment = work[head.end : head.seg_end]
    segment = re.split(r"[.;]\s|\(", segment, maxsplit=1)[0] if "(" not in segment[:3] else segment
    if head.concept.classes:
        by_class = _class_fields(cased[head.end : head.end + 80], head.concept, scale)
        if by_class is not None:
            return by_class, None
    scores = sorted({float(s) for s in _SCORE.findall(segment)})
    if scale:
        scores = [s for s in scores if scale[0] <= s <= scale[1]]
    if not scores:
        return {}, "no threshold"
    if len(scores) == 1:
        return {"comparator": "eq", "value": scores[0]}, None
    low, high = scores[0], scores[-1]
    if scale and low <= scale[0]:
        return {"comparator": "le", "value": high}, None
    if scale and high >= scale[1]:
        return {"comparator": "ge", "value": low}, None
    return {"comparator": "between", "value": low, "high": high}, None


@dataclass(frozen=True)
class ItemFacts:
    """What the whole item says, read once for all its atoms."""

    min_elapsed: bool
    """A minimum time since an event that is not part of an exception or permission ("unless stable for 4
    weeks" belongs to the exception, which is a residue)."""
    permission: re.Match[str] | None
    exception: re.Match[str] | None
    condition: re.Match[str] | None


_ITEM_CONDITION = re.compile(r"(?<![a-z])(?:if|unless)(?![a-z])")


@lru_cache(maxsize=256)
def _item_reading(item_text: str) -> tuple[Normalised, ItemFacts]:
    item_norm = normalise(item_text)
    vocab = phrases()
    work = item_norm.text
    elapsed = find_min_elapsed(work)
    permission = vocab.permission.search(work)
    exception = vocab.except_words.search(work)
    condition = _ITEM_CONDITION.search(work)
    residue_starts = [m.start() for m in (permission, exception, condition) if m is not None]
    facts = ItemFacts(
        min_elapsed=elapsed is not None and not any(start < elapsed[0] for start in residue_starts),
        permission=permission,
        exception=exception,
        condition=condition,
    )
    return item_norm, facts


def _source(text: str, clause_start: int, norm: Normalised, item: Item) -> Source:
    item_norm, facts = _item_reading(text[item.start : item.end])
    return Source(text, clause_start, norm, item.start, item_norm, facts)


@dataclass(frozen=True)
class Source:
    """A clause and its item, normalised, with the way back to the criteria text (residues quote it)."""

    text: str
    clause_start: int
    norm: Normalised
    item_start: int
    item_norm: Normalised
    item_facts: ItemFacts

    def clause(self, start: int, end: int) -> str:
        a, b = self.norm.span(*_trim_span(self.norm.text, start, end))
        return self.text[self.clause_start + a : self.clause_start + b]

    def item(self, start: int, end: int) -> str:
        a, b = self.item_norm.span(*_trim_span(self.item_norm.text, start, end))
        return self.text[self.item_start + a : self.item_start + b]


def _extent(work: str, start: int) -> tuple[int, int]:
    """The residue around a marker at ``start``: the rest of its parenthesis, else of its sentence or clause."""
    paren = _open_paren_before(work, start, 0)
    if paren is not None:
        close = work.find(")", start)
        return paren + 1, close if close != -1 else len(work)
    stop = re.search(r";|\.\s|\.$|\(", work[start:])
    return start, start + stop.start() if stop else len(work)


def _widening(kind: Kind) -> ResidueEffect:
    """A permission or a condition on who must meet the criterion: more patients pass an inclusion, fewer are
    excluded by an exclusion."""
    return "widens" if kind == "inclusion" else "narrows"


def _presence_residues(head: Head, kind: Kind, src: Source, vocab: Phrases) -> tuple[str | None, list[Residue]]:
    """Why a presence atom is not computable, or the residues that narrow it (severity words, restrictions)."""
    concept = head.concept
    if not concept.codings and not concept.code_prefixes:
        return f"concept has no codes: {concept.key}", []
    work = src.norm.text
    residues: list[Residue] = []
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
    if count is not None:
        return f"a count ('{count.group(0)}') is not decided from coded data", []
    year = _CALENDAR_YEAR.search(work, head.seg_start, max(head.seg_end, head.end))
    if year is not None:
        return f"a calendar period ('{year.group(0)}') is not checked", []
    if concept.category == "medication" and head.thresholds:
        dose = head.thresholds[0]
        residues.append(
            Residue(text=src.clause(dose.start, dose.end), effect="narrows", reason="a dose limit not compared")
        )
    finding = concept.category in {"condition", "infection", "pregnancy"} and not head.excluded
    narrower = _narrowing_word(work, head, vocab) if finding else None
    if narrower is not None:
        residues.append(Residue(text=src.clause(narrower, head.end), effect="narrows", reason="a narrower kind"))
    if head.modifier_end is not None and concept.category in {"condition", "infection"}:
        text = src.clause(head.end, head.modifier_end)
        if text:
            residues.append(Residue(text=text, effect="narrows", reason="a restriction not combined in coded data"))
    return None, residues


_WORD_END = re.compile(r"([a-z][a-z'\-]*)\s*$")


def _narrowing_word(work: str, head: Head, vocab: Phrases) -> int | None:
    """Where a word before the finding that narrows it starts ("arterial thrombosis", "twin pregnancy")."""
    found = _WORD_END.search(work, max(head.seg_start, head.start - 30), head.start)
    if found is None or found.end() < head.start - 2:
        return None
    word = found.group(1).strip("-'")
    if word in vocab.neutral_before_finding or len(word) < 3 or vocab.list_connector.__contains__(word):
        return None
    if vocab.qualifiers and any(p.fullmatch(word) for _, p in vocab.qualifiers):
        return None
    return found.start(1)


def _item_residues(head: Head, kind: Kind, src: Source, vocab: Phrases) -> tuple[str | None, list[Residue]]:
    """Exceptions, permissions and conditions written anywhere in the item, as residues of a presence atom;
    a minimum time since an event still leaves the atom for review."""
    work, item_work = src.norm.text, src.item_norm.text
    if head.concept.category == "lab":
        before = work[head.seg_start : head.thresholds[0].start] if head.thresholds else ""
        if vocab.negation.search(before):
            return "negated threshold ('may not', 'not'): left for review", []
        return None, []
    if head.concept.category not in PRESENCE_CATEGORIES:
        return None, []
    if src.item_facts.min_elapsed:
        return "a minimum time since an event ('at least 4 weeks prior', 'more than 5 years ago') is not coded", []
    condition = vocab.conditional.search(work, 0, head.start)
    if condition is not None and not find_thresholds(work[condition.end() : head.start]):
        # "If a patient is on corticosteroids, the dose must be stable": the concept is the condition, not
        # the requirement
        return f"conditional criterion ('{condition.group(0)}'): the concept is the condition, not the requirement", []
    residues: list[Residue] = []
    permission = src.item_facts.permission
    if permission is not None and _negated_permission(item_work, permission):
        permission = None  # "no anticancer treatment is allowed": a prohibition, the criterion itself
    if permission is not None and _permitted_concept(item_work, permission.start(), head, src):
        # "Use of intranasal DDAVP during menses will be permitted": the concept is what is allowed
        return f"a permission ('{permission.group(0)}'): the concept is allowed, not required or excluded", []
    markers: list[tuple[re.Match[str] | None, ResidueEffect, str]] = [
        (permission, _widening(kind), "a permission ('allowed', 'eligible') to confirm"),
        (
            src.item_facts.exception if not head.excluded or head.concept in head.excluded else None,
            "narrows",
            "an exception not coded in the lexicon",
        ),
        (src.item_facts.condition, _widening(kind), "a condition to confirm"),
    ]
    for found, effect, why in markers:
        if found is None:
            continue
        span = _sentence(item_work, found.start()) if found is permission else _extent(item_work, found.start())
        text = src.item(*span)
        if text and all(r.text != text for r in residues):
            residues.append(Residue(text=text, effect=effect, reason=why))
    return None, residues


def _sentence(text: str, pos: int) -> tuple[int, int]:
    """The sentence of ``text`` around ``pos`` ("Patients with stable CNS disease are eligible")."""
    start = max(text.rfind(". ", 0, pos) + 2, text.rfind(";", 0, pos) + 1, 0)
    stop = re.search(r"\.\s|\.$|;", text[pos:])
    return start, pos + stop.start() if stop else len(text)


def _negated_permission(text: str, marker: re.Match[str]) -> bool:
    """ "not allowed", "No concomitant treatment is allowed", "is not permitted": a prohibition."""
    sentence_start = max(text.rfind(". ", 0, marker.start()) + 1, 0)
    before = text[sentence_start : marker.start()]
    return bool(re.search(r"(?<![a-z])(?:not|no|never|nor)(?![a-z])", before))


def _same_sentence(text: str, a: int, b: int) -> bool:
    """Whether two offsets of the item lie in one sentence (no ". " or ";" between them)."""
    lo, hi = min(a, b), max(a, b)
    return not re.search(r"\.\s|;", text[lo:hi])


def _permitted_concept(item_work: str, marker: int, head: Head, src: Source) -> bool:
    """Whether the permission is about this concept: the concept comes right before the permission words in the
    same sentence ("hypothyroidism is allowed"), with no list separator between them."""
    start = _head_offset(head, src)
    end = start + (head.end - head.start)
    if not _same_sentence(item_work, marker, start) or end > marker:
        return False
    gap = item_work[end:marker]
    return not _SEPARATOR.search(gap) and len(_tokens(gap)) <= 6


def _head_offset(head: Head, src: Source) -> int:
    """The head's position in the item's normalised text (the clause sits at its offset in the item)."""
    clause_in_item = src.item_norm.text.find(src.norm.text)
    return (clause_in_item if clause_in_item >= 0 else 0) + head.start


def _lab_residues(
    head: Head, kind: Kind, src: Source, units: Units, vocab: Phrases
) -> tuple[str | None, list[Residue]]:
    """A lab's thresholds after the first: a conditional alternative ("(<= 5 x ULN with liver metastases)")
    becomes a residue with its own threshold; a restatement in other units ("(5.6 mmol/L)") is dropped; a
    condition elsewhere in the item ("for patients with Gilbert's syndrome: ...") a residue without one."""
    work, item_work = src.norm.text, src.item_norm.text
    residues: list[Residue] = []
    first = head.thresholds[0] if head.thresholds else head.shared_threshold
    if first is None:
        return None, []
    for t in head.thresholds[1:]:
        repeated = _REPEATED.match(work, t.end)
        if repeated is not None:
            # "fasting glucose > 126 mg/dL on at least 2 occasions": the number of measurements is not checked
            text = src.clause(t.start, repeated.end())
            residues.append(Residue(text=text, effect="narrows", reason="the number of measurements is not checked"))
            continue
        context = work[first.end : min(len(work), t.end + 60)]
        marker = vocab.conditional.search(context) or vocab.lab_condition.search(context)
        in_paren = _open_paren_before(work, t.start, first.end) is not None
        if marker is None and in_paren and t.comparator == first.comparator:
            continue  # the same limit restated in other units
        if marker is None and not in_paren:
            return "several thresholds for one test", []
        fields, reason = _residue_threshold(src, t, head.concept, units)
        start, end = _extent(work, t.start) if in_paren else (t.start, _extent(work, t.start)[1])
        residues.append(
            Residue(
                text=src.clause(start, end) or src.clause(t.start, t.end),
                effect=_widening(kind),
                reason="an alternative threshold for some patients",
                **(fields if reason is None else {}),
            )
        )
    clause_marker = (
        vocab.conditional.search(work, 0, first.start)
        or vocab.lab_condition.search(work, 0, first.start)
        or vocab.conditional.search(work, first.end)
        or vocab.lab_condition.search(work, first.end)
    )
    before = _condition_before(work, first.start, vocab)
    subject = vocab.lab_condition.search(work, 0, first.start)
    if (
        before is None
        and subject is not None
        and re.search(r"\b(?:with|who|for)\b", subject.group(0))
        and ":" in work[subject.end() : first.start]
    ):
        before = subject  # "Patients with Gilbert's syndrome: bilirubin < 5 mg/dL" (not "patients with X (Y < 2)")
    if before is not None and not residues:
        # "Patients with Gilbert's syndrome: bilirubin < 5 mg/dL": a threshold for some patients only; the
        # item's main threshold carries it as a residue
        return f"the threshold applies only to some patients ('{before.group(0)}'): to confirm", []
    if clause_marker is not None and not residues:
        residues.append(
            Residue(
                text=src.clause(*_extent(work, clause_marker.start())),
                effect=_widening(kind),
                reason="the threshold applies to some patients only",
            )
        )
    elif not residues:
        clause_span = (src.clause_start - src.item_start, src.clause_start - src.item_start + len(work))
        for found in vocab.lab_condition.finditer(item_work):
            if not clause_span[0] <= found.start() < clause_span[1]:
                residues.append(
                    Residue(
                        text=src.item(*_extent(item_work, found.start())),
                        effect=_widening(kind),
                        reason="another threshold applies to some patients",
                    )
                )
                break
    return None, residues


_REPEATED = re.compile(
    r"\s*(?:separate\s+|different\s+|consecutive\s+)?(?:occasions?|times|measurements?|readings?|visits?)\b"
)


def _condition_before(work: str, end: int, vocab: Phrases) -> re.Match[str] | None:
    """A conditional marker before ``end`` that makes what follows apply to some patients only; "excluded if
    they have", "if applicable" state the criterion itself."""
    for found in vocab.conditional.finditer(work, 0, end):
        if not vocab.criterion_if.search(work[max(0, found.start() - 30) : found.end() + 12]):
            return found
    return None


def _residue_threshold(src: Source, t: Threshold, concept: Concept, units: Units) -> tuple[dict[str, Any], str | None]:
    """A residue's own threshold, in the fields a :class:`Residue` takes."""
    raw = src.text[src.clause_start : src.clause_start + src.norm.origin[-1]]
    fields, reason = threshold_fields(raw, src.norm, t, concept, units)
    keep = ("comparator", "value", "high", "uln_multiple", "lln_multiple")
    return {k: fields[k] for k in keep if fields.get(k) is not None}, reason


def _allergy_before(head: Head, work: str, vocab: Phrases) -> bool:
    """A drug named as the object of an allergy ("hypersensitivity to penicillin", "allergic reactions to
    contrast, iodine or opioids", "ketamine allergy")."""
    if head.concept.category != "medication":
        return False
    before = work[max(0, head.start - 80) : head.start]
    found = list(vocab.allergy_words.finditer(before))
    if found and not re.search(r"[.;]\s", before[found[-1].end() :]):
        return True
    return bool(vocab.allergy_words.match(work[head.end : head.end + 20].lstrip(" -")))


def _head_fields(head: Head, kind: Kind, units: Units, vocab: Phrases, src: Source) -> dict[str, object]:
    concept = head.concept
    fields: dict[str, object] = {
        "category": concept.category,
        "concept_key": concept.key,
        "concepts": list(concept.codings),
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
        extra, reason = _lab_fields(raw, src.norm, head, units)
        fields.update(extra)
        if reason is None:
            reason, residues = _lab_residues(head, kind, src, units, vocab)
    elif concept.category == "performance-status":
        extra, reason = _score_fields(src.norm.text, head, vocab, src.norm.cased or src.norm.text)
        fields.update(extra)
    elif concept.category in PRESENCE_CATEGORIES:
        fields["comparator"] = "absent" if head.negated else "present"
        if _allergy_before(head, src.norm.text, vocab):
            fields.update(category="allergy", resource_types=["AllergyIntolerance"])
        reason, residues = _presence_residues(head, kind, src, vocab)
    else:
        reason = f"no presence or threshold semantics for category {concept.category}"
    if reason is None:
        reason, more = _item_residues(head, kind, src, vocab)
        residues += [r for r in more if r not in residues]
    fields["computable"] = reason is None
    fields["reason"] = reason
    fields["residues"] = residues if reason is None else []
    return fields


_LEADING_CONNECTOR = re.compile(r"(?:[\s,:;/)]+|(?:or|and|and/or|nor)\b)+")


def _trim_span(work: str, start: int, end: int) -> tuple[int, int]:
    """No leading connectors ("or", ","), no trailing punctuation, no unbalanced closing parenthesis."""
    lead = _LEADING_CONNECTOR.match(work, start, end)
    if lead:
        start = lead.end()
    while end > start and (work[end - 1].isspace() or work[end - 1] in ",:;/(."):
        end -= 1
    if end > start and work[end - 1] == ")" and work.count("(", start, end) < work.count(")", start, end):
        end -= 1
        while end > start and (work[end - 1].isspace() or work[end - 1] in ",:;/."):
            end -= 1
    return start, end


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
    matches = _find_concepts(work, lexicon, p, norm.cased)
    lead = _lead_in_end(work, matches)
    matches = [m for m in matches if m.start >= lead]
    thresholds = [t for t in find_thresholds(work) if t.start >= lead]
    window = find_window(work)
    within_days = window[2] if window else None
    context = f"{item.context or ''} {work}"
    item_text = text[item.start : item.end]
    intro = item.has_children and item_text.rstrip().endswith((":", "：")) and not introduces_exceptions(item_text)

    def draft(start: int, end: int, fields: dict[str, object]) -> Draft:
        start, end = _trim_span(work, start, end)
        a, b = norm.span(start, end) if end > start else (0, len(raw))
        fields.setdefault("within_days", within_days)
        return Draft(span.start + a, span.start + b, fields)

    heads = _heads(work, matches, thresholds, p)
    if not heads:
        fields: dict[str, object] = {"category": _category_hint(context, p), "computable": False}
        age = _age_fields(work, thresholds, p) if p.age_words.search(context) else None
        topic = _topic_reason(work, p)
        if intro:
            fields["reason"] = "introduces the sub-items that follow"
        elif age is not None and topic is None:
            fields.update(age)
            fields["resource_types"] = ["Patient"]
        else:
            a, b = _trim_span(work, lead, len(work))
            fields["reason"] = topic or f"concept not in lexicon: {_phrase(work[a:b])}"
        return [draft(lead, len(work), fields)]

    tail_start = _segments(work, heads, thresholds, lead, p)
    for i in range(len(heads) - 2, -1, -1):
        head, nxt = heads[i], heads[i + 1]
        if not head.thresholds and nxt.inherits and head.concept.category == nxt.concept.category:
            shared = nxt.thresholds[:1] or ([nxt.shared_threshold] if nxt.shared_threshold else [])
            if shared:
                head.shared_threshold = shared[0]
                head.seg_end = max(head.seg_end, shared[0].end)
    _attach_qualifiers(work, heads, lead, p)
    heads = _split_components(work, heads, lexicon, item.kind)
    _two_sided(work, heads)
    heads = _split_alternative_thresholds(work, heads, p)
    src = _source(text, span.start, norm, item)
    groups = _any_of_groups(work, heads) if item.kind == "inclusion" else {}
    drafts: list[Draft] = []
    for index, head in enumerate(heads):
        seg_end = head.seg_end
        if head.shared_threshold is not None:
            seg_end = max(seg_end, head.shared_threshold.end)
        fields = _head_fields(head, item.kind, units, p, src)
        prefix_text = work[lead : heads[0].start] if head is not heads[0] else ""
        if intro:
            fields.update(computable=False, reason="introduces the sub-items that follow", residues=[])
        else:
            _apply_topic(fields, head, (head.seg_start, seg_end), prefix_text, src, within_days, p)
        if index in groups:
            fields["_group"] = (span.start, groups[index])
        drafts.append(draft(head.seg_start, seg_end, fields))
    if item.kind == "exclusion":
        _narrow_by_thresholds(heads, drafts, src)
    if tail_start is not None:
        tail = work[tail_start:]
        drafts.append(
            draft(
                tail_start,
                len(work),
                {
                    "category": _category_hint(tail, p),
                    "computable": False,
                    "reason": _topic_reason(tail, p)
                    or f"concept not in lexicon: {_phrase(work[slice(*_trim_span(work, tail_start, len(work)))])}",
                },
            )
        )
    return drafts


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
