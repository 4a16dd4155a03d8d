from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.ingest import load_trial
from fhir_adapter.ingest.ctgov_xml import parse_clinical_study
from tests.ingest.helpers import SAMPLE_XML

XML_TEXT = SAMPLE_XML.read_text(encoding="utf-8")


def test_pallas_xml_fields() -> None:
    record = parse_clinical_study(XML_TEXT, str(SAMPLE_XML))
    assert record.source_format == "ctgov-xml"
    assert (record.nct_id, record.acronym, record.org_study_id) == ("NCT02513394", "PALLAS", "AFT-05")
    assert record.overall_status == "ACTIVE_NOT_RECRUITING"
    assert record.overall_status_raw == "Active, not recruiting"
    assert record.phases == ["PHASE3"]
    assert record.study_type == "INTERVENTIONAL"
    assert record.lead_sponsor is not None
    assert (record.lead_sponsor.name, record.lead_sponsor.agency_class) == ("Alliance Foundation Trials, LLC.", "OTHER")
    assert len(record.collaborators) == 5
    assert record.collaborators[-1].agency_class == "INDUSTRY"
    assert record.collaborators[0].name == "Austrian Breast & Colorectal Cancer Study Group"
    assert [s.id for s in record.secondary_ids] == ["ABCSG 42", "BIG 14-03", "2014-005181-30"]
    assert record.start_date is not None and record.start_date.date == "2015-08"
    assert record.completion_date is not None
    assert (record.completion_date.date, record.completion_date.type) == ("2025-09", "ESTIMATED")
    assert (record.enrollment_count, record.enrollment_type) == (5796, "ACTUAL")
    assert record.design.masking == "NONE" and record.design.intervention_model == "PARALLEL"
    assert [(arm.label, arm.type) for arm in record.arms] == [("Arm A", "EXPERIMENTAL"), ("Arm B", "OTHER")]
    assert record.arms[1].intervention_names == ["Drug: Standard Adjuvant Endocrine Therapy"]
    assert record.eligibility.sex == "ALL" and record.eligibility.healthy_volunteers is False
    assert record.eligibility.minimum_age is not None and record.eligibility.minimum_age.raw == "18 Years"
    assert record.eligibility.maximum_age is None
    criteria = record.eligibility.criteria
    assert criteria is not None and criteria.startswith("Inclusion Criteria:") and "Exclusion Criteria:" in criteria
    assert len(record.officials) == 4 and record.officials[0].role == "PRINCIPAL_INVESTIGATOR"
    assert len(record.locations) == 233 and record.locations[0].city == "Mobile"
    assert record.condition_mesh_terms[0].term == "Breast Neoplasms"
    assert record.status_verified_date == "2019-12" and record.last_update_date == "2020-03-09"
    assert record.warnings == []


def test_combined_phase_and_masking_labels() -> None:
    text = XML_TEXT.replace("<phase>Phase 3</phase>", "<phase>Phase 1/Phase 2</phase>").replace(
        "<masking>None (Open Label)</masking>", "<masking>Double (Participant, Outcomes Assessor)</masking>"
    )
    record = parse_clinical_study(text, "x.xml")
    assert record.phases == ["PHASE1", "PHASE2"]
    assert (record.design.masking, record.design.who_masked) == ("DOUBLE", ["PARTICIPANT", "OUTCOMES_ASSESSOR"])


def test_unknown_label_kept_with_warning() -> None:
    text = XML_TEXT.replace("<overall_status>Active, not recruiting</overall_status>",
                            "<overall_status>Paused</overall_status>")
    record = parse_clinical_study(text, "x.xml")
    assert record.overall_status == "Paused"
    assert record.warnings == ["overall_status: unknown value 'Paused' kept as given"]


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<clinical_study><brief_title>&lol2;</brief_title></clinical_study>"""


def test_entity_bomb_refused() -> None:
    with pytest.raises(InputError, match="unsafe XML") as caught:
        parse_clinical_study(BOMB, "bomb.xml")
    assert caught.value.source == "bomb.xml"


@pytest.mark.parametrize(
    ("text", "message"),
    [("<clinical_study><nct_id>", "malformed XML"), ("<other/>", "expected <clinical_study>")],
)
def test_bad_xml(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_clinical_study(text, "bad.xml")


def test_bad_values_name_the_element() -> None:
    with pytest.raises(InputError) as caught:
        parse_clinical_study(XML_TEXT.replace(">5796</enrollment>", ">many</enrollment>"), "x.xml")
    assert caught.value.field == "enrollment"


def test_load_trial_detects_xml() -> None:
    assert load_trial(SAMPLE_XML).acronym == "PALLAS"


_ELEMENTS = ["overall_status", "phase", "enrollment", "start_date", "minimum_age", "gender", "masking", "agency"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_ELEMENTS), st.text(max_size=30))
def test_mutated_xml_values_raise_only_project_errors(element: str, value: str) -> None:
    escaped = value.replace("&", "&amp;").replace("<", "&lt;")
    start = XML_TEXT.find(f"<{element}")
    end = XML_TEXT.find(f"</{element}>", start)
    text = XML_TEXT[: XML_TEXT.find(">", start) + 1] + escaped + XML_TEXT[end:]
    with contextlib.suppress(FhirAdapterError):
        parse_clinical_study(text, "fuzz.xml").model_dump(mode="json")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_as_xml_raises_only_project_errors(text: str) -> None:
    with contextlib.suppress(FhirAdapterError):
        parse_clinical_study(text, "fuzz.xml")
