"""Registry facts of a ResearchStudy beyond the protocol core, version-neutral.

Registry dates (each with ACTUAL/ESTIMATED), oversight and FDA flags (R5 ``classifier`` where a code
exists), the IPD sharing statement, the responsible party, posted results, coded conditions (the
registry's MeSH terms and the lexicon's codes) and coded focus (the codes the ActivityDefinitions carry).
Codes and systems come from ``mappings/registry_facts.yaml``; where FHIR has no element the fact travels
in a project extension defined in ``mappings/definitions/``.
"""

from __future__ import annotations

from functools import cache

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.activity_definition import MappedIntervention
from fhir_adapter.mapping.datatypes import JSON, coding, concept, extension
from fhir_adapter.mapping.tables import section
from fhir_adapter.mapping.versions import FhirFlavor
from fhir_adapter.terminology import find
from fhir_adapter.trial import Intervention, Oversight, PartialDate, TrialRecord

_OVERSIGHT_FLAGS = (
    ("has-dmc", "has_dmc"),
    ("fda-regulated-drug", "fda_regulated_drug"),
    ("fda-regulated-device", "fda_regulated_device"),
    ("unapproved-device", "unapproved_device"),
    ("us-export", "us_export"),
)


def _table(key: str) -> JSON:
    found: JSON = section("registry_facts", key)
    return found


def registry_dates(trial: TrialRecord) -> list[JSON]:
    """One ``registry-date`` extension per registry date: milestone code, date and ACTUAL/ESTIMATED."""
    found: list[JSON] = []
    for field_name, entry in _table("milestones").items():
        value = getattr(trial, field_name)
        if value is None and entry.get("fallback"):
            value = getattr(trial, entry["fallback"])  # a date without its ACTUAL/ESTIMATED (registry pages)
        if value is None:
            continue
        date = value if isinstance(value, PartialDate) else PartialDate(date=str(value))
        found.append(extension(C.EXT_REGISTRY_DATE, extension=[
            {"url": "milestone", "valueCode": entry["code"]},
            {"url": "date", "valueDate": date.date},
            {"url": "type", "valueCode": date.type} if date.type else None,
        ]))
    return found


def milestone_display(code: str) -> str:
    return next((str(e["display"]) for e in _table("milestones").values() if e["code"] == code), code)


def oversight_extension(oversight: Oversight | None) -> JSON | None:
    if oversight is None:
        return None
    flags = [{"url": url, "valueBoolean": getattr(oversight, name)}
             for url, name in _OVERSIGHT_FLAGS if getattr(oversight, name) is not None]
    return extension(C.EXT_OVERSIGHT, extension=flags) if flags else None


def classifier_concepts(trial: TrialRecord) -> list[JSON]:
    """R5 research-study-classifiers codes for the oversight flags that are true."""
    oversight = trial.oversight
    if oversight is None:
        return []
    system = section("registry_facts", "classifier_system")
    return [concept(None, [coding(system, entry)]) for flag, entry in _table("classifiers").items()
            if getattr(oversight, flag) is True]


def ipd_sharing_extension(trial: TrialRecord) -> JSON | None:
    ipd = trial.ipd_sharing
    if ipd is None:
        return None
    parts = [
        {"url": "sharing", "valueCode": ipd.sharing} if ipd.sharing else None,
        {"url": "description", "valueString": ipd.description} if ipd.description else None,
        *({"url": "info-type", "valueCode": t} for t in ipd.info_types),
        {"url": "time-frame", "valueString": ipd.time_frame} if ipd.time_frame else None,
        {"url": "access-criteria", "valueString": ipd.access_criteria} if ipd.access_criteria else None,
        {"url": "url", "valueUri": ipd.url} if ipd.url else None,
    ]
    present = [p for p in parts if p]
    return extension(C.EXT_IPD_SHARING, extension=present) if present else None


