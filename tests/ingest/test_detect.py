"""Telling NDJSON from one pretty-printed document reads only the first lines, as splitlines() finds them."""

from __future__ import annotations

import random

from fhir_adapter.ingest.detect import _first_lines, is_ndjson


def test_the_first_lines_are_those_of_splitlines() -> None:
    rng = random.Random(3)
    pieces = ["a", " ", "\n", "\r", "\r\n", "\x0b", "\u2028", "{", "x" * 5000, "\n\n\n"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for count in (1, 2, 3):
            assert _first_lines(text, count) == [line for line in text.splitlines() if line.strip()][:count]


def test_ndjson_or_one_document() -> None:
    assert is_ndjson('{"a": 1}\n\n{"b": 2}\n')
    assert is_ndjson('{"a": "' + "x" * 10000 + '"}\r\n{"b": 2}')
    assert not is_ndjson('{\n  "a": 1\n}\n')
    assert not is_ndjson('{"a": 1}\n')
    assert not is_ndjson("")
