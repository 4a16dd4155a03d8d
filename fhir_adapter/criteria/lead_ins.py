"""Sub-items read with the line that introduces them: its time window and qualifiers pass to them; under
"except:" or "The following are exceptions:" they are exceptions; under "At least one of the following:" they are
alternatives (an any-of group among the inclusions), and under "at least 3 of 5" alternatives whose count of met
items is not evaluated."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fhir_adapter.criteria.alternatives import alternatives_count
from fhir_adapter.criteria.model import Atom, Residue
from fhir_adapter.criteria.parse import introduces_exceptions, lead_in_window
from fhir_adapter.criteria.qualifiers import lead_in_qualifiers
from fhir_adapter.criteria.split import Item


def under_lead_in(atom: Atom, parent: Atom, parent_id: str) -> Atom:
    """A sub-item's atom read with its lead-in (``parent``, an atom of the introducing line)."""
    lead_text = parent.item_text or parent.text
    if introduces_exceptions(lead_text):
        update: dict[str, object] = {
            "computable": False,
            "reason": f"an exception to criterion {parent_id}: to confirm by hand",
            "residues": [],
        }
        return inherit_from_lead_in(atom.model_copy(update=update), parent)
    count = alternatives_count(lead_text)
    atom = inherit_from_lead_in(atom, parent)
    if count == 1 and atom.kind == "inclusion":
        return atom.model_copy(update={"any_of": f"{parent_id}-any"})
    if count is not None and count > 1 and atom.computable:
        reason = f"one of the alternatives of criterion {parent_id} (at least {count} to meet): not counted"
        return atom.model_copy(update={"computable": False, "reason": reason, "residues": []})
    return atom


def with_listed_exceptions(atoms: list[Atom], lead_ins: dict[str, Atom]) -> list[Atom]:
    """A criterion whose lead-in lists exceptions below it ("Other malignancy, except:") keeps them as a
    residue to confirm when the finding is present."""
    parents = {item_id for item_id, atom in lead_ins.items() if introduces_exceptions(atom.item_text or atom.text)}
    out = []
    for atom in atoms:
        item_id = atom.id.rstrip("abcdefghijklmnopqrstuvwxyz")
        excepted = any(r.reason.startswith("an exception") for r in atom.residues)
        if item_id in parents and atom.computable and atom.comparator == "present" and not excepted:
            residue = Residue(text=atom.text, effect="narrows", reason="the exceptions listed below it")
            atom = atom.model_copy(update={"residues": [*atom.residues, residue]})
        out.append(atom)
    return out


_PASSED_QUALIFIERS = ("history", "prior", "current", "active", "known")


def inherit_from_lead_in(atom: Atom, lead_in: Atom | None) -> Atom:
    """A sub-item takes the time window and the history/current qualifiers of the line that introduces it
    ("Any of the following within 6 months before enrolment:" / "- myocardial infarction")."""
    if lead_in is None or not atom.computable:
        return atom
    window = lead_in_window(lead_in.text)
    stated = lead_in_qualifiers(lead_in.text)
    qualifiers = [q for q in _PASSED_QUALIFIERS if q in stated and q not in atom.qualifiers]
    update: dict[str, object] = {}
    if atom.within_days is None and window is not None and atom.category != "demographic":
        update["within_days"] = window
    if qualifiers and atom.comparator in ("present", "absent"):
        update["qualifiers"] = [*atom.qualifiers, *qualifiers]
    return atom.model_copy(update=update) if update else atom


_OR_ITEM = re.compile(r"[\W_]*(?:or|and/or)[\W_]*", re.IGNORECASE)


def joined_by_or_items(atoms: list[Atom], text: str, items: Sequence[Item]) -> list[Atom]:
    """ "* Serum creatinine <= 1.5 mg/dL / * OR - / * Calculated creatinine clearance >= 40 mL/min": an inclusion
    item that is only "or" makes the items before and after it alternatives (one any-of group)."""
    groups: dict[str, str] = {}
    for before, item, after in zip(items, items[1:], items[2:], strict=False):
        if item.kind == "inclusion" and _OR_ITEM.fullmatch(text[item.start : item.end]):
            group = groups.get(before.id, f"{item.id}-any")
            groups[before.id] = groups[after.id] = group
            groups[item.id] = ""
    if not groups:
        return atoms
    out: list[Atom] = []
    for atom in atoms:
        joined = groups.get(atom.id.rstrip("abcdefghijklmnopqrstuvwxyz"))
        if joined == "":
            atom = atom.model_copy(update={"reason": "joins the items around it as alternatives", "residues": []})
        elif joined is not None:
            atom = atom.model_copy(update={"any_of": joined})
        out.append(atom)
    return out
