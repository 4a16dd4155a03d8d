"""Screening results kept on disk, so that a screen's memory does not grow with its population.

A population screen ranks every patient's result at the end. Held in memory, a result is about 4.6 KB
(a million patients: 4.6 GB). :class:`ResultStore` holds the first :data:`SPILL_AFTER` results in memory (a
small population needs no file); beyond that every result goes to a :class:`SpilledPatients`:

* the result itself, as one line of JSON (the criterion results many patients share written once, in memory:
  :class:`Codec`), appended to an anonymous temporary file (unlinked at creation: nothing is left behind,
  even by a killed process);
* its rank key (verdict rank, open items, reviews, patient id: :func:`rank_key`), its verdict and reason code,
  and where its JSON is in the file, as one row of a private temporary SQLite database, which sorts on disk.

:meth:`SpilledPatients.freeze` ranks the rows once (an on-disk sort); the result is then a read-only
``Sequence[PatientResult]`` in rank order that every report writer iterates like a list, each patient read
from the file when it is reached. Counting verdicts and picking the candidates need no file read
(:func:`count_by`, :func:`with_verdicts`).

Both files go to ``$TMPDIR`` (else ``/var/tmp`` for SQLite and ``/tmp`` for the results): about 0.7 KB of results
and 0.1 KB of keys per patient (a million patients: under 1 GB).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import weakref
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import IO, Any, Literal, NamedTuple, overload

from pydantic_core import to_json

from fhir_adapter.matching.model import AtomResult, PatientResult

SPILL_AFTER = 5_000
"""Results a screen keeps in memory (about 23 MB); from the next one on, all of them are spilled to disk. Read
when a screen starts (tests lower it)."""

_RANK = {"eligible": 0, "needs-review": 1, "ineligible": 2}
_RESULT_FIELDS = PatientResult.model_fields.keys()
_HEAD_FIELDS = tuple(name for name in PatientResult.model_fields if name != "criteria")
"""A result's fields but its criteria, in the order ``model_dump`` gives them (texts and lists of texts)."""
_BATCH = 1_000
_READ_ROWS = 1_000
Tallied = Literal["verdict", "reason_code"]


def rank_key(result: PatientResult) -> tuple[int, int, int, str]:
    """(verdict rank, open items, reviews, patient): fewest open items first among needs-review."""
    if result.verdict != "needs-review":
        return (_RANK[result.verdict], 0, 0, result.patient)
    review = sum(1 for c in result.criteria if c.result == "review")
    return (_RANK[result.verdict], len(result.open_items), review, result.patient)


def rank(results: Iterable[PatientResult]) -> list[PatientResult]:
    return sorted(results, key=rank_key)


class EncodedResult(NamedTuple):
    """A result as a codec wrote it (a worker process's), with what ranking and counting need: what a worker
    hands back instead of the object, which costs more to pickle than to evaluate."""

    patient: str
    """``Patient/<id>``."""
    key: tuple[int, int, int, str]
    """:func:`rank_key`."""
    verdict: str
    reason_code: str
    body: bytes
    shared: dict[int, dict[str, Any]] | None = None
    """Shared criterion results the codec started using since its last result (see :meth:`Codec.drain`)."""


class Codec:
    """A result as one line of JSON, and back (``json``: the same values, ``NaN`` included). The criterion results
    without evidence that many patients share ("not evaluated: not a candidate", "no record of <condition>...")
    are written once, in memory, and by their number in each line: a non-candidate's line is a few hundred bytes.
    At most ``limit`` of them are kept (later ones are written out in full).

    Numbers start at ``base``: each worker process encodes with a base of its own, so the screen's codec can
    :meth:`learn` the shared results of every worker and decode all their lines."""

    def __init__(self, limit: int = 4_096, base: int = 0) -> None:
        self.limit = limit
        self.base = base
        self._index: dict[tuple[str, str, str, str | None, str | None], int] = {}
        self._shared: dict[int, AtomResult] = {}
        self._own = 0
        self._kept: dict[int, int] = {}
        self._undrained: list[int] = []

    def encode(self, result: PatientResult) -> bytes:
        values = result.__dict__
        if values.keys() == _RESULT_FIELDS:  # every field set (a result is never mutated): model_dump's dict
            head = {name: values[name] for name in _HEAD_FIELDS}
        else:  # pragma: no cover - results are built with every field
            head = result.model_dump(exclude={"criteria"})
        criteria = result.criteria
        # the evaluator's own shared results, most of a population's: looked up in C, the few others one by one
        numbers: list[Any] = list(map(self._kept.get, map(id, criteria)))
        position = -1
        for _ in range(numbers.count(None)):
            position = numbers.index(None, position + 1)
            numbers[position] = self._criterion(criteria[position])
        head["criteria"] = numbers
        # pydantic's JSON writer: the text json.dumps(ensure_ascii=False) gives but for how numbers are spelt (the
        # same values back, NaN included), in half the time; an AtomResult is written as its model_dump
        return to_json(head, inf_nan_mode="constants")

    def encoded(self, result: PatientResult) -> EncodedResult:
        """The result encoded, with the shared results it introduced (:meth:`drain`)."""
        body = self.encode(result)
        return EncodedResult(result.patient, rank_key(result), result.verdict, result.reason_code, body, self.drain())

    def _criterion(self, criterion: AtomResult) -> int | AtomResult:
        found = self._kept.get(id(criterion))  # the evaluator's own shared results: one lookup
        if found is not None:
            return found
        if not criterion.evidence:
            key = (criterion.id, criterion.result, criterion.reason, criterion.label, criterion.need)
            found = self._index.get(key)
            if found is None and self._own < self.limit:
                found = self._index[key] = self.base + self._own
                self._own += 1
                self._shared[found] = criterion
                self._undrained.append(found)
                self._kept[id(criterion)] = found  # kept alive in _shared: its id() names it for good
            if found is not None:
                return found
        return criterion

    def drain(self) -> dict[int, dict[str, Any]] | None:
        """The shared results numbered since the last call (None if none), for another codec to :meth:`learn`."""
        if not self._undrained:
            return None
        found = {n: self._shared[n].model_dump() for n in self._undrained}
        self._undrained = []
        return found

    def learn(self, shared: dict[int, dict[str, Any]]) -> None:
        """Decode the numbers another codec (a worker's, another ``base``) gave these shared results."""
        for number, criterion in shared.items():
            self._shared[number] = AtomResult.model_validate(criterion)

    def decode(self, body: bytes) -> PatientResult:
        fields = json.loads(body)
        fields["criteria"] = [
            self._shared[c] if isinstance(c, int) else AtomResult.model_validate(c) for c in fields["criteria"]
        ]
        return PatientResult.model_validate(fields)


