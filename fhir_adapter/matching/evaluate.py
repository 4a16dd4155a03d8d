"""Evaluating compiled criteria atoms against one patient's record: three-valued and explained.

Each computable atom answers ``met``, ``not-met`` or ``unknown`` with evidence (resource references,
the value and unit used after normalisation, dates) and a one-line reason; a non-computable atom
answers ``review`` ("not evaluated: <reason>"). Evaluation is a pure function of the atom, the data
the source returns for the patient, ``as_of`` and the options: no I/O besides the data source.

Rules (the knowledge — status code sets, recency defaults, positive answers — is in
``mappings/matching.yaml`` and the lexicon):

* **Labs, performance status**: the most recent Observation of the concept's codes dated on or
  before ``as_of`` (``effectiveDateTime`` / ``effectivePeriod.start`` / ``issued``) with a value; if it
  is older than the recency window (atom ``within_days``, else ``MatchOptions.recency_days``, else the
  category default, 90 days) the answer is ``unknown``. Values are converted to the atom's unit with
  :func:`fhir_adapter.units.convert`; an unconvertible unit gives ``unknown``. ULN/LLN multiples use
  the Observation's own ``referenceRange.high``/``low`` (converted to the value's unit); no reference
  range gives ``unknown`` (never a guessed normal range). Exactly the threshold with ``ge``/``le`` is
  ``met``. ECOG may be valueInteger, valueQuantity, a coded answer (LOINC LA codes, SNOMED findings via
  the concept's answers), or an Observation whose *code* is an ECOG grade finding.
* **Conditions** (condition, infection, pregnancy): a Condition counts when a coding matches the
  concept, its clinicalStatus is active/recurrence/relapse (or absent, and not abated by ``as_of``)
  and its verificationStatus is not refuted/entered-in-error (unconfirmed/provisional/differential
  count only for "suspected"). Resolved/inactive/remission Conditions count only for the
  "history"/"prior" qualifiers. Onsets after ``as_of`` are ignored. ``within_days``: only Conditions whose
  onset or recorded date lies in the window count (the compiler dates a windowed finding as an event, "prior",
  unless its words ask for an active one); one recorded with neither date, or dated before the window and
  still active, gives ``unknown`` (present in the window, or a stale problem-list entry?). "uncontrolled": a present
  condition gives ``unknown`` (control is not coded). Histology concepts (``site_codings`` +
  ``morphology_codings``) are met by the concept's own codes, or a site code plus the mCODE
  histology-morphology-behavior extension with a matching morphology; a site code alone gives
  ``unknown`` ("diagnosis code carries no histology"). Pregnancy also counts a positive
  pregnancy-status / hCG Observation within the pregnancy-test window; an "active" pregnancy
  Condition older than ``current_max_days.pregnancy`` is stale (``unknown``).
* **Medications** (MedicationRequest/Statement/Administration, code or contained/referenced
  Medication): a coding matches the concept (ATC prefixes, member concepts), OR — because RxNorm
  product codes (SCD) differ from ingredient codes — the medication text/display contains the name
  or a synonym of the concept's member drugs (or of the drug itself) on word boundaries. Status
  entered-in-error/cancelled etc. are ignored, dates after ``as_of`` are ignored, ``within_days``
  limits the window (a medication whose status says it is still going on, ``current_status``, was used
  within any window, whenever it was ordered); "current" counts only those. For ``systemic_only``
  classes, administrations the lexicon calls non-systemic (topical, inhaled...) do not count.
* **Procedures, allergies**: by code (allergies as conditions for clinical/verification status). An atom's
  exceptions (``excluded_concepts``: "chemotherapy other than capecitabine") never count, for Conditions,
  medications and procedures alike, as the compiled FHIRPath leaves them out.
* **Demographics**: age from ``Patient.birthDate`` at ``as_of`` (exact birthday arithmetic, between
  inclusive), sex from ``Patient.gender``.

Presence semantics (documented choice, pre-screening practice): an exclusion finding that is present
is ``met``; an exclusion with nothing documented is ``not-met`` ("no documented <concept>"). An
inclusion finding (a required diagnosis) with nothing documented is ``unknown`` — the data may live
elsewhere — never ``not-met``. Quantitative atoms (labs, ECOG) with no usable value are ``unknown``
for inclusions and exclusions alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fhir_adapter.criteria.model import Atom, Coding
from fhir_adapter.matching.demographics import age_on, evaluate_demographic, is_sex
from fhir_adapter.matching.findings import evaluate_condition, evaluate_medication, evaluate_procedure
from fhir_adapter.matching.measurements import evaluate_measurement
from fhir_adapter.matching.model import AtomResult, MatchOptions, PatientData, PatientResult, retrieved_completely
from fhir_adapter.matching.record import EvalContext, PatientRecord, atom_result, labelled, parse_date
from fhir_adapter.matching.verdict import decide
from fhir_adapter.words import open_item

__all__ = [
    "EvalContext",
    "Matcher",
    "PatientRecord",
    "age_on",
    "atom_label",
    "closed_world",
    "evaluate_atom",
    "evaluate_patient",
    "parse_date",
]

# -- dispatch ----------------------------------------------------------------------------------------------------


def _with_residues(atom: Atom, result: AtomResult, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    """The result once the atom's residues are taken into account (see :class:`~fhir_adapter.criteria.model.
    Residue`): a decisive result a residue could overturn becomes ``unknown``, naming the residue to confirm."""
    for residue in atom.residues:
        decisive = "met" if residue.effect == "narrows" else "not-met"
        if result.result != decisive:
            continue
        if residue.codes and _narrower_kind(atom, residue.codes, record, ctx).result == decisive:
            continue  # the record names the narrower kind itself: nothing left to confirm
        if residue.has_threshold:
            alternative = atom.model_copy(
                update={
                    "residues": [],
                    "comparator": residue.comparator,
                    "value": residue.value,
                    "high": residue.high,
                    "uln_multiple": residue.uln_multiple,
                    "lln_multiple": residue.lln_multiple,
                }
            )
            if _evaluate_main(alternative, record, ctx).result == decisive:
                continue  # the value is decisive under the residue's own threshold too
        reason = f"{result.reason}; to confirm: {residue.text} ({residue.reason})"
        return atom_result(atom, "unknown", reason, list(result.evidence), need=open_item("residue", text=residue.text))
    return result


def _narrower_kind(atom: Atom, codes: Sequence[Coding], record: PatientRecord, ctx: EvalContext) -> AtomResult:
    """The atom decided on the narrower kind's own codes ("arterial thrombosis" 65198009, not any thrombosis)."""
    narrow = atom.model_copy(
        update={"residues": [], "concepts": list(codes), "excluded_concept_key": None, "excluded_concepts": []}
    )
    return _evaluate_main(narrow.model_copy(update={"concept_key": None}), record, ctx)


def _evaluate(atom: Atom, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    result = _evaluate_main(atom, record, ctx)
    if atom.residues and atom.computable:
        found = "not-met" if atom.comparator == "absent" else "met"  # the result when the finding is recorded
        if result.result != found:
            # a record coded only with the narrower kind (outside the broader concept's codes) is the finding too
            for residue in atom.residues:
                narrow = _narrower_kind(atom, residue.codes, record, ctx) if residue.codes else None
                if narrow is not None and narrow.result == found:
                    result = narrow
                    break
        result = _with_residues(atom, result, record, ctx)
    return result


def atom_label(atom: Atom, ctx: EvalContext) -> str:
    """What the atom is about, for people: its concept's name, ``age``/``sex``, or the start of its text."""
    if atom.computable and atom.category == "demographic":
        return "sex" if is_sex(atom) else "age"
    if atom.computable and atom.concept_key:
        return ctx.plan(atom).label
    text = " ".join(atom.text.split())
    return text if len(text) <= 60 else text[:59].rstrip() + "…"


@dataclass(frozen=True)
class IndexAtoms:
    """The trial's index conditions for :func:`closed_world`: their places among the atoms, and the types whose
    completeness it needs (worked out once per trial, not for each patient)."""

    positions: tuple[int, ...]
    types: frozenset[str]

    @classmethod
    def of(cls, atoms: Sequence[Atom]) -> IndexAtoms:
        positions = tuple(i for i, a in enumerate(atoms) if a.index and a.computable)
        types = {t for i in positions for t in ("Condition", *atoms[i].resource_types)}
        return cls(positions, frozenset(types & {"Condition", "Observation"}))


def closed_world(
    atoms: Sequence[Atom],
    results: list[AtomResult],
    ctx: EvalContext,
    data: PatientData,
    index: IndexAtoms | None = None,
) -> list[AtomResult]:
    """The results with the trial's index conditions decided closed-world (see :mod:`fhir_adapter.criteria.index`).

    When the source returned the patient's problem list completely and none of the index conditions is
    documented at all (no evidence, not even a site code without histology), each of them is ``not-met``:
    the patient is not a candidate. A documented index condition, or an incomplete source, changes nothing.
    ``index``: :meth:`IndexAtoms.of` the atoms, when the caller keeps it."""
    positions = (index or IndexAtoms.of(atoms)).positions
    if not positions or ctx.options.open_world_diagnosis:
        return results
    if any(results[i].result != "unknown" or results[i].evidence for i in positions):
        return results
    types = (index or IndexAtoms.of(atoms)).types
    if not all(retrieved_completely(data, t) for t in types):
        return results
    decided = list(results)
    for i in positions:
        label = results[i].label or atoms[i].id
        reason = f"no record of {label} in the patient's complete problem list"
        decided[i] = atom_result(atoms[i], "not-met", reason)
        labelled(decided[i], label)
    return decided


def _evaluate_main(atom: Atom, record: PatientRecord, ctx: EvalContext) -> AtomResult:
    if not atom.computable:
        return atom_result(atom, "review", f"not evaluated: {atom.reason or 'not computable'}")
    if atom.category == "demographic":
        return evaluate_demographic(atom, record, ctx)
    plan = ctx.plan(atom)
    if not (plan.codes or plan.site_codes or plan.answer_codes or plan.names):
        return atom_result(atom, "review", f"not evaluated: no codes known for {plan.label}")
    if atom.category in ("lab", "performance-status"):
        return evaluate_measurement(plan, record, ctx)
    if atom.category in ("condition", "infection", "pregnancy", "allergy"):
        return evaluate_condition(plan, record, ctx)
    if atom.category == "medication" and "Immunization" in atom.resource_types:
        return evaluate_procedure(plan, record, ctx)
    if atom.category == "medication":
        return evaluate_medication(plan, record, ctx)
    if atom.category == "procedure":
        return evaluate_procedure(plan, record, ctx)
    return atom_result(atom, "review", f"not evaluated: category {atom.category} has no matching rule")


def evaluate_atom(atom: Atom, data: PatientData | PatientRecord, patient_id: str, ctx: EvalContext) -> AtomResult:
    """Evaluate one atom for one patient (``data`` may be a :class:`PatientRecord` to share its cache)."""
    record = data if isinstance(data, PatientRecord) else PatientRecord(data, patient_id)
    result = _evaluate(atom, record, ctx)
    result.label = atom_label(atom, ctx)
    return result


class Matcher:
    """Compiled criteria ready to evaluate many patients (atom plans are built once)."""

    def __init__(
        self,
        atoms: Sequence[Atom],
        *,
        as_of: date,
        options: MatchOptions | None = None,
        context: EvalContext | None = None,
    ) -> None:
        self.atoms = list(atoms)
        self.context = context or EvalContext(as_of=as_of, options=options or MatchOptions())
        for atom in self.atoms:
            if atom.computable and atom.category != "demographic":
                self.context.plan(atom)
        self.labels = [atom_label(atom, self.context) for atom in self.atoms]
        self.index = IndexAtoms.of(self.atoms)

    def evaluate(self, data: PatientData, patient_id: str) -> PatientResult:
        record = PatientRecord(data, patient_id)
        patient = record.patient  # raises InputError for an unknown patient
        results = [_evaluate(atom, record, self.context) for atom in self.atoms]
        for result, label in zip(results, self.labels, strict=True):
            labelled(result, label)
        results = closed_world(self.atoms, results, self.context, data, self.index)
        return decide(self.atoms, results, patient, patient_id, self.context.as_of)


def evaluate_patient(
    atoms: Sequence[Atom],
    data: PatientData,
    patient_id: str,
    *,
    as_of: date,
    options: MatchOptions | None = None,
) -> PatientResult:
    """Evaluate every atom for one patient and decide the verdict (see :mod:`fhir_adapter.matching.verdict`).

    Raises :class:`~fhir_adapter.errors.InputError` when the source has no such patient.
    For many patients build one :class:`Matcher` and call :meth:`Matcher.evaluate`.
    """
    return Matcher(atoms, as_of=as_of, options=options).evaluate(data, patient_id)
