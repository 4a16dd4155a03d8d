"""The Bundle writer of ``convert`` prints exactly what json.dumps(indent=2, ensure_ascii=False) prints."""

from __future__ import annotations

import json
from collections import OrderedDict
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_adapter.cli._indented_json import dumps_indented, plain_indented_utf8
from fhir_adapter.ingest import load_trial
from fhir_adapter.pipeline import trial_bundle

REPO = Path(__file__).resolve().parents[2]


class Code(StrEnum):
    A = "a"


CASES: list[Any] = [
    {},
    [],
    "",
    None,
    {"a": {}, "b": [], "c": [{}, [], [[]]], "d": None},
    {"text": 'quote " backslash \\ tab \t newline \n control \x01 del \x7f', "é": "ü ✓ 日本 \u2028"},
    {"n": [0, -1, 2**70, 1.0, 18.0, -0.0, 1e-7, 1e16, 0.1, float("nan"), float("inf"), float("-inf")]},
    {"b": [True, False, None], "nested": {"x": {"y": {"z": [1, {"w": "v"}]}}}},
    {1: "int key", None: "null key", 2.5: "float key", False: "bool key"},  # json.dumps turns them to strings
    {"tuple": (1, 2), "ordered": OrderedDict([("b", 1), ("a", 2)])},
    {"enum": Code.A, "keys": {Code.A: 1}},
    {"floats": [1e-4, 9.99e-5, 1e-5, -2.5e-6, 1e15, 9999999999999998.0, 1e16, 1e22, 5e-324, 0.3333333333333333]},
    {"ints": [-(2**70), 2**63, -(2**63) - 1], "bool in list": [True, 1, 0, False]},
    {"lone surrogate": "\ud800 x"},
    {"deep": json.loads("[" * 300 + "]" * 300)},
]

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@pytest.mark.parametrize("value", CASES, ids=range(len(CASES)))
def test_the_same_text_as_json_dumps(value: Any) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False)


@given(_JSON)
def test_any_json_value_prints_as_json_dumps_does(value: Any) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_what_json_dumps_rejects_is_rejected() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    for bad in (cycle, {"x": object()}, {("tuple", "key"): 1}):
        with pytest.raises((ValueError, TypeError)):
            json.dumps(bad, indent=2, ensure_ascii=False)
        with pytest.raises((ValueError, TypeError)):
            dumps_indented(bad)


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_a_converted_trial_prints_the_same(version: str) -> None:
    bundle = trial_bundle(load_trial(REPO / "samples" / "NCT06577194.txt"), version)  # type: ignore[arg-type]
    assert len(bundle["entry"]) > 5
    assert dumps_indented(bundle) == json.dumps(bundle, indent=2, ensure_ascii=False)


def test_the_utf8_bytes_are_the_text_s_or_none() -> None:
    bundle = trial_bundle(load_trial(REPO / "samples" / "NCT06577194.txt"), "R4")
    assert plain_indented_utf8(bundle) == dumps_indented(bundle).encode("utf-8")
    for not_plain in ({"x": 1e-7}, {"x": (1, 2)}, {1: "key"}, {"x": "\ud800"}, {"x": Code.A}):
        assert plain_indented_utf8(not_plain) is None
