"""Which trials get a card: the service's selection policy over the evaluator's verdicts (which it never changes).

A trial with an index condition (the disease it is for, decided closed-world by the evaluator) is shown on its
verdict alone: eligible or needs-review. A trial *without* one cannot tell the patient has the disease, so its
verdict is open-world on the diagnosis and would show for nearly every patient. Such a trial is shown only when
the patient's record documents at least one of its positive clinical inclusions (an *anchor*):

- a computable inclusion of the criteria that asks for something present (a condition, infection, procedure,
  medication, pregnancy or allergy; not an age, a lab threshold or a performance score, which most patients
  meet), with a ``met`` result or documented evidence; or
- one of the trial's registry conditions (its conditions list, else its titles) that the lexicon codes, found on
  the patient's problem list (same evaluator, a ``present`` condition atom per concept).

Trials without an anchor are withheld (counted in ``/metrics``); ``unconfirmed`` > 0 shows up to that many of
them after the others, labelled "diagnosis not confirmed".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fhir_adapter.criteria.index import listed_concepts, trial_conditions
from fhir_adapter.criteria.lexicon import default_lexicon
from fhir_adapter.criteria.model import Atom
from fhir_adapter.matching.model import AtomResult, PatientResult
from fhir_adapter.trial import TrialRecord

ANCHOR_CATEGORIES = frozenset({"condition", "infection", "procedure", "medication", "pregnancy", "allergy"})
REGISTRY_PREFIX = "registry-condition-"
POSSIBLE = frozenset({"eligible", "needs-review"})


@dataclass(frozen=True)
class CardPolicy:
    unconfirmed: int = 0
    """How many trials without a documented anchor to show anyway (labelled), after the others."""


def has_index(atoms: Sequence[Atom]) -> bool:
    return any(a.index and a.computable for a in atoms)


def is_anchor(atom: Atom) -> bool:
    """A computable inclusion that wants something clinical present (see the module docstring)."""
    return (
        atom.kind == "inclusion"
        and atom.computable
        and atom.category in ANCHOR_CATEGORIES
        and not atom.negated
        and atom.comparator != "absent"
    )


def registry_atoms(record: TrialRecord, atoms: Sequence[Atom]) -> list[Atom]:
    """One ``present`` Condition atom per registry condition the lexicon codes, for a trial without an index
    condition (a trial with one needs none)."""
    if has_index(atoms):
        return []
    names = trial_conditions(record.conditions, (record.brief_title, record.official_title))
    return [
        Atom(
            id=f"{REGISTRY_PREFIX}{n}", kind="inclusion", text=concept.display, category=concept.category,
            concept_key=concept.key, comparator="present", computable=True, resource_types=["Condition"],
        )
        for n, concept in enumerate(listed_concepts(names, default_lexicon()), 1)
    ]


def documented(result: AtomResult) -> bool:
    return result.result == "met" or (result.result != "not-met" and bool(result.evidence))


def anchor_labels(atoms: Sequence[Atom], result: PatientResult) -> list[str]:
    """What of the trial's anchors the patient's record documents (labels), in criteria order."""
    by_id = {a.id: a for a in atoms}
    return list(dict.fromkeys(
        r.label or r.id
        for r in result.criteria
        if (atom := by_id.get(r.id)) is not None and is_anchor(atom) and documented(r)
    ))
