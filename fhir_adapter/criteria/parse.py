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
from dataclasses import dataclass, field

from fhir_adapter.criteria.lexicon import Lexicon, Units
from fhir_adapter.criteria.model import Atom, Category, Coding, Comparator, Kind, Qualifier
from fhir_adapter.criteria.numbers import Threshold, find_min_elapsed, find_thresholds, find_window
from fhir_adapter.criteria.phrases import Phrases, phrases
from fhir_adapter.criteria.split import Item, Span, split_clauses
from fhir_adapter.criteria.text import Normalised, normalise
from fhir_adapter.terminology import Concept, ConceptMatch

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


def _tokens(text: str) -> list[str]:
    return [t.strip(".").lower() for t in _WORD.findall(text) if t.strip(".")]


def _connector_only(gap: str, vocab: Phrases) -> bool:
    return all(tok in vocab.list_connector for tok in _tokens(gap))


def _qualifiers(window: str, vocab: Phrases) -> list[Qualifier]:
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


_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z0-9]*)[\s,-]*$")


def _names_a_specific_disease(work: str, match: ConceptMatch, p: Phrases) -> bool:
    """A bare "cancer" after a site or type word ("prostate cancer") is not "any malignancy"."""
    if match.concept.key not in p.site_specific_concepts or match.phrase.lower() not in p.site_specific_nouns:
        return False
    before = _WORD_BEFORE.search(work[: match.start])
    return before is not None and before.group(1).lower() not in p.generic_modifiers


def _find_concepts(work: str, lexicon: Lexicon, p: Phrases) -> list[ConceptMatch]:
    """Lexicon matches, plus concepts written right after "non-" ("non-colorectal cancer")."""
    found = [
        m for m in lexicon.find(work) if 0 <= m.start < m.end <= len(work) and not _names_a_specific_disease(work, m, p)
    ]
    starts = {m.end() for m in _NON.finditer(work)}
    if starts:
        spaced = _NON.sub("non ", work)
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
            ):
                prev.end = m.end  # "PD-1 or PD-L1", "HIV or AIDS": one concept
                continue
            excepted = vocab.except_words.search(gap)
            if excepted and not gap_has_threshold and not _SEPARATOR.search(gap[: excepted.start()]):
                prev.excluded.append(m.concept)  # "malignancy other than basal cell carcinoma"
                continue
            if (
                not is_non
                and not gap_has_threshold
                and not _SEPARATOR.search(gap)
                and (vocab.modifier.search(gap) or not _connector_only(gap, vocab))
            ):
                prev.modifiers.append(m.phrase)  # "treatment for colorectal cancer"
                continue
        if is_non:
            pending_non.append(m.concept)  # "non-colorectal cancer malignancies"
            continue
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


def _topic_reason(text: str, vocab: Phrases) -> str | None:
    for topic in vocab.topics:
        if topic.matches(text):
            return topic.reason
    return None


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
    return "".join(cleaned.translate(sup).split())


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


def _lab_fields(
    raw: str, norm: Normalised, head: Head, units: Units, conditional: bool
) -> tuple[dict[str, object], str | None]:
    concept = head.concept
    thresholds = head.thresholds or ([head.shared_threshold] if head.shared_threshold else [])
    if not thresholds:
        return {}, "no threshold"
    t = thresholds[0]
    fields: dict[str, object] = {"comparator": t.comparator}
    if len(thresholds) > 1:
        return fields, "several thresholds for one test (alternatives)"
    if t.uln is not None or t.lln is not None:
        fields.update(uln_multiple=t.uln, lln_multiple=t.lln, unit=concept.unit)
        if conditional:
            return fields, "conditional threshold (depends on another criterion)"
        return fields, None
    fields.update(value=t.value, high=t.high)
    written = _unit_text(raw, norm, t)
    if written is None:
        return fields, "ambiguous unit (none given)"
    unit = units.normalize_unit(written)
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
    plausible = phrases().plausible_values.get(concept.key)
    converted = [v for v in (fields.get("value"), fields.get("high")) if isinstance(v, float | int)]
    if plausible and any(not plausible[0] <= v <= plausible[1] for v in converted):
        return fields, f"implausible value for {concept.key} in {concept.unit} (unit typo?): left for review"
    if conditional:
        return fields, "conditional threshold (depends on another criterion)"
    return fields, None


def _score_fields(work: str, head: Head, vocab: Phrases) -> tuple[dict[str, object], str | None]:
    scale = vocab.score_scales.get(head.concept.key)
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


