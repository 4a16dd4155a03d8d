"""Push planning (strategies, rewriting), outcome reading, failure explanation, batch fallback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from fhir_fakes import BASE, Sleeps, capability_statement

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir import Capabilities, FhirClient
from fhir_adapter.fhir.push import (
    TypeStrategy,
    choose_strategies,
    classify,
    entry_identifier,
    explain_transaction_failure,
    plan_push,
    push_bundle,
)
from fhir_adapter.mapping import stable_id

SYS = "http://fhir-adapter.org/fhir/identifier"
FHIR = {"Content-Type": "application/fhir+json"}


def entry(resource_type: str, value: str, **fields: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:00000000-0000-0000-0000-{abs(hash((resource_type, value))) % 10**12:012d}",
        "resource": {"resourceType": resource_type, "identifier": [{"system": SYS, "value": value}], **fields},
        "request": {"method": "POST", "url": resource_type, "ifNoneExist": f"identifier={SYS}|{value}"},
    }


def trial_bundle() -> dict[str, Any]:
    org = entry("Organization", "NCT1-sponsor", name="Sponsor")
    plan = entry("PlanDefinition", "NCT1-plan", status="active")
    study = entry("ResearchStudy", "NCT1", status="active", sponsor={"reference": org["fullUrl"]},
                  protocol=[{"reference": plan["fullUrl"]}])
    return {"resourceType": "Bundle", "type": "transaction", "entry": [study, plan, org]}


CAPS = Capabilities.from_statement(capability_statement())


def test_strategy_follows_capabilities() -> None:
    caps = Capabilities.from_statement(capability_statement(types={
        "Organization": ["identifier"], "Location": ["name"], "Group": ["identifier"],
    }))
    no_conditional = capability_statement(types={"Group": ["identifier"]})
    no_conditional["rest"][0]["resource"][0]["conditionalCreate"] = False
    caps_no_cc = Capabilities.from_statement(no_conditional)
    bundle = {"resourceType": "Bundle", "entry": [entry(t, "x") for t in ("Organization", "Location", "ResearchStudy")]}
    chosen = {t: s.strategy for t, s in choose_strategies(bundle, caps).items()}
    assert chosen == {"Organization": "conditional-create", "Location": "put", "ResearchStudy": "put"}
    reasons = choose_strategies(bundle, caps)
    assert "unknown type" in reasons["ResearchStudy"].reason
    assert "no 'identifier' search parameter" in reasons["Location"].reason
    group = choose_strategies({"entry": [entry("Group", "g")]}, caps_no_cc)["Group"]
    assert group == TypeStrategy("Group", "put", "conditional create not declared")


def test_prepare_rewrites_put_entries_and_their_references() -> None:
    original = trial_bundle()
    strategies, prepared = plan_push(original, CAPS)
    study, plan, org = prepared["entry"]
    assert study["request"] == {"method": "PUT", "url": "ResearchStudy/NCT1"}
    assert study["resource"]["id"] == "NCT1" == stable_id("ResearchStudy", "NCT1")
    assert plan["request"] == {"method": "PUT", "url": f"PlanDefinition/{stable_id('PlanDefinition', 'NCT1-plan')}"}
    assert study["resource"]["protocol"] == [{"reference": "PlanDefinition/NCT1-plan"}]
    assert study["resource"]["sponsor"] == {"reference": org["fullUrl"]}  # conditional create: server resolves
    assert org["request"]["ifNoneExist"] == f"identifier={SYS}|NCT1-sponsor"
    assert original["entry"][0]["request"]["method"] == "POST"  # input untouched
    assert strategies["Organization"].strategy == "conditional-create"


def test_entry_identifier_reads_escaped_if_none_exist() -> None:
    e = {"request": {"ifNoneExist": r"identifier=urn:a\|b|v\,1"}, "resource": {}}
    assert entry_identifier(e) == ("urn:a|b", "v,1")
    assert entry_identifier({"resource": {"identifier": [{"value": "z"}]}}) == (None, "z")


@pytest.mark.parametrize(
    ("status", "method", "version", "previous", "expected"),
    [("201 Created", "POST", "1", None, "created"), ("201", "PUT", "1", None, "created"),
     ("200 OK", "POST", "1", None, "unchanged"), ("200 OK", "PUT", "3", None, "updated"),
     ("200 OK", "PUT", "3", "3", "unchanged"), ("400 Bad Request", "PUT", None, None, "failed")],
)
def test_classify(status: str, method: str, version: str | None, previous: str | None, expected: str) -> None:
    assert classify(status, method, version, previous) == expected


def test_transaction_failure_names_the_entry() -> None:
    _, prepared = plan_push(trial_bundle(), CAPS)
    outcome = {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "structure", "expression": ["Organization.name"],
        "diagnostics": "Transaction rolled back: Input should be a valid string (Organization.name)"}]}
    exc = FhirServerError("POST Bundle → 400: ...", status_code=400, method="POST", url=BASE, outcome=outcome)
    explained = explain_transaction_failure(exc, prepared)
    assert explained.one_line().startswith(
        "transaction rejected → 400, nothing written (the server rolls back): "
        f"entry #2 Organization {SYS}|NCT1-sponsor:"
    )
    assert explained.outcome == outcome and explained.status_code == 400
    by_index = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invalid", "expression": ["Bundle.entry[1].resource.status"]}]}
    explained = explain_transaction_failure(FhirServerError("x", outcome=by_index), prepared)
    assert "entry #1 PlanDefinition" in explained.one_line()


def test_push_reports_transaction_outcomes(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200, json=capability_statement(), headers=FHIR))
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": "ResearchStudy/NCT1/_history/1"}},
        {"response": {"status": "200 OK", "location": "PlanDefinition/NCT1-plan/_history/4"}},
        {"response": {"status": "200 OK", "etag": 'W/"1"'},
         "resource": {"resourceType": "Organization", "id": "org-9", "meta": {"versionId": "1"}}},
    ]}
    tx = mock.post(BASE).mock(return_value=httpx.Response(200, json=answer, headers=FHIR))
    with FhirClient(BASE, sleep=sleeps) as fhir:
        report = push_bundle(fhir, trial_bundle(), source="NCT1.json", write_mode="create")
    sent = json.loads(tx.calls[0].request.content)
    assert [e["request"]["method"] for e in sent["entry"]] == ["PUT", "PUT", "POST"]
    assert [(o.resource_type, o.outcome, o.server_id, o.version) for o in report.outcomes] == [
        ("ResearchStudy", "created", "NCT1", "1"), ("PlanDefinition", "updated", "NCT1-plan", "4"),
        ("Organization", "unchanged", "org-9", "1"),
    ]
    assert report.mode == "transaction" and report.ok
    assert report.to_json()["counts"] == {"created": 1, "updated": 1, "unchanged": 1, "failed": 0, "skipped": 0}


def test_no_transaction_support_uses_batches_in_dependency_order(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(
        200, json=capability_statement(transaction=False), headers=FHIR))
    batches: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        batch = json.loads(request.content)
        batches.append(batch)
        entries = []
        for e in batch["entry"]:
            rtype = e["resource"]["resourceType"]
            rid = e["resource"].get("id") or f"srv-{rtype.lower()}"
            entries.append({"response": {"status": "201 Created", "location": f"{rtype}/{rid}/_history/1"}})
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries},
                              headers=FHIR)

    mock.post(BASE).mock(side_effect=answer)
    with FhirClient(BASE, sleep=sleeps) as fhir:
        report = push_bundle(fhir, trial_bundle(), source="NCT1.json", write_mode="create")
    assert report.mode == "batch" and report.ok
    assert [b["type"] for b in batches] == ["batch", "batch"]
    first = [e["resource"]["resourceType"] for e in batches[0]["entry"]]
    assert sorted(first) == ["Organization", "PlanDefinition"]
    (study,) = batches[1]["entry"]
    assert study["resource"]["sponsor"] == {"reference": "Organization/srv-organization"}
    assert study["resource"]["protocol"] == [{"reference": "PlanDefinition/NCT1-plan"}]
    assert {o.resource_type: o.server_id for o in report.outcomes}["Organization"] == "srv-organization"


def test_batch_failure_reports_what_was_written(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(
        200, json=capability_statement(transaction=False), headers=FHIR))
    oo = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "no"}]}
    first = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"response": {"status": "201 Created", "location": "PlanDefinition/NCT1-plan/_history/1"}},
        {"response": {"status": "400 Bad Request", "outcome": oo}},
    ]}
    route = mock.post(BASE).mock(return_value=httpx.Response(200, json=first, headers=FHIR))
    with FhirClient(BASE, sleep=sleeps) as fhir:
        report = push_bundle(fhir, trial_bundle(), source="NCT1.json", write_mode="create")
    assert route.call_count == 1
    assert [o.outcome for o in report.outcomes] == ["skipped", "created", "failed"]
    assert report.outcomes[2].detail == "error invalid: no"
    assert not report.ok


def test_validate_stops_on_error(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(
        200, json=capability_statement(operations=["validate"]), headers=FHIR))
    ok = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]}
    bad = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "structure", "diagnostics": "status required", "expression": ["X.status"]}]}
    mock.post(url__regex=r".*/\$validate$").mock(side_effect=[
        httpx.Response(200, json=bad, headers=FHIR), httpx.Response(200, json=ok, headers=FHIR),
        httpx.Response(200, json=ok, headers=FHIR)])
    tx = mock.post(BASE)
    with FhirClient(BASE, sleep=sleeps) as fhir, pytest.raises(FhirServerError) as err:
        push_bundle(fhir, trial_bundle(), validate=True, write_mode="create")
    assert tx.call_count == 0
    assert err.value.one_line() == (
        f"$validate found errors, nothing pushed: entry #0 ResearchStudy {SYS}|NCT1: "
        "error structure: X.status: status required"
    )


# -- write modes (pure planning) ---------------------------------------------------------------

def test_content_hash_ignores_id_meta_and_itself() -> None:
    from fhir_adapter.fhir.push_sync import CONTENT_HASH_SYSTEM, content_hash, stored_hash, with_content_hash

    resource = entry("Organization", "org:acme", name="Acme")["resource"]
    hashed = with_content_hash(resource)
    assert hashed["identifier"][0] == {"system": SYS, "value": "org:acme"}
    assert hashed["identifier"][-1]["system"] == CONTENT_HASH_SYSTEM
    assert stored_hash(hashed) == content_hash(resource) == content_hash({**hashed, "id": "x", "meta": {"v": 1}})
    assert with_content_hash(hashed) == hashed  # idempotent
    assert content_hash({**resource, "name": "Acme 2"}) != content_hash(resource)


def test_plan_writes_sync_update_create() -> None:
    from fhir_adapter.fhir.push_sync import Stored, content_hash, plan_writes

    strategies, prepared = plan_push(trial_bundle(), CAPS)
    _study, _plan_def, org = prepared["entry"]
    same = Stored("org-7", "3", content_hash(org["resource"]))
    stale = Stored("study-9", "2", "sha256:old")
    existing = {("Organization", "NCT1-sponsor"): same, ("ResearchStudy", "NCT1"): stale}

    sent, plan = plan_writes(prepared, "sync", CAPS, existing, entry_identifier)
    assert [(p.resource_type, p.action) for p in plan] == [
        ("ResearchStudy", "update"), ("PlanDefinition", "create"), ("Organization", "unchanged")]
    assert [e["resource"]["resourceType"] for e in sent["entry"]] == ["ResearchStudy", "PlanDefinition"]
    sent_study = sent["entry"][0]
    assert sent_study["resource"]["sponsor"]["reference"] == "Organization/org-7"  # unchanged: stored id
    if strategies["ResearchStudy"].strategy == "put":  # not declared by the fake: PUT at its stable id
        assert sent_study["request"] == {"method": "PUT", "url": "ResearchStudy/NCT1"}
    elif CAPS.conditional_update("ResearchStudy"):
        assert sent_study["request"] == {"method": "PUT", "url": f"ResearchStudy?identifier={SYS}|NCT1"}
    else:
        assert sent_study["request"] == {"method": "PUT", "url": "ResearchStudy/study-9"}

    _, update_plan = plan_writes(prepared, "update", CAPS, existing, entry_identifier)
    assert [p.action for p in update_plan] == ["update", "create", "update"]
    create_sent, create_plan = plan_writes(prepared, "create", CAPS, None, entry_identifier)
    assert create_sent == prepared and {p.action for p in create_plan} == {"create"}


def test_merge_plan_reports_unsent_as_unchanged() -> None:
    from fhir_adapter.fhir.push import ResourceOutcome, merge_plan
    from fhir_adapter.fhir.push_sync import PlannedWrite, Stored

    strategies = {"Organization": TypeStrategy("Organization", "conditional-create", "x"),
                  "ResearchStudy": TypeStrategy("ResearchStudy", "conditional-create", "x")}
    plan = [PlannedWrite(0, "ResearchStudy", "NCT1", "update", Stored("s", "2", "a")),
            PlannedWrite(1, "Organization", "org:a", "unchanged", Stored("o", "5", "b"))]
    answer = ResourceOutcome(0, "ResearchStudy", "NCT1", "conditional-create", "updated", "200 OK", "s", "3")
    merged = merge_plan(plan, [answer], strategies)
    assert [(o.resource_type, o.outcome, o.server_id, o.version) for o in merged] == [
        ("ResearchStudy", "updated", "s", "3"), ("Organization", "unchanged", "o", "5")]
    same_version = ResourceOutcome(0, "ResearchStudy", "NCT1", "conditional-create", "updated", "200 OK", "s", "2")
    assert merge_plan(plan, [same_version], strategies)[0].outcome == "unchanged"
