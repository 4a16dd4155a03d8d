"""Eligibility text -> inclusion / exclusion items -> clauses.

Choices (documented in the package README section of the report):

* Sections start at heading lines (``mappings/criteria_phrases.yaml``: ``headings`` and
  ``heading_keywords``). Text before any heading is **inclusion** (registry records without headings
  list requirements); the three NCI sections (disease / patient characteristics, prior concurrent
  therapy) are inclusion sections.
* Each bullet (``*``, ``-``, ``•``, ``1.``, ``1)``, ``a)``, ``i.`` ...) or each paragraph line is an item.
  Nested sub-bullets (deeper indentation) are **separate items** numbered under their parent:
  ``inc-2.1``, ``inc-2.2``; the parent keeps ``inc-2``. Item numbers continue across sections of
  the same kind, so ids stay unique.
* Unindented wrapped lines that continue a sentence (start lower case, previous line not ended)
  and indented non-bullet lines belong to the item above.
* Short non-bullet lines ending with a colon ("Age:", "Phase 2 only:") are sub-headings: context,
  not criteria.
* Offsets always index the original text, so every span is an exact substring (CRLF kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_adapter.criteria.alternatives import alternatives_count
from fhir_adapter.criteria.model import Kind
from fhir_adapter.criteria.phrases import Phrases, phrases

_BULLET = re.compile(
    r"""(?P<indent>[ \t]*)
    (?P<marker>
        \\?[*\-+•·▪◦‣○●■□–—►→✓]
      | \(?\d{1,2}(?:\.\d{1,2})*[.)](?!\d)
      | \(?[a-zA-Z][.)](?![\w.])
      | \(?(?:i|ii|iii|iv|v|vi|vii|viii|ix|x|xi|xii|xiii|xiv|xv)[.)](?![\w.])
      | \(\d{1,2}\)
      | \((?:[a-z]|i|ii|iii|iv|v|vi|vii|viii|ix|x)\)
    )
    [ \t]+""",
    re.VERBOSE | re.IGNORECASE,
)
_MARKDOWN_CHARS = "\\*_#`>"
_MARKDOWN = re.compile(f"[{re.escape(_MARKDOWN_CHARS)}]+")
_CLAUSE_CHARS = re.compile(r"[()\[\];；.]")
"""What a clause split looks at: parentheses (no split inside them), semicolons and full stops."""
_MID_PHRASE = re.compile(
    r"(?:[,(/\-–+&]|\b(?:and|or|of|the|a|an|with|without|to|in|for|on|at|by|from|than|as|who|which|that|"
    r"including|such|e\.g|i\.e|per|within|after|before|prior|during|due|not|no|any|other|than|between))$",
    re.IGNORECASE,
)
_MID_PHRASE_CHARS = 16
"""Longer than any word of _MID_PHRASE ("including"): where a search for it at the end of a text may start (its
``\\b`` still sees the character before)."""


@dataclass(frozen=True)
class Item:
    """One criterion bullet (or paragraph) with its span in the criteria text."""

    id: str
    kind: Kind
    start: int
    end: int
    depth: int = 0
    has_children: bool = False
    context: str | None = None
    """The sub-heading above the item ("Age", "Hepatic"), if any."""
    cohort: str | None = None
    """The cohort, part, phase or arm the item applies to ("phase 1", "cohort 1"); None: every cohort."""
    withdrawn: str | None = None
    """The words of a note saying the item's section no longer applies ("retained for historical reference")."""


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass
class _Line:
    start: int
    end: int
    indent: int
    bullet: bool
    content_start: int


def _lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        start, end = offset, offset + len(body)
        offset += len(raw)
        if not body.strip():
            continue
        expanded = body.replace("\t", "    ")
        indent = len(expanded) - len(expanded.lstrip())
        match = _BULLET.match(body)
        if match and body[match.end() :].strip():
            lines.append(_Line(start, end, indent, True, start + match.end()))
        else:
            lead = len(body) - len(body.lstrip())
            lines.append(_Line(start, end, indent, False, start + lead))
    return lines


