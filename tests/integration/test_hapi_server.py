"""The client against a second real server: HAPI FHIR JPA (8.8.0, R4, H2 in memory) on loopback.

The module fixture builds ``conformance/hapi-server`` with Maven when its jar is missing or stale and
starts it (``fhir_adapter.fhir.hapi_testing``); it is skipped only when ``java`` or ``mvn`` is absent.
HAPI's CapabilityStatement differs from sekmet's (it declares ResearchStudy & co. with an ``identifier``
search and conditional create, and offers ``$validate`` per type), so the push strategies differ too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fhir_adapter.cli import _register_commands, app
from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir import FhirClient, escape_search_value
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.fhir.push import bundle_for_input, entry_identifier, plan_push, push_bundle
from fhir_adapter.fhir.testing import LocalServer, find_sekmet, running_sekmet

from .conftest import SAMPLE

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE_PATIENTS = REPO / "samples" / "patients" / "data"
AS_OF = "2025-01-01"  # the as-of date the sample patients were generated for
SYS = "http://fhir-adapter.org/fhir/identifier"
TRIAL_TYPES = ("ResearchStudy", "PlanDefinition", "ActivityDefinition", "Group", "Organization", "Location")


@pytest.fixture(scope="module")
def hapi(hapi_server: LocalServer) -> Iterator[FhirClient]:
    with FhirClient(hapi_server.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def sample_patients(hapi: FhirClient) -> list[str]:
    """The project's sample patients, stored in HAPI under their own ids (one transaction of PUTs)."""
    items: list[dict[str, Any]] = []
    for path in sorted(SAMPLE_PATIENTS.glob("*.ndjson")):
        items += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    items.sort(key=lambda r: r["resourceType"] != "Patient")  # referenced patients first
    answer = hapi.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in items
    ]})
    assert len(answer["entry"]) == len(items)
    assert all(e["response"]["status"].startswith("20") for e in answer["entry"])
    return [r["id"] for r in items if r["resourceType"] == "Patient"]


def _search_identifier(client: FhirClient, resource_type: str, value: str) -> list[dict[str, Any]]:
    return client.search(resource_type, {"identifier": f"{SYS}|{escape_search_value(value)}"})


def _screen(*args: str) -> dict[str, Any]:
    _register_commands()
    result = CliRunner().invoke(app, ["screen", str(SAMPLE), "--format", "json", "--as-of", AS_OF, *args])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def _verdicts(body: dict[str, Any]) -> dict[str, str]:
    return {p["patient"]: p["verdict"] for p in body["patients"]}


def _only(body: dict[str, Any], patients: set[str]) -> dict[str, Any]:
    return {**body, "patients": [p for p in body["patients"] if p["patient"] in patients]}


