"""Group (definitional, type person): the structured eligibility fields and, for R4, every
criterion atom as a characteristic.

Criterion atoms (``criteria/model.py``) become characteristics: code = the atom's first concept
(else text only), value[x] from the comparator, ``exclude`` for exclusion atoms (flipped once for
``absent``/negated atoms: "no history of X" is X excluded), and project extensions carrying the
atom id, text, category, computable flag + reason and the expressions. The structured atoms
``age`` and ``sex`` are skipped: the structured fields already give them.
"""

from __future__ import annotations

from fhir_adapter.criteria.model import Atom, CompiledCriteria
from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, coding, concept, extension, text_concept
from fhir_adapter.mapping.tables import lookup, section
from fhir_adapter.trial import AgeBound, Eligibility

GROUP_ROLE = "eligibility"
STRUCTURED_ATOM_IDS = frozenset({"age", "sex"})
_COMPARATORS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _age_quantity(bound: AgeBound | None) -> JSON | None:
    if bound is None:
        return None
    return {"value": bound.value, "unit": bound.unit, "system": C.UCUM, "code": bound.unit}


def _characteristic(code: JSON, value: JSON, exclude: bool = False, extensions: list[JSON] | None = None) -> JSON:
    return {"extension": extensions, "code": code, **value, "exclude": exclude}


def structured_characteristics(eligibility: Eligibility) -> list[JSON]:
    """Sex, age range (either bound may be open) and healthy volunteers."""
    found: list[JSON] = []
    sex = lookup("study_design", "sex", eligibility.sex)
    if sex:
        value = {"valueCodeableConcept": concept(None, [coding(section("study_design", "sex_system"), sex)])}
        found.append(_characteristic(text_concept("Sex"), value))
    low, high = _age_quantity(eligibility.minimum_age), _age_quantity(eligibility.maximum_age)
    if low or high:
        found.append(_characteristic(concept("Age", [C.AGE_CODE]), {"valueRange": {"low": low, "high": high}}))
    if eligibility.healthy_volunteers is not None:
        volunteers: JSON = {"valueBoolean": eligibility.healthy_volunteers}
        found.append(_characteristic(text_concept("Accepts healthy volunteers"), volunteers))
    return found


def _summary(eligibility: Eligibility) -> str | None:
    ages = [b.raw if b else None for b in (eligibility.minimum_age, eligibility.maximum_age)]
    parts = [
        f"Sex: {eligibility.sex}" if eligibility.sex else None,
        f"Age: {ages[0] or 'no minimum'} to {ages[1] or 'no maximum'}" if any(ages) else None,
        f"Healthy volunteers: {'yes' if eligibility.healthy_volunteers else 'no'}"
        if eligibility.healthy_volunteers is not None
        else None,
    ]
    return "; ".join(p for p in parts if p) or None


def criterion_code(atom: Atom) -> JSON:
    first = atom.concepts[:1]
    codings = [c.model_dump(exclude_none=True) for c in first]
    return concept(first[0].display if first and first[0].display else atom.text, codings)


def _quantity(value: float, atom: Atom) -> JSON:
    if atom.uln_multiple is not None or atom.lln_multiple is not None:
        return {"value": value, "unit": "× ULN" if atom.uln_multiple is not None else "× LLN"}
    return {"value": value, "unit": atom.unit, "system": C.UCUM if atom.unit else None, "code": atom.unit}


def criterion_value(atom: Atom) -> JSON:
    """value[x] of a criterion: Quantity (with comparator), Range, CodeableConcept or boolean true."""
    number = atom.uln_multiple if atom.uln_multiple is not None else atom.lln_multiple
    if number is None and isinstance(atom.value, int | float):
        number = float(atom.value)
    if atom.comparator == "between" and number is not None and atom.high is not None:
        return {"valueRange": {"low": _quantity(number, atom), "high": _quantity(atom.high, atom)}}
    if atom.comparator in _COMPARATORS and number is not None:
        return {"valueQuantity": {**_quantity(number, atom), "comparator": _COMPARATORS[atom.comparator]}}
    if atom.comparator == "eq" and number is not None:
        return {"valueQuantity": _quantity(number, atom)}
    if isinstance(atom.value, str) and atom.value:
        return {"valueCodeableConcept": text_concept(atom.value)}
    return {"valueBoolean": True}


