"""The trials a CDS Hooks service matches against: loaded and compiled once, with one matcher per trial.

Also the prefetch templates the service advertises: one search per resource type the trials' computable criteria
read (Observations limited to the union of their codes when every trial can say them), with
``{{context.patientId}}``. CDS Hooks 2.0 has no relative-date token, so the templates carry no look-back date:
the evaluator applies each criterion's window itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from fhir_adapter.criteria import compile_criteria
from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.ingest import iter_trials
from fhir_adapter.mappings import load_table
from fhir_adapter.matching.evaluate import EvalContext, Matcher
from fhir_adapter.matching.model import MatchOptions
from fhir_adapter.matching.retrieval import needed_types, observation_codes
from fhir_adapter.trial import TrialRecord

PATIENT_TOKEN = "{{context.patientId}}"


@cache
def settings() -> dict[str, Any]:
    """``mappings/cds_hooks.yaml``."""
    return load_table("cds_hooks")


@dataclass
class Trial:
    record: TrialRecord
    criteria: CompiledCriteria

    @property
    def id(self) -> str:
        return self.criteria.trial

    @property
    def title(self) -> str:
        return self.record.brief_title or self.record.official_title or self.id


@dataclass
class Catalog:
    """The active trials and their matchers (rebuilt when the date changes, so "as of" is always today)."""

    trials: list[Trial]
    skipped: list[str] = field(default_factory=list)
    """One line per input that was not loaded (bad file, inactive trial)."""
    _matchers: dict[str, Matcher] = field(default_factory=dict)
    _day: date | None = None

    def matchers(self, today: date) -> dict[str, Matcher]:
        if self._day != today:
            options = MatchOptions()
            self._matchers = {t.id: Matcher(t.criteria.atoms, as_of=today, options=options) for t in self.trials}
            self._day = today
        return self._matchers

    @property
    def atoms(self) -> list[Atom]:
        return [a for t in self.trials for a in t.criteria.atoms]

    def prefetch(self) -> dict[str, str]:
        """The prefetch templates: ``patient`` and one search per resource type the trials read."""
        templates = {"patient": f"Patient/{PATIENT_TOKEN}"}
        atoms = self.atoms
        codes = observation_codes(atoms, EvalContext(as_of=date.today()))
        for resource_type in needed_types(atoms):
            query = f"{resource_type}?patient={PATIENT_TOKEN}"
            if resource_type == "Observation" and codes:
                query += "&code=" + ",".join(codes)
            templates[prefetch_key(resource_type)] = query
        return templates


def prefetch_key(resource_type: str) -> str:
    """``Condition`` -> ``conditions``: the prefetch key of a type's search."""
    return resource_type[:1].lower() + resource_type[1:] + "s"


def _active(record: TrialRecord) -> bool:
    return record.overall_status is None or record.overall_status in settings()["active_statuses"]


def load_catalog(paths: Iterable[str | Path], *, active_only: bool = True) -> Catalog:
    """Every trial record in ``paths`` (files or directories), compiled; bad inputs and inactive trials are listed
    in ``skipped``, never fatal. No trial at all is an :class:`InputError`. ``active_only=False`` keeps trials
    that do not recruit (benchmarks over a registry sample)."""
    trials: list[Trial] = []
    skipped: list[str] = []
    for path in paths:
        for found in iter_trials(path):
            if isinstance(found, FhirAdapterError):
                skipped.append(found.one_line())
            elif active_only and not _active(found):
                skipped.append(f"{found.label}: not recruiting ({found.overall_status})")
            else:
                trials.append(Trial(found, compile_criteria(found)))
    if not trials:
        raise InputError("no active trial to match against", source=", ".join(str(p) for p in paths))
    return Catalog(trials, skipped)