def _presence_reason(head: Head, kind: Kind) -> str | None:
    concept = head.concept
    if not concept.codings and not concept.code_prefixes:
        return f"concept has no codes: {concept.key}"
    if "uncontrolled" in head.qualifiers:
        return "'uncontrolled' is not recorded in coded data"
    if "recurrent" in head.qualifiers and "inherent:recurrent" not in head.modifiers:
        return "'recurrent' is not recorded in coded data (no recurrence concept in the lexicon)"
    restricting = [m for m in head.modifiers if not m.startswith("inherent:")]
    if restricting and head.concept.category in {"condition", "infection"}:
        return f"restricted by another concept ({', '.join(restricting)}): not combined in coded data"
    if kind == "inclusion" and head.or_sibling:
        return "alternatives ('or') in an inclusion criterion"
    return None


def _item_reason(head: Head, work: str, item_work: str, vocab: Phrases) -> str | None:
    """Reasons found in the whole item (exceptions, permissions, conditions, minimum elapsed times)."""
    category = head.concept.category
    if category == "lab":
        before = work[head.seg_start : head.thresholds[0].start] if head.thresholds else ""
        if vocab.negation.search(before):
            return "negated threshold ('may not', 'not'): left for review"
        return None
    if category not in PRESENCE_CATEGORIES:
        return None
    if vocab.permission.search(item_work):
        return "the criterion states exceptions or permissions ('allowed', 'eligible'...)"
    if any(e.key == head.concept.key for e in head.excluded):
        return "the excepted concept is the concept itself (a narrower exception not in the lexicon)"
    if vocab.except_words.search(item_work) and not head.excluded:
        return "exceptions to the criterion are not coded"
    if re.search(r"(?<![a-z])(?:if|unless)(?![a-z])", item_work):
        return "conditional criterion ('if', 'unless')"
    if find_min_elapsed(item_work) is not None:
        return "a minimum time since an event ('at least 4 weeks prior', 'more than 5 years ago') is not coded"
    return None


def _head_fields(
    raw: str,
    norm: Normalised,
    head: Head,
    kind: Kind,
    units: Units,
    vocab: Phrases,
    conditional: bool,
    item_work: str = "",
) -> dict[str, object]:
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
    if concept.category == "lab":
        extra, reason = _lab_fields(raw, norm, head, units, conditional)
        fields.update(extra)
    elif concept.category == "performance-status":
        extra, reason = _score_fields(norm.text, head, vocab)
        fields.update(extra)
    elif concept.category in PRESENCE_CATEGORIES:
        fields["comparator"] = "absent" if head.negated else "present"
        reason = _presence_reason(head, kind)
    else:
        reason = f"no presence or threshold semantics for category {concept.category}"
    if reason is None and kind == "inclusion" and head.or_sibling and concept.category not in PRESENCE_CATEGORIES:
        reason = "alternatives ('or') in an inclusion criterion"
    if reason is None:
        reason = _item_reason(head, norm.text, item_work, vocab)
    fields["computable"] = reason is None
    fields["reason"] = reason
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
    matches = _find_concepts(work, lexicon, p)
    lead = _lead_in_end(work, matches)
    matches = [m for m in matches if m.start >= lead]
    thresholds = [t for t in find_thresholds(work) if t.start >= lead]
    window = find_window(work)
    within_days = window[2] if window else None
    item_work = normalise(text[item.start : item.end]).text
    conditional = bool(p.conditional.search(work)) or bool(p.lab_condition.search(item_work))
    context = f"{item.context or ''} {work}"
    intro = item.has_children and text[item.start : item.end].rstrip().endswith((":", "："))

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
    drafts: list[Draft] = []
    for head in heads:
        seg_end = head.seg_end
        if head.shared_threshold is not None:
            seg_end = max(seg_end, head.shared_threshold.end)
        segment = work[head.seg_start : seg_end]
        fields = _head_fields(raw, norm, head, item.kind, units, p, conditional, item_work)
        prefix_text = work[lead : heads[0].start] if head is not heads[0] else ""
        topic = _topic_reason(f"{prefix_text} {segment}", p)
        if intro:
            fields.update(computable=False, reason="introduces the sub-items that follow")
        elif topic is not None:
            fields.update(computable=False, reason=topic)
        drafts.append(draft(head.seg_start, seg_end, fields))
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
    for index, d in enumerate(drafts):
        atom_id = item.id if len(drafts) == 1 else f"{item.id}{_suffix(index)}"
        atom_text = text[d.start : d.end]
        atoms.append(
            Atom.model_validate(
                {
                    "id": atom_id,
                    "kind": item.kind,
                    "text": atom_text,
                    "item_text": item_text if item_text != atom_text else None,
                    **d.fields,
                }
            )
        )
    return atoms