def _answers(body: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """Per patient: verdict, reason code and the reason a coordinator reads."""
    return {p["patient"]: (p["verdict"], p["reason_code"], p["reason"]) for p in body["patients"]}


def test_capability_statement(hapi: FhirClient, hapi_server: LocalServer) -> None:
    caps = hapi.capabilities()
    assert caps.fhir_version == "R4" and caps.fhir_version_raw == "4.0.1"
    assert caps.software == "HAPI FHIR Server"
    assert caps.supports_transaction
    assert not caps.supports_batch  # HAPI serves batch Bundles but declares only "transaction"
    for resource_type in TRIAL_TYPES:  # declared, with identifier search and conditional create
        assert caps.declares(resource_type), resource_type
        assert caps.supports_search(resource_type, "identifier"), resource_type
        assert caps.conditional_create(resource_type), resource_type
    assert caps.has_operation("validate", "ResearchStudy")
    assert {"_has", "_id"} <= caps.search_params("Patient")
    assert hapi_server.startup_seconds < 180


def test_push_sample_then_second_push_creates_nothing(hapi: FhirClient) -> None:
    bundle, _ = bundle_for_input(SAMPLE, "R4")
    _, prepared = plan_push(bundle, hapi.capabilities())
    first = push_bundle(hapi, bundle, source=SAMPLE.name)
    assert first.mode == "transaction" and first.ok
    assert first.count("created") == len(bundle["entry"]) > 5
    for sent, outcome in zip(prepared["entry"], first.outcomes, strict=True):
        stored = hapi.read(outcome.resource_type, str(outcome.server_id))
        assert stored["resourceType"] == sent["resource"]["resourceType"]
        assert stored["identifier"] == sent["resource"]["identifier"]
        assert stored["meta"]["versionId"] == outcome.version
    [study] = _search_identifier(hapi, "ResearchStudy", "NCT06577194")
    assert study["id"] != "NCT06577194"  # server-assigned: conditional create, not PUT
    sponsor_type, sponsor_id = study["sponsor"]["reference"].split("/")
    sponsor = hapi.read(sponsor_type, sponsor_id)
    assert sponsor["identifier"][0]["value"].startswith("org:")  # shared across trials: keyed by who it is

    again = push_bundle(hapi, bundle, source=SAMPLE.name)
    assert again.ok and again.count("created") == 0
    assert again.count("unchanged") == len(bundle["entry"])
    assert {o.strategy for o in again.outcomes} == {"conditional-create"}
    for sent, outcome in zip(prepared["entry"], again.outcomes, strict=True):
        ident = entry_identifier(sent)
        assert ident is not None
        assert len(_search_identifier(hapi, outcome.resource_type, ident[1])) == 1  # still exactly one


def _chosen(caps: Capabilities) -> tuple[dict[str, str], dict[str, Any]]:
    bundle, _ = bundle_for_input(SAMPLE, "R4")
    strategies, prepared = plan_push(bundle, caps)
    return {t: s.strategy for t, s in strategies.items()}, prepared["entry"][0]["request"]


def test_strategy_differs_from_sekmet_where_the_statements_differ(hapi: FhirClient) -> None:
    on_hapi, hapi_request = _chosen(hapi.capabilities())
    assert set(on_hapi.values()) == {"conditional-create"}
    assert hapi_request == {"method": "POST", "url": "ResearchStudy",
                            "ifNoneExist": f"identifier={SYS}|NCT06577194"}
    executable = find_sekmet()
    if executable is None:
        pytest.skip("sekmet-fhir is not installed: nothing to compare HAPI's strategies with")
    with running_sekmet(executable) as sekmet, FhirClient(sekmet.base_url) as client:
        sekmet_caps = client.capabilities()
    on_sekmet, sekmet_request = _chosen(sekmet_caps)
    assert sekmet_request == {"method": "PUT", "url": "ResearchStudy/NCT06577194"}
    differs = {t for t in on_hapi if on_hapi[t] != on_sekmet[t]}
    assert {"ResearchStudy", "PlanDefinition"} <= differs
    for resource_type in differs:  # exactly where sekmet's statement lacks the type (or its identifier search)
        assert on_sekmet[resource_type] == "put"
        assert not sekmet_caps.supports_search(resource_type, "identifier")
    for resource_type in set(on_hapi) - differs:
        assert sekmet_caps.supports_search(resource_type, "identifier")


def test_validate_path_uses_hapi_validate(hapi: FhirClient) -> None:
    value = "HAPI-VALIDATE-TEST"
    study: dict[str, Any] = {"resourceType": "ResearchStudy", "identifier": [{"system": SYS, "value": value}]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5b1c3c5e-0000-4000-8000-0000000000a1",
         "resource": study,
         "request": {"method": "POST", "url": "ResearchStudy", "ifNoneExist": f"identifier={SYS}|{value}"}},
    ]}
    with pytest.raises(FhirServerError, match=r"\$validate found errors.*ResearchStudy\.status"):
        push_bundle(hapi, bundle, validate=True)
    assert _search_identifier(hapi, "ResearchStudy", value) == []  # nothing pushed
    # HAPI's $validate answer itself, as the client reads it
    outcome = hapi.validate(study)
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(i["severity"] == "error" and "ResearchStudy.status" in i.get("diagnostics", "")
               for i in outcome["issue"])
    # and a valid trial passes $validate and is pushed
    good, _ = bundle_for_input(SAMPLE, "R4")
    assert push_bundle(hapi, good, source=SAMPLE.name, validate=True).ok