def responsible_party_extension(trial: TrialRecord) -> JSON | None:
    party = trial.responsible_party
    if party is None:
        return None
    parts = [
        {"url": "type", "valueCode": party.role} if party.role else None,
        {"url": "name", "valueString": party.name} if party.name else None,
        {"url": "title", "valueString": party.title} if party.title else None,
        {"url": "affiliation", "valueString": party.affiliation} if party.affiliation else None,
    ]
    present = [p for p in parts if p]
    return extension(C.EXT_RESPONSIBLE_PARTY, extension=present) if present else None


def fact_extensions(trial: TrialRecord) -> list[JSON | None]:
    """Every project extension of this module for the ResearchStudy, in a fixed order."""
    return [
        *registry_dates(trial),
        responsible_party_extension(trial),
        oversight_extension(trial.oversight),
        ipd_sharing_extension(trial),
        extension(C.EXT_HAS_RESULTS, valueBoolean=trial.has_results) if trial.has_results is not None else None,
    ]


def reference_classifier(token: str | None) -> JSON | None:
    entry = _table("reference_types").get(token) if token else None
    if not isinstance(entry, dict):
        return None
    return concept(None, [coding(section("registry_facts", "reference_type_system"), entry)])


def results_link(trial: TrialRecord, version: FhirFlavor) -> JSON | None:
    """A RelatedArtifact to the registry's results tab when results are posted."""
    if not trial.has_results or not trial.nct_id:
        return None
    url = section("registry_facts", "results_page").format(nct_id=trial.nct_id)
    link = version.related_link("documentation", url, f"Results of {trial.nct_id} on ClinicalTrials.gov", None)
    return {**version.artifact_classifier(reference_classifier("RESULT")), **link}


# --------------------------------------------------------------------------------------------------
# Conditions and focus


@cache
def _lexicon_codings(name: str) -> tuple[JSON, ...]:
    """The lexicon's codes for a condition name the lexicon reads whole as one condition concept, when the
    concept is one disease (at most one code per system); a value set of several codes is not a coding."""
    matches = find(name)
    text = name.strip()
    if len(matches) != 1 or matches[0].start != 0 or matches[0].end != len(text):
        return ()
    found = matches[0].concept
    systems = [c.system for c in found.codings]
    if found.category != "condition" or not systems or len(systems) != len(set(systems)):
        return ()
    return tuple({"system": c.system, "code": c.code, "display": c.display} for c in found.codings)


def conditions(trial: TrialRecord) -> list[JSON]:
    """Each registry condition as text, coded with the MeSH term of the same name and the lexicon's codes;
    then the registry's other MeSH condition terms as codings only (no text: the registry conditions are the
    texts)."""
    mesh_system = _table("mesh_system")["system"]
    mesh = {m.term.casefold(): m for m in trial.condition_mesh_terms if m.id}
    used: set[str] = set()
    found: list[JSON] = []
    for name in trial.conditions:
        term = mesh.get(name.strip().casefold())
        codings = [{"system": mesh_system, "code": term.id, "display": term.term}] if term and term.id else []
        if term and term.id:
            used.add(term.id)
        codings += list(_lexicon_codings(name))
        found.append(concept(name, codings))
    for term in trial.condition_mesh_terms:
        if term.id and term.id not in used:
            used.add(term.id)
            found.append(concept(None, [{"system": mesh_system, "code": term.id, "display": term.term}]))
    return found


def focus_concepts(trial: TrialRecord, mapped: list[MappedIntervention]) -> list[JSON]:
    """Each intervention's name, coded with what its ActivityDefinition carries (RxNorm, ATC, SNOMED CT), with the
    registry's intervention type: a trial read back from a server then knows its drugs ("hypersensitivity to the
    study drug" is an allergy to them)."""
    return [_focus(i, m) for i, m in zip(trial.interventions, mapped, strict=True)]


def _focus(intervention: Intervention, mapped: MappedIntervention) -> JSON:
    found = concept(intervention.name, list(mapped.codings))
    if intervention.type:
        found["extension"] = [extension(C.EXT_INTERVENTION_TYPE, valueCode=intervention.type)]
    return found