def normalise_heading(line: str) -> str:
    """Lower case, markdown, bullets and the trailing colon removed, spaces collapsed."""
    bullet = _BULLET.match(line)
    text = line[bullet.end() :] if bullet else line  # (the first match is this one: no second scan by ``sub``)
    if any(map(text.__contains__, _MARKDOWN_CHARS)):  # most lines have no markdown: no substitution
        text = _MARKDOWN.sub(" ", text)
    text = text.strip().rstrip(":：.").strip()
    return " ".join(text.lower().split())


def heading_kind(line: str, *, bullet: bool, vocab: Phrases | None = None) -> Kind | None:
    """The section a heading line starts, or None when the line is not a heading."""
    p = vocab or phrases()
    norm = normalise_heading(line)
    if not norm:
        return None
    if norm in p.headings.get("exclusion", frozenset()):
        return "exclusion"
    if norm in p.headings.get("inclusion", frozenset()):
        return "inclusion"
    if bullet:
        return None
    ends_colon = line.rstrip().rstrip("*_ ").endswith((":", "："))
    words = len(norm.split())
    last = _SECTION_LAST_WORD.search(norm)
    if last and words <= 2 * p.heading_max_words and (ends_colon or ":" in line):
        # "Phase 2a Expansion Group 1 (Extremity STS): Inclusion"
        return "exclusion" if "exclusion" in last.group(0) else "inclusion"
    for kind, pattern in p.heading_keywords:
        found = pattern.search(norm)
        if found and (words <= p.heading_max_words or (ends_colon and words <= 2 * p.heading_max_words)):
            return kind  # type: ignore[return-value]
        if found and found.start() == 0:
            return kind  # type: ignore[return-value]
    return None


_SECTION_LAST_WORD = re.compile(r"(?:non[- ]?inclusion|inclusion|exclusion)(?:\s+criteria)?$")
_COHORT = re.compile(
    r"\b(?:cohorts?|part|phase|arms?|groups?|stage|dose[- ]escalation|dose[- ]expansion|expansion|escalation|"
    r"only|specific)\b",
    re.IGNORECASE,
)
_SECTION_WORDS = re.compile(
    r"\b(?:additional|key|main|general|specific)?\s*(?:non[- ]?inclusion|inclusion|exclusion)"
    r"\s*(?:criteria|criterion)?\b"
    r"|\b(?:criteria|criterion)\b",
    re.IGNORECASE,
)


def cohort_label(
    line: str, *, vocab: Phrases | None = None, subheading: bool = False, roles: bool = True
) -> str | None:
    """The cohort a heading names ("Phase 1: Inclusion Criteria" -> "phase 1", "Additional inclusion criteria
    for subjects of cohort 1" -> "cohort 1", "Dose Expansion (Part 2):" -> "dose expansion (part 2)")."""
    norm = normalise_heading(line)
    rest = " ".join(_SECTION_WORDS.sub(" ", norm).replace("(", " ( ").replace(")", " ) ").split())
    rest = re.sub(r"\(\s*\)", "", rest).strip(" :-,()")
    rest = re.sub(r"\b(?:additional|specific)\b", " ", rest).strip()
    rest = re.sub(r"^(?:for\s+)?(?:subjects|patients|participants)\s+(?:of|in)\s+", "", rest)
    rest = re.sub(r"\s*\(\s*", " (", rest).replace(" )", ")").strip()
    if roles and _names_participants(rest, vocab or phrases()):
        return rest  # "Infant Inclusion Criteria", "Systemic sclerosis patients:": one kind of participant
    if not rest or not _COHORT.search(rest):
        return None
    numbered = _NUMBERED_COHORT.findall(rest)
    return " ".join(f"{kind.lower()} {label.lower()}" for kind, label in numbered) if numbered else rest


