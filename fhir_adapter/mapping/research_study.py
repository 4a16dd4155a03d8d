"""ResearchStudy: the trial itself. Version-neutral pieces are built here; their placement in R4
or R5 elements is decided by :mod:`fhir_adapter.mapping.versions`.

Registry values without a faithful FHIR code stay visible: the overall status always travels in
the ``registry-overall-status`` extension (R4 must still pick a status code: the least-wrong one of
``study_status.yaml``); unknown phases and purposes become text.
"""

from __future__ import annotations

import re

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.activity_definition import MappedIntervention
from fhir_adapter.mapping.context import Entry, MappingContext
from fhir_adapter.mapping.datatypes import JSON, coding, concept, extension, text_concept
from fhir_adapter.mapping.evidence_variable import CRITERIA_ROLE
from fhir_adapter.mapping.group import GROUP_ROLE
from fhir_adapter.mapping.location import site_ref
from fhir_adapter.mapping.organization import collaborator_role, organization_ref, sponsor_role
from fhir_adapter.mapping.plan_definition import PLAN_ROLE, arm_role, interventions_of_arm
from fhir_adapter.mapping.practitioner import contact_role, official_role, telecom
from fhir_adapter.mapping.results import outcome_references, results_ref
from fhir_adapter.mapping.study_facts import (
    classifier_concepts,
    conditions,
    fact_extensions,
    focus_concepts,
    reference_classifier,
    results_link,
)
from fhir_adapter.mapping.tables import agency_class_text, axis_title, label, lookup, section
from fhir_adapter.mapping.versions import ArmView, FhirFlavor, Parties, Party, merge, study_period
from fhir_adapter.trial import TrialRecord

_DESIGN_AXES = ("allocation", "intervention_model", "masking", "observational_model", "time_perspective")


def identifiers(trial: TrialRecord) -> list[JSON]:
    """NCT id (official), its aliases, the org study id and the secondary ids."""
    sponsor = trial.lead_sponsor.name if trial.lead_sponsor else None
    found: list[JSON] = []
    if trial.nct_id:
        found.append({"use": "official", "system": C.NCT_SYSTEM, "value": trial.nct_id})
    found += [{"use": "old", "system": C.NCT_SYSTEM, "value": alias} for alias in trial.nct_id_aliases]
    if trial.org_study_id:
        found.append({"use": "secondary", "type": text_concept("Org study id"), "value": trial.org_study_id,
                      "assigner": {"display": sponsor}})
    for secondary in trial.secondary_ids:
        found.append({
            "use": "secondary",
            "type": text_concept(secondary.type) if secondary.type else None,
            "value": secondary.id,
            "assigner": {"display": secondary.domain} if secondary.domain else None,
        })
    return found


def status_extensions(trial: TrialRecord) -> list[JSON | None]:
    raw = trial.overall_status_raw or trial.overall_status
    return [
        extension(C.EXT_REGISTRY_STATUS, valueString=raw) if raw else None,
        extension(C.EXT_REGISTRY_LAST_KNOWN_STATUS, valueString=trial.last_known_status)
        if trial.last_known_status
        else None,
        _date_extension(C.EXT_REGISTRY_STATUS_VERIFIED, trial.status_verified_date),
        _date_extension(C.EXT_REGISTRY_LAST_UPDATE, trial.last_update_date),
    ]


def _date_extension(url: str, value: str | None) -> JSON | None:
    """valueDate when the registry date is a FHIR date (``2024``, ``2024-08``, ``2024-08-27``), else text."""
    if not value:
        return None
    if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
        return extension(url, valueDate=value)
    return extension(url, valueString=value)


def phase(ctx: MappingContext) -> JSON | None:
    """The whole phases array: [PHASE1, PHASE2] -> phase-1-phase-2."""
    phases = ctx.trial.phases
    if not phases:
        return None
    entry = lookup("study_phase", "phases", "+".join(sorted(set(phases))))
    if entry is None:
        return text_concept(f"Registry phase: {', '.join(phases)} (no FHIR code)")
    return concept(None, [coding(ctx.version.phase_system, entry)])


def primary_purpose(trial: TrialRecord, version: FhirFlavor) -> JSON | None:
    token = trial.design.primary_purpose
    entry = lookup("study_design", "primary_purpose", token)
    if entry and "code" in entry:
        return concept(None, [coding(version.purpose_system, entry)])
    if token:
        return {"extension": [extension(C.EXT_REGISTRY_VALUE, valueString=token)],
                "text": entry["text"] if entry else f"Registry purpose: {token}"}
    return None


def design_concepts(trial: TrialRecord, *, coded: bool) -> list[JSON]:
    """Design concepts as text ("Allocation: Randomized"), with the study-design coding of the same meaning
    when ``coded`` (R5) and ``study_design.yaml`` lists one."""
    design = trial.design
    pairs: list[tuple[str, str]] = [("study_type", trial.study_type)] if trial.study_type else []
    pairs += [(axis, value) for axis in _DESIGN_AXES if (value := getattr(design, axis))]
    pairs += [("who_masked", who) for who in design.who_masked]
    system = section("study_design", "design_system")
    codes = section("study_design", "design_codes")
    found = []
    for axis, value in pairs:
        entry = codes.get(axis, {}).get(value) if coded else None
        found.append(concept(f"{axis_title(axis)}: {label(axis, value)}", [coding(system, entry)] if entry else None))
    if design.intervention_model_description:
        found.append(text_concept(f"Intervention model description: {design.intervention_model_description}"))
    return found


