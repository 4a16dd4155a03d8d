"""Every URL this project mints or relies on while mapping, in one place.

Project extensions live under :data:`EXTENSION_BASE`; business identifiers under
:data:`IDENTIFIER_SYSTEM` (see :mod:`fhir_adapter.mapping.identity`).
"""

from __future__ import annotations

PROJECT_BASE = "http://fhir-adapter.org/fhir"
IDENTIFIER_SYSTEM = f"{PROJECT_BASE}/identifier"
EXTENSION_BASE = f"{PROJECT_BASE}/StructureDefinition/"
CANONICAL_BASE = PROJECT_BASE
"""Canonical URLs of definitional resources: ``<base>/<ResourceType>/<stable id>``."""

NCT_SYSTEM = "https://clinicaltrials.gov"
REGISTRY_STUDY_PAGE = "https://clinicaltrials.gov/study/{nct_id}"
PUBMED_PAGE = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"

PLAN_DEFINITION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ADMINISTRATIVE_GENDER = "http://hl7.org/fhir/administrative-gender"
FHIRPATH_MEDIA_TYPE = "text/fhirpath"

# SNOMED CT codes used as Group.characteristic.code (cited in /work/shared/terminology/codes.csv
# for age; sex and healthy volunteers have no verified code there, so they are text-only).
AGE_CODE = {"system": SNOMED, "code": "397669002", "display": "Age"}


def extension_url(name: str) -> str:
    return EXTENSION_BASE + name


# HL7 cross-version extensions (R5 elements used in R4; hl7.fhir.uv.xver-r5.r4 URL convention
# http://hl7.org/fhir/5.0/StructureDefinition/extension-<Resource>.<element>). Their definitions ship in
# mappings/definitions/R4 so validators that do not synthesise cross-version extensions can load them.
XVER_R5_BASE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
XVER_CLASSIFIER = XVER_R5_BASE + "ResearchStudy.classifier"
XVER_RECRUITMENT = XVER_R5_BASE + "ResearchStudy.recruitment"
XVER_ARTIFACT_CLASSIFIER = XVER_R5_BASE + "RelatedArtifact.classifier"
XVER_RESULT = XVER_R5_BASE + "ResearchStudy.result"


# Extensions (StructureDefinition names under EXTENSION_BASE).
EXT_REGISTRY_STATUS = extension_url("registry-overall-status")
"""The registry's overallStatus token as given (kept because R4/R5 codes cannot always say it)."""
EXT_REGISTRY_LAST_KNOWN_STATUS = extension_url("registry-last-known-status")
EXT_SITE_STATUS = extension_url("registry-site-status")
"""On a ResearchStudy.site reference: the site's recruitment status in this trial (the Location is shared)."""
EXT_REGISTRY_LAST_UPDATE = extension_url("registry-last-update")
"""On ResearchStudy: the registry's last update date (``lastUpdatePostDate``), as given."""
EXT_REGISTRY_STATUS_VERIFIED = extension_url("registry-status-verified")
"""On ResearchStudy: the registry's status verified date (``statusVerifiedDate``), as given."""
EXT_REGISTRY_VALUE = extension_url("registry-value")
"""A raw registry token that no FHIR code expresses faithfully (on the element that carries its text)."""
EXT_DATE_TYPE = extension_url("registry-date-type")
"""On Period: ``start``/``end`` sub-extensions with ACTUAL or ESTIMATED."""
EXT_REGISTRY_DATE = extension_url("registry-date")
"""On ResearchStudy, one per registry date: ``milestone`` (code), ``date`` and ``type`` (ACTUAL/ESTIMATED)."""
EXT_RESPONSIBLE_PARTY = extension_url("registry-responsible-party")
"""On ResearchStudy: ``type`` (SPONSOR, PRINCIPAL_INVESTIGATOR, SPONSOR_INVESTIGATOR), ``name``, ``title``,
``affiliation``."""
EXT_OVERSIGHT = extension_url("registry-oversight")
"""On ResearchStudy: boolean sub-extensions has-dmc, fda-regulated-drug, fda-regulated-device,
unapproved-device, us-export."""
EXT_IPD_SHARING = extension_url("registry-ipd-sharing")
"""On ResearchStudy: ``sharing`` (YES/NO/UNDECIDED), ``description``, ``info-type``, ``time-frame``,
``access-criteria``, ``url``."""
EXT_HAS_RESULTS = extension_url("registry-has-results")
"""On ResearchStudy: whether the registry holds posted results."""
EXT_STUDY_POPULATION = extension_url("registry-study-population")
"""On Group: the observational study population description (markdown)."""
EXT_SAMPLING_METHOD = extension_url("registry-sampling-method")
"""On Group: PROBABILITY_SAMPLE or NON_PROBABILITY_SAMPLE."""
EXT_INTERVENTION_OTHER_NAME = extension_url("intervention-other-name")
"""On ActivityDefinition: one of the registry's other names (aliases) of the intervention."""
EXT_INTERVENTION_TYPE = extension_url("registry-intervention-type")
"""On ActivityDefinition: the registry's intervention type (DRUG, BEHAVIORAL, OTHER, ...)."""
EXT_ALTERNATIVE_TITLE = extension_url("alternative-title")
"""R4 ResearchStudy: official title and acronym (R5 has ``label``)."""
EXT_OUTCOME_DESCRIPTION = extension_url("outcome-description")
EXT_OUTCOME_TIME_FRAME = extension_url("outcome-time-frame")
EXT_COLLABORATOR = extension_url("collaborator")
EXT_STUDY_OFFICIAL = extension_url("study-official")
EXT_ARM_INTERVENTION = extension_url("arm-intervention")
"""On R4 arm / R5 comparisonGroup: Reference to the intervention's ActivityDefinition.
R5 ``comparisonGroup.intendedExposure`` is typed Reference(EvidenceVariable), so it is not used for this."""
EXT_HEALTHY_VOLUNTEERS = extension_url("healthy-volunteers")

EXT_ELIGIBILITY_CRITERIA = extension_url("eligibility-criteria")
"""On Group: the registry's eligibility criteria text (markdown as given)."""

# Eligibility criteria emission (Group.characteristic / EvidenceVariable.characteristic).
EXT_CRITERION_ID = extension_url("criterion-id")
EXT_CRITERION_TEXT = extension_url("criterion-text")
EXT_CRITERION_COMPUTABLE = extension_url("criterion-computable")
EXT_CRITERION_NOT_COMPUTABLE_REASON = extension_url("criterion-not-computable-reason")
EXT_CRITERION_EXPRESSION = extension_url("criterion-expression")
EXT_CRITERION_CATEGORY = extension_url("criterion-category")
EXT_CRITERION_ANY_OF = extension_url("criterion-any-of")
"""The any-of group a criterion belongs to (R4; R5 uses definitionByCombination any-of)."""
EXT_CRITERION_RESIDUE = extension_url("criterion-residue")
"""A clause the criterion's expression does not check, to confirm by hand (sub-extensions text, effect)."""
