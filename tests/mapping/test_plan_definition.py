from __future__ import annotations

from typing import Any

from ctgov_records import seed_trial
from mapping_helpers import drug_lookup, one, resources

from fhir_adapter.mapping import to_bundle
from fhir_adapter.trial import Arm, Intervention


def plan(version: str, trial: Any = None) -> dict[str, Any]:
    bundle = to_bundle(trial or seed_trial(), version, drug_lookup=drug_lookup)  # type: ignore[arg-type]
    return one(bundle, "PlanDefinition")


def test_seed_radiotherapy_step_comes_before_the_capox_step_r4() -> None:
    pd = plan("R4")
    assert pd["type"]["coding"][0]["code"] == "clinical-protocol"
    steps = pd["action"][0]["action"]
    assert [s["title"] for s in steps] == ["Short-course radiotherapy", "Sintilimab + IL-2 Combined with CAPOX"]
    radiotherapy, capox = steps
    assert radiotherapy["relatedAction"] == [{"actionId": capox["id"], "relationship": "before-start"}]
    assert capox["relatedAction"] == [{"actionId": radiotherapy["id"], "relationship": "after-end"}]


def test_seed_sequence_r5_uses_link_ids() -> None:
    steps = plan("R5")["action"][0]["action"]
    assert steps[1]["relatedAction"] == [{"targetId": steps[0]["linkId"], "relationship": "after-end"}]


def test_capox_action_nests_one_action_per_component() -> None:
    capox = plan("R4")["action"][0]["action"][1]
    assert [a["title"] for a in capox["action"]] == ["Sintilimab", "IL-2 (aldesleukin)", "capecitabine", "oxaliplatin"]


def test_no_sequence_without_words_saying_so() -> None:
    trial = seed_trial().model_copy(
        update={
            "brief_title": "Drug Alpha and Drug Beta in adults",
            "detailed_description": None,
            "arms": [Arm(label="A", intervention_names=["Drug Alpha", "Drug Beta"])],
            "interventions": [
                Intervention(name="Drug Alpha", type="DRUG"),
                Intervention(name="Drug Beta", type="DRUG"),
            ],
        }
    )
    steps = plan("R4", trial)["action"][0]["action"]
    assert [s["title"] for s in steps] == ["Drug Alpha", "Drug Beta"]
    assert all("relatedAction" not in s for s in steps)


def test_activity_definitions_code_drugs_and_radiotherapy() -> None:
    bundle = to_bundle(seed_trial(), "R4", drug_lookup=drug_lookup)
    by_title = {a["title"]: a for a in resources(bundle, "ActivityDefinition")}
    radiotherapy = by_title["Short-course radiotherapy"]
    assert radiotherapy["kind"] == "ServiceRequest"
    assert radiotherapy["code"]["coding"][0]["code"] == "108290001"
    assert radiotherapy["code"]["text"] == "Short-course radiotherapy"
    capecitabine = by_title["capecitabine"]
    assert capecitabine["kind"] == "MedicationRequest"
    assert {"system": "http://www.whocc.no/atc", "code": "L01BC06"} in capecitabine["productCodeableConcept"]["coding"]
    assert by_title["Sintilimab"]["productCodeableConcept"] == {"text": "Sintilimab"}  # unknown to the lexicon: text
    assert all("dosage" not in a and "timingTiming" not in a for a in by_title.values())


def test_no_arms_gives_top_level_intervention_actions() -> None:
    trial = seed_trial().model_copy(update={"arms": []})
    actions = plan("R4", trial)["action"]
    assert [a["title"] for a in actions] == ["Short-course radiotherapy", "Sintilimab + IL-2 Combined with CAPOX"]
