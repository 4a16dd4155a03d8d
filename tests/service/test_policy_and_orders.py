"""The card policy for trials without an index condition, and the order-select hook, over a real uvicorn server on
127.0.0.1 (no token checks: the JWT checks are tested in test_cds_hooks.py)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_adapter.criteria.lexicon import default_lexicon
from fhir_adapter.matching import LocalData, Matcher
from fhir_adapter.service.app import create_app
from fhir_adapter.service.catalog import Catalog, load_catalog
from fhir_adapter.service.policy import CardPolicy
from fhir_adapter.service.testing import running

from .test_cds_hooks import SAMPLES, TRIAL, prefetch_of

CLL_TRIAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "ctgov" / "NCT05147467.json"
"""Recruiting; no index condition in its criteria; registry conditions CLL and SLL, which the lexicon codes."""
VIEW = "/cds-services/trial-matching"
ORDER = "/cds-services/trial-matching-order"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([TRIAL, CLL_TRIAL])


@pytest.fixture(scope="module")
def data() -> LocalData:
    return LocalData(SAMPLES)


def open_patient(catalog: Catalog, data: LocalData) -> str:
    """A sample patient the CLL trial's verdict leaves possible (no criterion fails), without CLL on record."""
    trial = next(t for t in catalog.trials if t.id == "NCT05147467")
    matcher = Matcher(trial.criteria.atoms, as_of=date.today())
    return next(p for p in sorted(data.patient_ids()) if matcher.evaluate(data, p).verdict != "ineligible")


def call(base: str, path: str, hook: str, patient_id: str, prefetch: dict[str, Any], **context: Any) -> list[Any]:
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": {"patientId": patient_id, **context},
            "prefetch": prefetch}
    answer = httpx.post(base + path, json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    cards: list[Any] = answer.json()["cards"]
    return cards


def test_the_cll_trial_has_no_index_condition_but_registry_anchors(catalog: Catalog) -> None:
    trial = next(t for t in catalog.trials if t.id == "NCT05147467")
    assert not trial.index
    assert "condition.chronic-lymphocytic-leukemia" in [a.concept_key for a in trial.registry]
    seed = next(t for t in catalog.trials if t.id == "NCT06577194")
    assert seed.index and seed.registry == []


def test_a_trial_without_index_condition_is_withheld_unless_the_record_documents_its_condition(
    catalog: Catalog, data: LocalData
) -> None:
    patient = open_patient(catalog, data)
    prefetch = prefetch_of(data, patient, catalog)
    with running(create_app(catalog, verifier=None)) as base:
        before = httpx.get(base + "/metrics", timeout=10).json().get("cards-withheld", 0)
        cards = call(base, VIEW, "patient-view", patient, prefetch)
        assert all("NCT05147467" not in c["summary"] for c in cards)
        assert httpx.get(base + "/metrics", timeout=10).json()["cards-withheld"] == before + 1

        cll = next(c for c in default_lexicon().get("condition.chronic-lymphocytic-leukemia").codings
                   if "snomed" in c.system)
        condition = {"resourceType": "Condition", "id": "cll-1", "subject": {"reference": f"Patient/{patient}"},
                     "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                    "code": "active"}]},
                     "code": {"coding": [{"system": cll.system, "code": cll.code}]}}
        with_cll = json.loads(json.dumps(prefetch))
        with_cll["conditions"]["entry"].append({"resource": condition})
        with_cll["conditions"]["total"] += 1
        [card] = [c for c in call(base, VIEW, "patient-view", patient, with_cll) if "NCT05147467" in c["summary"]]
    assert not card["summary"].startswith("Diagnosis not confirmed")
    assert "**Shown because the record documents:**" in card["detail"]


def test_show_unconfirmed_labels_and_caps_them(catalog: Catalog, data: LocalData) -> None:
    patient = open_patient(catalog, data)
    with running(create_app(catalog, verifier=None, policy=CardPolicy(unconfirmed=1))) as base:
        cards = call(base, VIEW, "patient-view", patient, prefetch_of(data, patient, catalog))
    [card] = [c for c in cards if "NCT05147467" in c["summary"]]
    assert card["summary"].startswith("Diagnosis not confirmed: NCT05147467")
    assert "**Diagnosis not confirmed:**" in card["detail"]
    assert cards[-1] is card  # after the confirmed ones


def _pembrolizumab(patient: str, order_id: str = "draft-1") -> dict[str, Any]:
    rxnorm = next(c for c in default_lexicon().get("medication.pembrolizumab").codings if "rxnorm" in c.system)
    return {"resourceType": "MedicationRequest", "id": order_id, "status": "draft", "intent": "proposal",
            "subject": {"reference": f"Patient/{patient}"},
            "medicationCodeableConcept": {"coding": [{"system": rxnorm.system, "code": rxnorm.code}]}}


def test_order_select_warns_first_about_the_trials_the_draft_order_would_exclude(
    catalog: Catalog, data: LocalData
) -> None:
    patient = "smp-eligible"
    prefetch = prefetch_of(data, patient, catalog)
    drafts = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": _pembrolizumab(patient)}, {"resource": _pembrolizumab(patient, "other")}]}
    with running(create_app(catalog, verifier=None)) as base:
        viewed = call(base, VIEW, "patient-view", patient, prefetch)
        ordered = call(base, ORDER, "order-select", patient, prefetch, userId="Practitioner/1",
                       selections=["MedicationRequest/draft-1"], draftOrders=drafts)
        unrelated = call(base, ORDER, "order-select", patient, prefetch, selections=["MedicationRequest/none"],
                         draftOrders=drafts)
    assert "NCT06577194" in viewed[0]["summary"] and viewed[0]["indicator"] == "info"
    first = ordered[0]
    assert first["indicator"] == "warning"
    assert first["summary"].startswith("Before this order, consider trial: NCT06577194")
    assert "**This order would exclude the patient:**" in first["detail"]
    assert "PD-1" in first["detail"] or "pd-1" in first["detail"].lower()
    assert [c["summary"] for c in unrelated] == [c["summary"] for c in viewed]  # nothing selected: as patient-view


def test_order_select_needs_its_own_hook_name(catalog: Catalog, data: LocalData) -> None:
    with running(create_app(catalog, verifier=None)) as base:
        body = {"hook": "patient-view", "hookInstance": "1", "context": {"patientId": "smp-eligible"}}
        answer = httpx.post(base + ORDER, json=body, timeout=10)
    assert answer.status_code == 400 and "order-select" in answer.json()["detail"]
