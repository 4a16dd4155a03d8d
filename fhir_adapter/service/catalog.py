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
from fhir_adapter.errors import FhirAdapterError, FhirServerError, InputError
from fhir_adapter.fhir.client import FhirClient
from fhir_adapter.ingest import iter_trials
from fhir_adapter.mapping.canonical import IDENTIFIER_SYSTEM
from fhir_adapter.mappings import load_table
from fhir_adapter.matching.evaluate import EvalContext, Matcher
from fhir_adapter.matching.model import MatchOptions
from fhir_adapter.matching.retrieval import needed_types, observation_codes
from fhir_adapter.service.policy import has_index, registry_atoms
from fhir_adapter.service.server_trials import server_trials
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
    registry: list[Atom] = field(default_factory=list)
    """For a trial without an index condition: its registry conditions as ``present`` Condition atoms (the
    anchors of :mod:`fhir_adapter.service.policy`)."""

    @property
    def index(self) -> bool:
        """Whether the criteria carry an index condition (the evaluator decides the diagnosis closed-world)."""
        return has_index(self.criteria.atoms)

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
    _anchors: dict[str, Matcher] = field(default_factory=dict)
    _day: date | None = None

    def matchers(self, today: date) -> dict[str, Matcher]:
        self._rebuild(today)
        return self._matchers

    def anchor_matchers(self, today: date) -> dict[str, Matcher]:
        """Matchers of the registry-condition atoms, for the trials that have them."""
        self._rebuild(today)
        return self._anchors

    def _rebuild(self, today: date) -> None:
        if self._day != today:
            options = MatchOptions()
            self._matchers = {t.id: Matcher(t.criteria.atoms, as_of=today, options=options) for t in self.trials}
            self._anchors = {t.id: Matcher(t.registry, as_of=today, options=options) for t in self.trials if t.registry}
            self._day = today

    @property
    def atoms(self) -> list[Atom]:
        """Every atom the service evaluates (the criteria and the registry-condition anchors)."""
        return [a for t in self.trials for a in (*t.criteria.atoms, *t.registry)]

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


def compiled(record: TrialRecord) -> Trial:
    criteria = compile_criteria(record)
    return Trial(record, criteria, registry_atoms(record, criteria.atoms))


def build_catalog(
    found: Iterable[TrialRecord | FhirAdapterError], *, active_only: bool = True, skipped: Iterable[str] = ()
) -> tuple[list[Trial], list[str]]:
    """The compiled active trials of ``found``, and one line per input not used (``skipped`` first)."""
    trials: list[Trial] = []
    lines = list(skipped)
    for item in found:
        if isinstance(item, FhirAdapterError):
            lines.append(item.one_line())
        elif active_only and not _active(item):
            lines.append(f"{item.label}: not recruiting ({item.overall_status})")
        else:
            trials.append(compiled(item))
    return trials, lines


def load_catalog(paths: Iterable[str | Path], *, active_only: bool = True) -> Catalog:
    """Every trial record in ``paths`` (files or directories), compiled; bad inputs and inactive trials are listed
    in ``skipped``, never fatal. No trial at all is an :class:`InputError`. ``active_only=False`` keeps trials
    that do not recruit (benchmarks over a registry sample)."""
    paths = list(paths)
    trials, skipped = build_catalog((r for p in paths for r in iter_trials(p)), active_only=active_only)
    if not trials:
        raise InputError("no active trial to match against", source=", ".join(str(p) for p in paths))
    return Catalog(trials, skipped)


def load_server_catalog(client: FhirClient, *, active_only: bool = True) -> Catalog:
    """The active trials this tool pushed to ``client``'s FHIR server, compiled again from the eligibility text
    the server holds (:mod:`fhir_adapter.service.server_trials`). No study, or no active one, is an
    :class:`InputError` naming the server."""
    try:
        found = server_trials(client, active_only=active_only)
    except FhirServerError as exc:
        raise FhirServerError(
            f"loading the trials (ResearchStudy search): {exc.message}", source=exc.source, field=exc.field,
            status_code=exc.status_code,
        ) from None
    if found.ours == 0:
        what = f"{found.studies} ResearchStudy resources, none" if found.studies else "no ResearchStudy"
        raise InputError(
            f"{what} pushed by fhir-adapter (identifier system {IDENTIFIER_SYSTEM}); push the trials first",
            source=client.base_url,
        )
    trials, skipped = build_catalog(found.records, active_only=active_only, skipped=found.skipped)
    if not trials:
        raise InputError(
            f"no active trial among the {found.ours} ResearchStudy resources pushed by fhir-adapter "
            "(registry-overall-status)", source=client.base_url,
        )
    return Catalog(trials, skipped)