class SpilledPatients(Sequence[PatientResult]):
    """Patients' results on disk: :meth:`add` them in any order, :meth:`freeze`, then read them in rank order.

    A later :meth:`add` of the same patient replaces the earlier one (as a dict keyed by patient would).
    Equality is identity: compare contracts, not spills.
    """

    def __init__(self, codec: Codec | None = None) -> None:
        """``codec``: the one that decodes the lines :meth:`add_encoded` brings (the screen's)."""
        self._file = tempfile.TemporaryFile(prefix="fhir-adapter-screen-")  # noqa: SIM115 - lives with the object
        self._size = 0
        self._db = sqlite3.connect("", check_same_thread=False)  # "": a private temporary database on disk
        self._db.execute(
            "CREATE TABLE keys (pid TEXT PRIMARY KEY, r INTEGER, o INTEGER, v INTEGER, verdict TEXT, "
            "reason TEXT, pos INTEGER, len INTEGER)"
        )
        self._codec = codec or Codec()
        self._pending: list[tuple[str, int, int, int, str, str, int, int]] = []
        self.added = 0
        """Results added (before :meth:`freeze`; ``len()`` after it counts each patient once)."""
        self._count = 0
        self._frozen = False
        self._release = weakref.finalize(self, _release, self._file, self._db)

    def add(self, result: PatientResult) -> None:
        self._write(rank_key(result), result.verdict, result.reason_code, self._codec.encode(result))

    @property
    def codec(self) -> Codec:
        return self._codec

    def discard(self, patients: Iterable[str]) -> None:
        """Forget the results of these patients (``Patient/<id>``), as if they had never been added."""
        if self._frozen:
            raise RuntimeError("the spilled results are frozen: no patient can be discarded")
        self._flush()
        self._db.executemany("DELETE FROM keys WHERE pid = ?", ((p,) for p in patients))
        row = self._db.execute("SELECT count(*) FROM keys").fetchone()
        self.added = int(row[0]) if row else 0

    def add_encoded(self, result: EncodedResult) -> None:
        """A result a worker encoded (its shared results learnt first): written as it is, never decoded."""
        if result.shared:
            self._codec.learn(result.shared)
        self._write(result.key, result.verdict, result.reason_code, result.body)

    def _write(self, key: tuple[int, int, int, str], verdict: str, reason_code: str, body: bytes) -> None:
        if self._frozen:
            raise RuntimeError("the spilled results are frozen: no patient can be added")
        self._file.write(body)
        r, o, v, pid = key
        self._pending.append((pid, r, o, v, verdict, reason_code, self._size, len(body)))
        self._size += len(body)
        self.added += 1
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._pending)
            self._pending = []

    def freeze(self) -> SpilledPatients:
        """Rank the patients (once); no :meth:`add` afterwards."""
        if not self._frozen:
            self._flush()
            self._file.flush()
            self._db.execute(
                "CREATE TABLE ranked (i INTEGER PRIMARY KEY, verdict TEXT, reason TEXT, pos INTEGER, len INTEGER)"
            )
            self._db.execute(
                "INSERT INTO ranked (verdict, reason, pos, len) SELECT verdict, reason, pos, len FROM keys "
                "ORDER BY r, o, v, pid"  # TEXT compares as UTF-8 bytes: code-point order, as Python's sort
            )
            self._db.execute("DROP TABLE keys")
            row = self._db.execute("SELECT count(*) FROM ranked").fetchone()
            self._count = int(row[0]) if row else 0
            self._frozen = True
        return self

    def __len__(self) -> int:
        self._require_frozen()
        return self._count

    def __iter__(self) -> Iterator[PatientResult]:
        return self._read("SELECT pos, len FROM ranked ORDER BY i")

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> Iterator[PatientResult]:
        self._require_frozen()
        cursor = self._db.execute(sql, parameters)
        descriptor = self._file.fileno()
        while rows := cursor.fetchmany(_READ_ROWS):
            for pos, size in rows:
                yield self._codec.decode(os.pread(descriptor, size, pos))

    @overload
    def __getitem__(self, index: int) -> PatientResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[PatientResult]: ...

    def __getitem__(self, index: int | slice) -> PatientResult | list[PatientResult]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError("patient index out of range")
        return next(self._read("SELECT pos, len FROM ranked WHERE i = ?", (position + 1,)))

    def counts(self, field: Tallied) -> Counter[str]:
        """How many patients have each verdict (or reason code), without reading a result."""
        column = {"verdict": "verdict", "reason_code": "reason"}[field]
        self._require_frozen()
        return Counter({str(k): int(n) for k, n in self._db.execute(
            f"SELECT {column}, count(*) FROM ranked GROUP BY {column}"
        )})

    def with_verdicts(self, verdicts: Collection[str]) -> Iterator[PatientResult]:
        """The patients with one of ``verdicts``, in rank order; only theirs are read."""
        chosen = sorted(set(verdicts))
        marks = ", ".join("?" for _ in chosen)
        return self._read(f"SELECT pos, len FROM ranked WHERE verdict IN ({marks}) ORDER BY i", chosen)

    def _require_frozen(self) -> None:
        if not self._frozen:
            raise RuntimeError("the spilled results are read after freeze()")

    def close(self) -> None:
        """Remove the file and the database now (otherwise when the object is collected)."""
        self._release()


