"""The compiler's fast paths give what the straightforward readings they replace give (issue 10, item 5).

Each shortcut (a quick pre-test before a regex, a scan that jumps instead of reading every character, a result
remembered) is checked here against the plain computation, on hand-picked edge cases and on generated strings,
so that a shortcut that changes an answer fails.
"""

from __future__ import annotations

import random
import re
from urllib.parse import quote

import pytest

from fhir_adapter.criteria.fhirpath import coding_filter, fp_in, fp_string, search_escape, token_list
from fhir_adapter.criteria.head import open_paren_before
from fhir_adapter.criteria.model import Coding
from fhir_adapter.criteria.numbers import (
    _LIMIT_WORD,
    _TWO_NUMBERS,
    _has_limit_word,
    _number_starts,
    find_min_elapsed,
    find_thresholds,
    find_window,
    patterns,
)
from fhir_adapter.criteria.patterns import phrase_needles, phrase_pattern
from fhir_adapter.criteria.phrases import phrases, search_exception
from fhir_adapter.criteria.split import _MID_PHRASE, _MID_PHRASE_CHARS
from fhir_adapter.criteria.topic_table import text_tokens
from fhir_adapter.criteria.topics import topic_of
from fhir_adapter.generated_lexicon import concept_from_entry
from fhir_adapter.mappings import load_table
from fhir_adapter.phrase_keys import (
    JOINABLE,
    TOKEN,
    abbreviations_defined,
    fold,
    folded_words,
    split_tokens,
    tokens,
)
from fhir_adapter.terminology import lexicon

SEED = 10


def _strings(alphabet: str, count: int, longest: int) -> list[str]:
    rng = random.Random(SEED)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest))) for _ in range(count)]


# -- FHIRPath / search text ---------------------------------------------------------------------------


def _plain_fp_in(values: list[str]) -> str:
    return "(" + " | ".join(fp_string(v) for v in values) + ")"


