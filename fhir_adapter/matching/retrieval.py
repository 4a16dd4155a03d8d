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

:func:`narrowed_evidence` declares less, for the few atoms that decide most patients (age, sex, the index
condition): the types the evaluator looks resources up in by code (:meth:`PatientRecord.find`) cut to the lines
that carry one of those codes. A population engine screens every patient on that first, and reads the rest only
for the patients those atoms do not settle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fhir_adapter.criteria.model import Atom
from fhir_adapter.fhir.search import token_value
from fhir_adapter.matching.record import CodeSet, EvalContext

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


FOUND_BY_CODE = frozenset({"Condition", "Observation", "Procedure", "AllergyIntolerance", "Immunization"})
"""Types the evaluator reads only through :meth:`~fhir_adapter.matching.record.PatientRecord.find`, by a code set
(medications are also matched by drug name, so they are not among them)."""


def atom_code_sets(atom: Atom, context: EvalContext) -> list[CodeSet]:
    """Every code set the evaluator may look resources up by for ``atom``: its plan's (codes, site codes, coded
    answers) and those of the narrower kinds its residues name (``evaluate._narrower_kind``: their codes alone)."""
    plan = context.plan(atom)
    found = [plan.codes, plan.site_codes, plan.answer_codes]
    found += [CodeSet(frozenset((c.system, c.code) for c in r.codes)) for r in atom.residues if r.codes]
    return [codes for codes in found if codes]


def code_set_pattern(code_sets: Sequence[CodeSet]) -> str | None:
    r"""One regular expression (RE2 and Java alike) found in every JSON line holding a coding that one of
    ``code_sets`` matches, whatever its system: ``"code": "<code>"`` for an exact code, ``"code": "<prefix>`` for
    a code prefix, ``"code": "<code>.`` for a dotted sub-code. None when a code is not plain (a JSON writer might
    escape it) or there is none."""
    exact: set[str] = set()
    starts: set[str] = set()
    for codes in code_sets:
        codes_here = [code for _system, code in codes.exact]
        prefixes = [prefix for _system, prefix in codes.prefixes]
        if not all(_PLAIN_CODE.fullmatch(c) for c in codes_here) or not all(_PLAIN_CODE.fullmatch(p) for p in prefixes):
            return None
        exact.update(codes_here)
        starts.update(re.escape(code) + r"\." for code in codes_here if codes.dotted)
        starts.update(re.escape(prefix) for prefix in prefixes)
    alternatives = sorted(starts)
    if exact:
        alternatives.insert(0, "(?:" + "|".join(re.escape(code) for code in sorted(exact)) + ')"')
    if not alternatives:
        return None
    return r'"code"\s*:\s*"(?:' + "|".join(alternatives) + ")"


@dataclass(frozen=True)
class NarrowedEvidence:
    """The evidence a few atoms read (a population's decisive atoms): their types, and for the types read only
    by code (:data:`FOUND_BY_CODE`) the code sets they are read by. A line of such a type without any of the
    codes cannot change those atoms' results; :class:`~fhir_adapter.matching.record.PatientRecord` checks, for a
    snapshot that declares its types cut so, that every look-up uses one of these sets (:class:`FilteredOut`)."""

    types: tuple[str, ...]
    code_sets: dict[str, frozenset[CodeSet]]

    def pattern(self, resource_type: str) -> str | None:
        """The lines of the type to keep (:func:`code_set_pattern`); None: all of them."""
        sets = self.code_sets.get(resource_type)
        return code_set_pattern(sorted(sets, key=repr)) if sets else None


def narrowed_evidence(atoms: Sequence[Atom], context: EvalContext) -> NarrowedEvidence:
    """:class:`NarrowedEvidence` of ``atoms`` (computable ones; a type some atom reads otherwise than by code, or
    with a code no pattern can hold, is kept whole)."""
    types = needed_types(atoms)
    sets: dict[str, set[CodeSet]] = {t: set() for t in types if t in FOUND_BY_CODE}
    for atom in atoms:
        if not atom.computable or atom.category == "demographic":
            continue
        for rtype in set(sets) & {*TYPES_BY_CATEGORY.get(atom.category, ()), *atom.resource_types}:
            sets[rtype].update(atom_code_sets(atom, context))
    kept = {t: frozenset(found) for t, found in sets.items() if found and code_set_pattern(list(found)) is not None}
    return NarrowedEvidence(types=tuple(types), code_sets=kept)
