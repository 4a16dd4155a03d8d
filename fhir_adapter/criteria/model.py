"""The typed intermediate representation of eligibility criteria.

An :class:`Atom` is one checkable statement. It is the contract between parsing
(criteria/), emitting into FHIR (mapping/) and matching patients (matching/):
each side reads and writes only these fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["inclusion", "exclusion"]
Category = Literal[
    "demographic",
    "condition",
    "lab",
    "performance-status",
    "medication",
    "procedure",
    "pregnancy",
    "infection",
    "allergy",
    "other",
]
FINDING_CATEGORIES: frozenset[str] = frozenset({"condition", "infection"})
"""Diagnoses a patient has (a Condition), as against treatments and measurements."""
TREATMENT_CATEGORIES: frozenset[str] = frozenset({"medication", "procedure"})
"""What is given or done to a patient."""
Comparator = Literal["ge", "gt", "le", "lt", "eq", "between", "present", "absent"]
Qualifier = Literal["active", "history", "known", "suspected", "uncontrolled", "recurrent", "prior", "current"]


class Coding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    code: str
    display: str | None = None


ResidueEffect = Literal["narrows", "widens"]


class Residue(BaseModel):
    """A clause of the criterion that the atom's main statement does not check (an exception, a permission,
    a cohort-specific alternative, a severity word). It never vetoes the atom; it can only make a decisive
    result uncertain:

    * ``narrows``: the criterion is narrower than the atom ("severe X", "X except Y", "X; treated X allowed"):
      when the atom's finding is present (``met``) the result is ``unknown``, to confirm.
    * ``widens``: the criterion allows more than the atom ("ALT <= 2.5 x ULN (<= 5 x ULN with liver
      metastases)"): when the atom's threshold fails (``not-met``) the result is ``unknown``, to confirm.

    A residue with its own threshold (``comparator`` ... ``lln_multiple``) keeps the decisive result when the
    value also fails (widens) or also passes (narrows) that threshold.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    """The residue's source text (a substring of the criteria text)."""
    effect: ResidueEffect
    reason: str
    comparator: Comparator | None = None
    value: float | None = None
    high: float | None = None
    uln_multiple: float | None = None
    lln_multiple: float | None = None
    codes: tuple[Coding, ...] = ()
    """For a narrower kind ("arterial thrombosis" of thrombosis): its own codes. A record coded with one of them
    documents the narrower kind, which settles the residue."""

    @property
    def has_threshold(self) -> bool:
        return self.comparator is not None and (
            self.value is not None or self.uln_multiple is not None or self.lln_multiple is not None
        )

    def contract(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "effect": self.effect, "reason": self.reason}
        if self.has_threshold:
            out.update(
                comparator=self.comparator,
                value=self.value,
                high=self.high,
                uln_multiple=self.uln_multiple,
                lln_multiple=self.lln_multiple,
            )
        if self.codes:
            out["codes"] = [c.model_dump(exclude_none=True) for c in self.codes]
        return out


class Atom(BaseModel):
    """One checkable statement of the eligibility criteria: its concept, threshold, FHIR query and FHIRPath,
    or, when it cannot be computed, its text and the reason (see README "Eligibility criteria")."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """Stable within a trial: ``inc-3a``, ``exc-2``; structured-field atoms are ``age`` and ``sex``."""
    kind: Kind
    text: str
    """The exact source text of this atom (a substring of the criteria text)."""
    item_text: str | None = None
    """The whole bullet the atom was split from, when it differs from ``text``."""
    category: Category = "other"

    concept_key: str | None = None
    """Key of the lexicon entry (``lab.neutrophils``, ``condition.hiv``...) the concepts come from."""
    concepts: list[Coding] = Field(default_factory=list)
    """Every code that counts as this concept (the value set, alternates included)."""

    excluded_concept_key: str | None = None
    """A narrower lexicon concept that does NOT count ("other non-colorectal malignancies": colorectal cancer)."""
    excluded_concepts: list[Coding] = Field(default_factory=list)
    """Codes of ``excluded_concept_key`` (plus any other excepted concepts): a coding here never counts."""

    comparator: Comparator | None = None
    value: float | str | None = None
    high: float | None = None
    unit: str | None = None
    """UCUM unit of ``value``/``high`` (canonical unit of the lab)."""
    uln_multiple: float | None = None
    lln_multiple: float | None = None
    within_days: int | None = None
    qualifiers: list[Qualifier] = Field(default_factory=list)
    negated: bool = False

    computable: bool = False
    reason: str | None = None
    """Why the atom is not computable (None when it is)."""
    residues: list[Residue] = Field(default_factory=list)
    """Clauses the main statement does not check, reported "to confirm" when they could matter."""
    cohort: str | None = None
    """The cohort, part, phase or arm the atom applies to ("phase 1"); None: every cohort."""
    any_of: str | None = None
    """Id of the any-of group the atom belongs to ("creatinine <= 1.5 x ULN or CrCl >= 60 mL/min"): the group
    is met when one member is met, not-met when every member is not-met, else unknown."""

    index: bool = False
    """One of the trial's index conditions (the disease the trial is for; :mod:`fhir_adapter.criteria.index`):
    decided closed-world when the patient's problem list was retrieved completely."""
    resource_types: list[str] = Field(default_factory=list)
    fhir_query: str | None = None
    """x-fhir-query with ``{{%patient.id}}`` as the patient placeholder."""
    fhirpath: str | None = None
    """Boolean FHIRPath over the resources ``fhir_query`` retrieves."""
    prefilter: str | None = None
    """Server-side population pre-filter (Patient search), when one exists."""

    def contract(self) -> dict[str, Any]:
        """The public JSON shape of an atom (other tools rely on it; do not add keys lightly)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "category": self.category,
            "computable": self.computable,
            "reason": self.reason,
            "concepts": [c.model_dump() for c in self.concepts],
            "comparator": self.comparator,
            "value": self.value,
            "high": self.high,
            "unit": self.unit,
            "uln_multiple": self.uln_multiple,
            "lln_multiple": self.lln_multiple,
            "within_days": self.within_days,
            "fhir_query": self.fhir_query,
            "fhirpath": self.fhirpath,
            **({"qualifiers": list(self.qualifiers)} if self.qualifiers and self.comparator else {}),
            **(
                {"excluded_concepts": [c.model_dump() for c in self.excluded_concepts]}
                if self.excluded_concepts
                else {}
            ),
            **({"residues": [r.contract() for r in self.residues]} if self.residues else {}),
            **({"group": {"type": "any-of", "id": self.any_of}} if self.any_of else {}),
            **({"cohort": self.cohort} if self.cohort else {}),
            **({"index_condition": True} if self.index else {}),
        }


class CompiledCriteria(BaseModel):
    """A trial's compiled eligibility criteria: its atoms in order; ``contract()`` is the JSON that
    ``fhir-adapter criteria --format json`` prints."""

    model_config = ConfigDict(extra="forbid")

    trial: str
    atoms: list[Atom] = Field(default_factory=list)

    def contract(self) -> dict[str, Any]:
        return {"trial": self.trial, "criteria": [a.contract() for a in self.atoms]}
