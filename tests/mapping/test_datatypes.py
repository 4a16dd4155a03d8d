"""prune: what a finished resource keeps (its fast loops must agree with the plain rule)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fhir_adapter.mapping.datatypes import finish, prune


class Kind(StrEnum):
    PADDED = " padded "
    BLANK = "  "


def test_prune_drops_empty_values_at_every_depth_and_keeps_false_and_zero() -> None:
    body: dict[str, Any] = {
        "a": None, "b": "", "c": "  ", "d": [], "e": {}, "f": False, "g": 0, "h": 0.0,
        "i": {"x": None, "y": [None, "", {}, [], {"z": " "}]},
        "j": [" v ", [" ", None], {"k": [None]}, False, 0],
        "l": {"m": {"n": {"o": " deep "}}},
    }
    assert prune(body) == {"f": False, "g": 0, "h": 0.0, "j": ["v", False, 0], "l": {"m": {"n": {"o": "deep"}}}}


def test_prune_treats_subclasses_like_their_base_types() -> None:
    assert prune({"a": Kind.PADDED, "b": Kind.BLANK, "c": [Kind.BLANK, Kind.PADDED]}) == {
        "a": "padded",
        "c": ["padded"],
    }
    assert type(prune({"a": Kind.PADDED})["a"]) is str


def test_finish_puts_resource_type_first_and_prunes() -> None:
    assert list(finish("Organization", {"name": " X ", "resourceType": "Other", "alias": [""]})) == [
        "resourceType",
        "name",
    ]
