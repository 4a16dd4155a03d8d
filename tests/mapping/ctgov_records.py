"""Test helper: TrialRecords for the mapping tests.

Uses ``fhir_adapter.ingest.load_trial`` when the ingest package provides it; until then a small
local reader of ClinicalTrials.gov API v2 JSON (enough for the fields the mapping reads).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fhir_adapter.trial import (
    AgeBound,
    Arm,
    Design,
    Eligibility,
    GeoPoint,
    Intervention,
    Link,
    Location,
    Organization,
    Outcome,
    PartialDate,
    Person,
    Reference,
    SecondaryId,
    TrialRecord,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CTGOV_DIR = SHARED / "data" / "ctgov"
SEED_PAGE_CANDIDATES = [REPO / "samples" / "NCT06577194.txt", SHARED / "data" / "registry-page" / "NCT06577194.txt"]
_UNITS = {
    "year": "a",
    "years": "a",
    "month": "mo",
    "months": "mo",
    "week": "wk",
    "weeks": "wk",
    "day": "d",
    "days": "d",
}


def _load_trial_function() -> Any:
    try:
        from fhir_adapter.ingest import load_trial
    except ImportError:
        return None
    return load_trial


def corpus_files() -> list[Path]:
    return sorted(CTGOV_DIR.glob("*.json")) if CTGOV_DIR.is_dir() else []


def load(path: Path) -> TrialRecord:
    load_trial = _load_trial_function()
    if load_trial is not None:
        record: TrialRecord = load_trial(path)
        return record
    return from_ctgov_json(json.loads(path.read_text(encoding="utf-8")), str(path))


def _age(text: str | None) -> AgeBound | None:
    match = re.match(r"\s*(\d+(?:\.\d+)?)\s*(\w+)", text or "")
    if not match:
        return None
    return AgeBound(value=float(match.group(1)), unit=_UNITS.get(match.group(2).lower(), "a"), raw=text or "")


def _date(struct: dict[str, Any] | None) -> PartialDate | None:
    return PartialDate(date=struct["date"], type=struct.get("type")) if struct and struct.get("date") else None


def _person(data: dict[str, Any]) -> Person:
    keys = {
        "name": "name",
        "role": "role",
        "affiliation": "affiliation",
        "phone": "phone",
        "phoneExt": "phone_ext",
        "email": "email",
    }
    return Person(**{ours: data[theirs] for theirs, ours in keys.items() if data.get(theirs)})


def from_ctgov_json(study: dict[str, Any], source: str = "test") -> TrialRecord:
    p = study["protocolSection"]
    ident, status = p.get("identificationModule", {}), p.get("statusModule", {})
    sponsors, design = p.get("sponsorCollaboratorsModule", {}), p.get("designModule", {})
    arms_mod, elig = p.get("armsInterventionsModule", {}), p.get("eligibilityModule", {})
    contacts, refs = p.get("contactsLocationsModule", {}), p.get("referencesModule", {})
    outcomes_mod, info = p.get("outcomesModule", {}), design.get("designInfo", {})
    outcomes = [
        Outcome(kind=kind, measure=o["measure"], description=o.get("description"), time_frame=o.get("timeFrame"))
        for key, kind in (
            ("primaryOutcomes", "primary"),
            ("secondaryOutcomes", "secondary"),
            ("otherOutcomes", "other"),
        )
        for o in outcomes_mod.get(key, [])
    ]
    return TrialRecord(
        source_format="ctgov-json",
        source=source,
        nct_id=ident.get("nctId"),
        org_study_id=ident.get("orgStudyIdInfo", {}).get("id"),
        secondary_ids=[
            SecondaryId(id=s["id"], type=s.get("type"), domain=s.get("domain"))
            for s in ident.get("secondaryIdInfos", [])
        ],
        brief_title=ident.get("briefTitle"),
        official_title=ident.get("officialTitle"),
        acronym=ident.get("acronym"),
        overall_status=status.get("overallStatus"),
        last_known_status=status.get("lastKnownStatus"),
        why_stopped=status.get("whyStopped"),
        phases=design.get("phases", []),
        study_type=design.get("studyType"),
        design=Design(
            allocation=info.get("allocation"),
            intervention_model=info.get("interventionModel"),
            primary_purpose=info.get("primaryPurpose"),
            masking=info.get("maskingInfo", {}).get("masking"),
            who_masked=info.get("maskingInfo", {}).get("whoMasked", []),
            observational_model=info.get("observationalModel"),
            time_perspective=info.get("timePerspective"),
        ),
        enrollment_count=design.get("enrollmentInfo", {}).get("count"),
        enrollment_type=design.get("enrollmentInfo", {}).get("type"),
        start_date=_date(status.get("startDateStruct")),
        primary_completion_date=_date(status.get("primaryCompletionDateStruct")),
        completion_date=_date(status.get("completionDateStruct")),
        brief_summary=p.get("descriptionModule", {}).get("briefSummary"),
        detailed_description=p.get("descriptionModule", {}).get("detailedDescription"),
        conditions=p.get("conditionsModule", {}).get("conditions", []),
        keywords=p.get("conditionsModule", {}).get("keywords", []),
        arms=[
            Arm(
                label=a["label"],
                type=a.get("type"),
                description=a.get("description"),
                intervention_names=a.get("interventionNames", []),
            )
            for a in arms_mod.get("armGroups", [])
        ],
        interventions=[
            Intervention(
                type=i.get("type"),
                name=i["name"],
                description=i.get("description"),
                other_names=i.get("otherNames", []),
                arm_labels=i.get("armGroupLabels", []),
            )
            for i in arms_mod.get("interventions", [])
        ],
        outcomes=outcomes,
        eligibility=Eligibility(
            criteria=elig.get("eligibilityCriteria"),
            criteria_raw=elig.get("eligibilityCriteria"),
            sex=elig.get("sex"),
            minimum_age=_age(elig.get("minimumAge")),
            maximum_age=_age(elig.get("maximumAge")),
            healthy_volunteers=elig.get("healthyVolunteers"),
        ),
        lead_sponsor=Organization(
            name=sponsors["leadSponsor"]["name"], agency_class=sponsors["leadSponsor"].get("class")
        )
        if sponsors.get("leadSponsor")
        else None,
        collaborators=[
            Organization(name=c["name"], agency_class=c.get("class")) for c in sponsors.get("collaborators", [])
        ],
        officials=[_person(o) for o in contacts.get("overallOfficials", [])],
        central_contacts=[_person(c) for c in contacts.get("centralContacts", [])],
        locations=[
            Location(
                facility=loc.get("facility"),
                status=loc.get("status"),
                city=loc.get("city"),
                state=loc.get("state"),
                zip=loc.get("zip"),
                country=loc.get("country"),
                geo=GeoPoint(**loc["geoPoint"]) if loc.get("geoPoint") else None,
                contacts=[_person(c) for c in loc.get("contacts", [])],
            )
            for loc in contacts.get("locations", [])
        ],
        references=[
            Reference(citation=r.get("citation"), pmid=r.get("pmid"), type=r.get("type"))
            for r in refs.get("references", [])
        ],
        links=[Link(url=link["url"], label=link.get("label")) for link in refs.get("seeAlsoLinks", [])],
    )


def seed_trial() -> TrialRecord:
    """The seed trial NCT06577194 as its registry page states it (ingest's reader when available)."""
    load_trial = _load_trial_function()
    for candidate in SEED_PAGE_CANDIDATES:
        if candidate.is_file() and load_trial is not None:
            record: TrialRecord = load_trial(candidate)
            return record
    return seed_by_hand()


def seed_by_hand() -> TrialRecord:
    """The facts of the seed registry page, typed by hand (used until the page ingester exists)."""
    title = (
        "A Single-Center, Single-Arm Study of Neoadjuvant Short-Course Radiotherapy With IL-2 Followed by Sequential "
        "Immunotherapy With CAPOX Combined With PD-1 Antibody and IL-2 for Locally Advanced Rectal Cancer"
    )
    return TrialRecord(
        source_format="registry-page",
        source="NCT06577194.txt",
        nct_id="NCT06577194",
        org_study_id="PRSYM20240827",
        brief_title=title,
        overall_status="RECRUITING",
        phases=["PHASE2"],
        study_type="INTERVENTIONAL",
        design=Design(allocation="NA", intervention_model="SINGLE_GROUP", primary_purpose="TREATMENT", masking="NONE"),
        enrollment_count=35,
        enrollment_type="ESTIMATED",
        start_date=PartialDate(date="2024-10-05"),
        completion_date=PartialDate(date="2028-10-31"),
        detailed_description="... using neoadjuvant short-course radiotherapy combined with IL-2, followed by CAPOX, "
        "PD-1 monoclonal antibodies, and IL-2.",
        arms=[
            Arm(
                label="Experimental group",
                type="EXPERIMENTAL",
                description="Experimental arm",
                intervention_names=["Sintilimab + IL-2 Combined with CAPOX", "Short-course radiotherapy"],
            )
        ],
        interventions=[
            Intervention(
                name="Sintilimab + IL-2 Combined with CAPOX",
                description="Sintilimab + IL-2 Combined with Capox",
                arm_labels=["Experimental group"],
            ),
            Intervention(
                name="Short-course radiotherapy",
                description="Short-course radiotherapy+IL-2",
                arm_labels=["Experimental group"],
            ),
        ],
        eligibility=Eligibility(
            sex="ALL",
            minimum_age=AgeBound(value=18, unit="a", raw="18 Years"),
            maximum_age=AgeBound(value=75, unit="a", raw="75 Years"),
            healthy_volunteers=False,
            criteria="Inclusion Criteria:\n* ECOG 0 or 1",
        ),
        lead_sponsor=Organization(
            name="The First Affiliated Hospital with Nanjing Medical University", agency_class="OTHER"
        ),
        locations=[
            Location(
                facility="Jiangsu Province Hospital",
                city="Nanjing",
                state="Jiangsu",
                country="China",
                contacts=[Person(name="Yueming Sun", role="PRIMARY")],
            )
        ],
    )
