"""The lexicon's concepts as every stage sees them: a concept with its codes, code prefixes, unit conversions and
names, and a mention of one found in text. Built from the tables by :mod:`fhir_adapter.terminology`, which
re-exports these names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fhir_adapter.criteria.model import Category, Coding


class CodePrefix(BaseModel):
    """Codes of ``system`` starting with ``prefix`` count (ICD-10-CM ``C20``, ATC ``L01FF``)."""

    model_config = ConfigDict(frozen=True)

    system: str
    prefix: str


class UnitConversion(BaseModel):
    """An analyte-specific conversion: ``value[to] = value[from] * factor + offset`` (bilirubin mg/dL -> umol/L:
    factor 17.1; HbA1c NGSP % -> IFCC mmol/mol: factor 10.929, offset -23.4975)."""

    model_config = ConfigDict(frozen=True)

    from_unit: str
    to_unit: str
    factor: float
    offset: float = 0.0


class Concept(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    """``lab.neutrophils``, ``condition.hiv``, ``medication.pd1-pdl1-inhibitors``, ``performance.ecog``."""
    category: Category
    display: str
    synonyms: tuple[str, ...] = ()
    """Lower-case phrases that name the concept in criteria text."""
    codings: tuple[Coding, ...] = ()
    """Every code that counts as this concept (alternates included)."""
    code_prefixes: tuple[CodePrefix, ...] = ()
    resource_types: tuple[str, ...] = ()
    """FHIR types where evidence for the concept lives."""
    unit: str | None = None
    """Canonical UCUM unit (labs)."""
    answers: dict[str, float] = Field(default_factory=dict)
    """Coded answers with their numeric meaning, keyed ``system|code`` (ECOG LA9622-7 -> 0)."""
    site_codings: tuple[Coding, ...] = ()
    """For histology-specific conditions: site codes (C20 rectum) that count when ..."""
    morphology_codings: tuple[Coding, ...] = ()
    """... the Condition also carries one of these morphologies (mCODE histology extension)."""
    systemic_only: bool = False
    """Medication classes where only systemic routes count (systemic corticosteroids)."""
    members: tuple[str, ...] = ()
    """Keys of member concepts (a class and its drugs, a disease group and its diseases)."""
    abbreviations: tuple[str, ...] = ()
    """Abbreviations matched only with the exact case written here (``MS``, ``SLE``, ``UC``)."""
    narrower_names: tuple[str, ...] = ()
    """Lower-case names (also in ``synonyms``) of narrower kinds the codes cover but do not single out ("thoracic
    radiotherapy", "whole brain radiotherapy"): a criterion found by one keeps the name as a residue to confirm."""
    conversions: tuple[UnitConversion, ...] = ()
    """Analyte-specific unit factors (molar conversions), used by :func:`fhir_adapter.units.convert`."""
    plausible: tuple[float, float] | None = None
    """Labs and measurements: the range (in ``unit``) outside which a threshold is a typo, not a limit."""
    scale: tuple[float, float] | None = None
    """Scores: the lowest and highest value of the scale (ECOG 0-5), so "0-2" reads as "<= 2"."""
    classes: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """Scores written as classes: label -> band of values (NYHA "III" -> 3-3, Child-Pugh "B" -> 7-9)."""
    components: tuple[str, ...] = ()
    """A reading written "A/B" (blood pressure 140/90): the concepts of its parts, in order."""
    by_unit: dict[str, str] = Field(default_factory=dict)
    """The concept a threshold really names when written in another unit (UCUM code -> concept key): FEV1 in %
    is FEV1 % predicted; creatinine clearance in mL/min/1.73 m2 is an eGFR."""

    def matches(self, system: str | None, code: str | None) -> bool:
        """Whether a coding belongs to this concept (exact code or a listed prefix)."""
        if not system or not code:
            return False
        if any(c.system == system and c.code == code for c in self.codings):
            return True
        return any(p.system == system and code.startswith(p.prefix) for p in self.code_prefixes)

    @property
    def is_presence_test(self) -> bool:
        """A test whose result is read as present or absent (serology, pregnancy test): a lab of a finding
        category."""
        return self.key.startswith("lab.") and self.category != "lab"

    @property
    def is_class(self) -> bool:
        """A group of member concepts (drug class, disease group) rather than a single thing."""
        return bool(self.members)


class ConceptMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    concept: Concept
    start: int
    end: int
    phrase: str


# ---------------------------------------------------------------------------------------------
# Table entries (what the YAML holds; every code carries its source)
