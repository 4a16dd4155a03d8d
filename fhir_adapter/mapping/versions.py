"""The one place where R4 and R5 differ.

Every other module builds version-neutral pieces and asks a :class:`FhirFlavor` to place them:
status vs status + progressStatus, the phase code-system URL, category vs studyDesign,
arm vs comparisonGroup, enrollment vs recruitment, telecom vs contact (Location,
PractitionerRole), objective vs outcomeMeasure, sponsor/PI/contact vs associatedParty,
focus CodeableConcept vs CodeableReference, reasonStopped vs whyStopped, RelatedArtifact.url
vs document, Group description, Group.actual vs membership, PlanDefinition action id vs
linkId, the FHIR-query media type, result (EvidenceReport) vs its cross-version extension (DiagnosticReport),
and the fhir.resources package used to validate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fhir_adapter.errors import UsageError
from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.datatypes import JSON, coding, concept, extension, period, text_concept
from fhir_adapter.mapping.tables import lookup, section
from fhir_adapter.trial import Outcome, TrialRecord

FhirVersion = Literal["R4", "R5"]


@dataclass(frozen=True)
class ArmView:
    """A version-neutral arm: what both R4 ``arm`` and R5 ``comparisonGroup`` are built from."""

    link_id: str
    name: str
    type_coding: JSON | None
    type_text: str | None
    description: str | None
    interventions: list[JSON] = field(default_factory=list)
    """References to the ActivityDefinitions of the arm's interventions."""


@dataclass(frozen=True)
class Party:
    reference: JSON
    name: str | None
    role_token: str
    """LEAD_SPONSOR, COLLABORATOR or the registry role of a person (PRINCIPAL_INVESTIGATOR, CONTACT, ...)."""
    classifier_text: str | None = None
    telecom: list[JSON] = field(default_factory=list)


@dataclass(frozen=True)
class Parties:
    sponsor: Party | None
    collaborators: list[Party]
    officials: list[Party]
    contacts: list[Party]


def _merge(*fragments: JSON) -> JSON:
    """Merge fragments; lists under the same key (``extension``) are concatenated."""
    merged: JSON = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = merged[key] + value
            else:
                merged[key] = value
    return merged


def _status_entry(token: str | None) -> JSON | None:
    return lookup("study_status", "statuses", token)


def _raw_status_text(trial: TrialRecord) -> str | None:
    return trial.overall_status_raw or trial.overall_status


def _objective_type(version: FhirVersion, kind: str) -> JSON:
    system = section("study_design", "objective_type_system")[version]
    return concept(None, [coding(system, section("study_design", "objective_types")[kind])])


def _outcome_description(outcome: Outcome) -> str | None:
    parts = [outcome.description, f"Time frame: {outcome.time_frame}" if outcome.time_frame else None]
    return "\n\n".join(p for p in parts if p) or None


def _role_coding(token: str) -> JSON | None:
    entry = lookup("contact_roles", "roles", token)
    return coding(section("contact_roles", "system"), entry) if entry else None