def _plain_search_escape(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")
    return quote(escaped, safe=":/.-_~")


@pytest.mark.parametrize(
    "values", [[], ["a"], ["a", "b"], ["O'Neil", "x"], ["a\\b"], ["line\nbreak", "r\r"], ["C20", "C18.9"]]
)
def test_fp_in_is_a_union_of_string_literals(values: list[str]) -> None:
    assert fp_in(values) == _plain_fp_in(values)
    assert fp_in(iter(values)) == _plain_fp_in(values)


def test_fp_in_and_search_escape_on_generated_values() -> None:
    alphabet = "aZ09_.-~:/\\'\n\r,|$ é%+"
    values = _strings(alphabet, 4000, 6)
    for start in range(0, len(values), 3):
        assert fp_in(values[start : start + 3]) == _plain_fp_in(values[start : start + 3])
    for value in values:
        assert search_escape(value) == _plain_search_escape(value)
    assert search_escape("http://loinc.org") == "http://loinc.org"
    assert search_escape("a,b|c$") == "a%5C%2Cb%5C%7Cc%5C%24"


def test_remembered_filters_are_those_of_equal_codes() -> None:
    codes = (Coding(system="http://snomed.info/sct", code="1"), Coding(system="http://snomed.info/sct", code="2"))
    first = coding_filter(codes)
    assert first == "(system = 'http://snomed.info/sct' and code in ('1' | '2'))"
    assert coding_filter(codes) == first  # remembered by identity
    assert coding_filter(list(codes)) == first  # a list is never remembered, and reads the same
    assert coding_filter(codes[:1]) == "(system = 'http://snomed.info/sct' and code = '1')"
    assert token_list(codes) == "http://snomed.info/sct|1,http://snomed.info/sct|2"
    assert token_list(codes[:1]) == "http://snomed.info/sct|1"


# -- text scans ------------------------------------------------------------------------------------------


def _plain_open_paren_before(text: str, index: int, floor: int) -> int | None:
    depth = 0
    for i in range(index - 1, floor - 1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                return i
            depth -= 1
    return None


def test_open_paren_before_reads_the_nesting_back() -> None:
    assert open_paren_before("a (b (c) d", 10, 0) == 2
    assert open_paren_before("a (b (c) d", 10, 3) is None
    assert open_paren_before("(x) y", 5, 0) is None
    rng = random.Random(SEED)
    for text in _strings("(()) ab", 3000, 14):
        index, floor = rng.randint(0, len(text)), rng.randint(0, len(text))
        assert open_paren_before(text, index, floor) == _plain_open_paren_before(text, index, floor)


def test_tokens_folded_as_read_one_by_one() -> None:
    texts = ["PD-1 / PD-L1", "Crohn's  disease", "İstanbul ÉCOG", "a_b", "x10^9/L", "", "computed tomography (CT)"]
    texts += _strings("aB1 -/'’_,(é", 2000, 12)
    for text in texts:
        toks = tokens(text)
        assert folded_words(text) == [fold(t) for _, _, t in toks]
        assert [t for _, _, t in toks] == TOKEN.findall(text)


def test_split_tokens_are_the_tokens_with_their_gaps() -> None:
    texts = ["PD-1 / PD-L1", "computed tomography (CT) scan", "(MRI)", "İstanbul ÉCOG", "a_b", "", " x "]
    texts += _strings("aBC1 -/'’_,()é", 3000, 14)
    for text in texts:
        toks = tokens(text)
        raw, gaps, bounds = split_tokens(text)
        assert raw == [t for _, _, t in toks]
        assert [(bounds[2 * j], bounds[2 * j + 1]) for j in range(len(raw))] == [(a, b) for a, b, _ in toks]
        edges = [0, *(x for a, b, _ in toks for x in (a, b)), len(text)]
        assert gaps == [text[edges[2 * k] : edges[2 * k + 1]] for k in range(len(toks) + 1)]
        assert abbreviations_defined(raw, gaps) == defined_abbreviations(text, toks)


_OPEN = re.compile(r"\s*\(\s*")
_CLOSE = re.compile(r"\s*\)\s*")


def defined_abbreviations(text: str, toks: list[tuple[int, int, str]]) -> set[int]:
    """:func:`abbreviations_defined` read plainly, from each token's offsets in the text."""
    defined: set[int] = set()
    for k in range(1, len(toks) - 1):
        abbreviation = toks[k][2]
        n = len(abbreviation)
        if not (2 <= n <= k and abbreviation.isupper() and abbreviation.isalpha()):
            continue
        opened = _OPEN.fullmatch(text, toks[k - 1][1], toks[k][0])
        closed = _CLOSE.fullmatch(text, toks[k][1], toks[k + 1][0])
        if opened and closed and "".join(t[0] for _, _, t in toks[k - n : k]).upper() == abbreviation:
            defined.add(k)
    return defined


def _plain_find(text: str) -> list[tuple[int, int, str]]:
    """:meth:`Lexicon.find` read plainly: every token tried as a phrase start, gaps and abbreviations checked where
    a candidate reaches them."""
    lex = lexicon()
    toks = tokens(text)
    raw = [t for _, _, t in toks]
    defined = defined_abbreviations(text, toks)
    candidates = []
    for index, words in ((lex._folded, [fold(t) for t in raw]), (lex._exact, raw)):
        for i in range(len(words)):
            joined = ""
            for j in range(i, min(len(words), i + index.max_tokens + len(defined))):
                if j > i and j in defined:
                    continue
                gap_ok = JOINABLE.fullmatch(text, toks[j - 1][1], toks[j][0]) is not None if j > i else True
                if not gap_ok and not (j - 1 in defined and j - 1 > i):
                    break
                joined += words[j]
                if joined in index.keys:
                    candidates.append((toks[i][0] - toks[j][1], i, j, index.keys[joined]))
                if joined not in index.prefixes:
                    break
    candidates.sort()
    taken: set[int] = set()
    chosen = []
    for _, i, j, key in candidates:
        if taken.isdisjoint(range(i, j + 1)):
            taken.update(range(i, j + 1))
            chosen.append((toks[i][0], toks[j][1], key))
    return sorted(chosen)


def test_find_is_the_plain_token_walk() -> None:
    texts = [
        "Heart, liver or kidney disease",
        "computed tomography (CT) contrast allergy",
        "PD-1/PD-L1 inhibitors",
        "MS or SLE",
        "Crohn's disease and ulcerative colitis",
        "hepatitis B or C infection",
        "İstanbul ÉCOG",
    ]
    rng = random.Random(SEED)
    words = [
        "heart",
        "Liver",
        "kidney",
        "disease",
        "cancer",
        "breast",
        "type",
        "1",
        "2",
        "diabetes",
        "hepatitis",
        "B",
        "c",
        "infection",
        "acute",
        "chronic",
        "(CT)",
        "CT",
        "computed",
        "tomography",
        "-",
        "/",
        ",",
        "MS",
        "multiple",
        "sclerosis",
        "(MS)",
        "pd",
        "l1",
        "inhibitor",
        "platelets",
        "count",
        "é",
        "of",
        "the",
    ]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    for text in texts:
        found = [(m.start, m.end, m.concept.key) for m in lexicon().find(text)]
        assert found == _plain_find(text), text


def _plain_whole(text: str) -> object:
    named = [m for m in lexicon().find(text) if m.start == 0 and m.end == len(text)]
    return named[0].concept.key if named else None


def test_whole_is_the_match_of_find_spanning_the_text() -> None:
    lex = lexicon()
    texts = [
        "heart disease",
        "prostate cancer",
        "hepatitis c infection",
        "type 1 diabetes",
        "pd-1",
        "PD 1",
        "Crohn's disease",
        "crohns disease",
        "platelets",
        "computed tomography (CT) contrast",
        "MS",
        "ms",
        "liver disease ",
        " liver disease",
        "liver, disease",
        "acute pancreatitis",
        "non-hodgkin lymphoma",
    ]
    rng = random.Random(SEED)
    words = [
        "heart",
        "liver",
        "kidney",
        "disease",
        "cancer",
        "breast",
        "type",
        "1",
        "2",
        "diabetes",
        "hepatitis",
        "b",
        "c",
        "infection",
        "acute",
        "chronic",
        "(CT)",
        "CT",
        "computed",
        "tomography",
        "-",
        "/",
        ",",
    ]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(3000)]
    for text in texts:
        whole = lex.whole(text)
        assert (whole.key if whole is not None else None) == _plain_whole(text), text


def test_mid_phrase_is_found_from_the_end() -> None:
    words = ["and", "or", "including", "e.g", "band", "Or", ",", "(", "–", " ", "foo", "without"]
    rng = random.Random(SEED)
    for _ in range(3000):
        before = "".join(rng.choice(words) + rng.choice(["", " "]) for _ in range(rng.randint(0, 8))).rstrip()
        tail = _MID_PHRASE.search(before, max(0, len(before) - _MID_PHRASE_CHARS))
        assert bool(tail) == bool(_MID_PHRASE.search(before))


# -- vocabulary pre-tests -------------------------------------------------------------------------------


def test_phrase_needles_are_the_first_words() -> None:
    assert phrase_needles(["Clinically  significant", "serious", "e.g."]) == ("clinically", "e.g.", "serious")
    assert phrase_needles(["ſerious"]) is None  # a non-ASCII letter may match an ASCII one
    needles = phrase_needles(["at least", "more than"])
    assert needles is not None
    pattern = re.compile(phrase_pattern(["at least", "more than"]), re.IGNORECASE)
    for text in ["AT   LEAST 3", "no more\tthan", "atleast", "at leastx", "more"]:
        if pattern.search(text):
            assert any(n in text.lower() for n in needles)


def test_topics_match_as_their_regexes_do() -> None:
    vocab = phrases()
    texts = [
        "clinically significant cardiac disease",
        "Clinically Significant",
        "participation in another clinical trial within 30 days",
        "known hypersensitivity to any of the study drugs",
        "life expectancy of at least 3 months",
        "ſignificant",
        "",
    ]
    texts += [t.upper() for t in texts]
    for text in texts:
        lowered = text.lower() if text.isascii() else None
        for topic in vocab.topics:
            assert topic.matches(text, lowered) == all(g.search(text) for g in topic.groups)


def test_threshold_pre_tests_skip_only_texts_without_matches() -> None:
    pats = patterns()
    texts = [
        "anc >= 1500/mm3 and platelets 100,000 or more",
        "age 18 years or older",
        "within 4 weeks prior to enrolment",
        "at least 6 months since the last dose",
        "hemoglobin 9 g/dl",
        "no number here",
    ]
    for text in texts:
        if not pats.any_comparator.search(text):
            assert not pats.prefix.search(text)
        if not pats.any_postfix.search(text):
            assert not pats.postfix.search(text)
        if not pats.any_time_unit.search(text):
            assert not pats.window.search(text) and not pats.window_after.search(text)
    assert [t.comparator for t in find_thresholds(texts[0])] == ["ge", "ge"]
    assert find_window(texts[2]) is not None and find_window(texts[5]) is None
    assert find_min_elapsed(texts[3]) is not None and find_min_elapsed(texts[4]) is None


def test_topic_filter_keeps_every_topic_whose_regexes_match() -> None:
    vocab = phrases()
    entries = load_table("criteria_phrases")["not_computable"]
    listed = [str(w) for e in entries for g in e.get("all_of", [e.get("any_of")]) for w in g]
    words = sorted({w for phrase in listed for w in phrase.split()}) + listed
    words += ["any", "of", "the", "study", "drug", "clinical", "trial", "e.g.", "(", ",", "-", "significant", "x"]
    rng = random.Random(SEED)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(1500)]
    texts += [
        "known hypersensitivity to any of the study drugs",
        "participation in another clinical trial",
        "clinically-significant",
        "Clinically Significant",
        "(clinically significant)",
        "",
    ]
    for text in texts:
        possible = set(vocab.topic_filter.possible(text_tokens(text.lower())))
        for index, topic in enumerate(vocab.topics):
            if all(g.search(text) for g in topic.groups):
                assert index in possible, (text, topic.reason)
        assert topic_of(text, vocab) is next((t for t in vocab.topics if all(g.search(text) for g in t.groups)), None)


