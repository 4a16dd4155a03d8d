"""The source-neutral trial model every ingester produces and every later stage consumes.

Enumerated registry values (status, phase, arm type, ...) are kept as the registry's
upper-case tokens (``RECRUITING``, ``PHASE2``); an unknown token is kept as it was given,
and a warning is added to :attr:`TrialRecord.warnings`: nothing is silently dropped.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DateType = Literal["ACTUAL", "ESTIMATED"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartialDate(_Model):
    """A registry date: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (all valid FHIR dates)."""

    date: str
    type: DateType | None = None


class AgeBound(_Model):
    """An age limit as a UCUM quantity (``a``, ``mo``, ``wk``, ``d``, ``h``, ``min``)."""

    value: float
    unit: str
    raw: str


class SecondaryId(_Model):
    id: str
    type: str | None = None
    domain: str | None = None
    link: str | None = None


class Organization(_Model):
    name: str
    agency_class: str | None = None


class Person(_Model):
    """An official or a contact. ``role`` is the registry token (PRINCIPAL_INVESTIGATOR, CONTACT, ...)."""

    name: str | None = None
    role: str | None = None
    title: str | None = None
    """Job title (the responsible party's ``investigatorTitle``)."""
    affiliation: str | None = None
    phone: str | None = None
    phone_ext: str | None = None
    email: str | None = None


class GeoPoint(_Model):
    lat: float
    lon: float


class Location(_Model):
    facility: str | None = None
    status: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    geo: GeoPoint | None = None
    contacts: list[Person] = Field(default_factory=list)


class Arm(_Model):
    label: str
    type: str | None = None
    description: str | None = None
    intervention_names: list[str] = Field(default_factory=list)


class Intervention(_Model):
    type: str | None = None
    name: str
    description: str | None = None
    other_names: list[str] = Field(default_factory=list)
    arm_labels: list[str] = Field(default_factory=list)


class Outcome(_Model):
    kind: Literal["primary", "secondary", "other"]
    measure: str
    description: str | None = None
    time_frame: str | None = None


class MeshTerm(_Model):
    id: str | None = None
    term: str


class Design(_Model):
    allocation: str | None = None
    intervention_model: str | None = None
    intervention_model_description: str | None = None
    primary_purpose: str | None = None
    masking: str | None = None
    who_masked: list[str] = Field(default_factory=list)
    observational_model: str | None = None
    time_perspective: str | None = None


class Eligibility(_Model):
    criteria: str | None = None
    """Criteria text with the registry's markdown escapes removed (``\\>=`` becomes ``>=``)."""
    criteria_raw: str | None = None
    """Criteria text exactly as the source gave it."""
    sex: str | None = None
    """ALL, FEMALE or MALE."""
    gender_based: bool | None = None
    minimum_age: AgeBound | None = None
    maximum_age: AgeBound | None = None
    healthy_volunteers: bool | None = None
    standard_ages: list[str] = Field(default_factory=list)
    study_population: str | None = None
    sampling_method: str | None = None
    """Observational studies: PROBABILITY_SAMPLE or NON_PROBABILITY_SAMPLE."""


class Oversight(_Model):
    """The registry's oversight module: data monitoring committee and FDA-regulation flags."""

    has_dmc: bool | None = None
    fda_regulated_drug: bool | None = None
    fda_regulated_device: bool | None = None
    unapproved_device: bool | None = None
    us_export: bool | None = None


class IpdSharing(_Model):
    """The individual participant data (IPD) sharing statement."""

    sharing: str | None = None
    """YES, NO or UNDECIDED."""
    description: str | None = None
    info_types: list[str] = Field(default_factory=list)
    time_frame: str | None = None
    access_criteria: str | None = None
    url: str | None = None


class Reference(_Model):
    citation: str | None = None
    pmid: str | None = None
    type: str | None = None


class Link(_Model):
    url: str
    label: str | None = None


class RelatedTrial(_Model):
    nct_id: str
    title: str | None = None


class GroupValue(_Model):
    """One group's figure in a posted-results table, as the registry gives it: numbers stay text
    (``"44.5"``, ``"NA"``) so that nothing is rounded or lost; the mapping reads them as decimals where they are."""

    group_id: str
    value: str | None = None
    spread: str | None = None
    lower_limit: str | None = None
    upper_limit: str | None = None
    comment: str | None = None


class ResultGroup(_Model):
    """A column of a results table (an arm or a pooled group, ids ``FG000``, ``BG000``, ``OG000``, ``EG000``)."""

    id: str
    title: str
    description: str | None = None


class Denominator(_Model):
    """The number analysed per group, in ``units`` (usually Participants)."""

    units: str | None = None
    counts: list[GroupValue] = Field(default_factory=list)


class ResultCategory(_Model):
    """A row of a results table: a class (``Age``) and/or a category (``Female``) with one value per group."""

    class_title: str | None = None
    title: str | None = None
    values: list[GroupValue] = Field(default_factory=list)


class StatisticalAnalysis(_Model):
    group_ids: list[str] = Field(default_factory=list)
    description: str | None = None
    method: str | None = None
    p_value: str | None = None
    param_type: str | None = None
    param_value: str | None = None
    ci_percent: str | None = None
    ci_lower: str | None = None
    ci_upper: str | None = None
    non_inferiority_type: str | None = None


class ResultMeasure(_Model):
    """A baseline characteristic or an outcome measure with its posted values per group."""

    title: str
    kind: str | None = None
    """Outcome measures: PRIMARY, SECONDARY, OTHER_PRE_SPECIFIED or POST_HOC; None for a baseline measure."""
    description: str | None = None
    time_frame: str | None = None
    population_description: str | None = None
    reporting_status: str | None = None
    """POSTED or NOT_POSTED."""
    param_type: str | None = None
    dispersion_type: str | None = None
    unit: str | None = None
    groups: list[ResultGroup] = Field(default_factory=list)
    """Outcome measures have their own groups; baseline measures use the module's."""
    denominators: list[Denominator] = Field(default_factory=list)
    rows: list[ResultCategory] = Field(default_factory=list)
    analyses: list[StatisticalAnalysis] = Field(default_factory=list)


class FlowStep(_Model):
    """A participant-flow milestone (STARTED, COMPLETED, ...) or a reason for not completing, per group."""

    label: str
    counts: list[GroupValue] = Field(default_factory=list)


class FlowPeriod(_Model):
    title: str | None = None
    milestones: list[FlowStep] = Field(default_factory=list)
    withdrawals: list[FlowStep] = Field(default_factory=list)


class ParticipantFlow(_Model):
    groups: list[ResultGroup] = Field(default_factory=list)
    periods: list[FlowPeriod] = Field(default_factory=list)
    recruitment_details: str | None = None
    pre_assignment_details: str | None = None


class Baseline(_Model):
    groups: list[ResultGroup] = Field(default_factory=list)
    denominators: list[Denominator] = Field(default_factory=list)
    population_description: str | None = None
    measures: list[ResultMeasure] = Field(default_factory=list)


class AdverseEventGroup(_Model):
    """Totals of one adverse-event group: participants affected and at risk (deaths, serious, other)."""

    id: str
    title: str
    description: str | None = None
    deaths_affected: int | None = None
    deaths_at_risk: int | None = None
    serious_affected: int | None = None
    serious_at_risk: int | None = None
    other_affected: int | None = None
    other_at_risk: int | None = None


class AdverseEvents(_Model):
    """The adverse-event module's totals per group; the single event terms are counted, not kept."""

    time_frame: str | None = None
    description: str | None = None
    frequency_threshold: str | None = None
    groups: list[AdverseEventGroup] = Field(default_factory=list)
    serious_event_terms: int = 0
    other_event_terms: int = 0


class TrialResults(_Model):
    """The registry's posted results: participant flow, baseline characteristics, outcome measures with their
    values and analyses, and adverse-event totals."""

    participant_flow: ParticipantFlow | None = None
    baseline: Baseline | None = None
    outcome_measures: list[ResultMeasure] = Field(default_factory=list)
    adverse_events: AdverseEvents | None = None
    limitations: str | None = None


class TrialRecord(_Model):
    """One trial as every stage sees it, whatever the source (registry JSON, page text, legacy XML):
    identification, status, design, arms, interventions, eligibility, outcomes, sponsors and locations."""

    source_format: str
    """ctgov-json, registry-page, ctgov-xml."""
    source: str | None = None
    """File path or URL the record came from (for messages)."""

    nct_id: str | None = None
    nct_id_aliases: list[str] = Field(default_factory=list)
    org_study_id: str | None = None
    secondary_ids: list[SecondaryId] = Field(default_factory=list)

    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None

    overall_status: str | None = None
    overall_status_raw: str | None = None
    last_known_status: str | None = None
    why_stopped: str | None = None
    status_verified_date: str | None = None
    last_update_date: str | None = None
    last_update_posted: PartialDate | None = None
    """The last update's posting date with ACTUAL/ESTIMATED (``last_update_date`` keeps the date alone)."""
    first_posted_date: PartialDate | None = None
    results_first_posted_date: PartialDate | None = None
    has_results: bool | None = None
    """Whether the registry holds posted results for the trial."""
    results_first_submitted_date: str | None = None

    phases: list[str] = Field(default_factory=list)
    study_type: str | None = None
    design: Design = Field(default_factory=Design)
    enrollment_count: int | None = None
    enrollment_type: DateType | None = None

    start_date: PartialDate | None = None
    primary_completion_date: PartialDate | None = None
    completion_date: PartialDate | None = None

    brief_summary: str | None = None
    detailed_description: str | None = None
    conditions: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    condition_mesh_terms: list[MeshTerm] = Field(default_factory=list)
    intervention_mesh_terms: list[MeshTerm] = Field(default_factory=list)

    arms: list[Arm] = Field(default_factory=list)
    interventions: list[Intervention] = Field(default_factory=list)
    outcomes: list[Outcome] = Field(default_factory=list)
    eligibility: Eligibility = Field(default_factory=Eligibility)

    oversight: Oversight | None = None
    ipd_sharing: IpdSharing | None = None

    lead_sponsor: Organization | None = None
    collaborators: list[Organization] = Field(default_factory=list)
    responsible_party: Person | None = None
    officials: list[Person] = Field(default_factory=list)
    central_contacts: list[Person] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)

    references: list[Reference] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    related_trials: list[RelatedTrial] = Field(default_factory=list)

    results: TrialResults | None = None
    """The posted results (ClinicalTrials.gov ``resultsSection``), when the source carries them."""

    warnings: list[str] = Field(default_factory=list)
    """Things the ingester noticed and kept going (unknown enum values, odd fields)."""

    @property
    def label(self) -> str:
        """How messages name this trial."""
        return self.nct_id or self.org_study_id or self.source or "trial"