class FhirFlavor:
    """Base: what is the same in both versions. Subclasses override the differences."""

    name: FhirVersion
    phase_system: str
    query_media_type: str
    model_package: str
    codes_design: bool
    """Whether design concepts carry study-design codings (R5 only: R4 has no such code system)."""
    results_type: str
    """The resource that carries posted results (see mapping/results.py for the choice)."""
    outcome_variables: bool
    """Whether each posted outcome measure becomes an EvidenceVariable (R5 outcomeMeasure.reference)."""

    @property
    def purpose_system(self) -> str:
        return str(section("study_design", "purpose_system")[self.name])

    def classifiers(self, concepts: list[JSON]) -> JSON:
        """R5 ``classifier``; R4 the cross-version extension of the same element."""
        raise NotImplementedError

    def artifact_classifier(self, concept_: JSON | None) -> JSON:
        """RelatedArtifact.classifier (R5) or its cross-version extension (R4)."""
        raise NotImplementedError

    def site_study_status(self, token: str) -> JSON:
        """Status of a per-site ResearchStudy from the site's registry recruitment status."""
        raise NotImplementedError

    def study_status(self, trial: TrialRecord) -> JSON:
        raise NotImplementedError

    def why_stopped(self, text: str | None) -> JSON:
        raise NotImplementedError

    def alternative_titles(self, trial: TrialRecord) -> JSON:
        raise NotImplementedError

    def design(self, concepts: list[JSON]) -> JSON:
        raise NotImplementedError

    def focus(self, concepts: list[JSON]) -> JSON:
        raise NotImplementedError

    def description(self, trial: TrialRecord) -> JSON:
        raise NotImplementedError

    def arms(self, arms: list[ArmView]) -> JSON:
        raise NotImplementedError

    def enrollment(self, trial: TrialRecord, group: JSON, criteria: JSON | None) -> JSON:
        raise NotImplementedError

    def outcomes(self, outcomes: list[Outcome], references: list[JSON | None] | None = None) -> JSON:
        """``references``: per outcome, its EvidenceVariable (R5 ``outcomeMeasure.reference``)."""
        raise NotImplementedError

    def result(self, reference: JSON | None) -> JSON:
        """R5 ``result``; R4 the cross-version extension of the same element."""
        raise NotImplementedError

    def parties(self, parties: Parties) -> JSON:
        raise NotImplementedError

    def related_link(self, artifact_type: str, url: str | None, display: str | None, citation: str | None) -> JSON:
        raise NotImplementedError

    def group_membership(self) -> JSON:
        raise NotImplementedError

    def group_summary(self, text: str | None) -> JSON:
        raise NotImplementedError

    def contact_points(self, telecom: list[JSON]) -> JSON:
        """Telecom of a Location or PractitionerRole (R4 ``telecom``, R5 ``contact[].telecom``)."""
        raise NotImplementedError

    def action_id(self, link_id: str) -> JSON:
        raise NotImplementedError

    def related_action(self, target_link_id: str, relationship: str) -> JSON:
        raise NotImplementedError

    def arm_type(self, arm: ArmView) -> JSON | None:
        return concept(arm.type_text, [arm.type_coding] if arm.type_coding else None)

    def arm_extensions(self, arm: ArmView) -> list[JSON]:
        return [extension(C.EXT_ARM_INTERVENTION, valueReference=ref) for ref in arm.interventions]


