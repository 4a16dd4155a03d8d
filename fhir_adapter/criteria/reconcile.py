"""One trial's atoms read together: an exclusion never excludes the trial's own required finding.

"Prior malignancy" in the exclusions of a rectal-cancer trial means *another* malignancy, and
"breastfeeding" in the exclusions of a trial that requires breastfeeding cannot mean breastfeeding
itself. Read alone, each would exclude every included patient (the contradictions :mod:`lint` reports).

* An exclusion whose concept is broader than a required inclusion concept gets the required concept as
  an excepted concept (as "non-colorectal malignancy" does), with a residue to confirm.
* An exclusion on exactly a required concept is left for review, with the inclusion it contradicts.
* An inclusion age in the text that the structured age limits already imply is left to those.
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
    """Whether some patients with ``narrow`` have ``broad`` (a member, or a shared code); cached on the lexicon."""
    cache: dict[tuple[str, str], bool] = vars(lex).setdefault("_reconcile_covers", {})
    found = cache.get((broad, narrow))
    if found is None:
        found = broad in lex and narrow in lex
        found = found and (narrow in _member_keys(broad, lex) or _codes_within(broad, narrow, lex))
        cache[(broad, narrow)] = found
    return found


def _member_keys(key: str, lex: Lexicon) -> frozenset[str]:
    """The keys of a class's members (recursively), cached on the lexicon."""
    cache: dict[str, frozenset[str]] = vars(lex).setdefault("_reconcile_members", {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = frozenset(m.key for m in lex.members(lex.get(key)))
    return found


def _codes_within(broad: str, narrow: str, lex: Lexicon) -> bool:
    """``narrow`` lies inside ``broad`` (an ICD-10-CM prefix such as C covers C20): in every hierarchical code
    system where ``broad`` has prefixes, each code of ``narrow`` belongs to ``broad``, so every included patient
    would have the excluded finding. (A class that merely contains the excluded drug is not inside it.)"""
    codes, prefixes = _value_set(broad, lex)
    systems = {s for s, _ in prefixes}
    shared = [c for c in lex.get(narrow).codings if c.system in systems]
    return bool(shared) and all(
        (c.system, c.code) in codes or any(c.system == s and c.code.startswith(p) for s, p in prefixes)
        for c in shared
    )


def _value_set(key: str, lex: Lexicon) -> tuple[frozenset[tuple[str, str]], tuple[tuple[str, str], ...]]:
    """The codes and code prefixes of a concept with its members (a class's value set), cached on the lexicon."""
    cache: dict[str, tuple[frozenset[tuple[str, str]], tuple[tuple[str, str], ...]]]
    cache = vars(lex).setdefault("_reconcile_value_sets", {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = _compute_value_set(key, lex)
    return found


def _compute_value_set(
    key: str, lex: Lexicon
) -> tuple[frozenset[tuple[str, str]], tuple[tuple[str, str], ...]]:
    concept = lex.get(key)
    concepts = [concept, *lex.members(concept)]
    codes = frozenset((c.system, c.code) for k in concepts for c in k.codings)
    prefixes = tuple(dict.fromkeys((p.system, p.prefix) for k in concepts for p in k.code_prefixes))
    return codes, prefixes


def _age_bounds(atom: Atom) -> tuple[float, float] | None:
    if atom.category != "demographic" or atom.unit != "a" or not isinstance(atom.value, float | int):
        return None
    inf = float("inf")
    value = float(atom.value)
    return {
        "ge": (value, inf),
        "gt": (value, inf),
        "le": (-inf, value),
        "lt": (-inf, value - 1),
        "between": (value, atom.high if atom.high is not None else inf),
    }.get(atom.comparator or "")


def _restated_age(atom: Atom, structured: Atom | None) -> bool:
    """An age in the text that the registry's structured age limits already imply: an inclusion range that
    contains them, or an exclusion ("over 65 years old") that lies wholly outside them."""
    if structured is None or atom is structured or not atom.computable:
        return False
    text, limits = _age_bounds(atom), _age_bounds(structured)
    if text is None or limits is None:
        return False
    if atom.kind == "inclusion":
        return text[0] <= limits[0] and limits[1] <= text[1]
    return text[0] >= limits[1] or text[1] <= limits[0]


def _left_for_review(atom: Atom, reason: str) -> Atom:
    update = {"computable": False, "reason": reason, "residues": [], "fhir_query": None, "fhirpath": None}
    return atom.model_copy(update={**update, "prefilter": None})


def reconcile(atoms: Sequence[Atom], lex: Lexicon) -> list[Atom]:
    """The atoms with exclusions made consistent with the trial's required findings, and text ages that
    restate the structured age limits left to those (one criterion, stated once)."""
    required = _required(atoms)
    structured_age = next((a for a in atoms if a.id == "age" and a.computable), None)
    out: list[Atom] = []
    for atom in atoms:
        if _restated_age(atom, structured_age):
            reason = "restates the structured age limits (criterion 'age')"
            out.append(_left_for_review(atom, reason))
            continue
        if atom.kind != "exclusion" or not atom.computable or atom.comparator != "present" or not atom.concept_key:
            out.append(atom)
            continue
        # "chemotherapy within 4 weeks" can be decided for patients who must have had chemotherapy; a narrowing
        # residue could not (every included patient would be "to confirm")
        same = None if atom.within_days is not None else next(
            (r for r in required if r.concept_key == atom.concept_key), None
        )
        if same is not None:
            reason = f"the trial requires this finding ({same.id}): the exclusion means something narrower"
            out.append(_left_for_review(atom, reason))
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
