"""Eligibility criteria compiler: free text -> atoms -> typed IR -> FHIR queries + FHIRPath.

Public API:

* :func:`compile_criteria` -- a whole :class:`~fhir_adapter.trial.TrialRecord` (free-text criteria
  plus the structured ``age`` and ``sex`` atoms);
* :func:`compile_text` -- criteria text alone (no structured atoms).
"""

from __future__ import annotations

from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria
from fhir_adapter.trial import TrialRecord

__all__ = ["Atom", "Coding", "CompiledCriteria", "compile_criteria", "compile_text"]


def compile_text(text: str, *, trial_id: str = "trial") -> CompiledCriteria:
    """Compile eligibility criteria text (no structured age/sex atoms)."""
    from fhir_adapter.criteria.compile import compile_text as _compile_text

    return _compile_text(text, trial_id=trial_id)


def compile_criteria(trial: TrialRecord) -> CompiledCriteria:
    """Compile a trial's criteria text and its structured eligibility fields (age, sex)."""
    from fhir_adapter.criteria.compile import compile_trial

    return compile_trial(trial)