def test_search_exception_is_the_except_words_search() -> None:
    vocab = phrases()
    words = [
        "except",
        "other than",
        "but not",
        "including, but not limited to",
        "but",
        "not",
        "limited",
        "to",
        "excluding",
        "x",
        ",",
        "(",
        "unless",
        "apart from",
        "with the exception of",
    ]
    rng = random.Random(SEED)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 8))) for _ in range(3000)]
    for text in texts:
        plain, quick = vocab.except_words.search(text), search_exception(vocab, text)
        assert (plain and (plain.span(), plain.group())) == (quick and (quick.span(), quick.group()))


def test_threshold_scans_from_the_first_digit_find_what_full_scans_find() -> None:
    pats = patterns()
    pieces = [
        "between",
        "from",
        " ",
        "  ",
        "1",
        "2.5",
        ".5",
        "10",
        "-",
        "to",
        "and",
        "mg",
        "x",
        "uln",
        "<=",
        ">",
        "or more",
        "or less",
        "ULN",
        "Normal",
        "ı",
        "two times",
        ",",
        "(",
        "%",
    ]
    rng = random.Random(SEED)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 10))) for _ in range(3000)]
    for text in texts:
        assert _has_limit_word(text) == bool(_LIMIT_WORD.search(text))
        digit = re.search(r"\d", text)
        if digit is None:
            assert not pats.range.search(text) and not pats.reversed.search(text) and not pats.postfix.search(text)
            continue
        num_from, range_from = _number_starts(text, digit.start())
        for pattern, pos in ((pats.range, range_from), (pats.reversed, num_from), (pats.postfix, num_from)):
            assert [m.span() for m in pattern.finditer(text, pos)] == [m.span() for m in pattern.finditer(text)]
        if not _TWO_NUMBERS.search(text, num_from):
            assert not pats.range.search(text)
        first_cmp = pats.any_comparator.search(text)
        if first_cmp is not None:
            for pattern in (pats.prefix, pats.bare_limit):
                spans = [m.span() for m in pattern.finditer(text)]
                assert [m.span() for m in pattern.finditer(text, first_cmp.start())] == spans


