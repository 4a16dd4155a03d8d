"""The trial's index condition(s): the disease the trial is for, found among the inclusion criteria.

An inclusion atom is an index condition when it requires a documented diagnosis (a computable condition or
infection atom that wants the finding present) and its concept is the same as, or related by codes to,
one of the conditions the registry lists for the trial ("Rectal Cancer" and "adenocarcinoma of the
rectum": ICD-10-CM C20 is the site of one and the code of the other). Trials for healthy volunteers, or
whose listed conditions the lexicon does not know, have none.

The matcher decides index conditions closed-world when the patient's problem list was retrieved
completely: a patient with no record of any of them is not a candidate (see
:mod:`fhir_adapter.matching.verdict`). Everything else about a diagnosis stays open-world.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fhir_adapter.criteria.lexicon import Lexicon
from fhir_adapter.criteria.model import FINDING_CATEGORIES, Atom
from fhir_adapter.errors import ConfigError
from fhir_adapter.terminology import Concept

_PREFIX_SYSTEMS = ("icd-10",)
"""Code systems whose codes nest by prefix (C20 inside C18-C21); matched on the system URL."""


def _diagnosis(atom: Atom) -> bool:
    return (
        atom.kind == "inclusion"
        and atom.computable
        and atom.category in FINDING_CATEGORIES
        and atom.concept_key is not None
        and not atom.negated
        and atom.comparator != "absent"
        and "suspected" not in atom.qualifiers
    )


def _codes(concept: Concept, members: Iterable[Concept]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(exact codes, nesting prefixes) of a concept and its members; ICD-10 codes count as prefixes too."""
    exact: set[tuple[str, str]] = set()
    prefixes: set[tuple[str, str]] = set()
    for c in (concept, *members):
        for coding in (*c.codings, *c.site_codings):
            if any(s in coding.system for s in _PREFIX_SYSTEMS):
                prefixes.add(("icd-10", coding.code.replace(".", "").upper()))
            else:
                exact.add((coding.system, coding.code))
        for prefix in c.code_prefixes:
            if any(s in prefix.system for s in _PREFIX_SYSTEMS):
                prefixes.add(("icd-10", prefix.prefix.replace(".", "").upper()))
    return exact, prefixes


def _coded_broadly(concept: Concept, members: Iterable[Concept]) -> bool:
    """Whether the concept can be found on a problem list coded either way: it has ICD-10 codes and SNOMED CT
    codes. A concept known in one system only would miss a diagnosis recorded in the other, and "no record"
    would then be wrong."""
    exact, prefixes = _codes(concept, members)
    return bool(prefixes) and any("snomed" in system for system, _ in exact)


def _nested(a: set[tuple[str, str]], b: set[tuple[str, str]]) -> bool:
    """Whether some prefix of one set contains (starts) a prefix of the other."""
    return any(
        sa == sb and len(min(pa, pb, key=len)) >= 3 and (pa.startswith(pb) or pb.startswith(pa))
        for sa, pa in a
        for sb, pb in b
    )


def _members(lexicon: Lexicon, concept: Concept) -> list[Concept]:
    members = getattr(lexicon, "members", None)
    return list(members(concept)) if callable(members) else []


def _related(atom_concept: Concept, listed: Concept, lexicon: Lexicon) -> bool:
    if atom_concept.key == listed.key:
        return True
    atom_members = _members(lexicon, atom_concept)
    listed_members = _members(lexicon, listed)
    if listed.key in {m.key for m in atom_members} or atom_concept.key in {m.key for m in listed_members}:
        return True
    exact_a, prefixes_a = _codes(atom_concept, atom_members)
    exact_b, prefixes_b = _codes(listed, listed_members)
    return bool(exact_a & exact_b) or _nested(prefixes_a, prefixes_b)


def _get(lexicon: Lexicon, key: str | None) -> Concept | None:
    try:
        return lexicon.get(key) if key else None
    except (KeyError, LookupError, ConfigError):
        return None


def listed_concepts(conditions: Sequence[str], lexicon: Lexicon) -> list[Concept]:
    """The diagnosis concepts named by the registry's conditions list (unknown names are skipped)."""
    found: dict[str, Concept] = {}
    for name in conditions:
        for match in lexicon.find(name):
            if match.concept.category in FINDING_CATEGORIES:
                found.setdefault(match.concept.key, match.concept)
    return list(found.values())


def trial_conditions(conditions: Sequence[str], titles: Sequence[str | None]) -> list[str]:
    """The names to match: the registry's conditions list, or the titles when the record lists none
    (a registry page without its conditions section)."""
    return list(conditions) or [t for t in titles if t]


def mark_index_conditions(atoms: Sequence[Atom], conditions: Sequence[str], lexicon: Lexicon) -> list[Atom]:
    """The atoms, with ``index`` set on the inclusion diagnoses that are the trial's listed conditions.

    An atom in an any-of group counts only when every member of its group is a diagnosis (a diagnosis OR a
    lab value is not a diagnosis requirement); then the whole group does. Every index condition must be coded
    in ICD-10 and SNOMED CT (see :func:`_coded_broadly`), else the trial has none."""
    listed = listed_concepts(conditions, lexicon)
    if not listed:
        return list(atoms)
    chosen: set[str] = set()
    for atom in atoms:
        concept = _get(lexicon, atom.concept_key) if _diagnosis(atom) else None
        if concept is not None and any(_related(concept, c, lexicon) for c in listed):
            chosen.add(atom.id)
    groups: dict[str, list[Atom]] = {}
    for atom in atoms:
        if atom.any_of:
            groups.setdefault(atom.any_of, []).append(atom)
    for members in groups.values():
        if not any(m.id in chosen for m in members):
            continue
        if all(_diagnosis(m) for m in members):
            chosen |= {m.id for m in members}  # "invasive breast cancer or DCIS": either diagnosis
        else:
            chosen -= {m.id for m in members}
    # The index conditions are alternatives: one that could be missed on a problem list makes "none recorded"
    # unsafe for all of them, so the trial then has none.
    for atom in atoms:
        if atom.id in chosen:
            concept = _get(lexicon, atom.concept_key)
            if concept is None or not _coded_broadly(concept, _members(lexicon, concept)):
                return list(atoms)
    return [a.model_copy(update={"index": True}) if a.id in chosen else a for a in atoms]
