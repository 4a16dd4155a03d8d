from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_adapter.errors import FhirAdapterError, InputError
from fhir_adapter.ingest import load_trial
from fhir_adapter.ingest.ctgov_json import parse_study
from fhir_adapter.ingest.ctgov_xml import parse_clinical_study
from tests.ingest.helpers import SAMPLE_XML, sample_study

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


# --- issue 14: the registry facts the XML carries ---------------------------------------------------------------------


def test_pallas_xml_registry_facts() -> None:
    record = parse_clinical_study(XML_TEXT, str(SAMPLE_XML))
    assert record.first_posted_date is not None
    assert (record.first_posted_date.date, record.first_posted_date.type) == ("2015-07-31", "ESTIMATED")
    assert record.last_update_posted is not None
    assert (record.last_update_posted.date, record.last_update_posted.type) == ("2020-03-09", "ACTUAL")
    assert record.primary_completion_date is not None
    assert (record.primary_completion_date.date, record.primary_completion_date.type) == ("2020-09", "ESTIMATED")
    assert record.oversight is not None and record.oversight.has_dmc is True
    assert record.oversight.fda_regulated_drug is None
    assert record.responsible_party is not None and record.responsible_party.role == "SPONSOR"
    # downloaded in 2020, before the results were posted (2022)
    assert record.has_results is False and record.results_first_posted_date is None
    assert record.ipd_sharing is None


_FACTS_XML = """
  <oversight_info>
    <has_dmc>No</has_dmc>
    <is_fda_regulated_drug>Yes</is_fda_regulated_drug>
    <is_fda_regulated_device>No</is_fda_regulated_device>
    <is_us_export>Maybe</is_us_export>
  </oversight_info>
  <patient_data>
    <sharing_ipd>Yes</sharing_ipd>
    <ipd_description>De-identified data on request.</ipd_description>
    <ipd_info_type>Study Protocol</ipd_info_type>
    <ipd_info_type>Statistical Analysis Plan (SAP)</ipd_info_type>
    <ipd_time_frame>After publication</ipd_time_frame>
    <ipd_url>https://example.org/ipd</ipd_url>
  </patient_data>
  <results_first_submitted>February 1, 2022</results_first_submitted>
  <results_first_posted type="Actual">April 13, 2022</results_first_posted>
"""


def test_xml_oversight_ipd_sampling_and_results_dates() -> None:
    start = XML_TEXT.index("  <oversight_info>")
    end = XML_TEXT.index("</oversight_info>") + len("</oversight_info>\n")
    text = XML_TEXT[:start] + _FACTS_XML.lstrip("\n") + XML_TEXT[end:]
    text = text.replace("<responsible_party_type>Sponsor</responsible_party_type>",
                        "<responsible_party_type>Principal Investigator</responsible_party_type>"
                        "<investigator_full_name>Erica Mayer</investigator_full_name>"
                        "<investigator_title>Associate Professor</investigator_title>")
    text = text.replace("<gender>All</gender>", "<sampling_method>Non-Probability Sample</sampling_method>"
                        "<gender>All</gender>")
    record = parse_clinical_study(text, "facts.xml")
    assert record.oversight is not None
    assert (record.oversight.has_dmc, record.oversight.fda_regulated_drug, record.oversight.fda_regulated_device,
            record.oversight.us_export) == (False, True, False, None)
    assert record.warnings == ["oversight_info/is_us_export: unknown value 'Maybe' kept as given"]
    ipd = record.ipd_sharing
    assert ipd is not None
    assert (ipd.sharing, ipd.info_types, ipd.time_frame, ipd.url) == (
        "YES", ["STUDY_PROTOCOL", "SAP"], "After publication", "https://example.org/ipd")
    assert ipd.description == "De-identified data on request."
    assert record.results_first_submitted_date == "2022-02-01"
    assert record.results_first_posted_date is not None
    assert (record.results_first_posted_date.date, record.results_first_posted_date.type) == ("2022-04-13", "ACTUAL")
    assert record.has_results is True
    assert record.responsible_party is not None
    assert (record.responsible_party.role, record.responsible_party.name, record.responsible_party.title) == (
        "PRINCIPAL_INVESTIGATOR", "Erica Mayer", "Associate Professor")
    assert record.eligibility.sampling_method == "NON_PROBABILITY_SAMPLE"


