from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.ingest import load_trial
from fhir_adapter.ingest.registry_page import HEADINGS, parse_registry_page, split_sections
from fhir_adapter.trial import TrialRecord
from tests.ingest.helpers import SEED_PAGE

SEED_TEXT = SEED_PAGE.read_text(encoding="utf-8")


def _seed() -> TrialRecord:
    return parse_registry_page(SEED_TEXT, str(SEED_PAGE))


def test_seed_page_basic_information() -> None:
    record = _seed()
    assert record.source_format == "registry-page"
    assert record.nct_id == "NCT06577194"
    assert record.brief_title is not None and record.brief_title.startswith("A Single-Center, Single-Arm Study")
    assert record.last_update_date == "2025-09-19"
    assert record.overall_status == "RECRUITING"
    assert record.phases == ["PHASE2"]
    assert record.enrollment_count == 35
    assert record.study_type == "INTERVENTIONAL"
    assert record.start_date is not None and record.start_date.date == "2024-10-05"
    assert record.completion_date is not None and record.completion_date.date == "2028-10-31"
    assert record.brief_summary is None, "the seed page's Brief Summary section is empty"
    assert record.detailed_description is not None and record.detailed_description.startswith("Immunotherapy,")
    assert record.warnings == []


def test_seed_page_design_and_groups() -> None:
    record = _seed()
    design = record.design
    assert (design.allocation, design.intervention_model, design.primary_purpose, design.masking) == (
        "NA", "SINGLE_GROUP", "TREATMENT", "NONE",
    )
    # One study group (a SINGLE_GROUP design) whose lines list the two interventions.
    assert [(arm.label, arm.type) for arm in record.arms] == [("Experimental group", "EXPERIMENTAL")]
    assert record.arms[0].intervention_names == ["Sintilimab + IL-2 Combined with CAPOX", "Short-course radiotherapy"]
    assert [(i.name, i.description) for i in record.interventions] == [
        ("Sintilimab + IL-2 Combined with CAPOX", "Sintilimab + IL-2 Combined with Capox"),
        ("Short-course radiotherapy", "Short-course radiotherapy+IL-2"),
    ]
    assert all(i.arm_labels == ["Experimental group"] for i in record.interventions)


def test_seed_page_eligibility() -> None:
    eligibility = _seed().eligibility
    assert eligibility.criteria is not None and eligibility.criteria_raw is not None
    assert "1.5×10^9/L" in eligibility.criteria and "\\^" not in eligibility.criteria
    assert "1.5×10\\^9/L" in eligibility.criteria_raw
    assert eligibility.criteria_raw.startswith("Inclusion Criteria\n")
    assert "Exclusion Criteria" in eligibility.criteria_raw
    assert eligibility.criteria_raw.rstrip().endswith("any drugs used in the trial.")
    assert eligibility.minimum_age is not None and (eligibility.minimum_age.value, eligibility.minimum_age.unit) == (
        18, "a",
    )
    assert eligibility.maximum_age is not None and eligibility.maximum_age.raw == "75 Years"
    assert eligibility.sex == "ALL"
    assert eligibility.healthy_volunteers is False


def test_seed_page_sponsor_locations_identifiers_related() -> None:
    record = _seed()
    assert record.lead_sponsor is not None
    assert (record.lead_sponsor.name, record.lead_sponsor.agency_class) == (
        "The First Affiliated Hospital with Nanjing Medical University", "OTHER",
    )
    (location,) = record.locations
    assert (location.facility, location.city, location.state, location.country) == (
        "Jiangsu Province Hospital", "Nanjing", "Jiangsu", "China",
    )
    assert [(c.name, c.role) for c in location.contacts] == [("Yueming Sun", "CONTACT")]
    assert record.org_study_id == "PRSYM20240827"
    assert record.secondary_ids == []
    assert [t.nct_id for t in record.related_trials] == [
        "NCT06108596", "NCT06204094", "NCT06493240", "NCT06504875", "NCT04663763",
    ]
    assert all(t.title for t in record.related_trials)