def _names_participants(rest: str, vocab: Phrases) -> bool:
    """A heading's words that end with a kind of participant, in a few words and not "all patients"."""
    words = rest.split()
    if not words or len(words) > 5 or _ALL_WORDS.search(rest):
        return False
    return any(vocab.participant_roles.fullmatch(" ".join(words[-n:])) for n in (1, 2))


_ALL_WORDS = re.compile(r"\b(?:all|every|each|any|other|both)\b", re.IGNORECASE)
_NUMBERED_COHORT = re.compile(r"\b(cohort|part|phase|arm|group|stage)\s+([a-z]?\d+[a-z]?|[ivx]{1,4}|[a-h])\b", re.I)
_ITEM_COHORT = re.compile(
    r"\s*((?:cohort|part|phase|arm|group)\s+(?:[a-z]?\d+[a-z]?|[ivx]{1,4}|[a-h]))(?:\s+only)?\s*:", re.I
)


def _item_cohort(text: str, line: _Line) -> str | None:
    """ "4. Phase 3 only: Received >= 5 lines ..." applies to that cohort only."""
    found = _ITEM_COHORT.match(text, line.content_start, line.end)
    return " ".join(found.group(1).lower().split()) if found else None


def _is_subheading(text: str, line: _Line, vocab: Phrases, following: _Line | None = None) -> bool:
    """A short non-bullet line ending with a colon, or a bare name of at most four words over a bullet list
    ("PRIOR CONCURRENT THERAPY: / Endocrine therapy / * Not specified")."""
    if line.bullet:
        return False
    body = text[line.start : line.end].rstrip()
    if body.rstrip("*_ ").endswith((":", "：")):
        return len(normalise_heading(body).split()) <= vocab.subheading_max_words
    return following is not None and following.bullet and _BARE_NAME.fullmatch(body.strip("*_ ")) is not None


_BARE_NAME = re.compile(r"[A-Za-z][\w'’/-]*(?:\s+[A-Za-z][\w'’/-]*){0,3}")


def _continues(text: str, prev_end: int, line: _Line, last: _Line | None) -> bool:
    if line.bullet or last is None:
        return False
    if line.indent > last.indent and line.indent > 0:
        return True
    first = text[line.content_start : line.content_start + 1]
    before = text[:prev_end].rstrip()
    if not first or not first.islower() or before.endswith((".", ";", ":", "；", "。")):
        return False
    # A wrapped line: the line above stops mid-phrase (a connector, an open parenthesis). Otherwise a
    # lower-case line is a criterion of its own (registries and Chia list criteria one per line).
    last_item_text = text[last.start : prev_end] if last else ""
    # the phrase ends ``before``, and none is longer than _MID_PHRASE_CHARS: no need to scan the whole text again
    mid_phrase = _MID_PHRASE.search(before, max(0, len(before) - _MID_PHRASE_CHARS))
    return bool(mid_phrase) or last_item_text.count("(") > last_item_text.count(")")


_INTRODUCES_ALTERNATIVES = re.compile(
    r"(?:[:：]|\b(?:following|criteria|criterion|conditions|factors|features))[\s*_.]*$", re.IGNORECASE
)
"""The end of a line of alternatives that introduces what follows ("At least two of the following additional
criteria", "... one of the following:")."""


def _under_opener(text: str, opener: _Line, line: _Line, last: _Line | None) -> bool:
    """A line below a lead-in of alternatives that registries write flat: bullets under an unbulleted lead-in, or
    plain lines one per criterion (Chia) up to a blank line. Bullets under a bulleted lead-in are its sub-items by
    their indent already."""
    if line.bullet:
        return not opener.bullet and line.indent >= opener.indent
    if opener.bullet or last is None:
        return False
    return text.count("\n", last.end, line.start) < 2  # no blank line between


