"""Allergy to the trial's own drugs: "hypersensitivity to the study drug or any of its excipients".

The criterion names no drug, but the registry does: the trial's drug and biological interventions. When every
one of them (placebo and sham comparators aside) names a single coded ingredient in the lexicon, the atom
becomes an AllergyIntolerance criterion on those ingredients, one atom per drug. When one of them is not coded
(an investigational compound), the atom stays for review and its reason names that drug, because an allergy to
the others alone would decide the criterion wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from fhir_adapter.criteria.lexicon import Lexicon
from fhir_adapter.criteria.model import Atom
from fhir_adapter.mappings import load_table
from fhir_adapter.terminology import Concept
from fhir_adapter.trial import Intervention

TRIAL_DRUG_ALLERGY = "drug allergy to trial drugs is not coded"
"""The reason the phrase table gives such an atom (``criteria_phrases.yaml``, ``not_computable``)."""


@cache
def _vocabulary() -> tuple[frozenset[str], re.Pattern[str]]:
    table = load_table("criteria_phrases")["trial_drugs"]
    types = frozenset(str(t) for t in table["intervention_types"])
    words = "|".join(re.escape(str(w)) for w in table["comparator_words"])
    return types, re.compile(rf"\b(?:{words})\b", re.IGNORECASE)


@cache
def _fillers() -> frozenset[str]:
    return frozenset(str(w) for w in load_table("criteria_phrases")["trial_drugs"]["name_filler_words"])


@cache
def _not_the_drug() -> re.Pattern[str]:
    words = "|".join(re.escape(str(w)) for w in load_table("criteria_phrases")["trial_drugs"]["not_the_drug_words"])
    return re.compile(rf"\b(?:{words})\b", re.IGNORECASE)


_WORD = re.compile(r"[^\W\d_]{4,}")


def _ingredients(intervention: Intervention, lexicon: Lexicon) -> list[Concept]:
    """The coded ingredients an intervention names ("Lapatinib/nab-Paclitaxel": two), from its name first, then
    its other names. None when a name also names a drug class (a class is not the drug given) or has a word left
    that is neither a drug nor a dose form ("Durvalumab + Tremelimumab": an uncoded second drug)."""
    fillers = _fillers()
    for name in (intervention.name, *intervention.other_names):
        text = name.lower()
        found = [m for m in lexicon.find(text) if m.concept.category == "medication"]
        if not found or any(m.concept.members or not m.concept.codings for m in found):
            continue
        rest = "".join(" " if any(m.start <= i < m.end for m in found) else ch for i, ch in enumerate(text))
        if all(word in fillers for word in _WORD.findall(rest)):
            return list({m.concept.key: m.concept for m in found}.values())
    return []


def _a_drug(intervention: Intervention, types: frozenset[str], lexicon: Lexicon) -> bool:
    """A drug or biological by its registry type; without a type (a registry page), when its name names a drug."""
    if intervention.type is not None:
        return intervention.type.upper() in types
    return any(m.concept.category == "medication" for m in lexicon.find(intervention.name.lower()))


def trial_drugs(interventions: Sequence[Intervention], lexicon: Lexicon) -> tuple[list[Concept], list[str]]:
    """(the coded ingredients of the trial's drugs, the names of the drugs that have none)."""
    types, comparator = _vocabulary()
    coded: dict[str, Concept] = {}
    uncoded: list[str] = []
    for intervention in interventions:
        if comparator.search(intervention.name) or not _a_drug(intervention, types, lexicon):
            continue
        concepts = _ingredients(intervention, lexicon)
        if not concepts:
            uncoded.append(intervention.name)
        for concept in concepts:
            coded.setdefault(concept.key, concept)
    return list(coded.values()), uncoded


def _names_the_trial_drug(atom: Atom) -> bool:
    """An atom left for review as an allergy to the trial's drugs that names no drug of its own ("nab-paclitaxel
    or excipients" names one; "compounds of similar chemical composition" are not the trial's drugs)."""
    return (
        atom.reason == TRIAL_DRUG_ALLERGY
        and atom.concept_key is None
        and not atom.negated
        and not _not_the_drug().search(atom.text)
    )


def _suffixed(atom_id: str, n: int) -> str:
    return f"{atom_id}{'abcdefghijklmnopqrstuvwxyz'[n]}" if atom_id[-1].isdigit() else f"{atom_id}{n + 1}"


def _allergy_atoms(atom: Atom, drugs: Sequence[Concept]) -> list[Atom]:
    return [
        atom.model_copy(
            update={
                "id": atom.id if len(drugs) == 1 else _suffixed(atom.id, n),
                "category": "allergy",
                "concept_key": drug.key,
                "concepts": list(drug.codings),
                "comparator": "present",
                "computable": True,
                "reason": None,
            }
        )
        for n, drug in enumerate(drugs)
    ]


def resolve_trial_drug_allergies(
    atoms: Sequence[Atom], interventions: Sequence[Intervention], lexicon: Lexicon
) -> list[Atom]:
    """The atoms, with each allergy to "the study drug" made an allergy to the trial's coded drugs (not emitted:
    the caller emits the new atoms)."""
    if not any(_names_the_trial_drug(a) for a in atoms):
        return list(atoms)
    drugs, uncoded = trial_drugs(interventions, lexicon)
    out: list[Atom] = []
    for atom in atoms:
        if not _names_the_trial_drug(atom):
            out.append(atom)
        elif uncoded or not drugs:
            why = "the registry lists no drug" if not uncoded else "no code for " + ", ".join(f"'{n}'" for n in uncoded)
            out.append(atom.model_copy(update={"reason": f"{TRIAL_DRUG_ALLERGY} ({why})"}))
        else:
            out.extend(_allergy_atoms(atom, drugs))
    return out