def test_load_trial_detects_the_page() -> None:
    assert load_trial(SEED_PAGE).nct_id == "NCT06577194"
    assert load_trial(SEED_TEXT).source_format == "registry-page"


def _sections(text: str) -> tuple[list[str], list[list[str]]]:
    """The header lines and each section's lines (heading first)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() in HEADINGS]
    header = lines[: starts[0]]
    blocks = [lines[start:end] for start, end in zip(starts, [*starts[1:], len(lines)], strict=True)]
    return header, blocks


def _without(heading: str) -> str:
    header, blocks = _sections(SEED_TEXT)
    return "\n".join(header + [line for block in blocks if block[0] != heading for line in block])


@pytest.mark.parametrize("heading", sorted(HEADINGS))
def test_each_section_removed_keeps_the_rest(heading: str) -> None:
    record = parse_registry_page(_without(heading), "cut.txt")
    full = _seed()
    assert record.nct_id == "NCT06577194"
    if heading != "Basic Information":
        assert (record.overall_status, record.phases, record.enrollment_count) == ("RECRUITING", ["PHASE2"], 35)
    if heading != "Eligibility Criteria":
        assert record.eligibility.minimum_age == full.eligibility.minimum_age
        assert record.eligibility.criteria == full.eligibility.criteria
    if heading != "Locations":
        assert [location.facility for location in record.locations] == ["Jiangsu Province Hospital"]
    if heading not in ("Study Groups", "Interventions"):
        assert record.arms == full.arms
    if heading == "Interventions":
        # Without the Interventions section the group lines alone still give the arm and its interventions.
        assert record.arms[0].intervention_names == full.arms[0].intervention_names
        assert [i.name for i in record.interventions] == [i.name for i in full.interventions]


def test_reordered_sections_parse_the_same() -> None:
    header, blocks = _sections(SEED_TEXT)
    shuffled = blocks[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != blocks
    text = "\n".join(header + [line for block in shuffled for line in block])
    record = parse_registry_page(text, "shuffled.txt")
    expected = _seed()
    assert record.model_dump(exclude={"source"}) == expected.model_dump(exclude={"source"})


def test_general_shapes_not_specific_to_the_seed() -> None:
    text = "\n".join([
        "Another trial",
        "NCT ID: nct01234567",
        "Basic Information",
        "COMPLETED",
        "PHASE1, PHASE2",
        "1,200 participants",
        "INTERVENTIONAL",
        "2019-03",
        "ACTUAL",
        "2020-01",
        "2021-06",
        "Study Design",
        "RANDOMIZED",
        "PARALLEL",
        "PREVENTION",
        "DOUBLE",
        "PARTICIPANT, INVESTIGATOR",
        "Study Groups",
        "Arm A",
        "Active Comparator arm",
        "Drug A",
        "Drug A tablets",
        "Arm B",
        "PLACEBO_COMPARATOR",
        "Placebo",
        "Placebo tablets",
        "Interventions",
        "Drug A",
        "Drug A tablets",
        "Placebo",
        "Placebo tablets",
        "Eligibility Criteria",
        "Inclusion Criteria",
        "* age \\>= 6 months",
        "6 Months",
        "N/A",
        "FEMALE",
        "Yes",
        "Sponsors",
        "Lead Org",
        "INDUSTRY",
        "Helper Org",
        "NIH",
        "Locations",
        "Site One",
        "Boston, Massachusetts, 02115, United States",
        "RECRUITING",
        "Site Two",
        "Lyon, France",
        "Facility Contacts",
        "Site Two",
        "Jeanne Doe",
        "Role: backup",
        "Email: j@example.org",
        "Other Identifiers",
        "ORG-1",
        "Identifier Source: org_study_id",
        "2020-000001-11",
        "Identifier Type: EUDRACT_NUMBER",
        "Identifier Source: secondary_id",
    ])
    record = parse_registry_page(text, "other.txt")
    assert record.nct_id == "NCT01234567"
    assert record.phases == ["PHASE1", "PHASE2"] and record.enrollment_count == 1200
    assert record.start_date is not None and record.start_date.type == "ACTUAL"
    assert record.primary_completion_date is not None and record.primary_completion_date.date == "2020-01"
    assert record.completion_date is not None and record.completion_date.date == "2021-06"
    assert record.design.who_masked == ["PARTICIPANT", "INVESTIGATOR"] and record.design.masking == "DOUBLE"
    assert [(a.label, a.type, a.intervention_names) for a in record.arms] == [
        ("Arm A", "ACTIVE_COMPARATOR", ["Drug A"]),
        ("Arm B", "PLACEBO_COMPARATOR", ["Placebo"]),
    ]
    eligibility = record.eligibility
    assert eligibility.minimum_age is not None and eligibility.minimum_age.unit == "mo"
    assert eligibility.maximum_age is None and eligibility.sex == "FEMALE" and eligibility.healthy_volunteers is True
    assert eligibility.criteria == "Inclusion Criteria\n* age >= 6 months"
    assert record.lead_sponsor is not None and record.lead_sponsor.agency_class == "INDUSTRY"
    assert [(c.name, c.agency_class) for c in record.collaborators] == [("Helper Org", "NIH")]
    site_one, site_two = record.locations
    assert (site_one.city, site_one.state, site_one.zip, site_one.country, site_one.status) == (
        "Boston", "Massachusetts", "02115", "United States", "RECRUITING",
    )
    assert (site_two.city, site_two.state, site_two.country) == ("Lyon", None, "France")
    assert [(c.name, c.role, c.email) for c in site_two.contacts] == [("Jeanne Doe", "CONTACT", "j@example.org")]
    assert record.org_study_id == "ORG-1"
    assert [(s.id, s.type) for s in record.secondary_ids] == [("2020-000001-11", "EUDRACT_NUMBER")]
    assert record.warnings == []


def test_unrecognised_lines_become_warnings() -> None:
    text = SEED_TEXT.replace("35 participants\n", "35 participants\nsomething odd\n")
    record = parse_registry_page(text, "odd.txt")
    assert record.enrollment_count == 35
    assert record.warnings == ["Basic Information: line not understood, not read: 'something odd'"]


def test_split_sections_skips_only_the_known_subtitle() -> None:
    page = split_sections("T\nNCT ID: NCT00000001\nConditions\nAsthma\nCOPD")
    assert page.sections["Conditions"] == ["Asthma", "COPD"]


def test_not_a_page() -> None:
    with pytest.raises(InputError, match="not registry page text"):
        parse_registry_page("just some words\nand more", "words.txt")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*HEADINGS, "NCT ID: NCT00000001", "RECRUITING", "18 Years", "x, y, z", "Role: a",
                                 "NCT01234567", "ALL", "No", "Identifier Source: org_study_id", "OTHER"])
                | st.text(max_size=40), max_size=40).map(lambda parts: parts if isinstance(parts, list) else [parts]))
def test_arbitrary_page_text_raises_only_project_errors(lines: list[str]) -> None:
    try:
        record = parse_registry_page("\n".join(lines), "fuzz.txt")
    except FhirAdapterError:
        return
    record.model_dump(mode="json")


def test_study_results_subtitle_says_no_results() -> None:
    assert _seed().has_results is False


def test_study_results_with_other_lines_is_not_read() -> None:
    text = SEED_TEXT.replace(HEADINGS["Study Results"], "Participant flow: 35 started")
    record = parse_registry_page(text, "page.txt")
    assert record.has_results is None
    assert "Study Results: line not understood, not read: 'Participant flow: 35 started'" in record.warnings
