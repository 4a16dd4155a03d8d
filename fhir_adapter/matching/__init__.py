"""Patient matching: evaluate compiled eligibility criteria against patient records, three-valued and explained.

Public API (stable; the screening command and reports build on it):

* :func:`evaluate_patient` ``(atoms, data, patient_id, *, as_of, options=None) -> PatientResult`` —
  one patient; raises :class:`~fhir_adapter.errors.InputError` when the source has no such patient.
* :class:`Matcher` ``(atoms, *, as_of, options=None)`` with ``.evaluate(data, patient_id) -> PatientResult``
  — the same for many patients (atom plans built once; use it for population screening).
* :func:`evaluate_atom` ``(atom, data, patient_id, ctx: EvalContext) -> AtomResult`` — one atom.
* ``fhir_adapter.matching.screen.screen`` ``(criteria, source, *, as_of, limit=None, ...)`` — a population,
  ranked (not re-exported here, so the submodule name stays importable);
  :func:`screen_server` / :func:`ascreen_server` over a FHIR server (pre-filter, one batch per candidate);
  :class:`ServerData` / :class:`AsyncServerData`, :class:`Checkpoint`, :func:`render_html`,
  :func:`candidates_bundle` (ResearchSubject candidates + Group for ``push``).
* :class:`LocalData` ``(*paths, strict=True)`` — NDJSON / Bundle files as a :class:`PatientData` source.
* :class:`PatientData` — the data-source protocol (``patient``, ``resources``, ``patient_ids``,
  ``resolve``); :class:`MatchOptions` (``recency_days``); result models :class:`AtomResult`,
  :class:`PatientResult`, :class:`ScreenResult`, :class:`Evidence` with their JSON ``contract()``.

Outcomes per atom: ``met`` / ``not-met`` / ``unknown`` (computable) and ``review`` (not computable).
Verdicts: ``eligible`` / ``ineligible`` / ``needs-review`` (rules in :mod:`fhir_adapter.matching.verdict`;
evaluation rules in :mod:`fhir_adapter.matching.evaluate`).
"""

from fhir_adapter.matching.checkpoint import Checkpoint
from fhir_adapter.matching.emit import candidates_bundle
from fhir_adapter.matching.evaluate import EvalContext, Matcher, evaluate_atom, evaluate_patient
from fhir_adapter.matching.local import LocalData
from fhir_adapter.matching.model import (
    AtomOutcome,
    AtomResult,
    Evidence,
    MatchOptions,
    PatientData,
    PatientResult,
    ScreenResult,
    Verdict,
)
from fhir_adapter.matching.report import render_html
from fhir_adapter.matching.screen import ascreen_server, screen_server
from fhir_adapter.matching.server import AsyncServerData, ServerData

__all__ = [
    "AsyncServerData",
    "AtomOutcome",
    "AtomResult",
    "Checkpoint",
    "EvalContext",
    "Evidence",
    "LocalData",
    "MatchOptions",
    "Matcher",
    "PatientData",
    "PatientResult",
    "ScreenResult",
    "ServerData",
    "Verdict",
    "ascreen_server",
    "candidates_bundle",
    "evaluate_atom",
    "evaluate_patient",
    "render_html",
    "screen_server",
]
