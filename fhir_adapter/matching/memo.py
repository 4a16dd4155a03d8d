"""The decisive atoms' result, remembered for patients whose evidence is the same.

A population's first pass (:meth:`~fhir_adapter.matching.screen.PopulationEvaluator.settled_early`) evaluates the
decisive atoms (age, sex, index condition) on a snapshot that, for most patients, holds their Patient resource
and nothing else (no line of the narrowed types carries one of the atoms' codes). Such a patient's result is a
pure function of the Patient fields the evaluator reads and of the patient id, which it only writes out
(``Patient/<id>``): :class:`EarlyMemo` keeps it per value of the fields read and gives it to the next patient
with the same values, the id written in.

Why this is exact, for any population: the evaluator is deterministic, so a patient whose fields have the values
another patient's evaluation read is read the same fields in the same order and gets the same result. The fields
read are recorded while evaluating (:class:`_ReadFields`); an evaluation that looked at the resource as a whole
(iterating it, comparing it) is not remembered. The id is replaced by a token no id or field value holds
(:data:`_TOKEN`; patients whose id or read values contain its NUL character, or whose id has white space, which the
reason's white-space folding would change, are evaluated directly), then the token by each patient's id.

What the evaluator reads of a Patient here is its birth date and deceased fields (and gender with a sex
criterion): in a population of tens of thousands most birth dates recur, but in one of 10,000 most do not (the
benchmark's 10,000 patients have 8,192 birth dates; its larger populations are copies of them, so nearly all
recur: BENCHMARKS.md gives figures with and without). The memory it takes is bounded (:data:`MAX_TEMPLATES`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, cast

from pydantic import BaseModel

from fhir_adapter.matching.model import PatientResult
from fhir_adapter.matching.server import PatientSnapshot

MAX_TEMPLATES = 10_000
"""Results remembered at most (about 2 KB each: the criteria they share with every patient are shared objects);
0: none, every patient evaluated (``benchmarks/population.py --no-memo``)."""
_MAX_SEEN = 100_000
"""Values noted as seen once at most (a few hundred bytes each)."""
_TOKEN = "\x00patient-id\x00"
_MISSING = object()
"""A field the resource lacks."""


class _ReadFields(Mapping[str, Any]):
    """A Patient resource that notes the fields read from it; iterating it (a read of everything) is noted too."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource
        self.read: list[str] = []
        self.whole = False

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return self.resource[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.append(key)
        return self.resource.get(key, default)

    def __iter__(self) -> Iterator[str]:
        self.whole = True
        return iter(self.resource)

    def __len__(self) -> int:
        self.whole = True
        return len(self.resource)


def _value_key(resource: dict[str, Any], fields: tuple[str, ...]) -> tuple[object, ...] | None:
    """The values of ``fields``, exactly (text as it is, other values as JSON text; None when a text holds a NUL
    character: see :data:`_TOKEN`)."""
    key: list[object] = []
    for name in fields:
        value = resource.get(name, _MISSING)
        if type(value) is str:
            if "\x00" in value:
                return None
            key.append(value)
        elif value is _MISSING:
            key.append(value)
        else:
            text = json.dumps(value)
            if "\\u0000" in text:
                return None
            key.append((text,))  # a 1-tuple: never equal to a text
    return tuple(key)


def _usable_id(pid: str) -> bool:
    return "\x00" not in pid and pid.split() == [pid]


Plan = dict[Any, "Plan | None"]
"""Where the token is in a value: per field (models) or index (lists), the plan of the part, None for a text."""


def _plan(value: Any, clean: dict[int, object]) -> Plan | Literal[False] | None:
    """Where :data:`_TOKEN` is in ``value`` (None: it is this text), False where it is not. ``clean``: parts
    known not to hold it (by id, kept alive there): the results every patient shares are looked through once."""
    kind = type(value)
    if kind is str:
        return None if _TOKEN in value else False
    if id(value) in clean:
        return False
    if kind is list:
        parts: Any = enumerate(value)
    elif isinstance(value, BaseModel):
        parts = value.__dict__.items()
    else:
        return False
    plan: Plan = {}
    for key, part in parts:
        if id(part) in clean:  # most of a result's criteria: shared, looked through before
            continue
        found = _plan(part, clean)
        if found is not False:
            plan[key] = found
    if not plan and isinstance(value, BaseModel):
        clean[id(value)] = value
    return plan or False


def _with_id(value: Any, plan: Plan | None, pid: str) -> Any:
    """``value`` with the token replaced by ``pid`` where ``plan`` says, copied along the way only (results are
    never mutated: the rest is shared)."""
    if plan is None:
        return value.replace(_TOKEN, pid)
    if type(value) is list:
        items = list(value)
        for index, part in plan.items():
            items[index] = _with_id(items[index], part, pid)
        return items
    fields = dict(value.__dict__)
    for name, part in plan.items():
        fields[name] = _with_id(fields[name], part, pid)
    swapped = object.__new__(type(value))
    object.__setattr__(swapped, "__dict__", fields)
    for name in ("__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"):
        object.__setattr__(swapped, name, getattr(value, name))
    return swapped


@dataclasses.dataclass(frozen=True)
class _Template:
    """A result evaluated under :data:`_TOKEN`, with where the token is in it."""

    result: PatientResult
    plan: Plan | Literal[False] | None

    def for_patient(self, pid: str) -> PatientResult:
        if self.plan is False:  # pragma: no cover - every result names its patient
            return self.result
        return cast(PatientResult, _with_id(self.result, self.plan, pid))


Scope = tuple[frozenset[str], frozenset[str]]
"""The snapshot's types fetched and complete (the same for a whole population)."""


class EarlyMemo:
    """Results of ``evaluate(snapshot)`` for snapshots holding only a Patient, per value of the fields read.

    A value seen for the first time is evaluated plainly (noted, not remembered: most values of a field like the
    birth date come once in a population of thousands, and remembering costs about a third of an evaluation);
    the second time, its result is remembered, and given from the third on."""

    def __init__(self, evaluate: Callable[[PatientSnapshot], PatientResult | None]) -> None:
        self.evaluate = evaluate
        self._by_fields: dict[tuple[str, ...], dict[tuple[Scope, tuple[object, ...]], _Template | None]] = {}
        self._seen: set[tuple[tuple[str, ...], Scope, tuple[object, ...]]] = set()
        self._size = 0
        self._clean: dict[int, object] = {}
        self.hits = 0

    def result(self, snapshot: PatientSnapshot) -> PatientResult | None:
        """``evaluate(snapshot)``, remembered when the snapshot holds nothing but the Patient."""
        resource = snapshot.patient_resource
        if (not MAX_TEMPLATES or resource is None or not snapshot.holds_only_patient()
                or not _usable_id(snapshot.patient_id)):
            return self.evaluate(snapshot)
        scope = (snapshot.fetched, snapshot.complete_types)
        again = not self._by_fields  # nothing known of the fields read yet: learn them
        for fields, known in self._by_fields.items():
            key = _value_key(resource, fields)
            if key is None:
                continue
            if (scope, key) in known:
                self.hits += 1
                return _for_patient(known[(scope, key)], snapshot.patient_id)
            seen = (fields, scope, key)
            if seen in self._seen:
                again = True
            elif len(self._seen) < _MAX_SEEN:
                self._seen.add(seen)
        return self._learn(snapshot, resource, scope) if again else self.evaluate(snapshot)

    def _learn(self, snapshot: PatientSnapshot, resource: dict[str, Any], scope: Scope) -> PatientResult | None:
        """Evaluate the patient under :data:`_TOKEN` with its reads noted; remember the result if it may be."""
        fields = _ReadFields(resource)
        stand_in = copy.copy(snapshot)  # the same kind of snapshot, with the token for the patient
        stand_in.patient_id, stand_in.patient_resource = _TOKEN, cast(dict[str, Any], fields)
        stand_in.missed = set()
        found = self.evaluate(stand_in)
        snapshot.missed |= stand_in.missed
        template = None if found is None else _Template(found, _plan(found, self._clean))
        read = tuple(dict.fromkeys(fields.read))
        key = _value_key(resource, read)
        if not fields.whole and key is not None and self._size < MAX_TEMPLATES:
            self._by_fields.setdefault(read, {})[(scope, key)] = template
            self._size += 1
        return _for_patient(template, snapshot.patient_id)


def _for_patient(template: _Template | None, pid: str) -> PatientResult | None:
    return None if template is None else template.for_patient(pid)
