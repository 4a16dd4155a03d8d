"""What the compiler needs from the lexicon and the unit tables, as injectable interfaces.

The real implementations live in :mod:`fhir_adapter.terminology` (``lexicon()``) and
:mod:`fhir_adapter.units`; every compiler function takes them as parameters defaulting to these,
so tests can inject small fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Protocol, cast

from fhir_adapter import terminology, units
from fhir_adapter.terminology import Concept, ConceptMatch


class Lexicon(Protocol):
    def find(self, text: str) -> list[ConceptMatch]: ...

    def get(self, key: str) -> Concept | None: ...


class Units(Protocol):
    def normalize_unit(self, text: str) -> str | None: ...

    def convert(self, value: float, from_unit: str, to_unit: str, concept_key: str | None = None) -> float | None: ...


@dataclass(frozen=True)
class ModuleUnits:
    """:class:`Units` over the functions of a module (``fhir_adapter.units``)."""

    normalize: Callable[[str], str | None]
    convert_fn: Callable[..., float | None]

    def normalize_unit(self, text: str) -> str | None:
        return self.normalize(text)

    def convert(self, value: float, from_unit: str, to_unit: str, concept_key: str | None = None) -> float | None:
        return self.convert_fn(value, from_unit, to_unit, concept_key)


def named_whole(lexicon: Lexicon, phrase: str) -> Concept | None:
    """The concept of the lexicon match spanning all of ``phrase`` (None when no match does). The project lexicon
    answers with its ``whole`` look-up, which reads only the phrases at the first word; any other
    :class:`Lexicon` (a test's fake) by its matches."""
    whole = getattr(lexicon, "whole", None)
    if whole is not None:
        return cast(Concept | None, whole(phrase))
    named = [m for m in lexicon.find(phrase) if m.start == 0 and m.end == len(phrase)]
    return named[0].concept if named else None


def default_lexicon() -> Lexicon:
    """The project lexicon (``fhir_adapter.terminology.lexicon()``)."""
    return cast(Lexicon, terminology.lexicon())


@cache
def default_units() -> Units:
    """The project unit tables (``fhir_adapter.units``): one object for every compile, since the compiler caches
    per-concept unit factors by the identity of its unit table (a new one per trial recomputed them every time)."""
    return ModuleUnits(units.normalize_unit, units.convert)
