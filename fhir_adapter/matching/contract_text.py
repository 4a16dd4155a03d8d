"""The JSON report's text, fast: exactly ``json.dumps(value, indent=2, ensure_ascii=False)``, patient by patient.

With ``indent``, the standard library encodes in pure Python (its C encoder only serves compact output); at a
million patients that was most of the report's six minutes. Here containers are laid out in Python, but every
string goes through the C string encoder, and the text of a criterion result that many patients share (the
evaluator's interned "not evaluated: not a candidate"...) is rendered once and reused.

:func:`indented` is checked against ``json.dumps`` in ``tests/matching/test_contract_text.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

from fhir_adapter.matching.model import AtomResult, PatientResult

_encode_string = json.encoder.encode_basestring  # the C encoder when available; ensure_ascii=False's
PATIENTS_PER_CHUNK = 500
"""Patients joined into one string before it is yielded: fewer, larger writes, still bounded memory."""
_PATIENT_INDENT = "    "
"""A patient entry's indentation in the report (inside ``{"patients": [...]}``)."""
_CRITERION_INDENT = _PATIENT_INDENT + "    "
"""A criterion's indentation (inside the patient's ``"criteria": [...]``)."""
_CACHE_LIMIT = 4_096


def _scalar(value: object) -> str:
    """A JSON scalar as ``json.dumps`` writes it (``NaN``/``Infinity`` included, as its ``allow_nan`` default)."""
    if isinstance(value, str):
        return _encode_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return json.dumps(value, ensure_ascii=False)  # anything else: as json would (or its TypeError)


def indented(value: Any, prefix: str = "") -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)`` with every line after the first starting with
    ``prefix`` (the value's own indentation in the enclosing document)."""
    kind = type(value)
    if kind is _Raw:  # most items of a report: a shared criterion's text
        return value.text  # type: ignore[no-any-return]
    if kind is str:
        return _encode_string(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = prefix + "  "
        items = [f"{_scalar(_key(k))}: {indented(v, inner)}" for k, v in value.items()]
        return "{\n" + inner + (",\n" + inner).join(items) + "\n" + prefix + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        inner = prefix + "  "
        return "[\n" + inner + (",\n" + inner).join(indented(v, inner) for v in value) + "\n" + prefix + "]"
    return _scalar(value)


def _key(key: object) -> str:
    """A dict key as ``json.dumps`` converts it (the contracts only have strings)."""
    if isinstance(key, str):
        return key
    if isinstance(key, float | int | bool) or key is None:
        return _scalar(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


class _Raw:
    """Text already rendered at its place (a shared criterion's)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Criteria:
    """Criterion texts by result object: only results without evidence, which the evaluator shares between
    patients (each kept alive here with its text, so its ``id`` cannot be reused)."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[AtomResult, _Raw]] = {}

    def __call__(self, criterion: AtomResult) -> _Raw | dict[str, Any]:
        found = self._texts.get(id(criterion))
        if found is not None:
            return found[1]
        contract = criterion.contract()
        if criterion.evidence or len(self._texts) >= _CACHE_LIMIT:
            return contract
        text = _Raw(indented(contract, _CRITERION_INDENT))
        self._texts[id(criterion)] = (criterion, text)
        return text


def patients_text(patients: Iterable[PatientResult], count: int) -> Iterator[str]:
    """The report's ``"patients"`` entries (``count`` of them), a chunk of patients at a time."""
    criteria = _Criteria()
    chunk: list[str] = []
    last = count - 1
    for index, patient in enumerate(patients):
        text = _PATIENT_INDENT + indented(patient.contract(criteria), _PATIENT_INDENT)
        chunk.append(text + (",\n" if index < last else "\n"))
        if len(chunk) >= PATIENTS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)
