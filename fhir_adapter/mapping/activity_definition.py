"""ActivityDefinition: one per intervention, plus one per component of a combination or regimen.

The kind comes from ``intervention_types.yaml``; drugs are coded through the injected drug lookup
(ATC/RxNorm from the lexicon), procedures through ``procedures.yaml`` (SNOMED CT). The registry's
name is always kept as text. No dose, fraction or cycle count is ever added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, concept, extension
from fhir_adapter.mapping.interventions import Component, components, drug_codings, procedure_coding
from fhir_adapter.mapping.tables import lookup, section
from fhir_adapter.trial import Intervention


@dataclass(frozen=True)
class MappedIntervention:
    """What the PlanDefinition and the arms need to know about an intervention's definitions."""

    index: int
    name: str
    role: str
    component_roles: list[tuple[str, str]] = field(default_factory=list)
    """(role, component name) of each component ActivityDefinition (combinations only)."""
    codings: tuple[JSON, ...] = ()
    """The codes of the main ActivityDefinition (single agents and procedures; none for combinations)."""


def intervention_role(index: int) -> str:
    return f"intervention-{index}"


def _kind(ctx: MappingContext, intervention: Intervention) -> JSON:
    entry = lookup("intervention_types", "kinds", intervention.type)
    if entry:
        return entry
    if intervention.type is None:
        return _inferred_kind(ctx, intervention.name)
    return dict(section("intervention_types", "missing"))


def _inferred_kind(ctx: MappingContext, name: str) -> JSON:
    """No registry type (registry pages): a procedure name, or agents the drug lexicon or a regimen knows."""
    kinds = section("intervention_types", "kinds")
    if procedure_coding(name):
        return dict(kinds["PROCEDURE"])
    if any(c.regimen or ctx.drug_lookup(c.lookup_name) for c in components(name)):
        return dict(kinds["DRUG"])
    return dict(section("intervention_types", "missing"))


def _coded(kind: JSON, text: str, codings: list[JSON]) -> JSON:
    element = "productCodeableConcept" if kind.get("lexicon") == "drug" else "code"
    return {element: concept(text, codings)}


def _description(intervention: Intervention) -> str | None:
    other = f"Other names: {', '.join(intervention.other_names)}" if intervention.other_names else None
    return "\n\n".join(p for p in (intervention.description, other) if p) or None


def _registry_extensions(intervention: Intervention) -> list[JSON]:
    """The registry's intervention type (BEHAVIORAL and OTHER share a kind with procedures) and other names."""
    found = [extension(C.EXT_INTERVENTION_TYPE, valueCode=intervention.type)] if intervention.type else []
    if intervention.type and not lookup("intervention_types", "kinds", intervention.type):
        found.append(extension(C.EXT_REGISTRY_VALUE, valueString=f"interventionType={intervention.type}"))
    return found + [extension(C.EXT_INTERVENTION_OTHER_NAME, valueString=n) for n in intervention.other_names]


def _definition(
    ctx: MappingContext,
    role: str,
    title: str,
    kind: JSON,
    coded: JSON,
    description: str | None,
    extensions: list[JSON] | None = None,
) -> Entry:
    body: JSON = {
        "extension": extensions,
        "url": ctx.canonical("ActivityDefinition", role),
        "title": title,
        "status": "active",
        "description": description,
        "kind": kind["kind"],
        **coded,
    }
    return ctx.entry("ActivityDefinition", role, body)


def component_text(part: Component) -> str:
    """As written, with the name looked up when it differs (``IL-2 (aldesleukin)``)."""
    return part.written if part.written.lower() == part.lookup_name.lower() else f"{part.written} ({part.lookup_name})"


def _component_entries(ctx: MappingContext, role: str, kind: JSON, parts: list[Component], name: str) -> list[Entry]:
    return [
        _definition(
            ctx,
            f"{role}-component-{index}",
            component_text(part),
            kind,
            _coded(kind, component_text(part), drug_codings(ctx.drug_lookup(part.lookup_name))),
            f"Component of {name}" + (f" (regimen {part.regimen.upper()})" if part.regimen else ""),
        )
        for index, part in enumerate(parts, 1)
    ]


def _main_codings(ctx: MappingContext, kind: JSON, name: str, parts: list[Component]) -> list[JSON]:
    if kind.get("lexicon") == "procedure":
        found = procedure_coding(name)
        return [found] if found else []
    if kind.get("lexicon") == "drug" and len(parts) == 1:
        return drug_codings(ctx.drug_lookup(parts[0].lookup_name))
    return []


def activity_definitions(ctx: MappingContext) -> tuple[list[Entry], list[MappedIntervention]]:
    entries: list[Entry] = []
    mapped: list[MappedIntervention] = []
    for index, intervention in enumerate(ctx.trial.interventions, 1):
        role = intervention_role(index)
        kind = _kind(ctx, intervention)
        parts = components(intervention.name) if kind.get("lexicon") == "drug" else []
        codings = _main_codings(ctx, kind, intervention.name, parts)
        main = _definition(
            ctx,
            role,
            intervention.name,
            kind,
            _coded(kind, intervention.name, codings),
            _description(intervention),
            _registry_extensions(intervention),
        )
        entries.append(main)
        component_entries = _component_entries(ctx, role, kind, parts, intervention.name) if len(parts) > 1 else []
        entries += component_entries
        component_roles = [
            (f"{role}-component-{i}", component_text(p)) for i, p in enumerate(parts, 1) if component_entries
        ]
        mapped.append(MappedIntervention(index, intervention.name, role, component_roles, tuple(codings)))
    return entries, mapped
