"""One trial's atoms read together: an exclusion never excludes the trial's own required finding.

"Prior malignancy" in the exclusions of a rectal-cancer trial means *another* malignancy, and
"breastfeeding" in the exclusions of a trial that requires breastfeeding cannot mean breastfeeding
itself. Read alone, each would exclude every included patient (the contradictions :mod:`lint` reports).

* An exclusion whose concept is broader than a required inclusion concept gets the required concept as
  an excepted concept (as "non-colorectal malignancy" does), with a residue to confirm.
* An exclusion on exactly a required concept is left for review, with the inclusion it contradicts.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_adapter.criteria.model import Atom, Residue
from fhir_adapter.terminology import Lexicon


def _required(atoms: Sequence[Atom]) -> list[Atom]:
    return [
        a
        for a in atoms
        if a.kind == "inclusion" and a.computable and a.comparator == "present" and a.concept_key is not None
    ]


def _covers(broad: str, narrow: str, lex: Lexicon) -> bool:
    if broad not in lex or narrow not in lex:
        return False
    return any(m.key == narrow for m in lex.members(lex.get(broad))) or _codes_within(broad, narrow, lex)


def _codes_within(broad: str, narrow: str, lex: Lexicon) -> bool:
    """A code of ``narrow`` belongs to ``broad`` (an ICD-10-CM prefix such as C covers C20): some included
    patients would have the excluded finding."""
    outer, inner = lex.get(broad), lex.get(narrow)
    return any(lex.matches(outer, c.system, c.code) for c in inner.codings)


def reconcile(atoms: Sequence[Atom], lex: Lexicon) -> list[Atom]:
    """The atoms with exclusions made consistent with the trial's required findings."""
    required = _required(atoms)
    out: list[Atom] = []
    for atom in atoms:
        if atom.kind != "exclusion" or not atom.computable or atom.comparator != "present" or not atom.concept_key:
            out.append(atom)
            continue
        same = next((r for r in required if r.concept_key == atom.concept_key), None)
        if same is not None:
            reason = f"the trial requires this finding ({same.id}): the exclusion means something narrower"
            out.append(atom.model_copy(update={"computable": False, "reason": reason, "residues": []}))
            continue
        broader_than = [r for r in required if r.concept_key and _covers(atom.concept_key, r.concept_key, lex)]
        if not broader_than:
            out.append(atom)
            continue
        excepted = list(atom.excluded_concepts)
        excepted += [c for r in broader_than for c in r.concepts if c not in excepted]
        residue = Residue(
            text=atom.text,
            effect="narrows",
            reason="read as other than the trial's own condition (" + ", ".join(r.id for r in broader_than) + ")",
        )
        out.append(atom.model_copy(update={"excluded_concepts": excepted, "residues": [*atom.residues, residue]}))
    return out