# Fields whose value did not change between the XML download (2020) and the JSON record (2023) of PALLAS.
_STABLE_FIELDS = ("nct_id", "org_study_id", "acronym", "first_posted_date", "start_date", "completion_date",
                  "oversight", "ipd_sharing", "responsible_party", "study_type", "phases", "enrollment_count",
                  "enrollment_type", "conditions", "keywords", "lead_sponsor")


def test_same_trial_in_xml_and_json_gives_the_same_fields() -> None:
    xml = parse_clinical_study(XML_TEXT, str(SAMPLE_XML))
    json_record = parse_study(sample_study("NCT02513394"), "NCT02513394.json")
    assert {f: getattr(xml, f) for f in _STABLE_FIELDS} == {f: getattr(json_record, f) for f in _STABLE_FIELDS}
    # the legacy XML has no NETWORK agency class (it says Other): the names are the same
    assert [c.name for c in xml.collaborators] == [c.name for c in json_record.collaborators]
    # the XML's MeSH terms have no ids; the terms are the same
    assert [m.term for m in xml.condition_mesh_terms] == [m.term for m in json_record.condition_mesh_terms]
    assert [i.other_names for i in xml.interventions] == [i.other_names for i in json_record.interventions]
    assert xml.eligibility.sampling_method == json_record.eligibility.sampling_method
    assert (xml.eligibility.sex, xml.eligibility.minimum_age) == (json_record.eligibility.sex,
                                                                  json_record.eligibility.minimum_age)


# A small <clinical_results> in the legacy format (element names of the legacy public.xsd), holding the same
# results as _RESULTS_JSON below; the two ingesters must read the same TrialResults.
_RESULTS_XML = """<clinical_results>
  <participant_flow>
    <group_list><group group_id="FG000"><title>Treated</title><description>Single group</description></group>
    </group_list>
    <period_list><period><title>Overall Study</title>
      <milestone_list>
        <milestone><title>STARTED</title><participants_list><participants group_id="FG000" count="8"/>
        </participants_list></milestone>
        <milestone><title>COMPLETED</title><participants_list><participants group_id="FG000" count="7"/>
        </participants_list></milestone>
      </milestone_list>
      <drop_withdraw_reason_list><drop_withdraw_reason><title>Adverse Event</title>
        <participants_list><participants group_id="FG000" count="1"/></participants_list>
      </drop_withdraw_reason></drop_withdraw_reason_list>
    </period></period_list>
  </participant_flow>
  <baseline>
    <group_list><group group_id="BG000"><title>Treated</title></group></group_list>
    <analyzed_list><analyzed><units>Participants</units><scope>Overall</scope>
      <count_list><count group_id="BG000" value="8"/></count_list></analyzed></analyzed_list>
    <measure_list><measure>
      <title>Age, Continuous</title><units>years</units><param>Median</param>
      <dispersion>Inter-Quartile Range</dispersion>
      <class_list><class><category_list><category><measurement_list>
        <measurement group_id="BG000" value="44.5" lower_limit="39" upper_limit="52"/>
      </measurement_list></category></category_list></class></class_list>
    </measure></measure_list>
  </baseline>
  <outcome_list><outcome>
    <type>Primary</type><title>Progression-free Survival</title><time_frame>7 years</time_frame>
    <group_list><group group_id="OG000"><title>Treated</title></group></group_list>
    <measure>
      <title>Progression-free Survival</title><units>months</units><param>Median</param>
      <dispersion>95% Confidence Interval</dispersion>
      <analyzed_list><analyzed><units>Participants</units><scope>Measure</scope>
        <count_list><count group_id="OG000" value="8"/></count_list></analyzed></analyzed_list>
      <class_list><class><category_list><category><measurement_list>
        <measurement group_id="OG000" value="43" lower_limit="2" upper_limit="NA"/>
      </measurement_list></category></category_list></class></class_list>
    </measure>
  </outcome></outcome_list>
</clinical_results>
"""

