"""The medical lexicon: concepts with their codes, synonyms and units, loaded from mappings/.

Shared by the criteria compiler (finding concepts in text), the mapping (coding
interventions) and matching (deciding whether a patient's coding belongs to a concept).
The knowledge itself is data: ``mappings/labs.yaml``, ``conditions.yaml``,
``medications.yaml``, ``performance.yaml``, ``units.yaml``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fhir_adapter.criteria.model import Category, Coding


class CodePrefix(BaseModel):
    """Codes of ``system`` starting with ``prefix`` count (ICD-10-CM ``C20``, ATC ``L01FF``)."""

    model_config = ConfigDict(frozen=True)

    system: str
    prefix: str


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

    def matches(self, system: str | None, code: str | None) -> bool:
        """Whether a coding belongs to this concept (exact code or a listed prefix)."""
        if not system or not code:
            return False
        if any(c.system == system and c.code == code for c in self.codings):
            return True
        return any(p.system == system and code.startswith(p.prefix) for p in self.code_prefixes)


class ConceptMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    concept: Concept
    start: int
    end: int
    phrase: str
