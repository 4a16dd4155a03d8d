"""FhirClient / AsyncFhirClient against respx: retries, errors, paging, redirects, headers, logs."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
import respx
from fhir_fakes import BASE, Sleeps, capability_statement

from fhir_adapter.errors import AuthError, FhirServerError, UsageError
from fhir_adapter.fhir import AsyncFhirClient, BearerAuth, FhirClient
from fhir_adapter.http import RetryPolicy

FHIR = {"Content-Type": "application/fhir+json"}
PATIENT = {"resourceType": "Patient", "id": "p1"}
RETRY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=30.0, jitter=False)
TOKEN = "s3cr3t-token-value"


def fhir_response(status: int, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers={**FHIR, **headers})


def outcome(*issues: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def searchset(*ids: str, next_url: str | None = None) -> dict[str, object]:
    links = [{"relation": "self", "url": f"{BASE}/Patient"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links,
            "entry": [{"resource": {"resourceType": "Patient", "id": i}} for i in ids]}


def client(sleeps: Sleeps, **kwargs: object) -> FhirClient:
    return FhirClient(BASE, retry=RETRY, sleep=sleeps, **kwargs)  # type: ignore[arg-type]


# -- retries ------------------------------------------------------------------------------


def test_429_then_success_is_retried(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    route = mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[fhir_response(429, outcome()), fhir_response(200, PATIENT)]
    )
    with client(sleeps) as fhir:
        assert fhir.read("Patient", "p1") == PATIENT
    assert route.call_count == 2
    assert sleeps == [0.5]


def test_503_retry_after_is_honoured(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[fhir_response(503, outcome(), **{"Retry-After": "7"}), fhir_response(200, PATIENT)]
    )
    with client(sleeps) as fhir:
        assert fhir.read("Patient", "p1")["id"] == "p1"
    assert sleeps == [7.0]


def test_timeout_then_success_for_get(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    route = mock.get(f"{BASE}/Patient/p1").mock(
        side_effect=[httpx.ReadTimeout("timed out"), fhir_response(200, PATIENT)]
    )
    with client(sleeps) as fhir:
        assert fhir.read("Patient", "p1") == PATIENT
    assert route.call_count == 2


def test_connection_reset_retried_then_explained(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    route = mock.get(f"{BASE}/Patient/p1").mock(side_effect=httpx.ReadError("Connection reset by peer"))
    with client(sleeps) as fhir, pytest.raises(FhirServerError) as err:
        fhir.read("Patient", "p1")
    assert route.call_count == RETRY.max_attempts
    assert err.value.one_line() == f"cannot reach {BASE}: ReadError: Connection reset by peer"
    assert err.value.exit_code == 5


def test_plain_post_is_not_retried(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    route = mock.post(f"{BASE}/Patient").mock(return_value=fhir_response(503, outcome(
        {"severity": "error", "code": "transient", "diagnostics": "busy"})))
    with client(sleeps) as fhir, pytest.raises(FhirServerError) as err:
        fhir.create({"resourceType": "Patient"})
    assert route.call_count == 1
    assert sleeps == []
    assert err.value.one_line() == "POST Patient → 503: error transient: busy"


def test_conditional_create_is_retried(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    route = mock.post(f"{BASE}/Patient").mock(
        side_effect=[fhir_response(503, outcome()), fhir_response(201, PATIENT)]
    )
    with client(sleeps) as fhir:
        fhir.create({"resourceType": "Patient"}, if_none_exist="identifier=urn:x|1")
    assert route.call_count == 2
    assert route.calls[0].request.headers["If-None-Exist"] == "identifier=urn:x|1"


def test_transaction_retried_only_when_every_entry_is_idempotent(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    conditional = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Organization"}, "request": {"method": "POST", "url": "Organization",
                                                                   "ifNoneExist": "identifier=a|b"}},
        {"resource": {"resourceType": "ResearchStudy", "id": "s"}, "request": {"method": "PUT",
                                                                              "url": "ResearchStudy/s"}},
    ]}
    plain = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Organization"}, "request": {"method": "POST", "url": "Organization"}},
    ]}
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
    route = mock.post(BASE).mock(side_effect=[fhir_response(503, outcome()), fhir_response(200, answer)])
    with client(sleeps) as fhir:
        fhir.transaction(conditional)
        assert route.call_count == 2
        route.reset()
        route.mock(side_effect=[fhir_response(503, outcome()), fhir_response(200, answer)])
        with pytest.raises(FhirServerError):
            fhir.transaction(plain)
        assert route.call_count == 1


# -- error mapping ------------------------------------------------------------------------


def test_operation_outcome_rendered_and_kept(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    body = outcome(
        {"severity": "error", "code": "invalid", "diagnostics": "unknown code 'robot'",
         "expression": ["Patient.gender"]},
        {"severity": "warning", "code": "informational", "details": {"text": "check the profile"}},
    )
    mock.post(BASE).mock(return_value=fhir_response(400, body))
    with client(sleeps) as fhir, pytest.raises(FhirServerError) as err:
        fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert err.value.one_line() == (
        "POST Bundle → 400: error invalid: Patient.gender: unknown code 'robot'; "
        "warning informational: check the profile"
    )
    assert err.value.outcome == body
    assert (err.value.status_code, err.value.method, err.value.url) == (400, "POST", BASE)


def test_malformed_json(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(200, content=b"{not json", headers=FHIR))
    with client(sleeps) as fhir, pytest.raises(FhirServerError) as err:
        fhir.read("Patient", "p1")
    assert "server answered invalid JSON (application/fhir+json) instead of FHIR JSON (status 200)" in str(err.value)


def test_json_without_resource_type(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200, json={"status": "ok"}))
    with client(sleeps) as fhir, pytest.raises(FhirServerError, match="JSON without resourceType"):
        fhir.capabilities()


def test_html_error_page(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    mock.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(502, content=page, headers={"Content-Type": "text/html"})
    )
    with client(sleeps) as fhir, pytest.raises(FhirServerError) as err:
        fhir.read("Patient", "p1")
    assert err.value.one_line() == "GET Patient/***: server answered text/html instead of FHIR JSON (status 502)"
    assert err.value.status_code == 502
    assert len(sleeps) == RETRY.max_attempts - 1  # 502 is transient: retried, then explained


def test_empty_body_on_get(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200))
    with client(sleeps) as fhir, pytest.raises(FhirServerError, match="an empty body instead of FHIR JSON"):
        fhir.capabilities()


def test_401_without_auth_is_an_auth_error(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/metadata").mock(return_value=fhir_response(401, outcome(
        {"severity": "error", "code": "login", "diagnostics": "authentication required"})))
    with client(sleeps) as fhir, pytest.raises(AuthError, match="authentication required"):
        fhir.capabilities()


def test_base_url_must_be_http() -> None:
    with pytest.raises(UsageError):
        FhirClient("ftp://x/fhir")


# -- headers, params ----------------------------------------------------------------------


def test_headers_and_repeated_escaped_params(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    search = mock.get(f"{BASE}/Observation").mock(return_value=fhir_response(200, searchset()))
    put = mock.put(f"{BASE}/Patient/p1").mock(return_value=fhir_response(200, PATIENT))
    with client(sleeps) as fhir:
        fhir.search("Observation", {"date": ["ge2020", "lt2021"], "code": "http://loinc.org|1234-5", "_count": "50"})
        fhir.update(PATIENT)
    request = search.calls[0].request
    assert request.headers["Accept"] == "application/fhir+json"
    assert request.headers["Prefer"] == "handling=strict"
    assert request.headers["User-Agent"].startswith("fhir-adapter/")
    assert request.url.params.get_list("date") == ["ge2020", "lt2021"]
    assert request.url.params["code"] == "http://loinc.org|1234-5"
    written = put.calls[0].request
    assert written.headers["Content-Type"].startswith("application/fhir+json")
    assert written.headers["Prefer"] == "return=representation"
    assert json.loads(written.content) == PATIENT


def test_prefer_return_is_configurable(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    route = mock.put(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(200))
    with client(sleeps, prefer_return="OperationOutcome") as fhir:
        assert fhir.update(PATIENT) == {}
    assert route.calls[0].request.headers["Prefer"] == "return=OperationOutcome"


def test_capabilities_fetched_once(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    route = mock.get(f"{BASE}/metadata").mock(return_value=fhir_response(200, capability_statement()))
    with client(sleeps) as fhir:
        assert fhir.capabilities() is fhir.capabilities()
    assert route.call_count == 1


def test_validate_returns_outcome_for_invalid_resource(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    body = outcome({"severity": "error", "code": "structure", "diagnostics": "bad"})
    mock.post(f"{BASE}/Patient/$validate").mock(return_value=fhir_response(412, body))
    with client(sleeps) as fhir:
        assert fhir.validate({"resourceType": "Patient"}) == body


# -- paging and origins -------------------------------------------------------------------


def test_search_follows_next_links(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/Patient", params={"_count": "2"}).mock(
        return_value=fhir_response(200, searchset("a", "b", next_url=f"{BASE}/Patient?page=2"))
    )
    mock.get(f"{BASE}/Patient", params={"page": "2"}).mock(return_value=fhir_response(200, searchset("c")))
    with client(sleeps) as fhir:
        assert [p["id"] for p in fhir.search("Patient", {"_count": "2"})] == ["a", "b", "c"]
        assert len(list(fhir.search_bundles("Patient", {"_count": "2"}))) == 2


def test_foreign_next_link_refused_and_token_not_sent(
    mock: respx.MockRouter, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock.get(f"{BASE}/Patient").mock(
        return_value=fhir_response(200, searchset("a", next_url="https://evil.test/fhir/Patient?page=2"))
    )
    foreign = mock.route(host="evil.test").mock(return_value=fhir_response(200, searchset("x")))
    with client(sleeps, auth=BearerAuth(TOKEN)) as fhir, pytest.raises(FhirServerError) as err:
        fhir.search("Patient")
    assert "refusing next link to foreign origin https://evil.test" in str(err.value)
    assert TOKEN not in str(err.value)
    assert foreign.call_count == 0


def test_same_host_other_port_is_foreign(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/Patient").mock(
        return_value=fhir_response(200, searchset("a", next_url="http://fhir.test:8080/fhir/Patient?page=2"))
    )
    with client(sleeps) as fhir, pytest.raises(FhirServerError, match=r"foreign origin http://fhir\.test:8080"):
        fhir.search("Patient")


def test_foreign_redirect_refused_and_token_not_sent(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(302, headers={"Location": "https://evil.test/steal"})
    )
    foreign = mock.route(host="evil.test").mock(return_value=fhir_response(200, PATIENT))
    with client(sleeps, auth=BearerAuth(TOKEN)) as fhir, pytest.raises(FhirServerError) as err:
        fhir.read("Patient", "p1")
    assert "refusing redirect to foreign origin https://evil.test" in str(err.value)
    assert foreign.call_count == 0


def test_same_origin_redirect_followed_with_auth(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/Patient/old").mock(return_value=httpx.Response(301, headers={"Location": "/fhir/Patient/p1"}))
    target = mock.get(f"{BASE}/Patient/p1").mock(return_value=fhir_response(200, PATIENT))
    with client(sleeps, auth=BearerAuth(TOKEN)) as fhir:
        assert fhir.read("Patient", "old") == PATIENT
    assert target.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_page_loop_detected(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/Patient").mock(
        return_value=fhir_response(200, searchset("a", next_url=f"{BASE}/Patient?page=2"))
    )
    with client(sleeps) as fhir, pytest.raises(FhirServerError, match="page loop"):
        fhir.search("Patient")


def test_a_page_loop_spelled_differently_is_still_a_loop(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    """The next link names the page it came from with other percent-encoding and parameter order."""
    def page(request: httpx.Request) -> httpx.Response:
        n = len(mock.calls)
        spelled = ["code=a%7Cb&page=2", "page=2&code=a%7cb", "page=%32&code=a|b"][min(n, 3) - 1]
        return fhir_response(200, searchset("a", next_url=f"{BASE}/Patient?{spelled}"))

    mock.get(f"{BASE}/Patient").mock(side_effect=page)
    with client(sleeps) as fhir, pytest.raises(FhirServerError, match="page loop"):
        fhir.search("Patient")
    assert len(mock.calls) <= 3


def test_page_cap(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("page", "1"))
        return fhir_response(200, searchset(str(n), next_url=f"{BASE}/Patient?page={n + 1}"))

    route = mock.get(f"{BASE}/Patient").mock(side_effect=page)
    with client(sleeps, max_pages=3) as fhir, pytest.raises(FhirServerError, match="stopped after 3 pages"):
        fhir.search("Patient")
    assert route.call_count == 3


# -- logging ------------------------------------------------------------------------------


def test_verbose_log_masks_patient_ids_and_never_shows_token(
    mock: respx.MockRouter, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(f"{BASE}/Patient/pat-4711").mock(return_value=fhir_response(200, PATIENT))
    mock.get(f"{BASE}/Observation").mock(return_value=fhir_response(200, searchset()))
    mock.get(f"{BASE}/Patient").mock(return_value=fhir_response(200, searchset()))
    caplog.set_level(logging.DEBUG, logger="fhir_adapter.fhir")
    with client(sleeps, auth=BearerAuth(TOKEN)) as fhir:
        fhir.read("Patient", "pat-4711")
        fhir.search("Observation", {"patient": "pat-4711", "code": "1234-5"})
        fhir.search("Observation", {"subject": "Patient/pat-4711"})
        fhir.search("Patient", {"identifier": "urn:mrn|MRN-99", "_count": "10"})
    text = caplog.text
    assert "pat-4711" not in text and "MRN-99" not in text and TOKEN not in text
    assert "Authorization" not in text
    assert f"GET {BASE}/Patient/*** → 200" in text
    assert "patient=***" in text and "subject=***" in text and "code=1234-5" in text and "_count=10" in text


# -- async face ---------------------------------------------------------------------------


def test_async_client_shares_the_core(mock: respx.MockRouter) -> None:
    mock.get(f"{BASE}/Patient", params={"_count": "1"}).mock(
        return_value=fhir_response(200, searchset("a", next_url=f"{BASE}/Patient?page=2"))
    )
    mock.get(f"{BASE}/Patient", params={"page": "2"}).mock(return_value=fhir_response(200, searchset("b")))
    mock.get(f"{BASE}/Patient/p1").mock(side_effect=[fhir_response(503, outcome()), fhir_response(200, PATIENT)])
    mock.post(BASE).mock(return_value=fhir_response(422, outcome(
        {"severity": "error", "code": "processing", "diagnostics": "nope"})))
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    async def run() -> None:
        async with AsyncFhirClient(BASE, retry=RETRY, sleep=fake_sleep) as fhir:
            assert [p["id"] for p in await fhir.search("Patient", {"_count": "1"})] == ["a", "b"]
            assert await fhir.read("Patient", "p1") == PATIENT
            with pytest.raises(FhirServerError, match=r"POST Bundle → 422: error processing: nope"):
                await fhir.batch({"resourceType": "Bundle", "type": "batch", "entry": []})

    asyncio.run(run())
    assert delays == [0.5]


def test_json_nested_too_deeply_is_a_clear_error(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    deep = '{"resourceType": "Patient", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    mock.get(f"{BASE}/Patient/p1").mock(
        return_value=httpx.Response(200, content=deep.encode(), headers={"Content-Type": "application/fhir+json"})
    )
    with client(sleeps) as fhir, pytest.raises(FhirServerError, match="JSON nested too deeply"):
        fhir.read("Patient", "p1")