class R4(FhirFlavor):
    name: FhirVersion = "R4"
    phase_system = "http://terminology.hl7.org/CodeSystem/research-study-phase"
    query_media_type = "application/x-fhir-query"
    model_package = "fhir.resources.R4B"
    codes_design = False
    results_type = "DiagnosticReport"
    outcome_variables = False

    def classifiers(self, concepts: list[JSON]) -> JSON:
        return {"extension": [extension(C.XVER_CLASSIFIER, valueCodeableConcept=c) for c in concepts]}

    def artifact_classifier(self, concept_: JSON | None) -> JSON:
        return {"extension": [extension(C.XVER_ARTIFACT_CLASSIFIER, valueCodeableConcept=concept_)]} if concept_ else {}

    def site_study_status(self, token: str) -> JSON:
        entry = _status_entry(token)
        return {"status": entry["r4"]["code"] if entry else section("study_status", "r4_missing")["code"]}

    def study_status(self, trial: TrialRecord) -> JSON:
        """R4 status is 1..1 with a required binding: for tokens without a faithful code the
        least-wrong code of the table is used; for UNKNOWN, the last known status when it maps
        faithfully and is not an open one (an unverified trial is never shown open). The registry
        value itself always travels in EXT_REGISTRY_STATUS."""
        entry = _status_entry(trial.overall_status)
        if entry is None:
            return {"status": section("study_status", "r4_missing")["code"]}
        chosen = entry["r4"]
        last_known = _status_entry(trial.last_known_status)
        if (
            entry.get("use_last_known_for_r4")
            and last_known
            and last_known.get("faithful")
            and last_known["r4"]["code"] not in entry.get("last_known_not_for_r4", ())
        ):
            chosen = last_known["r4"]
        return {"status": chosen["code"]}

    def why_stopped(self, text: str | None) -> JSON:
        return {"reasonStopped": text_concept(text)} if text else {}

    def alternative_titles(self, trial: TrialRecord) -> JSON:
        titles = [t for t in (trial.official_title, trial.acronym) if t and t != trial.brief_title]
        return {"extension": [extension(C.EXT_ALTERNATIVE_TITLE, valueString=t) for t in titles]}

    def design(self, concepts: list[JSON]) -> JSON:
        return {"category": concepts}

    def focus(self, concepts: list[JSON]) -> JSON:
        return {"focus": concepts}

    def description(self, trial: TrialRecord) -> JSON:
        parts = [trial.brief_summary, trial.detailed_description]
        return {"description": "\n\n".join(p for p in parts if p) or None}

    def arms(self, arms: list[ArmView]) -> JSON:
        return {
            "arm": [
                {
                    "extension": self.arm_extensions(arm),
                    "name": arm.name,
                    "type": self.arm_type(arm),
                    "description": arm.description,
                }
                for arm in arms
            ]
        }

    def enrollment(self, trial: TrialRecord, group: JSON, criteria: JSON | None) -> JSON:
        # R4 has no enrollment number: the cross-version extension of R5 recruitment carries it, as
        # actualNumber (registry ACTUAL) or targetNumber (ESTIMATED), like R5 itself.
        count: JSON | None = None
        if trial.enrollment_count is not None:
            number = "actualNumber" if trial.enrollment_type == "ACTUAL" else "targetNumber"
            value = {"url": number, "valueUnsignedInt": trial.enrollment_count}
            count = extension(C.XVER_RECRUITMENT, extension=[value])
        return {"extension": [count], "enrollment": [group]}

    def result(self, reference: JSON | None) -> JSON:
        return {"extension": [extension(C.XVER_RESULT, valueReference=reference)]} if reference else {}

    def outcomes(self, outcomes: list[Outcome], references: list[JSON | None] | None = None) -> JSON:
        return {
            "objective": [
                {
                    "extension": [
                        extension(C.EXT_OUTCOME_DESCRIPTION, valueString=o.description) if o.description else None,
                        extension(C.EXT_OUTCOME_TIME_FRAME, valueString=o.time_frame) if o.time_frame else None,
                    ],
                    "name": o.measure,
                    "type": _objective_type(self.name, o.kind),
                }
                for o in outcomes
            ]
        }

    def parties(self, parties: Parties) -> JSON:
        investigators = set(section("contact_roles", "r4_principal_investigator"))
        pis = [p for p in parties.officials if p.role_token in investigators]
        others = [p for p in parties.officials if p not in pis[:1]]
        return {
            "extension": [extension(C.EXT_COLLABORATOR, valueReference=p.reference) for p in parties.collaborators]
            + [extension(C.EXT_STUDY_OFFICIAL, valueReference=p.reference) for p in others],
            "sponsor": parties.sponsor.reference if parties.sponsor else None,
            "principalInvestigator": pis[0].reference if pis else None,
            "contact": [{"name": p.name, "telecom": p.telecom} for p in parties.contacts],
        }

    def related_link(self, artifact_type: str, url: str | None, display: str | None, citation: str | None) -> JSON:
        return {"type": artifact_type, "display": display, "citation": citation, "url": url}

    def group_membership(self) -> JSON:
        return {"actual": False}

    def group_summary(self, text: str | None) -> JSON:
        return {}  # R4 Group has no description; the characteristics carry the same facts

    def contact_points(self, telecom: list[JSON]) -> JSON:
        return {"telecom": telecom}

    def action_id(self, link_id: str) -> JSON:
        return {"id": link_id}

    def related_action(self, target_link_id: str, relationship: str) -> JSON:
        return {"actionId": target_link_id, "relationship": relationship}


