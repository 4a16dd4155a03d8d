"""Retry-After parsing and the backoff policy shared by the registry and FHIR clients."""

from __future__ import annotations

import httpx

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
