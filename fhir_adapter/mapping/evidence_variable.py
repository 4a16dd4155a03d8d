"""EvidenceVariable (R5 only): the compiled criteria, referenced from recruitment.eligibility.

The first characteristic points at the Group (the structured sex/age/volunteer fields); then one
characteristic per atom with ``description`` (atom text) and ``exclude``. A characteristic holds
one definition: a computable atom with both a FHIR query and a FHIRPath uses
``definitionByCombination`` all-of over two ``definitionExpression`` sub-characteristics; with one
expression, ``definitionExpression`` directly; a non-computable atom ``definitionCodeableConcept``
(its concept, or its text) and the computable=false extension with the reason. An any-of group of atoms
is one characteristic with ``definitionByCombination`` any-of over its members.
"""

from __future__ import annotations

from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON
from fhir_adapter.mapping.group import (
    GROUP_ROLE,
    criterion_code,
    criterion_excluded,
    criterion_expressions,
    criterion_extensions,
    emitted_atoms,
)

CRITERIA_ROLE = "eligibility-criteria"


def _definition(atom: Atom, query_media_type: str) -> JSON:
    expressions = criterion_expressions(atom, query_media_type) if atom.computable else []
    if len(expressions) > 1:
        subs = [{"definitionExpression": e} for e in expressions]
        return {"definitionByCombination": {"code": "all-of", "characteristic": subs}}
    if expressions:
        return {"definitionExpression": expressions[0]}
    return {"definitionCodeableConcept": criterion_code(atom)}


def atom_characteristic(atom: Atom, query_media_type: str) -> JSON:
    return {
        "extension": criterion_extensions(atom, with_text=False, query_media_type=None),
        "linkId": atom.id,
        "description": atom.text,
        "exclude": criterion_excluded(atom),
        **_definition(atom, query_media_type),
    }


def _characteristics(atoms: list[Atom], media_type: str) -> list[JSON]:
    """One characteristic per atom; the members of an any-of group become one characteristic whose
    ``definitionByCombination`` (code ``any-of``) holds a sub-characteristic per member."""
    out: list[JSON] = []
    groups: dict[str, JSON] = {}
    for atom in atoms:
        if not (atom.any_of and atom.computable):
            out.append(atom_characteristic(atom, media_type))
            continue
        combined = groups.get(atom.any_of)
        if combined is None:
            combined = {
                "linkId": atom.any_of,
                "description": "any of: " + atom.text,
                "exclude": criterion_excluded(atom),
                "definitionByCombination": {"code": "any-of", "characteristic": []},
            }
            groups[atom.any_of] = combined
            out.append(combined)
        else:
            combined["description"] = f"{combined['description']} | {atom.text}"
        combined["definitionByCombination"]["characteristic"].append(atom_characteristic(atom, media_type))
    return out


def evidence_variable(ctx: MappingContext, criteria: CompiledCriteria) -> Entry:
    structured = {
        "description": "Structured eligibility fields (sex, age, healthy volunteers)",
        "definitionReference": ctx.ref("Group", GROUP_ROLE),
    }
    media_type = ctx.version.query_media_type
    body: JSON = {
        "url": ctx.canonical("EvidenceVariable", CRITERIA_ROLE),
        "name": None,
        "title": f"Eligibility criteria of {ctx.key}",
        "status": "active",
        "description": ctx.trial.eligibility.criteria_raw or ctx.trial.eligibility.criteria,
        "characteristic": [structured, *_characteristics(emitted_atoms(criteria), media_type)],
    }
    return ctx.entry("EvidenceVariable", CRITERIA_ROLE, body)
