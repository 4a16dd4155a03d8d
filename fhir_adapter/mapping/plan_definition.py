"""PlanDefinition (clinical-protocol): one action per arm, nested actions per intervention,
nested again per component of a combination, and ``relatedAction`` for the order the record's
text states (see :mod:`fhir_adapter.mapping.sequence`)."""

from __future__ import annotations

import re

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.activity_definition import MappedIntervention
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, concept
from fhir_adapter.mapping.interventions import strip_type_prefix
from fhir_adapter.mapping.sequence import ordered_pairs
from fhir_adapter.trial import Arm, TrialRecord

PLAN_ROLE = "plan"


def _normal(name: str) -> str:
    return re.sub(r"\s+", " ", strip_type_prefix(name)).strip().casefold()


def arm_role(index: int) -> str:
    return f"arm-{index}"


def interventions_of_arm(trial: TrialRecord, arm: Arm) -> list[int]:
    """0-based indices of the arm's interventions (linked from either side of the record)."""
    named = {_normal(n) for n in arm.intervention_names}
    label = _normal(arm.label)
    return [
        i
        for i, intervention in enumerate(trial.interventions)
        if _normal(intervention.name) in named or label in {_normal(a) for a in intervention.arm_labels}
    ]


def _direct(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Drop pairs implied by two others (a<b, b<c makes a<c redundant)."""
    middles = {b for _, b in pairs}
    return {(a, c) for a, c in pairs if not any((a, b) in pairs and (b, c) in pairs for b in middles)}


def _in_time_order(indices: list[int], pairs: set[tuple[int, int]]) -> list[int]:
    """Stable topological order: listed order, except where the text says otherwise."""
    remaining = list(indices)
    ordered: list[int] = []
    while remaining:
        free = next((i for i in remaining if not any((j, i) in pairs for j in remaining if j != i)), remaining[0])
        ordered.append(free)
        remaining.remove(free)
    return ordered


def _sequence_texts(trial: TrialRecord, arm: Arm | None) -> list[str | None]:
    texts: list[str | None] = [trial.official_title, trial.brief_title, trial.brief_summary, trial.detailed_description]
    if arm:
        texts += [arm.label, arm.description]
    return texts + [i.description for i in trial.interventions]


def _intervention_action(
    ctx: MappingContext, link_id: str, mapped: MappedIntervention, related: list[JSON]
) -> JSON:
    version = ctx.version
    return {
        **version.action_id(link_id),
        "title": mapped.name,
        "relatedAction": related,
        "definitionCanonical": ctx.canonical("ActivityDefinition", mapped.role),
        "action": [
            {**version.action_id(f"{link_id}-component-{n}"), "title": name,
             "definitionCanonical": ctx.canonical("ActivityDefinition", role)}
            for n, (role, name) in enumerate(mapped.component_roles, 1)
        ],
    }


def _intervention_actions(
    ctx: MappingContext, prefix: str, indices: list[int], mapped: list[MappedIntervention], arm: Arm | None
) -> list[JSON]:
    names = [mapped[i].name for i in indices]
    local = ordered_pairs(names, _sequence_texts(ctx.trial, arm))
    pairs = _direct({(indices[a], indices[b]) for a, b in local})

    def link(i: int) -> str:
        return f"{prefix}intervention-{mapped[i].index}"

    actions = []
    for i in _in_time_order(indices, pairs):
        related = [ctx.version.related_action(link(a), "after-end") for a, b in sorted(pairs) if b == i]
        related += [ctx.version.related_action(link(b), "before-start") for a, b in sorted(pairs) if a == i]
        actions.append(_intervention_action(ctx, link(i), mapped[i], related))
    return actions


def _arm_action(ctx: MappingContext, index: int, arm: Arm, mapped: list[MappedIntervention]) -> JSON:
    link_id = arm_role(index)
    return {
        **ctx.version.action_id(link_id),
        "title": arm.label,
        "description": arm.description,
        "action": _intervention_actions(ctx, f"{link_id}-", interventions_of_arm(ctx.trial, arm), mapped, arm),
    }


def plan_definition(ctx: MappingContext, mapped: list[MappedIntervention]) -> Entry:
    trial = ctx.trial
    if trial.arms:
        actions = [_arm_action(ctx, i, arm, mapped) for i, arm in enumerate(trial.arms, 1)]
    else:
        actions = _intervention_actions(ctx, "", list(range(len(mapped))), mapped, None)
    body: JSON = {
        "url": ctx.canonical("PlanDefinition", PLAN_ROLE),
        "title": f"Protocol of {trial.brief_title or trial.official_title or ctx.key}",
        "type": concept(None, [{"system": C.PLAN_DEFINITION_TYPE_SYSTEM, "code": "clinical-protocol",
                                "display": "Clinical Protocol"}]),
        "status": "active",
        "description": f"Arms and interventions of {ctx.key} as registered (no dose or schedule is added).",
        "action": actions,
    }
    return ctx.entry("PlanDefinition", PLAN_ROLE, body)
