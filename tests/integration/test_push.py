"""Push against the real local FHIR server (sekmet on loopback, started by the session fixture)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir import AsyncFhirClient, FhirClient, escape_search_value
from fhir_adapter.fhir.push import bundle_for_input, entry_identifier, plan_push, push_bundle

from .conftest import CORPUS, SAMPLE

pytestmark = pytest.mark.integration

SYS = "http://fhir-adapter.org/fhir/identifier"
KEY_FIELDS = ("identifier", "status", "title", "name", "type", "actual", "description")


def _search_identifier(client: FhirClient, resource_type: str, value: str) -> list[dict[str, Any]]:
    return client.search(resource_type, {"identifier": f"{SYS}|{escape_search_value(value)}"})


def test_push_sample_as_r4_and_read_every_resource_back(fhir_client: FhirClient) -> None:
    bundle, _ = bundle_for_input(SAMPLE, "R4")
    _, prepared = plan_push(bundle, fhir_client.capabilities())
    report = push_bundle(fhir_client, bundle, source=SAMPLE.name)
    assert report.mode == "transaction" and report.ok
    # created on a fresh server; unchanged when another test module pushed the seed first on this one
    assert report.count("created") + report.count("unchanged") == len(bundle["entry"]) > 5
    by_identifier = {}
    for sent, outcome in zip(prepared["entry"], report.outcomes, strict=True):
        stored = fhir_client.read(outcome.resource_type, str(outcome.server_id))
        resource = sent["resource"]
        assert stored["resourceType"] == resource["resourceType"]
        for key in KEY_FIELDS:
            if key in resource:
                assert stored[key] == resource[key], (outcome.resource_type, key)
        assert stored["meta"]["versionId"] == outcome.version
        by_identifier[entry_identifier(sent)] = stored
    study = by_identifier[(SYS, "NCT06577194")]
    if not fhir_client.capabilities().supports_search("ResearchStudy", "identifier"):
        assert study["id"] == "NCT06577194"  # PUT at the stable id (no identifier search on this server)
    sponsor_type, sponsor_id = study["sponsor"]["reference"].split("/")
    sponsor = fhir_client.read(sponsor_type, sponsor_id)  # urn:uuid resolved by the server
    assert sponsor["identifier"][0]["value"].startswith("org:the-first-affiliated-hospital-with-nanjing-medi")


def test_second_push_creates_nothing(fhir_client: FhirClient) -> None:
    bundle, _ = bundle_for_input(SAMPLE, "R4")
    push_bundle(fhir_client, bundle, source=SAMPLE.name)
    again = push_bundle(fhir_client, bundle, source=SAMPLE.name)
    assert again.count("created") == 0 and again.ok
    conditional = [o for o in again.outcomes if o.strategy == "conditional-create"]
    assert conditional and all(o.outcome == "unchanged" for o in conditional)
    for o in conditional:  # still exactly one resource per business identifier
        value = o.identifier.split("|", 1)[1]
        assert len(_search_identifier(fhir_client, o.resource_type, value)) == 1


def test_strategy_depends_on_declared_identifier_search(fhir_client: FhirClient) -> None:
    bundle, _ = bundle_for_input(SAMPLE, "R4")
    strategies, prepared = plan_push(bundle, fhir_client.capabilities())
    caps = fhir_client.capabilities()
    chosen = {t: s.strategy for t, s in strategies.items()}
    for resource_type, strategy in chosen.items():
        searchable = caps.supports_search(resource_type, "identifier") and caps.conditional_create(resource_type)
        assert strategy == ("conditional-create" if searchable else "put"), resource_type
    assert chosen["Organization"] == "conditional-create"  # both servers declare Organization?identifier
    study = prepared["entry"][0]
    if chosen["ResearchStudy"] == "put":  # sekmet: ResearchStudy is not in its CapabilityStatement
        assert study["request"] == {"method": "PUT", "url": "ResearchStudy/NCT06577194"}
    else:  # HAPI declares it with an identifier search
        assert study["request"]["method"] == "POST"
        assert study["request"]["ifNoneExist"] == f"identifier={SYS}|NCT06577194"


def test_invalid_resource_gets_the_outcome_and_nothing_is_stored(fhir_client: FhirClient) -> None:
    org_value = "INVALID-TEST-sponsor"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5b1c3c5e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Organization", "identifier": [{"system": SYS, "value": org_value}],
                      "name": "Rolled back"},
         "request": {"method": "POST", "url": "Organization", "ifNoneExist": f"identifier={SYS}|{org_value}"}},
        {"fullUrl": "urn:uuid:5b1c3c5e-0000-4000-8000-000000000002",
         # invalid twice over: no status (servers that validate on write) and a reference to a resource
         # that does not exist (servers that check references on write, such as HAPI)
         "resource": {"resourceType": "ResearchStudy", "identifier": [{"system": SYS, "value": "INVALID-TEST"}],
                      "title": "no status",
                      "partOf": [{"reference": "ResearchStudy/no-such-study-anywhere"}],
                      "sponsor": {"reference": "urn:uuid:5b1c3c5e-0000-4000-8000-000000000001"}},
         "request": {"method": "POST", "url": "ResearchStudy", "ifNoneExist": f"identifier={SYS}|INVALID-TEST"}},
    ]}
    with pytest.raises(FhirServerError) as err:
        push_bundle(fhir_client, bundle, source="invalid")
    message = err.value.one_line()
    assert err.value.outcome is not None and err.value.outcome["issue"][0]["severity"] == "error"
    assert "ResearchStudy.status" in message or "no-such-study-anywhere" in message
    assert f"entry #1 ResearchStudy {SYS}|INVALID-TEST" in message
    assert err.value.status_code is not None and err.value.status_code >= 400
    assert _search_identifier(fhir_client, "Organization", org_value) == []
    with pytest.raises(FhirServerError, match="→ 404"):
        fhir_client.read("ResearchStudy", "INVALID-TEST")


def test_validate_catches_the_invalid_resource_first(fhir_client: FhirClient) -> None:
    assert fhir_client.capabilities().has_operation("validate")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5b1c3c5e-0000-4000-8000-000000000003",
         "resource": {"resourceType": "ResearchStudy", "identifier": [{"system": SYS, "value": "VALIDATE-TEST"}]},
         "request": {"method": "POST", "url": "ResearchStudy"}},
    ]}
    with pytest.raises(FhirServerError, match=r"\$validate found errors.*ResearchStudy\.status"):
        push_bundle(fhir_client, bundle, validate=True)


def test_batch_mode_on_the_real_server(fhir_client: FhirClient) -> None:
    bundle, _ = bundle_for_input(CORPUS / "NCT00034216.json", "R4") if CORPUS.is_dir() else (None, [])
    if bundle is None:
        bundle, _ = bundle_for_input(SAMPLE, "R4")
    report = push_bundle(fhir_client, bundle, source="batch", mode="batch")
    assert report.mode == "batch" and report.ok
    study = next(o for o in report.outcomes if o.resource_type == "ResearchStudy")
    stored = fhir_client.read("ResearchStudy", str(study.server_id))
    if "sponsor" in stored:
        assert not stored["sponsor"]["reference"].startswith("urn:uuid:")


def test_corpus_each_trial_its_own_transaction(fhir_client: FhirClient) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    paths = sorted(CORPUS.glob("*.json"))
    assert len(paths) == 81
    failures: list[str] = []
    created = 0
    for path in paths:
        try:
            bundle, _ = bundle_for_input(path, "R4")
            report = push_bundle(fhir_client, bundle, source=path.name)
        except Exception as exc:  # collect every failure, then report them all
            failures.append(f"{path.name}: {exc}")
            continue
        created += report.count("created")
        if not report.ok:
            failures.append(f"{path.name}: {report.to_json()['counts']}")
    assert failures == []
    assert created > 81


def test_search_pages_across_the_real_server(fhir_client: FhirClient, fhir_server: str) -> None:
    for n in range(7):  # enough of its own to page through, whatever other tests stored
        org = {"resourceType": "Organization", "name": f"paging-test-{n}"}
        fhir_client.create(org, if_none_exist=f"name=paging-test-{n}")
    summary = fhir_client.search_bundles("Organization", {"_summary": "count"})
    total = next(iter(summary))["total"]
    assert total > 3
    paged = fhir_client.search("Organization", {"_count": "3"})
    assert len(paged) == total and len({r["id"] for r in paged}) == total
    with FhirClient(fhir_server, max_pages=1) as capped, pytest.raises(FhirServerError, match="stopped after 1"):
        capped.search("Organization", {"_count": "3"})
    with pytest.raises(FhirServerError, match="Unknown search parameter"):
        fhir_client.search("Organization", {"no-such-param": "x"})  # Prefer: handling=strict


def test_async_client_on_the_real_server(fhir_server: str) -> None:
    async def run() -> tuple[str | None, int]:
        async with AsyncFhirClient(fhir_server) as fhir:
            caps = await fhir.capabilities()
            found = await fhir.search("Organization", {"_count": "50"})
            return caps.fhir_version, len(found)

    version, count = asyncio.run(run())
    assert version == "R4" and count > 0


def test_loader_helper(load_resources: Any, fhir_client: FhirClient, tmp_path: Path) -> None:
    patient = {"resourceType": "Patient", "id": "loader-p1", "gender": "female", "birthDate": "1970-01-01"}
    answers = load_resources([patient, {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": "Patient/loader-p1"}},
         "request": {"method": "POST", "url": "Observation"}}]}])
    assert answers[0]["id"] == "loader-p1"
    assert fhir_client.search("Observation", {"subject": "Patient/loader-p1"})[0]["code"] == {"text": "x"}
