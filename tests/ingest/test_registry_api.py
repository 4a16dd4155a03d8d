from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from fhir_adapter.errors import InputError, NotFoundError, RegistryError
from fhir_adapter.http import RetryPolicy
from fhir_adapter.ingest import fetch_trials, records_from_studies
from tests.ingest.helpers import minimal_study

BASE = "https://registry.test/api/v2"
FAST = RetryPolicy(max_attempts=3, base_delay=0.0, jitter=False)


def _study(nct_id: str) -> dict[str, Any]:
    return minimal_study(identificationModule={"nctId": nct_id})


def _ids(count: int, start: int = 1) -> list[str]:
    return [f"NCT{number:08d}" for number in range(start, start + count)]


def _filter_ids(request: httpx.Request) -> list[str]:
    return request.url.params["filter.ids"].split(",")


@respx.mock
def test_single_id_uses_study_endpoint_and_normalises_case() -> None:
    route = respx.get(f"{BASE}/studies/NCT00000001").respond(json=_study("NCT00000001"))
    (study,) = fetch_trials([" nct00000001 "], base_url=BASE, policy=FAST)
    assert route.call_count == 1
    assert study["protocolSection"]["identificationModule"]["nctId"] == "NCT00000001"
    (record,) = records_from_studies([study])
    assert record.nct_id == "NCT00000001" and record.source == "https://clinicaltrials.gov/api/v2/studies/NCT00000001"


def test_invalid_id_rejected_before_any_request() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url__startswith=BASE)
        with pytest.raises(InputError, match="not an NCT id") as caught:
            fetch_trials(["NCT00000001", "NCT123"], base_url=BASE)
        assert route.call_count == 0
    assert "NCT123" in caught.value.one_line()


@respx.mock
def test_150_ids_make_two_batches_in_order() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        ids = _filter_ids(request)
        assert request.url.params["pageSize"] == str(len(ids))
        return httpx.Response(200, json={"studies": [_study(i) for i in reversed(ids)]})

    route = respx.get(f"{BASE}/studies").mock(side_effect=answer)
    wanted = _ids(150)
    studies = fetch_trials(wanted, base_url=BASE, policy=FAST)
    assert route.call_count == 2
    assert [len(_filter_ids(call.request)) for call in route.calls] == [100, 50]
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in studies] == wanted


@respx.mock
def test_pages_followed_by_token() -> None:
    wanted = _ids(3)
    pages = {
        None: {"studies": [_study(wanted[0])], "nextPageToken": "p2"},
        "p2": {"studies": [_study(wanted[1])], "nextPageToken": "p3"},
        "p3": {"studies": [_study(wanted[2])]},
    }
    route = respx.get(f"{BASE}/studies").mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params.get("pageToken")])
    )
    studies = fetch_trials(wanted, base_url=BASE, policy=FAST)
    assert route.call_count == 3
    assert [call.request.url.params.get("pageToken") for call in route.calls] == [None, "p2", "p3"]
    assert len(studies) == 3


@respx.mock
def test_empty_page_with_token_stops_and_missing_ids_reported() -> None:
    wanted = _ids(3)
    route = respx.get(f"{BASE}/studies").mock(
        side_effect=[
            httpx.Response(200, json={"studies": [_study(wanted[0])], "nextPageToken": "more"}),
            httpx.Response(200, json={"studies": [], "nextPageToken": "again"}),
        ]
    )
    with pytest.raises(NotFoundError) as caught:
        fetch_trials(wanted, base_url=BASE, policy=FAST)
    assert route.call_count == 2
    assert f"{wanted[1]}, {wanted[2]}" in caught.value.message


@respx.mock
def test_429_then_success_is_retried() -> None:
    route = respx.get(f"{BASE}/studies/NCT00000001").mock(
        side_effect=[httpx.Response(429), httpx.Response(200, json=_study("NCT00000001"))]
    )
    delays: list[float] = []
    fetch_trials(["NCT00000001"], base_url=BASE, policy=FAST, sleep=delays.append)
    assert route.call_count == 2 and len(delays) == 1


@respx.mock
def test_503_retry_after_is_honoured() -> None:
    respx.get(f"{BASE}/studies/NCT00000001").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(200, json=_study("NCT00000001"))]
    )
    delays: list[float] = []
    fetch_trials(["NCT00000001"], base_url=BASE, policy=FAST, sleep=delays.append)
    assert delays == [7.0]


@respx.mock
def test_404_names_the_id() -> None:
    respx.get(f"{BASE}/studies/NCT09999999").respond(404, json={"message": "not found"})
    with pytest.raises(NotFoundError, match="NCT09999999"):
        fetch_trials(["NCT09999999"], base_url=BASE, policy=FAST)


@respx.mock
def test_connection_error_retried_then_registry_error() -> None:
    route = respx.get(f"{BASE}/studies/NCT00000001").mock(side_effect=httpx.ConnectError("refused"))
    delays: list[float] = []
    with pytest.raises(RegistryError, match="ConnectError") as caught:
        fetch_trials(["NCT00000001"], base_url=BASE, policy=FAST, sleep=delays.append)
    assert route.call_count == 3 and len(delays) == 2
    assert caught.value.source == f"{BASE}/studies/NCT00000001"
    assert not isinstance(caught.value, NotFoundError)


@respx.mock
def test_other_http_error_gives_status_and_url() -> None:
    respx.get(f"{BASE}/studies").respond(400, text="bad filter")
    with pytest.raises(RegistryError) as caught:
        fetch_trials(_ids(2), base_url=BASE, policy=FAST)
    assert "HTTP 400" in caught.value.message and caught.value.source is not None
    assert caught.value.source.startswith(f"{BASE}/studies?")


@respx.mock
def test_non_json_answer() -> None:
    respx.get(f"{BASE}/studies/NCT00000001").respond(200, text="<html>maintenance</html>")
    with pytest.raises(RegistryError, match="not JSON"):
        fetch_trials(["NCT00000001"], base_url=BASE, policy=FAST)


def test_injected_client_is_used_and_left_open() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=_study("NCT00000001")))
    with httpx.Client(transport=transport) as client:
        fetch_trials(["NCT00000001"], base_url=BASE, client=client, policy=FAST)
        assert not client.is_closed