# -- generated lexicon entries ----------------------------------------------------------------------------


def test_concept_from_entry_sets_every_field() -> None:
    raw = {
        "category": "condition",
        "display": "Arterial thrombosis",
        "synonyms": ["Arterial Thrombus"],
        "codings": [
            {"system": "http://snomed.info/sct", "code": "65198009", "display": "Arterial thrombosis"},
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I74.9"},
        ],
        "code_prefixes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "prefix": "I74"}],
        "members": ["condition.x"],
    }
    concept = concept_from_entry("condition.arterial-thrombosis", raw)
    assert concept.synonyms == ("arterial thrombus",)
    assert isinstance(concept.codings, tuple) and [c.code for c in concept.codings] == ["65198009", "I74.9"]
    assert concept.codings[1].display is None and "display" in concept.codings[1].model_fields_set
    assert concept.code_prefixes[0].prefix == "I74" and concept.members == ("condition.x",)
    assert concept.model_fields_set == set(type(concept).model_fields)


_LISTS_OF_FUNCTION_WORDS = {
    # lists whose entries are function words by design (connectors, stop words, prepositions of a modifier)
    "range_separators", "multiple_words", "list_connectors", "any_kind_words", "cohort_neutral_words",
    "modifier_words", "neutral_before_finding", "setting_markers", "site_stop_words",
}  # fmt: skip


def test_no_marker_list_holds_a_bare_function_word() -> None:
    """A comma inside an unquoted phrase of a YAML flow list splits it ("exceptions will be made, however, for"
    became "however" and "for" as permission words): no marker list may hold a bare function word."""
    from fhir_adapter.mappings import load_table

    table = load_table("criteria_phrases")
    function_words = {"for", "of", "to", "in", "on", "at", "by", "with", "the", "a", "an", "and", "or", "however"}
    for key, value in table.items():
        if isinstance(value, list) and key not in _LISTS_OF_FUNCTION_WORDS:
            bare = [v for v in value if isinstance(v, str) and v.strip().lower() in function_words]
            assert not bare, f"{key}: {bare}"