def criterion_excluded(atom: Atom) -> bool:
    flipped = atom.comparator == "absent" or atom.negated
    return (atom.kind == "exclusion") != flipped


def criterion_expressions(atom: Atom, query_media_type: str) -> list[JSON]:
    expressions = [
        {"language": query_media_type, "expression": atom.fhir_query} if atom.fhir_query else None,
        {"language": C.FHIRPATH_MEDIA_TYPE, "expression": atom.fhirpath} if atom.fhirpath else None,
    ]
    return [e for e in expressions if e]


def criterion_extensions(atom: Atom, *, with_text: bool, query_media_type: str | None) -> list[JSON]:
    """Id, text (R4 only: R5 has ``description``), category, computable + reason, expressions."""
    found = [
        extension(C.EXT_CRITERION_ID, valueString=atom.id),
        extension(C.EXT_CRITERION_TEXT, valueString=atom.text) if with_text else None,
        extension(C.EXT_CRITERION_CATEGORY, valueCode=atom.category),
        extension(C.EXT_CRITERION_COMPUTABLE, valueBoolean=atom.computable),
        extension(C.EXT_CRITERION_NOT_COMPUTABLE_REASON, valueString=atom.reason) if atom.reason else None,
        extension(C.EXT_CRITERION_ANY_OF, valueString=atom.any_of) if atom.any_of else None,
    ]
    found += [
        {
            "url": C.EXT_CRITERION_RESIDUE,
            "extension": [
                {"url": "text", "valueString": r.text},
                {"url": "effect", "valueCode": r.effect},
                {"url": "reason", "valueString": r.reason},
            ],
        }
        for r in atom.residues
    ]
    if query_media_type:
        found += [extension(C.EXT_CRITERION_EXPRESSION, valueExpression=e)
                  for e in criterion_expressions(atom, query_media_type)]
    return [e for e in found if e]


def emitted_atoms(criteria: CompiledCriteria | None) -> list[Atom]:
    return [a for a in (criteria.atoms if criteria else []) if a.id not in STRUCTURED_ATOM_IDS]


def criterion_characteristic(atom: Atom, query_media_type: str) -> JSON:
    extensions = criterion_extensions(atom, with_text=True, query_media_type=query_media_type)
    return _characteristic(criterion_code(atom), criterion_value(atom), criterion_excluded(atom), extensions)


def group(ctx: MappingContext, criteria: CompiledCriteria | None, *, with_atoms: bool) -> Entry:
    eligibility = ctx.trial.eligibility
    characteristics = structured_characteristics(eligibility)
    if with_atoms:
        characteristics += [criterion_characteristic(a, ctx.version.query_media_type) for a in emitted_atoms(criteria)]
    criteria_text = eligibility.criteria_raw or eligibility.criteria
    body: JSON = {
        "extension": [
            extension(C.EXT_ELIGIBILITY_CRITERIA, valueMarkdown=criteria_text) if criteria_text else None,
            extension(C.EXT_STUDY_POPULATION, valueMarkdown=eligibility.study_population)
            if eligibility.study_population
            else None,
            extension(C.EXT_SAMPLING_METHOD, valueCode=eligibility.sampling_method)
            if eligibility.sampling_method
            else None,
        ],
        "type": "person",
        **ctx.version.group_membership(),
        **ctx.version.group_summary(_summary(eligibility)),
        "name": f"Eligibility of {ctx.key}",
        "characteristic": characteristics,
    }
    return ctx.entry("Group", GROUP_ROLE, body)