def _release(file: IO[bytes], db: sqlite3.Connection) -> None:
    db.close()
    file.close()


class ResultStore:
    """The finished results of one screen, by patient: in memory up to ``spill_after``, then all on disk."""

    def __init__(self, spill_after: int | None = None) -> None:
        self.spill_after = SPILL_AFTER if spill_after is None else spill_after
        self._memory: dict[str, PatientResult] = {}
        self._spilled: SpilledPatients | None = None
        self.codec = Codec()
        """Decodes what workers encoded (:meth:`add_encoded`) and encodes the spill."""

    @property
    def spilled(self) -> bool:
        return self._spilled is not None

    def add(self, pid: str, result: PatientResult) -> None:
        if self._spilled is not None:
            self._spilled.add(result)
            return
        self._memory[pid] = result
        if len(self._memory) > self.spill_after:
            self._spill()

    def _spill(self) -> None:
        """From now on, every result on disk (those held first included)."""
        self._spilled = SpilledPatients(self.codec)
        for held in self._memory.values():
            self._spilled.add(held)
        self._memory = {}

    def adopt(self, spilled: SpilledPatients) -> None:
        """Hold these results (with their codec) as the spill: for a store that holds none yet."""
        if self._memory or self._spilled is not None:
            raise RuntimeError("only an empty result store adopts spilled results")
        self._spilled, self.codec = spilled, spilled.codec

    def add_encoded(self, pid: str, result: EncodedResult) -> None:
        """A result a worker encoded: to the spill as it is. Workers serve large populations, which spill anyway:
        the spill starts with the first encoded result, rather than decoding thousands to hold them first."""
        if self._spilled is None:
            self._spill()
        assert self._spilled is not None
        self._spilled.add_encoded(result)

    def decode(self, result: EncodedResult) -> PatientResult:
        if result.shared:
            self.codec.learn(result.shared)
        return self.codec.decode(result.body)

    def __len__(self) -> int:
        """Results added so far (for progress; a patient added twice counts twice once spilled)."""
        return len(self._memory) if self._spilled is None else self._spilled.added

    def ranked(self) -> Sequence[PatientResult]:
        """Every result in rank order: a list, or the frozen spill."""
        if self._spilled is None:
            return rank(self._memory.values())
        return self._spilled.freeze()


def count_by(patients: Iterable[PatientResult], field: Tallied) -> Counter[str]:
    """How many patients have each verdict (or reason code); a spill answers without reading its results."""
    if isinstance(patients, SpilledPatients):
        return patients.counts(field)
    return Counter(getattr(p, field) for p in patients)


def with_verdicts(patients: Iterable[PatientResult], verdicts: Collection[str]) -> list[PatientResult]:
    """The patients with one of ``verdicts``, in the given order; a spill reads only theirs."""
    if isinstance(patients, SpilledPatients):
        return list(patients.with_verdicts(verdicts))
    return [p for p in patients if p.verdict in verdicts]
