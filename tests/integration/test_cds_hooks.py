"""The CDS Hooks service against real FHIR servers (sekmet and HAPI, both on 127.0.0.1): without prefetch it reads
the patient from the EHR's server with the hook's access token, and its cards equal the local `match` verdicts;
served from the trials `push` wrote to the server, its cards equal those of the same trials served from files."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from fhir_adapter.fhir import FhirClient
from fhir_adapter.fhir.push import bundle_for_input, push_bundle
from fhir_adapter.matching import LocalData, Matcher
from fhir_adapter.service.app import create_app
from fhir_adapter.service.catalog import Catalog, load_catalog, load_server_catalog
from fhir_adapter.service.testing import running

from .conftest import CORPUS, load_into
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


PUSHED = ["NCT05147467", "NCT04106492", "NCT05573893"]
"""Recruiting corpus trials without an index condition (pushed with the seed trial, which has one)."""


def prefetch_of(data: LocalData, patient_id: str, catalog: Catalog) -> dict[str, object]:
    """The whole record of each prefetched type, as an EHR answers the service's templates."""
    out: dict[str, object] = {"patient": data.patient(patient_id)}
    for key in catalog.prefetch():
        if key != "patient":
            found = list(data.resources(patient_id, key[:1].upper() + key[1:-1]))
            out[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                        "entry": [{"resource": r} for r in found]}
    return out


def _cards(catalog: Catalog, data: LocalData) -> dict[str, list[dict[str, object]]]:
    """Each sample patient's patient-view cards from the whole prefetch, through a running service."""
    found = {}
    with running(create_app(catalog, verifier=None)) as base:
        for patient_id in sorted(data.patient_ids()):
            body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"patientId": patient_id},
                    "prefetch": prefetch_of(data, patient_id, catalog)}
            answer = httpx.post(f"{base}/cds-services/trial-matching", json=body, timeout=60)
            assert answer.status_code == 200, answer.text
            found[patient_id] = answer.json()["cards"]
    return found


def _delete_created(base: str, created: list[tuple[str, str]]) -> None:
    """Leave the server as the other modules expect it (they push the seed trial and the corpus to an empty server):
    what this test created is deleted, a resource still referred to by another retried after it."""
    left = created
    for _ in range(len(created) + 1):
        refused = []
        for resource_type, resource_id in left:
            answer = httpx.delete(f"{base}/{resource_type}/{resource_id}", timeout=60)
            if answer.status_code >= 400 and answer.status_code not in (404, 410):
                refused.append((resource_type, resource_id))
        if not refused:
            return
        left = refused
    raise AssertionError(f"could not delete {left} from {base}")


def test_trials_served_from_the_server_give_the_cards_of_their_files(ehr_server: str) -> None:
    files = [TRIAL, *(CORPUS / f"{nct}.json" for nct in PUSHED)]
    created: list[tuple[str, str]] = []
    try:
        with FhirClient(ehr_server) as client:
            for path in files:
                bundle, _ = bundle_for_input(path, "R4")
                report = push_bundle(client, bundle, source=path.name)
                created += [(o.resource_type, o.server_id) for o in report.outcomes if o.outcome == "created"
                            and o.server_id]
                assert report.ok
            loaded = load_server_catalog(client)
        _compare_with_files(loaded, files)
    finally:
        _delete_created(ehr_server, created)


def _compare_with_files(loaded: Catalog, files: list[Path]) -> None:
    ours = {"NCT06577194", *PUSHED}
    assert ours <= {t.id for t in loaded.trials}  # other modules may have pushed more trials to this server
    from_server = Catalog([t for t in loaded.trials if t.id in ours])
    from_files = load_catalog(files)
    assert from_server.prefetch() == from_files.prefetch()
    data = LocalData(SAMPLE_PATIENTS)
    served, expected = _cards(from_server, data), _cards(from_files, data)
    assert served == expected
    assert sum(len(cards) for cards in expected.values()) > 0