def test_hapi_does_not_validate_on_write(hapi: FhirClient) -> None:
    """Unlike sekmet, HAPI JPA stores a resource missing a required element (no profile check on
    write): ``--validate`` is the only way to catch it before it is stored."""
    value = "HAPI-NO-STATUS"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5b1c3c5e-0000-4000-8000-0000000000a2",
         "resource": {"resourceType": "ResearchStudy", "identifier": [{"system": SYS, "value": value}]},
         "request": {"method": "POST", "url": "ResearchStudy", "ifNoneExist": f"identifier={SYS}|{value}"}},
    ]}
    assert push_bundle(hapi, bundle, source="no-status").count("created") == 1
    assert len(_search_identifier(hapi, "ResearchStudy", value)) == 1


def test_batch_mode(hapi: FhirClient) -> None:
    bundle, _ = bundle_for_input(SAMPLE, "R4")
    report = push_bundle(hapi, bundle, source="batch", mode="batch")
    assert report.mode == "batch" and report.ok
    study = next(o for o in report.outcomes if o.resource_type == "ResearchStudy")
    stored = hapi.read("ResearchStudy", str(study.server_id))
    assert not stored["sponsor"]["reference"].startswith("urn:uuid:")


def test_has_and_revinclude(hapi: FhirClient, sample_patients: list[str]) -> None:
    conditions = [c for c in hapi.search("Condition", {"_count": "200"})
                  if c["subject"]["reference"].split("/")[-1] in sample_patients]
    assert conditions
    first = conditions[0]
    patient_id = first["subject"]["reference"].split("/")[-1]
    coding = first["code"]["coding"][0]
    token = f"{coding['system']}|{coding['code']}"
    expected = {c["subject"]["reference"].split("/")[-1] for c in conditions
                if any(f"{x.get('system')}|{x.get('code')}" == token for x in c["code"]["coding"])}
    has = hapi.search("Patient", {"_has:Condition:subject:code": token})
    assert {p["id"] for p in has} == expected and patient_id in expected
    bundles = list(hapi.search_bundles("Patient", {"_id": patient_id, "_revinclude": "Condition:subject"}))
    entries = [e["resource"] for b in bundles for e in b.get("entry") or []]
    assert {r["resourceType"] for r in entries} == {"Patient", "Condition"}
    revincluded = {r["id"] for r in entries if r["resourceType"] == "Condition"}
    assert revincluded == {c["id"] for c in conditions if c["subject"]["reference"].endswith(f"/{patient_id}")}


def test_screen_on_hapi_equals_local_screen(hapi_server: LocalServer, sample_patients: list[str]) -> None:
    local = _screen("--data", str(SAMPLE_PATIENTS))
    assert set(_verdicts(local)) == {f"Patient/{p}" for p in sample_patients}
    assert {"eligible", "needs-review", "ineligible"} <= set(_verdicts(local).values())
    ours = {p["patient"] for p in local["patients"]}  # HAPI also holds the other integration tests' patients
    server = _only(_screen("--server", hapi_server.base_url, "--no-prefilter"), ours)
    assert server["trial"] == local["trial"] and server["as_of"] == AS_OF
    assert _answers(server) == _answers(local)
    assert [p["patient"] for p in server["patients"]] == [p["patient"] for p in local["patients"]]
    for mine, theirs in zip(server["patients"], local["patients"], strict=True):
        assert [(c["result"], c["reason"]) for c in mine["criteria"]] == [
            (c["result"], c["reason"]) for c in theirs["criteria"]
        ]
    filtered = _answers(_only(_screen("--server", hapi_server.base_url), ours))  # with the server-side pre-filter
    assert filtered == _answers(local)  # the ruled-out patients are reported, with the local answer
