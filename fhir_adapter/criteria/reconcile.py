"""One trial's atoms read together: an exclusion never excludes the trial's own required finding.

"Prior malignancy" in the exclusions of a rectal-cancer trial means *another* malignancy, and
"breastfeeding" in the exclusions of a trial that requires breastfeeding cannot mean breastfeeding
itself. Read alone, each would exclude every included patient (the contradictions :mod:`lint` reports).

* An exclusion whose concept is broader than a required inclusion concept gets the required concept as
  an excepted concept (as "non-colorectal malignancy" does), with a residue to confirm.
* An exclusion on exactly a required concept is left for review, with the inclusion it contradicts.
* An inclusion age in the text that the structured age limits already imply is left to those, and so is one
  outside them (the age of another person, as the infant of a mother-infant trial).
* A statement made twice in one item is one criterion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fhir_adapter.criteria.model import FINDING_CATEGORIES, Atom, Coding, Residue
from fhir_adapter.terminology import Concept, Lexicon

_DATED_ONLY = "a minimum time since an event"
"""The reason that leaves only the date of a required finding uncertain ("stroke within the past 6 to 60 months"):
the trial's patients still have it."""


def _required(atoms: Sequence[Atom]) -> list[Atom]:
    return [
        a
        for a in atoms
        if a.kind == "inclusion"
        and (a.computable or (a.reason or "").startswith(_DATED_ONLY))
        and a.comparator == "present"
        and a.concept_key is not None
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
    prefixes = _value_set_prefixes(broad, lex)
    if not prefixes:
        return False  # no hierarchical system: no code of ``narrow`` to test (most concepts)
    systems = {s for s, _ in prefixes}
    concept = lex.get(narrow)
    # a narrow concept may be coded by its own prefixes only ("C84" of the T-cell lymphomas)
    # (or by the site codes of its histology: "C16" of a gastric adenocarcinoma)
    own = [(c.system, c.code) for c in (*concept.codings, *concept.site_codings)]
    own += [(p.system, p.prefix) for p in concept.code_prefixes]
    shared = [(system, code) for system, code in own if system in systems]
    if not shared:
        return False
    codes = _value_set_codes(broad, lex)
    return all(
        (system, code) in codes or any(system == s and code.startswith(p) for s, p in prefixes)
        for system, code in shared
    )


# The value set of a class (a concept with its members, recursively), cached on the lexicon in two parts: the
# code prefixes, which every test reads, and the codes, which only a test with a shared system reads.


def _value_set_prefixes(key: str, lex: Lexicon) -> tuple[tuple[str, str], ...]:
    cache: dict[str, tuple[tuple[str, str], ...]] = vars(lex).setdefault("_reconcile_prefixes", {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = tuple(
            dict.fromkeys((p.system, p.prefix) for k in _with_members(key, lex) for p in k.code_prefixes)
        )
    return found


def _value_set_codes(key: str, lex: Lexicon) -> frozenset[tuple[str, str]]:
    cache: dict[str, frozenset[tuple[str, str]]] = vars(lex).setdefault("_reconcile_codes", {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = frozenset((c.system, c.code) for k in _with_members(key, lex) for c in k.codings)
    return found


def _with_members(key: str, lex: Lexicon) -> list[Concept]:
    concept = lex.get(key)
    return [concept, *lex.members(concept)]


_YEARS_PER_UNIT = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25}


def _age_bounds(atom: Atom) -> tuple[float, float] | None:
    """The ages in years an age atom accepts (whole units: "< 80 years" is up to 79)."""
    per_unit = _YEARS_PER_UNIT.get(atom.unit or "")
    if atom.category != "demographic" or per_unit is None or not isinstance(atom.value, float | int):
        return None
    inf = float("inf")
    value = float(atom.value)
    bounds = {
        "ge": (value, inf),
        "gt": (value, inf),
        "le": (-inf, value),
        "lt": (-inf, value - 1),
        "between": (value, atom.high if atom.high is not None else inf),
    }.get(atom.comparator or "")
    return None if bounds is None else (bounds[0] * per_unit, bounds[1] * per_unit)


def _age_reading(atom: Atom, structured: Atom | None) -> str | None:
    """Why an age in the text is left to the registry's structured age limits: an inclusion range that contains
    them or an exclusion ("over 65 years old") wholly outside them restates them; an inclusion range outside
    them ("infant aged 6 to 12 weeks" in a trial of women aged 18 or more) is another person's age."""
    if structured is None or atom is structured or not atom.computable:
        return None
    text, limits = _age_bounds(atom), _age_bounds(structured)
    if text is None or limits is None:
        return None
    if atom.kind == "exclusion":
        outside = text[0] >= limits[1] or text[1] <= limits[0]
        return "restates the structured age limits (criterion 'age')" if outside else None
    if text[0] <= limits[0] and limits[1] <= text[1]:
        return "restates the structured age limits (criterion 'age')"
    if text[1] < limits[0] or text[0] > limits[1]:
        return "no patient within the structured age limits (criterion 'age') has this age: another person's age"
    return None


def left_for_review(atom: Atom, reason: str) -> Atom:
    update = {"computable": False, "reason": reason, "residues": [], "fhir_query": None, "fhirpath": None}
    return atom.model_copy(update={**update, "prefilter": None})


_OTHER = re.compile(r"(?<![a-z])(?:other|another|second|additional)(?![a-z])", re.IGNORECASE)
"""Words that make an exclusion about a finding besides the trial's own ("other types of malignant tumors",
"Malignancies other than the disease under study")."""


def reconcile(atoms: Sequence[Atom], lex: Lexicon, listed: Sequence[Concept] = ()) -> list[Atom]:
    """The atoms with exclusions made consistent with the trial's required findings, and text ages that
    restate the structured age limits left to those (one criterion, stated once). ``listed``: the diagnoses of
    the registry's conditions list, the trial's own condition for an exclusion of "other" findings when the
    inclusions do not state it in coded form."""
    required = _required(atoms)
    structured_age = next((a for a in atoms if a.id == "age" and a.computable), None)
    out: list[Atom] = []
    for atom in atoms:
        age_reason = _age_reading(atom, structured_age)
        if age_reason is not None:
            out.append(left_for_review(atom, age_reason))
            continue
        if atom.kind != "exclusion" or not atom.computable or atom.comparator != "present" or not atom.concept_key:
            out.append(atom)
            continue
        # "chemotherapy within 4 weeks" can be decided for patients who must have had chemotherapy; a narrowing
        # residue could not (every included patient would be "to confirm"). A finding is no washout: "breast cancer
        # within 5 years before the current one" in a breast cancer trial means an earlier episode
        washout = atom.within_days is not None and atom.category not in FINDING_CATEGORIES
        same = None if washout else next((r for r in required if r.concept_key == atom.concept_key), None)
        if same is not None:
            reason = f"the trial requires this finding ({same.id}): the exclusion means something narrower"
            out.append(left_for_review(atom, reason))
            continue
        # the same concept is none of these: a window tells "chemotherapy within 4 weeks" from the required one;
        # so does a washout of a broader class ("anticancer therapy within 14 days" where prior gemcitabine is
        # required: gemcitabine 3 days ago still excludes)
        broader_than = [
            r
            for r in required
            if not washout
            and r.concept_key
            and r.concept_key != atom.concept_key
            and _covers(atom.concept_key, r.concept_key, lex)
            and not _excepted(atom, lex.get(r.concept_key), lex)
        ]
        if broader_than:
            codes = [c for r in broader_than for c in r.concepts]
            out.append(_except(atom, codes, "(" + ", ".join(r.id for r in broader_than) + ")"))
            continue
        own = [
            c
            for c in listed
            if _OTHER.search(atom.text) and _covers(atom.concept_key, c.key, lex) and not _excepted(atom, c, lex)
        ]
        if own:
            # "Past or present suffering from other types of malignant tumors" in a trial of solid tumours
            codes = [c for concept in own for c in concept.codings]
            out.append(_except(atom, codes, "listed by the registry: " + ", ".join(c.display for c in own)))
            continue
        out.append(atom)
    return _merge_restatements(_cancer_alternatives(out, lex))


_ITEM_OF = re.compile(r"[a-z]+$")


def _cancer_alternatives(atoms: list[Atom], lex: Lexicon) -> list[Atom]:
    """ "Gastroesophageal adenocarcinoma, pancreatic adenocarcinoma, hepatocellular carcinoma (HCC), ..." among the
    inclusions: a list of primary cancers names the tumours a patient may have (a basket trial), not cancers every
    patient has. Their atoms become one any-of group (metastases are not alternatives to their primary)."""
    by_item: dict[str, list[int]] = {}
    for index, atom in enumerate(atoms):
        key = atom.concept_key
        if (
            atom.kind == "inclusion"
            and atom.computable
            and atom.comparator == "present"
            and key is not None
            and "metasta" not in key
            and _primary_cancer(key, lex)
        ):
            by_item.setdefault(_ITEM_OF.sub("", atom.id), []).append(index)
    out = list(atoms)
    for item, members in by_item.items():
        alone = [index for index in members if atoms[index].any_of is None]
        if len(alone) > 1:
            for index in alone:
                out[index] = out[index].model_copy(update={"any_of": f"{item}-cancers"})
    return _cancer_cohorts(out, by_item, lex)


def _cancer_cohorts(atoms: list[Atom], by_item: dict[str, list[int]], lex: Lexicon) -> list[Atom]:
    """ "SCLC (second line)", "TNBC (second line)" as items of their own: primary cancers that no patient has
    together, required by different items of one cohort (or of a trial without cohorts), are its tumour cohorts (a
    basket trial). Items whose cancers overlap ("TNBC", "metastatic breast carcinoma ... triple negative") describe
    one tumour cohort. When each tumour cohort is one item, their atoms form one any-of group; otherwise each atom
    keeps a residue that widens it (a patient with another cohort's cancer may be eligible)."""
    # already alternatives of other items ("one of the following:" sub-items), or uncertain themselves (a permission
    # read as an inclusion): not a cohort of their own
    spanning = _groups_across_items(atoms)
    by_cohort: dict[str | None, dict[str, list[int]]] = {}
    for item, members in by_item.items():
        for index in members:
            atom = atoms[index]
            if atom.any_of in spanning or any(r.effect == "widens" for r in atom.residues):
                continue
            by_cohort.setdefault(atom.cohort, {}).setdefault(item, []).append(index)
    out = list(atoms)
    for cohort, items in by_cohort.items():
        clusters = _overlapping_items(items, atoms, lex)
        if len(clusters) < 2:
            continue
        own_groups = all((atoms[i].any_of or "-cancers").endswith("-cancers") for m in items.values() for i in m)
        if own_groups and all(len(cluster) == 1 for cluster in clusters):
            group = "inc-cancers" if cohort is None else f"inc-cancers-{re.sub(r'[^a-z0-9]+', '-', cohort.lower())}"
            for cluster in clusters:
                for index in items[cluster[0]]:
                    out[index] = out[index].model_copy(update={"any_of": group})
            continue
        for cluster in clusters:
            others = [atoms[items[c[0]][0]].id for c in clusters if c is not cluster]
            reason = "one of the trial's tumour cohorts: another one's cancer also admits (" + ", ".join(others) + ")"
            for item in cluster:
                for index in items[item]:
                    residue = Residue(text=out[index].text, effect="widens", reason=reason)
                    out[index] = out[index].model_copy(update={"residues": [*out[index].residues, residue]})
    return out


def _groups_across_items(atoms: list[Atom]) -> set[str]:
    """The any-of groups whose members come from more than one item."""
    items: dict[str, set[str]] = {}
    for atom in atoms:
        if atom.any_of is not None:
            items.setdefault(atom.any_of, set()).add(_ITEM_OF.sub("", atom.id))
    return {group for group, of in items.items() if len(of) > 1}


def _same_site(first: str, second: str, lex: Lexicon) -> bool:
    """Whether two cancers may be one patient's tumour: the same concept, one inside the other, or ICD-10-CM sites
    that nest ("C50" of breast cancer and of its triple-negative kind); a cancer without a site may be any."""
    if first == second or _covers(first, second, lex) or _covers(second, first, lex):
        return True
    sites = [_icd_sites(first, lex), _icd_sites(second, lex)]
    if not sites[0] or not sites[1]:
        return True
    return any(a.startswith(b) or b.startswith(a) for a in sites[0] for b in sites[1])


def _icd_sites(key: str, lex: Lexicon) -> list[str]:
    concept = lex.get(key)
    codes = [c.code for c in (*concept.codings, *concept.site_codings) if c.system == _ICD10CM]
    return codes + [p.prefix for p in concept.code_prefixes if p.system == _ICD10CM]


def _overlapping_items(items: dict[str, list[int]], atoms: list[Atom], lex: Lexicon) -> list[list[str]]:
    """The items in groups whose cancers overlap (the same concept, or one inside the other), in order."""
    keys = {item: {atoms[i].concept_key or "" for i in members} for item, members in items.items()}
    clusters: list[list[str]] = []
    for item in items:
        linked = [c for c in clusters if any(_same_site(x, y, lex) for x in keys[item] for o in c for y in keys[o])]
        merged = [item] + [o for c in linked for o in c]
        clusters = [c for c in clusters if not any(c is other for other in linked)] + [merged]
    order = list(items)
    return sorted((sorted(c, key=order.index) for c in clusters), key=lambda c: order.index(c[0]))


_ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _primary_cancer(key: str, lex: Lexicon) -> bool:
    """A concept coded (or sited) in ICD-10-CM's malignant neoplasms (C00-C96)."""
    concept = lex.get(key)
    codes = [c.code for c in (*concept.codings, *concept.site_codings) if c.system == _ICD10CM]
    codes += [p.prefix for p in concept.code_prefixes if p.system == _ICD10CM]
    return bool(codes) and all(code.startswith("C") for code in codes)


def _excepted(atom: Atom, concept: Concept, lex: Lexicon) -> bool:
    """Whether the exclusion already excepts the concept ("other non-colorectal malignancy", rectal cancer)."""
    key = atom.excluded_concept_key
    if key is not None and (key == concept.key or _covers(key, concept.key, lex)):
        return True
    excepted = {(c.system, c.code) for c in atom.excluded_concepts}
    return bool(concept.codings) and {(c.system, c.code) for c in concept.codings} <= excepted


def _except(atom: Atom, codes: Sequence[Coding], own: str) -> Atom:
    """The exclusion with the trial's own condition excepted, and a residue saying so."""
    excepted = list(atom.excluded_concepts)
    excepted += [c for c in codes if c not in excepted]
    residue = Residue(text=atom.text, effect="narrows", reason=f"read as other than the trial's own condition {own}")
    return atom.model_copy(update={"excluded_concepts": excepted, "residues": [*atom.residues, residue]})


_ITEM_ID = re.compile(r"[a-z]+$")  # "exc-13.5b" is atom b of item exc-13.5


def _statement(atom: Atom) -> tuple[object, ...] | None:
    """What a computable atom states, with the item it comes from; None for atoms never merged."""
    if not atom.computable or atom.any_of or atom.item_text is None or atom.concept_key is None:
        return None
    return (
        _ITEM_ID.sub("", atom.id), atom.kind, atom.item_text, atom.cohort, atom.concept_key, atom.comparator,
        atom.value, atom.high, atom.unit, atom.uln_multiple, atom.lln_multiple, atom.within_days,
        tuple(atom.qualifiers), atom.negated, tuple(c.code for c in atom.excluded_concepts),
    )  # fmt: skip


def _merge_restatements(atoms: list[Atom]) -> list[Atom]:
    """A statement made twice in one item ("biopsy confirmed breast cancer ... with stage I-III breast cancer") is
    one criterion: the first atom takes the residues of the second, which is left for review naming it."""
    first: dict[tuple[object, ...], int] = {}
    out = list(atoms)
    for i, atom in enumerate(out):
        statement = _statement(atom)
        if statement is None:
            continue
        j = first.setdefault(statement, i)
        if j == i:
            continue
        kept = out[j]
        extra = [r for r in atom.residues if r not in kept.residues]
        if extra:
            out[j] = kept.model_copy(update={"residues": [*kept.residues, *extra]})
        out[i] = left_for_review(atom, f"states again what {kept.id} states")
    return out
