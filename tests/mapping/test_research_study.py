from __future__ import annotations

from typing import Any

import pytest
from ctgov_records import seed_trial
from mapping_helpers import drug_lookup, extension_values, one

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping import to_bundle
from fhir_adapter.trial import Design, TrialRecord


def study(trial: TrialRecord, version: str) -> dict[str, Any]:
    return one(to_bundle(trial, version, drug_lookup=drug_lookup), "ResearchStudy")  # type: ignore[arg-type]


def with_status(status: str, last_known: str | None = None) -> TrialRecord:
    update = {"overall_status": status, "overall_status_raw": status, "last_known_status": last_known}
    return seed_trial().model_copy(update=update)


def r5_state(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["progressStatus"][0]["state"]


def test_seed_r4_core_fields() -> None:
    rs = study(seed_trial(), "R4")
    assert rs["status"] == "active"
    assert rs["phase"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/research-study-phase",
            "code": "phase-2",
            "display": "Phase 2",
        }
    ]
    assert {"use": "official", "system": "https://clinicaltrials.gov", "value": "NCT06577194"} in rs["identifier"]
    assert rs["period"] == {"start": "2024-10-05", "end": "2028-10-31"}
    assert extension_values(rs, C.XVER_RECRUITMENT) == [[{"url": "targetNumber", "valueUnsignedInt": 35}]]
    assert rs["primaryPurposeType"]["coding"][0]["code"] == "treatment"
    assert {"text": "Allocation: N/A"} in rs["category"]
    assert rs["arm"][0]["type"]["coding"][0]["code"] == "experimental"


def test_seed_r5_core_fields() -> None:
    rs = study(seed_trial(), "R5")
    assert rs["status"] == "active"
    assert r5_state(rs)["coding"][0]["code"] == "recruiting"
    assert rs["phase"]["coding"][0] == {
        "system": "http://hl7.org/fhir/research-study-phase",
        "code": "phase-2",
        "display": "Phase 2",
    }
    assert rs["recruitment"]["targetNumber"] == 35
    overall = rs["progressStatus"][1]
    assert overall["state"]["coding"][0]["code"] == "overall-study"
    assert overall["period"] == {"start": "2024-10-05", "end": "2028-10-31"}
    assert rs["associatedParty"][0]["role"]["coding"][0]["code"] == "lead-sponsor"
    assert rs["comparisonGroup"][0]["linkId"] == "arm-1"
    assert "category" not in rs and "arm" not in rs


@pytest.mark.parametrize(
    ("status", "r4", "r5"),
    [
        ("COMPLETED", "completed", "completed"),
        ("TERMINATED", "administratively-completed", "terminated"),
        ("ACTIVE_NOT_RECRUITING", "closed-to-accrual", "active-but-not-recruiting"),
        ("NOT_YET_RECRUITING", "approved", "not-yet-recruiting"),
        ("WITHDRAWN", "withdrawn", "withdrawn"),
    ],
)
def test_faithful_status_mapping(status: str, r4: str, r5: str) -> None:
    trial = with_status(status)
    assert study(trial, "R4")["status"] == r4
    assert r5_state(study(trial, "R5"))["coding"][0]["code"] == r5


def test_unknown_status_stays_visible_and_r4_uses_the_last_known_state() -> None:
    trial = with_status("UNKNOWN", last_known="ACTIVE_NOT_RECRUITING")
    r4 = study(trial, "R4")
    assert r4["status"] == "closed-to-accrual"
    assert extension_values(r4, C.EXT_REGISTRY_STATUS) == ["UNKNOWN"]
    assert extension_values(r4, C.EXT_REGISTRY_LAST_KNOWN_STATUS) == ["ACTIVE_NOT_RECRUITING"]
    state = r5_state(study(trial, "R5"))
    assert "coding" not in state and "UNKNOWN" in state["text"]


@pytest.mark.parametrize("last_known", ["RECRUITING", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING", None])
def test_an_unverified_trial_is_never_shown_open_in_r4(last_known: str | None) -> None:
    """UNKNOWN with a last known open state: not `active` (it would read as recruiting), but temporarily closed to
    accrual; the registry value and the last known status stay visible in extensions."""
    r4 = study(with_status("UNKNOWN", last_known=last_known), "R4")
    assert r4["status"] == "temporarily-closed-to-accrual"
    assert extension_values(r4, C.EXT_REGISTRY_STATUS) == ["UNKNOWN"]


def test_withheld_status_has_no_code_in_r5_and_raw_value_in_r4() -> None:
    trial = with_status("WITHHELD")
    assert extension_values(study(trial, "R4"), C.EXT_REGISTRY_STATUS) == ["WITHHELD"]
    assert "WITHHELD" in r5_state(study(trial, "R5"))["text"]


@pytest.mark.parametrize(
    ("phases", "code"),
    [
        (["PHASE1", "PHASE2"], "phase-1-phase-2"),
        (["PHASE2", "PHASE3"], "phase-2-phase-3"),
        (["NA"], "n-a"),
        (["EARLY_PHASE1"], "early-phase-1"),
    ],
)
def test_phase_uses_the_whole_array(phases: list[str], code: str) -> None:
    trial = seed_trial().model_copy(update={"phases": phases})
    assert study(trial, "R4")["phase"]["coding"][0]["code"] == code


def test_unlisted_phase_combination_and_other_purpose_stay_as_text() -> None:
    trial = seed_trial().model_copy(
        update={"phases": ["PHASE1", "PHASE3"], "design": Design(primary_purpose="OTHER")}
    )
    rs = study(trial, "R4")
    assert "coding" not in rs["phase"] and "PHASE1, PHASE3" in rs["phase"]["text"]
    assert "coding" not in rs["primaryPurposeType"]
    assert extension_values(rs["primaryPurposeType"], C.EXT_REGISTRY_VALUE) == ["OTHER"]


def test_actual_enrollment_goes_to_r5_actual_number() -> None:
    trial = seed_trial().model_copy(update={"enrollment_type": "ACTUAL", "enrollment_count": 12})
    assert study(trial, "R5")["recruitment"] == {
        "actualNumber": 12,
        "eligibility": study(trial, "R5")["recruitment"]["eligibility"],
    }


def test_alternative_titles_r4_extension_r5_label() -> None:
    trial = seed_trial().model_copy(update={"official_title": "Official", "acronym": "ACR"})
    assert extension_values(study(trial, "R4"), C.EXT_ALTERNATIVE_TITLE) == ["Official", "ACR"]
    assert [lbl["value"] for lbl in study(trial, "R5")["label"]] == ["Official", "ACR"]
