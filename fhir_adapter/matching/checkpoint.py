"""A resumable screening: finished patient results appended as JSON lines.

Each line is ``{"trial", "as_of", "criteria", "patient", "result"}``; ``criteria`` is a digest of the
compiled atoms, so a checkpoint written for other criteria (or another trial or date) is never reused.
A line cut short by an interruption is ignored. Lines of other runs stay in the file untouched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from fhir_adapter.criteria.model import Atom
from fhir_adapter.errors import InputError
from fhir_adapter.matching.model import PatientResult


def criteria_digest(atoms: Sequence[Atom]) -> str:
    """A short, stable digest of the atoms (any change to them gives another digest)."""
    payload = json.dumps([a.model_dump(mode="json") for a in atoms], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


class Checkpoint:
    """Finished results of one (trial, as-of date, criteria) screening, backed by a JSON-lines file.

    Only where each finished patient's line is (its byte offset) is held in memory, never the results: a
    resumed million-patient screen reads them back one by one (:meth:`result`, :meth:`results`) into the
    screen's results, which spill to disk. Use as a context manager, or call :meth:`close` at the end.
    """

    def __init__(self, path: str | Path, *, trial: str, as_of: date, atoms: Sequence[Atom]) -> None:
        self.path = Path(path)
        self.trial = trial
        self.as_of = as_of.isoformat()
        self.digest = criteria_digest(atoms)
        self._offsets: dict[str, int] = self._load()
        self._handle: IO[bytes] | None = None
        self._reader: IO[bytes] | None = None
        self._size = 0

    # -- reading -----------------------------------------------------------------------------------------

    def _key_matches(self, line: dict[str, Any]) -> bool:
        return (
            line.get("trial") == self.trial and line.get("as_of") == self.as_of and line.get("criteria") == self.digest
        )

    def _load(self) -> dict[str, int]:
        """Each finished patient's last valid line (its offset); every line is checked, none is kept."""
        if not self.path.exists():
            return {}
        offsets: dict[str, int] = {}
        offset = 0
        try:
            with self.path.open("rb") as handle:
                for raw in handle:
                    result = self._parse(raw.decode("utf-8"))
                    if result is not None:
                        offsets[result.patient] = offset
                    offset += len(raw)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read checkpoint: {exc}", source=str(self.path)) from exc
        return offsets

    def _parse(self, raw: str) -> PatientResult | None:
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            return None  # a line cut short by an interruption
        if not isinstance(line, dict) or not self._key_matches(line):
            return None
        try:
            return PatientResult.model_validate(line.get("result"))
        except ValidationError:
            return None

    def result(self, patient_ref: str) -> PatientResult | None:
        """The finished result of ``Patient/<id>`` (read from the file), or None."""
        offset = self._offsets.get(patient_ref)
        if offset is None:
            return None
        if self._handle is not None:
            self._handle.flush()
        if self._reader is None:
            self._reader = self.path.open("rb")
        self._reader.seek(offset)
        return self._parse(self._reader.readline().decode("utf-8"))

    def results(self) -> Iterator[PatientResult]:
        """Every finished result, one at a time, by patient."""
        for patient_ref in sorted(self._offsets):
            found = self.result(patient_ref)
            if found is not None:
                yield found

    def done(self) -> dict[str, PatientResult]:
        """Results already finished, keyed by ``Patient/<id>`` (all in memory: :meth:`results` streams them)."""
        return {r.patient: r for r in self.results()}

    def is_done(self, patient_ref: str) -> bool:
        return patient_ref in self._offsets

    def __len__(self) -> int:
        return len(self._offsets)

    # -- writing -----------------------------------------------------------------------------------------

    def _ends_mid_line(self) -> bool:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        with self.path.open("rb") as handle:
            handle.seek(-1, 2)
            return handle.read(1) != b"\n"

    def record(self, result: PatientResult) -> None:
        """Append one finished result (flushed at once, so an interruption loses at most this line)."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut_short = self._ends_mid_line()
            self._handle = self.path.open("ab")
            if cut_short:
                self._handle.write(b"\n")  # a previous run stopped mid-line
            self._handle.flush()
            self._size = self.path.stat().st_size
        line = {
            "trial": self.trial,
            "as_of": self.as_of,
            "criteria": self.digest,
            "patient": result.patient,
            "result": result.model_dump(mode="json"),
        }
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        self._handle.write(data)
        self._handle.flush()
        self._offsets[result.patient] = self._size
        self._size += len(data)

    def close(self) -> None:
        for handle in (self._handle, self._reader):
            if handle is not None:
                handle.close()
        self._handle = self._reader = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