def _stray(lines: list[_Line], sections: list[Kind | None], index: int) -> bool:
    """An indented heading inside a nested list ("   1. ... OR\n      Exclusion Criteria:\n   2. ...") when an
    unindented heading of the same kind follows: an editing slip, not a section."""
    line = lines[index]
    if line.indent == 0 or index + 1 >= len(lines) or not lines[index + 1].bullet or lines[index + 1].indent == 0:
        return False
    return any(
        sections[later] == sections[index] and lines[later].indent == 0 for later in range(index + 1, len(lines))
    )


def _section_cohort(
    body: str, kind: Kind, vocab: Phrases, roles_seen: set[str], *, subheading: bool = False
) -> str | None:
    """The cohort of a heading. A kind of participant named among the exclusions is a cohort only when the
    inclusions named it too: "Immunocompromised patients:" there is a group of exclusions, not a cohort."""
    label = cohort_label(body, vocab=vocab, subheading=subheading)
    if label is None or cohort_label(body, vocab=vocab, subheading=subheading, roles=False) is not None:
        return label
    if kind == "inclusion":
        roles_seen.add(label)
        return label
    return label if label in roles_seen else None


def split_items(text: str, *, vocab: Phrases | None = None) -> list[Item]:
    """The criteria text cut into items, each with its kind and a stable id."""
    p = vocab or phrases()
    kind: Kind = "inclusion"
    counters: dict[str, int] = {"inclusion": 0, "exclusion": 0}
    # open items: list of [indent, id, start, end, depth, children, kind, context]
    items: list[dict[str, object]] = []
    stack: list[dict[str, object]] = []
    context: str | None = None
    cohort: str | None = None
    cohort_indent = 0
    last: _Line | None = None
    lines = _lines(text)
    sections = [heading_kind(text[line.start : line.end], bullet=line.bullet, vocab=p) for line in lines]
    opener: dict[str, object] | None = None  # a lead-in of alternatives whose lines below are its sub-items
    opener_line: _Line | None = None
    block = 0  # the items under one heading or sub-heading
    roles_seen: set[str] = set()  # the kinds of participant the inclusion headings name
    for index, line in enumerate(lines):
        body = text[line.start : line.end]
        section = sections[index]
        if section is not None and _stray(lines, sections, index):
            continue
        if section is not None:
            kind, stack, context, last, opener = section, [], None, None, None
            cohort, cohort_indent = _section_cohort(body, kind, p, roles_seen), 0
            block += 1
            continue
        opens_alternatives = _INTRODUCES_ALTERNATIVES.search(body) is not None and alternatives_count(body) is not None
        if not opens_alternatives and _is_subheading(
            text, line, p, lines[index + 1] if index + 1 < len(lines) else None
        ):
            block += 1
            context, stack, last, opener = normalise_heading(body), [], None, None
            label = _section_cohort(body, kind, p, roles_seen, subheading=True)
            if label is not None:
                cohort, cohort_indent = label, line.indent
            continue
        if cohort_indent and line.bullet and line.indent < cohort_indent:
            cohort, cohort_indent = None, 0  # an indented cohort sub-heading covers only the items under it
        if items and _continues(text, int(items[-1]["end"]), line, last):  # type: ignore[call-overload]
            items[-1]["end"] = line.end
            continue
        if opener is not None and opener_line is not None and _under_opener(text, opener_line, line, last):
            parent, stack = opener, []
            parent["children"] = int(parent["children"]) + 1  # type: ignore[call-overload]
            item_id = f"{parent['id']}.{parent['children']}"
            depth = int(parent["depth"]) + 1  # type: ignore[call-overload]
            items.append(
                {
                    **parent,
                    "id": item_id,
                    "start": line.content_start,
                    "end": line.end,
                    "depth": depth,
                    "children": 0,
                    "indent": line.indent,
                }
            )
            last = line
            continue
        opener = opener_line = None
        while stack and (not line.bullet or int(stack[-1]["indent"]) >= line.indent):  # type: ignore[call-overload]
            stack.pop()
        if stack and line.bullet:
            parent = stack[-1]
            parent["children"] = int(parent["children"]) + 1  # type: ignore[call-overload]
            item_id = f"{parent['id']}.{parent['children']}"
            depth = int(parent["depth"]) + 1  # type: ignore[call-overload]
        else:
            counters[kind] += 1
            item_id = f"{'inc' if kind == 'inclusion' else 'exc'}-{counters[kind]}"
            depth = 0
        entry: dict[str, object] = {
            "indent": line.indent,
            "id": item_id,
            "start": line.content_start,
            "end": line.end,
            "depth": depth,
            "children": 0,
            "kind": kind,
            "context": context,
            "cohort": _item_cohort(text, line) or cohort,
            "block": block,
        }
        items.append(entry)
        if line.bullet:
            stack.append(entry)
        if opens_alternatives:
            opener, opener_line = entry, line
        last = line
    withdrawn = _withdrawn_blocks(text, items, p)
    return [
        Item(
            id=str(e["id"]),
            kind=e["kind"],  # type: ignore[arg-type]
            start=int(e["start"]),  # type: ignore[call-overload]
            end=int(e["end"]),  # type: ignore[call-overload]
            depth=int(e["depth"]),  # type: ignore[call-overload]
            has_children=int(e["children"]) > 0,  # type: ignore[call-overload]
            context=e["context"],  # type: ignore[arg-type]
            cohort=e["cohort"],  # type: ignore[arg-type]
            withdrawn=withdrawn.get(int(e["block"])),  # type: ignore[call-overload]
        )
        for e in items
    ]