def arm_views(ctx: MappingContext, mapped: list[MappedIntervention]) -> list[ArmView]:
    system = section("arm_types", "system")
    views = []
    for index, arm in enumerate(ctx.trial.arms, 1):
        entry = lookup("arm_types", "arm_types", arm.type)
        views.append(ArmView(
            link_id=arm_role(index),
            name=arm.label,
            type_coding=coding(system, entry) if entry else None,
            type_text=None if entry else arm.type,
            description=arm.description,
            interventions=[ctx.ref("ActivityDefinition", mapped[i].role, mapped[i].name)
                           for i in interventions_of_arm(ctx.trial, arm)],
        ))
    return views


def parties(ctx: MappingContext) -> Parties:
    trial = ctx.trial
    sponsor = trial.lead_sponsor
    return Parties(
        sponsor=Party(organization_ref(ctx, sponsor_role(), sponsor), sponsor.name, "LEAD_SPONSOR",
                      agency_class_text(sponsor.agency_class)) if sponsor else None,
        collaborators=[
            Party(organization_ref(ctx, collaborator_role(i), c), c.name, "COLLABORATOR",
                  agency_class_text(c.agency_class))
            for i, c in enumerate(trial.collaborators, 1)
        ],
        officials=[
            Party(ctx.ref("PractitionerRole", f"{official_role(i)}-role", p.name), p.name, p.role or "OFFICIAL")
            for i, p in enumerate(trial.officials, 1)
        ],
        contacts=[
            Party(ctx.ref("PractitionerRole", f"{contact_role(i)}-role", p.name), p.name, p.role or "CONTACT",
                  telecom=[t for t in telecom(p) if t])
            for i, p in enumerate(trial.central_contacts, 1)
        ],
    )


def related_artifacts(ctx: MappingContext) -> list[JSON]:
    trial = ctx.trial
    link = ctx.version.related_link
    found: list[JSON] = []
    if trial.nct_id:
        page = C.REGISTRY_STUDY_PAGE.format(nct_id=trial.nct_id)
        found.append(link("derived-from", page, f"ClinicalTrials.gov record {trial.nct_id}", None))
    for related in trial.related_trials:
        display = f"Related trial {related.nct_id}" + (f": {related.title}" if related.title else "")
        found.append(link("documentation", C.REGISTRY_STUDY_PAGE.format(nct_id=related.nct_id), display, None))
    for ref in trial.references:
        url = C.PUBMED_PAGE.format(pmid=ref.pmid) if ref.pmid else None
        classifier = ctx.version.artifact_classifier(reference_classifier(ref.type))
        found.append({**classifier, **link("citation", url, f"PMID {ref.pmid}" if ref.pmid else None, ref.citation)})
    for web in trial.links:
        found.append(link("documentation", web.url, web.label, None))
    results = results_link(trial, ctx.version)
    return [*found, results] if results else found


def _unique_refs(refs: list[JSON]) -> list[JSON]:
    """First reference to each target (a site listed twice in the registry is one Location)."""
    seen: set[str] = set()
    unique: list[JSON] = []
    for ref in refs:
        if ref["reference"] not in seen:
            seen.add(ref["reference"])
            unique.append(ref)
    return unique


def research_study(
    ctx: MappingContext, mapped: list[MappedIntervention], *, with_criteria_variable: bool
) -> Entry:
    trial, version = ctx.trial, ctx.version
    group_ref = ctx.ref("Group", GROUP_ROLE)
    criteria_ref = ctx.ref("EvidenceVariable", CRITERIA_ROLE) if with_criteria_variable else None
    body = merge(
        {"extension": status_extensions(trial) + fact_extensions(trial), "identifier": identifiers(trial)},
        {"title": trial.brief_title or trial.official_title},
        version.alternative_titles(trial),
        {"protocol": [ctx.ref("PlanDefinition", PLAN_ROLE)]},
        version.study_status(trial),
        {"primaryPurposeType": primary_purpose(trial, version), "phase": phase(ctx)},
        version.design(design_concepts(trial, coded=version.codes_design)),
        version.focus(focus_concepts(trial, mapped)),
        {"condition": conditions(trial)},
        {"relatedArtifact": related_artifacts(ctx)},
        {"keyword": [text_concept(k) for k in trial.keywords]},
        version.description(trial),
        version.enrollment(trial, group_ref, criteria_ref),
        {"period": study_period(trial)},
        version.parties(parties(ctx)),
        {"site": _unique_refs([site_ref(ctx, i, s) for i, s in enumerate(trial.locations, 1)])},
        version.classifiers(classifier_concepts(trial)),
        version.why_stopped(trial.why_stopped),
        version.arms(arm_views(ctx, mapped)),
        version.outcomes(trial.outcomes, outcome_references(ctx)),
        version.result(results_ref(ctx)),
    )
    return ctx.entry("ResearchStudy", None, body)
