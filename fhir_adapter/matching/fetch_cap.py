"""The cap on one patient's data fetched from a FHIR server.

A server holding a million Observations for one patient would make a screening take gigabytes for that patient
alone. The fetch counts entries page by page (:class:`EntryBudget`) and stops at the page that crosses the cap with
:class:`PatientDataLimit`; screening reports that patient needs-review with the reason (:func:`over_cap_result`):
a verdict on part of a record would pretend the rest does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from fhir_adapter.criteria.model import Atom
from fhir_adapter.errors import FhirServerError
from fhir_adapter.matching.model import AtomResult, PatientResult

DEFAULT_MAX_PATIENT_ENTRIES = 100_000
"""Entries fetched for one patient at most (about 300 MB of typical Observations)."""
_max_entries: ContextVar[int] = ContextVar("max_patient_entries", default=DEFAULT_MAX_PATIENT_ENTRIES)


@contextmanager
def patient_entry_cap(limit: int) -> Iterator[None]:
    """Within the block, server sources made without an explicit cap stop one patient's fetch past ``limit``."""
    token = _max_entries.set(limit)
    try:
        yield
    finally:
        _max_entries.reset(token)


class PatientDataLimit(FhirServerError):
    """One patient's data on the server is larger than the cap: that patient is not judged on part of it."""


@dataclass
class EntryBudget:
    """The entries one patient's fetch may still take; counted page by page, before the page is kept."""

    limit: int
    taken: int = 0

    def take(self, count: int, what: str) -> None:
        self.taken += count
        if self.taken > self.limit:
            raise PatientDataLimit(
                f"the server holds more than {self.limit:,} entries for one patient (at {what}); not judged on part "
                "of the record: review by hand or raise --max-patient-entries", field="max-patient-entries",
            )


def over_cap_result(atoms: Sequence[Atom], patient_id: str, reason: str) -> PatientResult:
    """The needs-review result of a patient whose data passed the cap: every criterion not evaluated, the reason
    said once as the verdict's reason and as the item to obtain."""
    criteria = [
        AtomResult(id=a.id, result="unknown" if a.computable else "review", reason=f"not evaluated: {reason}")
        for a in atoms
    ]
    return PatientResult(
        patient=f"Patient/{patient_id}", verdict="needs-review", reason=reason, reason_code="needs-review",
        open_items=[reason], to_confirm=[c.id for c in criteria if c.result == "review"], criteria=criteria,
    )


def current_cap() -> int:
    """The cap in effect (:func:`patient_entry_cap`, else :data:`DEFAULT_MAX_PATIENT_ENTRIES`)."""
    return _max_entries.get()
