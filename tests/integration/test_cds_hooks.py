"""The CDS Hooks service without prefetch: it reads the patient from the EHR's FHIR server (sekmet and HAPI, both
on 127.0.0.1) with the access token the hook carries, and its cards equal the local `match` verdicts."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from fhir_adapter.fhir import FhirClient
from fhir_adapter.matching import LocalData, Matcher
from fhir_adapter.service.app import create_app
from fhir_adapter.service.catalog import load_catalog
from fhir_adapter.service.testing import running

from .conftest import load_into
from .test_screen import SAMPLE_PATIENTS, _items

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sekmet", "hapi"])
def ehr_server(request: pytest.FixtureRequest) -> str:
    """The base URL of a real FHIR server holding the sample patients. Looked up by name (not through the
    parametrised ``fhir_server``), so that pytest does not reorder the other modules' tests around this one."""
    if request.param == "sekmet":
        base = str(request.getfixturevalue("sekmet_server"))
    else:
        base = request.getfixturevalue("hapi_server").base_url
    with FhirClient(base) as client:
        load_into(client, _items(SAMPLE_PATIENTS))
    return base

TRIAL = Path(__file__).resolve().parents[2] / "samples" / "NCT06577194.txt"


def test_cards_from_the_ehr_server_equal_match(ehr_server: str) -> None:
    fhir_server = ehr_server
    catalog = load_catalog([TRIAL])
    local = LocalData(SAMPLE_PATIENTS)
    matcher = Matcher(catalog.trials[0].criteria.atoms, as_of=date.today())
    with running(create_app(catalog, verifier=None)) as base:
        for patient_id in ("smp-eligible", "smp-missing-neutrophils", "smp-hiv", "smp-no-diagnosis"):
            body = {
                "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_server,
                "fhirAuthorization": {"access_token": "tok-loopback-test", "token_type": "Bearer",
                                      "scope": "patient/*.read", "subject": "fhir-adapter"},
                "context": {"patientId": patient_id},
            }
            answer = httpx.post(f"{base}/cds-services/trial-matching", json=body, timeout=60)
            assert answer.status_code == 200, answer.text
            expected = matcher.evaluate(local, patient_id)
            found = answer.json()["cards"]
            assert bool(found) == (expected.verdict != "ineligible"), (patient_id, expected.reason)
            if found:
                assert expected.reason in found[0]["detail"]


def test_a_partial_prefetch_is_completed_from_the_server(ehr_server: str) -> None:
    """Only the Patient prefetched: the rest comes from the EHR's server, and the card is the same."""
    fhir_server = ehr_server
    catalog = load_catalog([TRIAL])
    local = LocalData(SAMPLE_PATIENTS)
    with running(create_app(catalog, verifier=None)) as base:
        body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_server,
                "context": {"patientId": "smp-missing-neutrophils"},
                "prefetch": {"patient": local.patient("smp-missing-neutrophils")}}
        [card] = httpx.post(f"{base}/cds-services/trial-matching", json=body, timeout=60).json()["cards"]
    expected = Matcher(catalog.trials[0].criteria.atoms, as_of=date.today()).evaluate(local, "smp-missing-neutrophils")
    assert expected.reason in card["detail"] and "absolute neutrophil count" in card["detail"]
