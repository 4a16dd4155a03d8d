"""Contradictions between the compiled atoms of one trial, for a person to see before screening.

* **Required and excluded**: an inclusion requires a finding that an exclusion excludes (same concept,
  both computable, both "present"): no patient can be eligible.
* **Excluded by the inclusion**: an exclusion whose finding every included patient has: the inclusion's
  concept is the exclusion's concept or one of its members ("rectal cancer" required, "malignancy"
  excluded without an exception for the trial's cancer), or an exclusion threshold that every value the
  inclusion accepts meets ("ALT >= 3 x ULN" required, "ALT > 2 x ULN" excluded).

A lint finding on the shared corpus is a compiler bug to fix, not a warning to keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.terminology import Lexicon, lexicon


@dataclass(frozen=True)
class Finding:
    trial: str
    inclusion: str
    exclusion: str
    problem: str

    def line(self) -> str:
        return f"{self.trial}: {self.inclusion} / {self.exclusion}: {self.problem}"


def _present(atom: Atom) -> bool:
    return atom.computable and atom.comparator == "present" and not atom.any_of and atom.concept_key is not None


def _covers(broad: str, narrow: str, lex: Lexicon) -> bool:
    """Whether every patient with ``narrow`` has ``broad`` (the same concept, or a member of it)."""
    if broad == narrow:
        return True
    if broad not in lex or narrow not in lex:
        return False
    return any(m.key == narrow for m in lex.members(lex.get(broad)))


def _interval(atom: Atom) -> tuple[float, float] | None:
    """The values a threshold atom accepts, on its own scale (ULN multiples apart from absolute values)."""
    value = atom.uln_multiple if atom.uln_multiple is not None else atom.value
    if not isinstance(value, float | int):
        return None
    inf = float("inf")
    return {
        "ge": (value, inf),
        "gt": (value, inf),
        "le": (-inf, value),
        "lt": (-inf, value),
        "between": (value, atom.high if atom.high is not None else inf),
    }.get(atom.comparator or "")


def _threshold_inside(inclusion: Atom, exclusion: Atom) -> bool:
    """Every value the inclusion accepts meets the exclusion (same test, same scale)."""
    if inclusion.concept_key != exclusion.concept_key or inclusion.any_of or exclusion.residues:
        return False
    if (inclusion.uln_multiple is None) != (exclusion.uln_multiple is None) or inclusion.unit != exclusion.unit:
        return False
    accepted, excluded = _interval(inclusion), _interval(exclusion)
    if accepted is None or excluded is None:
        return False
    strict_low = exclusion.comparator == "gt" and accepted[0] == excluded[0]
    strict_high = exclusion.comparator == "lt" and accepted[1] == excluded[1]
    return excluded[0] <= accepted[0] and accepted[1] <= excluded[1] and not (strict_low or strict_high)


def lint(compiled: CompiledCriteria, lex: Lexicon | None = None) -> list[Finding]:
    """The contradictions of one trial's atoms."""
    vocabulary = lex or lexicon()
    inclusions = [a for a in compiled.atoms if a.kind == "inclusion" and a.computable]
    exclusions = [a for a in compiled.atoms if a.kind == "exclusion" and a.computable and not a.residues]
    found: list[Finding] = []
    for inc in inclusions:
        for exc in exclusions:
            problem = _problem(inc, exc, vocabulary)
            if problem:
                found.append(Finding(compiled.trial, inc.id, exc.id, problem))
    return found


def _problem(inc: Atom, exc: Atom, lex: Lexicon) -> str | None:
    if _present(inc) and _present(exc) and exc.within_days is None and not exc.excluded_concepts:
        assert inc.concept_key is not None and exc.concept_key is not None
        if inc.concept_key == exc.concept_key:
            return f"{inc.concept_key} is both required and excluded"
        if _covers(exc.concept_key, inc.concept_key, lex):
            return f"every included patient ({inc.concept_key}) has the excluded {exc.concept_key}"
    if inc.category in ("lab", "performance-status") and _threshold_inside(inc, exc):
        return f"every {inc.concept_key} value the inclusion accepts meets the exclusion"
    return None


def lint_all(compiled: Sequence[CompiledCriteria], lex: Lexicon | None = None) -> list[Finding]:
    return [f for trial in compiled for f in lint(trial, lex)]