class R5(FhirFlavor):
    name: FhirVersion = "R5"
    phase_system = "http://hl7.org/fhir/research-study-phase"
    query_media_type = "text/x-fhir-query"
    model_package = "fhir.resources"
    codes_design = True
    results_type = "EvidenceReport"
    outcome_variables = True

    def classifiers(self, concepts: list[JSON]) -> JSON:
        return {"classifier": concepts}

    def artifact_classifier(self, concept_: JSON | None) -> JSON:
        return {"classifier": [concept_]} if concept_ else {}

    def site_study_status(self, token: str) -> JSON:
        entry = _status_entry(token)
        if entry and entry.get("faithful"):
            state = concept(None, [coding(section("study_status", "system"), entry["r5"])])
        else:
            state = text_concept(f"Registry status: {token} (no FHIR code)")
        return {"status": "active", "progressStatus": [{"state": state}]}

    def study_status(self, trial: TrialRecord) -> JSON:
        # R5 status is the publication status of this record; the trial's state is progressStatus.
        entry = _status_entry(trial.overall_status)
        system = section("study_status", "system")
        state: JSON | None = None
        if entry and entry.get("faithful"):
            state = concept(None, [coding(system, entry["r5"])])
        elif _raw_status_text(trial):
            state = text_concept(f"Registry status: {_raw_status_text(trial)} (no FHIR code)")
        overall = {
            "state": concept(None, [coding(system, section("study_status", "r5_overall_study"))]),
            "actual": _all_actual(trial),
            "period": _study_period(trial),
        }
        return {"status": "active", "progressStatus": [{"state": state} if state else None, overall]}

    def why_stopped(self, text: str | None) -> JSON:
        return {"whyStopped": text_concept(text)} if text else {}

    def alternative_titles(self, trial: TrialRecord) -> JSON:
        system = section("title_types", "system")
        labels = []
        for field_name, entry in section("title_types", "title_types").items():
            value = getattr(trial, field_name)
            if value:
                kind = coding(system, entry)
                labels.append({"type": concept(entry["display"], [kind]), "value": value})
        return {"label": labels}

    def design(self, concepts: list[JSON]) -> JSON:
        return {"studyDesign": concepts}

    def focus(self, concepts: list[JSON]) -> JSON:
        return {"focus": [{"concept": c} for c in concepts]}

    def description(self, trial: TrialRecord) -> JSON:
        return {"descriptionSummary": trial.brief_summary, "description": trial.detailed_description}

    def arms(self, arms: list[ArmView]) -> JSON:
        return {
            "comparisonGroup": [
                {
                    "extension": self.arm_extensions(arm),
                    "linkId": arm.link_id,
                    "name": arm.name,
                    "type": self.arm_type(arm),
                    "description": arm.description,
                }
                for arm in arms
            ]
        }

    def enrollment(self, trial: TrialRecord, group: JSON, criteria: JSON | None) -> JSON:
        number = "actualNumber" if trial.enrollment_type == "ACTUAL" else "targetNumber"
        return {"recruitment": {number: trial.enrollment_count, "eligibility": criteria or group}}

    def result(self, reference: JSON | None) -> JSON:
        return {"result": [reference]} if reference else {}

    def outcomes(self, outcomes: list[Outcome], references: list[JSON | None] | None = None) -> JSON:
        refs = references or [None] * len(outcomes)
        return {
            "outcomeMeasure": [
                {"name": o.measure, "type": [_objective_type(self.name, o.kind)],
                 "description": _outcome_description(o), "reference": ref}
                for o, ref in zip(outcomes, refs, strict=True)
            ]
        }

    def parties(self, parties: Parties) -> JSON:
        everyone = ([parties.sponsor] if parties.sponsor else []) + parties.collaborators
        everyone += parties.officials + parties.contacts
        return {
            "associatedParty": [
                {
                    "name": p.name,
                    "role": concept(None if _role_coding(p.role_token) else p.role_token, _codings(p.role_token)),
                    "classifier": [text_concept(p.classifier_text)] if p.classifier_text else None,
                    "party": p.reference,
                }
                for p in everyone
            ]
        }

    def related_link(self, artifact_type: str, url: str | None, display: str | None, citation: str | None) -> JSON:
        document = {"url": url} if url else None
        return {"type": artifact_type, "display": display, "citation": citation, "document": document}

    def group_membership(self) -> JSON:
        return {"membership": "definitional"}

    def group_summary(self, text: str | None) -> JSON:
        return {"description": text}

    def contact_points(self, telecom: list[JSON]) -> JSON:
        return {"contact": [{"telecom": telecom}] if telecom else None}

    def action_id(self, link_id: str) -> JSON:
        # relatedAction.targetId refers to the action's element id (pld-4), linkId names it for the rest
        return {"id": link_id, "linkId": link_id}

    def related_action(self, target_link_id: str, relationship: str) -> JSON:
        return {"targetId": target_link_id, "relationship": relationship}


def _codings(role_token: str) -> list[JSON] | None:
    role = _role_coding(role_token)
    return [role] if role else None


def _all_actual(trial: TrialRecord) -> bool | None:
    dates = [d for d in (trial.start_date, trial.completion_date) if d]
    if not dates or any(d.type is None for d in dates):
        return None
    return all(d.type == "ACTUAL" for d in dates)


def _study_period(trial: TrialRecord) -> JSON:
    start = trial.start_date
    end = trial.completion_date
    types = [("start", start.type if start else None), ("end", end.type if end else None)]
    date_types = [{"url": name, "valueCode": value} for name, value in types if value]
    body = period(start.date if start else None, end.date if end else None)
    return _merge({"extension": [extension(C.EXT_DATE_TYPE, extension=date_types)] if date_types else []}, body)


def study_period(trial: TrialRecord) -> JSON:
    """ResearchStudy.period (start to completion) with the ACTUAL/ESTIMATED of each date."""
    return _study_period(trial)


def merge(*fragments: JSON) -> JSON:
    return _merge(*fragments)


_FLAVORS: dict[str, FhirFlavor] = {"R4": R4(), "R5": R5()}


def flavor(version: str) -> FhirFlavor:
    try:
        return _FLAVORS[version]
    except KeyError:
        raise UsageError(f"unknown FHIR version {version!r} (expected R4 or R5)", field="fhir_version") from None
