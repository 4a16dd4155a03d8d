"""What evidence the compiled atoms read, declared once: every data source fetches exactly this.

The FHIR server client turns it into searches (:mod:`fhir_adapter.matching.server`), the CDS Hooks service into
prefetch templates, and the population engines (:mod:`fhir_adapter.engines`) into SQL over NDJSON files. The
verdict rules stay in :mod:`fhir_adapter.matching.evaluate`; a source only has to hand it these resources:

* the Patient;
* Conditions, medications, procedures and allergies whole (the evaluator matches code prefixes, clinical status
  and drug names, which a code filter cannot express; a whole Condition list is also what lets the evaluator
  decide "not a candidate" closed-world);
* Observations restricted to the atoms' codes when every Observation-reading atom has an exact code set, all of
  them otherwise;
* the Medication resources the medication resources reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fhir_adapter.criteria.model import Atom
from fhir_adapter.fhir.search import token_value
from fhir_adapter.matching.record import EvalContext

# Resource types the evaluator reads per atom category (fhir_adapter/matching/measurements.py, findings.py).
TYPES_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "demographic": (),
    "condition": ("Condition",),
    "infection": ("Condition", "Observation"),
    "pregnancy": ("Condition", "Observation"),
    "allergy": ("AllergyIntolerance",),
    "lab": ("Observation",),
    "performance-status": ("Observation",),
    "medication": ("MedicationRequest", "MedicationStatement", "MedicationAdministration"),
    "procedure": ("Procedure",),
    "other": (),
}
MEDICATION_TYPES = frozenset(TYPES_BY_CATEGORY["medication"])
# A code that is safe to look for as a quoted JSON string: JSON writers never escape these characters.
_PLAIN_CODE = re.compile(r"[A-Za-z0-9._:-]+")


def needed_types(atoms: Sequence[Atom]) -> list[str]:
    """The resource types the computable atoms need (besides Patient), in a stable order."""
    found: dict[str, None] = {}
    for atom in atoms:
        if not atom.computable:
            continue
        for rtype in (*TYPES_BY_CATEGORY.get(atom.category, ()), *atom.resource_types):
            if rtype != "Patient":
                found[rtype] = None
    return list(found)


def _reverse_aliases(aliases: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    reverse: dict[str, list[str]] = {}
    for system, targets in aliases.items():
        for target in targets:
            reverse.setdefault(target, []).append(system)
    return reverse


def observation_codes(atoms: Sequence[Atom], context: EvalContext) -> list[str] | None:
    """``system|code`` tokens covering every Observation the atoms can use; None when a code search cannot.

    None when an Observation-reading atom matches code prefixes or has no code at all.
    """
    reverse = _reverse_aliases(context.config.system_aliases)
    tokens: dict[str, None] = {}
    for atom in atoms:
        if not atom.computable or "Observation" not in TYPES_BY_CATEGORY.get(atom.category, ()):
            continue
        plan = context.plan(atom)
        if plan.codes.prefixes or plan.answer_codes.prefixes or plan.codes.dotted:
            return None
        pairs = plan.codes.exact | plan.answer_codes.exact
        if not pairs:
            return None
        for system, code in sorted(pairs):
            for spelled in (system, *reverse.get(system, ())):
                tokens[token_value(spelled, code)] = None
    return list(tokens)


@dataclass(frozen=True)
class Retrieval:
    """The evidence a trial's atoms read, as data a query engine renders into its own SQL."""

    types: tuple[str, ...]
    """Resource types read for each patient, besides Patient."""
    observation_codes: tuple[str, ...] | None
    """Codes one of which every usable Observation carries as a ``"code"`` value (in ``code``, a component or
    the answer); None: keep all Observations. A cheap superset: the evaluator matches system and code exactly
    afterwards."""
    shared_types: tuple[str, ...]
    """Resources that belong to no patient but are referenced (Medication)."""

    def keeps_all_observations(self) -> bool:
        return self.observation_codes is None


def retrieval_for(atoms: Sequence[Atom], context: EvalContext, *, extra_types: Sequence[str] = ()) -> Retrieval:
    """The :class:`Retrieval` of a trial's atoms (``extra_types``: types the evaluator asked for besides)."""
    types = tuple(dict.fromkeys([*needed_types(atoms), *extra_types]))
    codes: tuple[str, ...] | None = None
    if "Observation" in types:
        tokens = observation_codes(atoms, context)
        found = sorted({token.rpartition("|")[2] for token in tokens}) if tokens else []
        if found and all(_PLAIN_CODE.fullmatch(code) for code in found):
            codes = tuple(found)
    shared = ("Medication",) if MEDICATION_TYPES & set(types) else ()
    return Retrieval(types=types, observation_codes=codes, shared_types=shared)
