"""Figures over many compiled trials: atoms per category, computable share, top non-computable reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from fhir_adapter.criteria.model import CompiledCriteria


class CategoryFigures(BaseModel):
    atoms: int = 0
    computable: int = 0


class CriteriaSummary(BaseModel):
    trials: int = 0
    atoms: int = 0
    computable: int = 0
    by_category: dict[str, CategoryFigures] = Field(default_factory=dict)
    reasons: dict[str, int] = Field(default_factory=dict)
    """Non-computable reasons grouped by their stem (text before ``:``), most frequent first."""

    @property
    def computable_share(self) -> float:
        return self.computable / self.atoms if self.atoms else 0.0

    def contract(self, top: int = 10) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "atoms": self.atoms,
            "computable": self.computable,
            "computable_share": round(self.computable_share, 4),
            "by_category": {k: v.model_dump() for k, v in sorted(self.by_category.items())},
            "top_reasons": [{"reason": r, "atoms": n} for r, n in list(self.reasons.items())[:top]],
        }


def reason_stem(reason: str) -> str:
    """``concept not in lexicon: xyz`` -> ``concept not in lexicon`` (so reasons group)."""
    return reason.split(":", 1)[0].strip()


def summarize(compiled: Iterable[CompiledCriteria]) -> CriteriaSummary:
    summary = CriteriaSummary()
    reasons: Counter[str] = Counter()
    for trial in compiled:
        summary.trials += 1
        for atom in trial.atoms:
            summary.atoms += 1
            figures = summary.by_category.setdefault(atom.category, CategoryFigures())
            figures.atoms += 1
            if atom.computable:
                summary.computable += 1
                figures.computable += 1
            else:
                reasons[reason_stem(atom.reason or "no reason given")] += 1
    summary.reasons = dict(reasons.most_common())
    return summary