_RESULTS_JSON = {
    "participantFlowModule": {
        "groups": [{"id": "FG000", "title": "Treated", "description": "Single group"}],
        "periods": [{"title": "Overall Study", "milestones": [
            {"type": "STARTED", "achievements": [{"groupId": "FG000", "numSubjects": "8"}]},
            {"type": "COMPLETED", "achievements": [{"groupId": "FG000", "numSubjects": "7"}]}],
            "dropWithdraws": [{"type": "Adverse Event", "reasons": [{"groupId": "FG000", "numSubjects": "1"}]}]}],
    },
    "baselineCharacteristicsModule": {
        "groups": [{"id": "BG000", "title": "Treated"}],
        "denoms": [{"units": "Participants", "counts": [{"groupId": "BG000", "value": "8"}]}],
        "measures": [{"title": "Age, Continuous", "paramType": "MEDIAN", "dispersionType": "INTER_QUARTILE_RANGE",
                      "unitOfMeasure": "years", "classes": [{"categories": [{"measurements": [
                          {"groupId": "BG000", "value": "44.5", "lowerLimit": "39", "upperLimit": "52"}]}]}]}],
    },
    "outcomeMeasuresModule": {"outcomeMeasures": [{
        "type": "PRIMARY", "title": "Progression-free Survival", "timeFrame": "7 years", "reportingStatus": "POSTED",
        "paramType": "MEDIAN", "dispersionType": "CONFIDENCE_95", "unitOfMeasure": "months",
        "groups": [{"id": "OG000", "title": "Treated"}],
        "denoms": [{"units": "Participants", "counts": [{"groupId": "OG000", "value": "8"}]}],
        "classes": [{"categories": [{"measurements": [
            {"groupId": "OG000", "value": "43", "lowerLimit": "2", "upperLimit": "NA"}]}]}],
    }]},
}


def test_xml_results_read_like_the_json_results() -> None:
    text = XML_TEXT.replace("</clinical_study>", _RESULTS_XML + "</clinical_study>")
    xml = parse_clinical_study(text, "results.xml")
    study = sample_study("NCT02513394")
    study["resultsSection"] = _RESULTS_JSON
    json_record = parse_study(study, "results.json")
    assert xml.results is not None and xml.results == json_record.results
    assert xml.has_results is True and xml.warnings == []


def test_xml_results_unknown_label_kept_with_warning() -> None:
    results = _RESULTS_XML.replace("<param>Median</param>", "<param>Mode</param>", 1)
    text = XML_TEXT.replace("</clinical_study>", results + "</clinical_study>")
    record = parse_clinical_study(text, "results.xml")
    assert record.results is not None and record.results.baseline is not None
    assert record.results.baseline.measures[0].param_type == "Mode"
    path = "clinical_results/baseline/measure_list/measure/param"
    assert record.warnings == [f"{path}: unknown value 'Mode' kept as given"]


_EVENTS_XML = """<clinical_results><reported_events>
  <time_frame>Up to 7 years.</time_frame>
  <group_list><group group_id="EG000"><title>Treated</title></group></group_list>
  <serious_events><category_list>
    <category><title>Total</title><event_list><event><sub_title>Total, serious adverse events</sub_title>
      <counts group_id="EG000" subjects_affected="2" subjects_at_risk="8"/></event></event_list></category>
    <category><title>Blood and lymphatic system disorders</title><event_list>
      <event><sub_title>Anaemia</sub_title><counts group_id="EG000" subjects_affected="1" subjects_at_risk="8"/></event>
      <event><sub_title>Neutropenia</sub_title>
        <counts group_id="EG000" subjects_affected="1" subjects_at_risk="8"/></event>
    </event_list></category>
  </category_list></serious_events>
  <other_events><frequency_threshold>5</frequency_threshold><category_list>
    <category><title>Total</title><event_list><event><sub_title>Total, other adverse events</sub_title>
      <counts group_id="EG000" subjects_affected="8" subjects_at_risk="8"/></event></event_list></category>
  </category_list></other_events>
</reported_events></clinical_results>
"""


def test_xml_adverse_event_totals_from_the_total_category() -> None:
    record = parse_clinical_study(XML_TEXT.replace("</clinical_study>", _EVENTS_XML + "</clinical_study>"), "ae.xml")
    assert record.results is not None
    events = record.results.adverse_events
    assert events is not None and events.time_frame == "Up to 7 years." and events.frequency_threshold == "5"
    [group] = events.groups
    assert (group.title, group.serious_affected, group.serious_at_risk) == ("Treated", 2, 8)
    assert (group.other_affected, group.deaths_affected) == (8, None)
    assert (events.serious_event_terms, events.other_event_terms) == (2, 0)
