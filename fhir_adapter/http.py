"""Retries with backoff for httpx, shared by the registry client and the FHIR client.

Retried: 429, 502, 503, 504 and connection errors/timeouts, only for idempotent requests;
``Retry-After`` (seconds or an HTTP date) is honoured; the total time spent is bounded.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from fhir_adapter._version import __version__

USER_AGENT = f"fhir-adapter/{__version__}"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    total_timeout: float = 120.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 502, 503, 504}))
    jitter: bool = True


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def retry_delay(policy: RetryPolicy, attempt: int, response: httpx.Response | None = None) -> float:
    """Delay before attempt ``attempt + 1`` (attempt counts from 1)."""
    if response is not None:
        server_says = parse_retry_after(response.headers.get("Retry-After"))
        if server_says is not None:
            return min(server_says, policy.max_delay)
    delay: float = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
    if policy.jitter:
        delay = random.uniform(delay / 2, delay)
    return delay


@dataclass
class _Attempts:
    """The retry decisions of one request, without I/O: shared by the sync and async loops."""

    policy: RetryPolicy
    idempotent: bool
    started: float = field(init=False)
    attempt: int = 0

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def retry_in(self, response: httpx.Response | None) -> float | None:
        """After an attempt answered ``response`` (None: a transport error), the delay before retrying.

        None means stop: return the response, or re-raise the transport error. Only idempotent
        requests are retried, on a transport error or a retryable status, while attempts and the
        policy's total time last.
        """
        self.attempt += 1
        if not self.idempotent:
            return None
        if response is not None and response.status_code not in self.policy.retry_statuses:
            return None
        if self.attempt >= self.policy.max_attempts:
            return None
        delay = retry_delay(self.policy, self.attempt, response)
        if time.monotonic() - self.started + delay > self.policy.total_timeout:
            return None
        return delay


def send_with_retries(
    client: httpx.Client,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """Send ``request``; retry transient failures. Raises the last ``httpx.TransportError``."""
    attempts = _Attempts(policy, idempotent)
    while True:
        try:
            response = client.send(request)
        except (httpx.TransportError, httpx.TimeoutException):
            if (delay := attempts.retry_in(None)) is None:
                raise
            sleep(delay)
            continue
        if (delay := attempts.retry_in(response)) is None:
            return response
        response.close()
        sleep(delay)


async def asend_with_retries(
    client: httpx.AsyncClient,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """The async twin of :func:`send_with_retries` (same decisions, awaited transport)."""
    attempts = _Attempts(policy, idempotent)
    while True:
        try:
            response = await client.send(request)
        except (httpx.TransportError, httpx.TimeoutException):
            if (delay := attempts.retry_in(None)) is None:
                raise
            await sleep(delay)
            continue
        if (delay := attempts.retry_in(response)) is None:
            return response
        await response.aclose()
        await sleep(delay)
