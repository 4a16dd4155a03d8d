"""Retry-After parsing, the backoff policy, and answers bounded in time and size (shared by the registry and FHIR
clients)."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir import FhirClient
from fhir_adapter.http import RetryPolicy, parse_retry_after, retry_delay


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0  # in the past


def test_unusable_retry_after_is_ignored() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("²") is None  # a Unicode digit that int() refuses


def test_delay_honours_retry_after_up_to_the_cap_and_backs_off_without_it() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, jitter=False)
    assert retry_delay(policy, 1, httpx.Response(503, headers={"Retry-After": "12"})) == 12.0
    assert retry_delay(policy, 1, httpx.Response(503, headers={"Retry-After": "3600"})) == 30.0
    assert [retry_delay(policy, n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


# -- answers bounded in time and size ----------------------------------------------------------------------------

@pytest.fixture
def dripping_server() -> Iterator[str]:
    """A loopback server that answers 200 and then sends one byte every 0.1 s, forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
    stop.set()
    listener.close()


def test_an_answer_dripping_in_stops_at_the_deadline(dripping_server: str) -> None:
    """The read timeout restarts with every byte; the deadline does not."""
    policy = RetryPolicy(max_attempts=1, response_deadline=1.0)
    started = time.monotonic()
    with FhirClient(dripping_server, retry=policy, timeout=5) as client, pytest.raises(FhirServerError) as caught:
        client.read("Patient", "1")
    assert time.monotonic() - started < 5
    assert "the answer took longer than 1 s to arrive" in str(caught.value)
    assert "cannot reach" not in str(caught.value)


@respx.mock
def test_an_answer_too_large_after_decompression_is_refused() -> None:
    """A small gzip that inflates past the cap (a gzip bomb) stops at the cap, counted after decompression."""
    inflated = b'{"resourceType": "Patient", "id": "1", "text": "' + b"x" * 2_000_000 + b'"}'
    body = gzip.compress(inflated)
    assert len(body) < 20_000
    respx.get("http://127.0.0.1:9/fhir/Patient/1").respond(
        200, content=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/fhir+json"}
    )
    policy = RetryPolicy(max_attempts=1, max_response_bytes=1024 * 1024)
    with FhirClient("http://127.0.0.1:9/fhir", retry=policy) as client, pytest.raises(FhirServerError) as caught:
        client.read("Patient", "1")
    assert "the answer is larger than 1 MiB" in str(caught.value)
    # within the cap the same answer is read, decoded once
    with FhirClient("http://127.0.0.1:9/fhir") as client:
        assert client.read("Patient", "1")["id"] == "1"


# -- the run's deadline, certificates, whether a request reached the server ----------------------------------------

def test_no_attempt_starts_after_the_run_deadline() -> None:
    from fhir_adapter.http import DeadlineExceeded, reached_server, send_with_retries

    policy = RetryPolicy(deadline_at=time.monotonic() - 1, deadline_seconds=5)
    with respx.mock(assert_all_called=False) as router, httpx.Client() as client:
        route = router.get("http://fhir.test/x").respond(200)
        with pytest.raises(DeadlineExceeded, match=r"the run's deadline of 5 s \(--deadline\) was reached") as caught:
            send_with_retries(client, client.build_request("GET", "http://fhir.test/x"), policy, idempotent=True)
    assert route.call_count == 0 and not reached_server(caught.value)


def test_a_retry_wait_that_would_outlast_the_deadline_is_not_taken() -> None:
    from fhir_adapter.http import send_with_retries

    # a deadline far beyond the request's own time on a loaded machine, far below the retry wait
    policy = RetryPolicy(deadline_at=time.monotonic() + 10, deadline_seconds=10, base_delay=60, jitter=False)
    waits: list[float] = []
    with respx.mock() as router, httpx.Client() as client:
        router.get("http://fhir.test/x").respond(503)
        answer = send_with_retries(client, client.build_request("GET", "http://fhir.test/x"), policy,
                                   idempotent=True, sleep=waits.append)
    assert answer.status_code == 503 and waits == []


def test_a_certificate_error_is_never_retried_and_a_refused_connection_never_reached() -> None:
    import ssl

    from fhir_adapter.http import is_certificate_error, reached_server, send_with_retries

    chained = httpx.ConnectError("boom")
    chained.__cause__ = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    assert is_certificate_error(chained) and not is_certificate_error(httpx.ConnectError("refused"))
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate")
    waits: list[float] = []
    with respx.mock() as router, httpx.Client() as client:
        route = router.get("http://fhir.test/x").mock(side_effect=error)
        with pytest.raises(httpx.ConnectError) as caught:
            send_with_retries(client, client.build_request("GET", "http://fhir.test/x"), RetryPolicy(),
                              idempotent=True, sleep=waits.append)
    assert route.call_count == 1 and waits == [] and not reached_server(caught.value)
    with respx.mock() as router, httpx.Client() as client:
        router.post("http://fhir.test/x").mock(side_effect=httpx.ReadTimeout("late"))
        with pytest.raises(httpx.ReadTimeout) as lost:
            send_with_retries(client, client.build_request("POST", "http://fhir.test/x"), RetryPolicy(),
                              idempotent=False)
    assert reached_server(lost.value)  # sent, answer lost: the write's outcome is unknown