def _withdrawn_blocks(text: str, items: list[dict[str, object]], p: Phrases) -> dict[int, str]:
    """The blocks (items under one heading) with a note saying they no longer apply, and the note's words."""
    found: dict[int, str] = {}
    for e in items:
        marker = p.withdrawn.search(text, int(e["start"]), int(e["end"]))  # type: ignore[call-overload]
        if marker is not None:
            found.setdefault(int(e["block"]), marker.group(0))  # type: ignore[call-overload]
    return found


def _trim(text: str, start: int, end: int) -> Span | None:
    """The span without surrounding blanks and punctuation (and a leading "i)" enumerator)."""
    while start < end and (text[start].isspace() or text[start] in ",.;:；，"):
        start += 1
    enumerator = _BULLET.match(text, start, end)
    if enumerator and enumerator.group("indent") == "":
        start = enumerator.end()
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:；，"):
        end -= 1
    if end > start and text[end - 1] == "." and not text[start:end].rstrip(".").endswith(("e.g", "etc", "i.e")):
        end -= 1
    return Span(start, end) if end > start else None


_SENTENCE_NEXT = re.compile(r"[ \t]+\(?[A-Z]")


def _sentence_end(text: str, index: int, end: int) -> bool:
    """A full stop that ends a sentence inside an item ("... ulcer disease. (Concomitant therapy with ...)"): the
    next sentence is a clause of its own. Abbreviations ("e.g.", "U.S.", "vs.") do not end one."""
    if text[index] != "." or not _SENTENCE_NEXT.match(text, index + 1, end):
        return False
    return not phrases().abbreviation_end.search(text, max(0, index - 8), index)


def split_clauses(text: str, item: Item) -> list[Span]:
    """An item cut at semicolons and full stops outside parentheses (each clause is one or more atoms)."""
    spans: list[Span] = []
    depth = 0
    start = item.start
    for found in _CLAUSE_CHARS.finditer(text, item.start, item.end):
        char, index = found.group(), found.start()
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and (char != "." or _sentence_end(text, index, item.end)):
            span = _trim(text, start, index)
            if span:
                spans.append(span)
            start = index + 1
    span = _trim(text, start, item.end)
    if span:
        spans.append(span)
    return spans
