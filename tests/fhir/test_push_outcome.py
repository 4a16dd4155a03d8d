"""Truthful writes: a transaction whose answer does not tell the outcome is read back, never called "rejected".

A respx fake server keeps what a transaction wrote (or not) in a store and answers the read-back searches from it;
the transaction's answer is then lost, HTML, an OperationOutcome, a 5xx, or a 4xx that says entries were committed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fhir_fakes import BASE, Sleeps, capability_statement

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir import FhirClient
from fhir_adapter.fhir.push import push_bundle
from fhir_adapter.fhir.push_outcome import unknown_outcome
from fhir_adapter.http import RetryPolicy

SYS = "http://fhir-adapter.org/fhir/identifier"
FHIR = {"Content-Type": "application/fhir+json"}
TYPES = {"Organization": ["identifier"], "ResearchStudy": ["identifier"], "PlanDefinition": ["identifier"]}


def _entry(resource_type: str, value: str, **fields: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{resource_type}-{value}",
        "resource": {"resourceType": resource_type, "identifier": [{"system": SYS, "value": value}], **fields},
        "request": {"method": "POST", "url": resource_type, "ifNoneExist": f"identifier={SYS}|{value}"},
    }


def trial() -> dict[str, Any]:
    org = _entry("Organization", "org:sponsor", name="Sponsor")
    study = _entry("ResearchStudy", "NCT01", status="active", sponsor={"reference": org["fullUrl"]})
    return {"resourceType": "Bundle", "type": "transaction", "entry": [study, org]}


class FakeServer:
    """A store by (type, identifier value); ``answer`` decides what the transaction's sender gets back after the
    store was (or was not) changed."""

    def __init__(self, router: respx.MockRouter, answer: Callable[[httpx.Request], httpx.Response],
                 *, commits: bool) -> None:
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.commits = commits
        self.answer = answer
        router.get(f"{BASE}/metadata").respond(json=capability_statement(types=TYPES), headers=FHIR)
        router.get(url__regex=rf"^{BASE}/[A-Z][A-Za-z]+\?").mock(side_effect=self.search)
        router.post(BASE).mock(side_effect=self.transaction)

    def search(self, request: httpx.Request) -> httpx.Response:
        resource_type = request.url.path.rsplit("/", 1)[-1]
        token = parse_qs(request.url.query.decode())["identifier"][0]
        value = token.split("|", 1)[1].replace("\\", "")
        found = self.store.get((resource_type, value))
        entries = [{"resource": found, "search": {"mode": "match"}}] if found else []
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entries},
                              headers=FHIR)

    def transaction(self, request: httpx.Request) -> httpx.Response:
        if self.commits:
            for entry in json.loads(request.content)["entry"]:
                resource = dict(entry["resource"], id=f"s{next(self.ids)}", meta={"versionId": "1"})
                value = next(i["value"] for i in resource["identifier"] if i["system"] == SYS)
                self.store[(resource["resourceType"], value)] = resource
        return self.answer(request)


def _lost(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


def _html(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html><body>Gateway says hi</body></html>", headers={"Content-Type": "text/html"})


def _outcome_200(request: httpx.Request) -> httpx.Response:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
                                                              "diagnostics": "all good"}]}
    return httpx.Response(200, json=outcome, headers=FHIR)


def _gateway_502(request: httpx.Request) -> httpx.Response:
    return httpx.Response(502, text="Bad Gateway", headers={"Content-Type": "text/plain"})


def _committed_4xx(request: httpx.Request) -> httpx.Response:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "entry 1 failed after commit"},
        {"severity": "information", "code": "informational", "diagnostics": "entry 0 created and committed"}]}
    return httpx.Response(409, json=outcome, headers=FHIR)


def _client(sleeps: Sleeps) -> FhirClient:
    return FhirClient(BASE, sleep=sleeps, retry=RetryPolicy(max_attempts=2, jitter=False))


@pytest.mark.parametrize("answer", [_lost, _html, _outcome_200, _gateway_502, _committed_4xx],
                         ids=["reset", "html-200", "operation-outcome-200", "502-after-send", "4xx-committed"])
def test_written_despite_the_answer_is_reported_from_what_the_server_holds(
    mock: respx.MockRouter, sleeps: Sleeps, answer: Callable[[httpx.Request], httpx.Response]
) -> None:
    server = FakeServer(mock, answer, commits=True)
    with _client(sleeps) as client:
        report = push_bundle(client, trial(), source="NCT01.json")
    assert report.ok
    assert [(o.resource_type, o.outcome, o.status) for o in report.outcomes] == [
        ("ResearchStudy", "created", "read back"), ("Organization", "created", "read back")]
    assert report.outcomes[0].server_id == server.store[("ResearchStudy", "NCT01")]["id"]
    assert report.note is not None and report.note.startswith("transaction outcome unknown (")
    assert "read back from the server: 2 of 2 resources on the server as sent" in report.note
    assert "rejected" not in report.note and "nothing written" not in report.note
    assert report.to_json()["outcomeUnknown"] == report.note


@pytest.mark.parametrize("answer", [_lost, _html, _outcome_200, _gateway_502],
                         ids=["reset", "html-200", "operation-outcome-200", "502-after-send"])
def test_not_written_is_verified_before_it_is_said(
    mock: respx.MockRouter, sleeps: Sleeps, answer: Callable[[httpx.Request], httpx.Response]
) -> None:
    FakeServer(mock, answer, commits=False)
    with _client(sleeps) as client:
        report = push_bundle(client, trial(), source="NCT01.json")
    assert not report.ok
    assert {o.outcome for o in report.outcomes} == {"failed"}
    assert report.note is not None and "none of the 2 resources on the server as sent: nothing was written" in (
        report.note)
    assert report.outcomes[0].detail == "not on the server (read back after the unknown outcome)"


def test_the_html_200_line_says_what_came_back(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    FakeServer(mock, _html, commits=False)
    with _client(sleeps) as client:
        report = push_bundle(client, trial(), source="NCT01.json")
    assert report.note is not None
    assert "the server answered 200 without a transaction-response Bundle (server answered text/html" in report.note


def test_operation_outcome_200_is_named(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    FakeServer(mock, _outcome_200, commits=False)
    with _client(sleeps) as client:
        report = push_bundle(client, trial(), source="NCT01.json")
    assert report.note is not None
    assert "the server answered 200 with OperationOutcome instead of a transaction-response Bundle" in report.note


def test_create_mode_cannot_tell_who_wrote_it_and_says_so(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    FakeServer(mock, _lost, commits=True)
    with _client(sleeps) as client:
        report = push_bundle(client, trial(), source="NCT01.json", write_mode="create")
    assert report.ok and {o.outcome for o in report.outcomes} == {"present"}
    assert report.to_json()["counts"]["present"] == 2


def test_reading_back_that_fails_too_never_says_nothing_written(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    server = FakeServer(mock, _lost, commits=True)

    def fail_after_the_transaction(request: httpx.Request) -> httpx.Response:
        if server.store:  # the transaction went through: every read from now on is refused
            raise httpx.ConnectError("Connection refused", request=request)
        return server.search(request)

    mock.get(url__regex=rf"^{BASE}/[A-Z][A-Za-z]+\?").mock(side_effect=fail_after_the_transaction)
    with _client(sleeps) as client, pytest.raises(FhirServerError) as failed:
        push_bundle(client, trial(), source="NCT01.json")
    line = failed.value.one_line()
    assert line.startswith("transaction outcome unknown (the answer was lost (")
    assert "reading it back failed too" in line and "may or may not be on the server" in line
    assert "nothing written" not in line and "rejected" not in line


def test_a_certain_rejection_still_says_nothing_written(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
                                                              "diagnostics": "Organization.name: too long"}]}
    FakeServer(mock, lambda r: httpx.Response(422, json=outcome, headers=FHIR), commits=False)
    with _client(sleeps) as client, pytest.raises(FhirServerError) as failed:
        push_bundle(client, trial(), source="NCT01.json")
    assert "transaction rejected → 422, nothing written" in failed.value.one_line()


def test_which_failures_leave_the_outcome_unknown() -> None:
    from fhir_adapter.fhir._core import TransportFailure

    refused = TransportFailure("cannot reach x: ConnectError", kind="unreachable", reached=False, method="POST",
                               url=BASE)
    lost = TransportFailure("cannot reach x: ReadTimeout", kind="lost", reached=True, method="POST", url=BASE)
    assert unknown_outcome(refused) is None  # never arrived: nothing written, for certain
    assert unknown_outcome(lost) == "the answer was lost (cannot reach x: ReadTimeout)"
    assert unknown_outcome(FhirServerError("x", status_code=503)) == (
        "the server answered 503 after receiving the transaction (x)")
    assert unknown_outcome(FhirServerError("x", status_code=400)) is not None  # no OperationOutcome to trust
