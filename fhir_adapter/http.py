"""Retries with backoff for httpx, shared by the registry client and the FHIR client.

Retried: 429, 502, 503, 504 and connection errors/timeouts, only for idempotent requests;
``Retry-After`` (seconds or an HTTP date) is honoured; the total time spent is bounded.
An ``on_retry`` callback hears of each retry before its wait (:class:`RetryNotice`).
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
    response_deadline: float = 120.0
    """Seconds one answer may take to arrive whole (the read timeout restarts with every byte; this does not)."""
    max_response_bytes: int = 512 * 1024 * 1024
    """Largest answer accepted, counted after decompression (a gzip bomb stops here)."""


class ResponseLimitExceeded(httpx.TransportError):
    """An answer that took longer than the deadline or grew beyond the size cap: never retried."""


_DECODED_AWAY = ("content-encoding", "content-length", "transfer-encoding")


def _bounded(response: httpx.Response, body: bytes) -> httpx.Response:
    """The answer with its body already read (and decoded): headers that described the encoded body dropped."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DECODED_AWAY]
    return httpx.Response(response.status_code, headers=headers, content=body, request=response.request)


class _Reader:
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.deadline = time.monotonic() + policy.response_deadline
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.policy.max_response_bytes:
            raise ResponseLimitExceeded(f"the answer is larger than {self.policy.max_response_bytes // 2**20} MiB")
        if time.monotonic() > self.deadline:
            raise ResponseLimitExceeded(f"the answer took longer than {self.policy.response_deadline:g} s to arrive")
        self.chunks.append(chunk)


def read_bounded(response: httpx.Response, policy: RetryPolicy) -> httpx.Response:
    """Read a streamed answer within the policy's deadline and size cap (then closed)."""
    reader = _Reader(policy)
    try:
        for chunk in response.iter_bytes():
            reader.add(chunk)
    finally:
        response.close()
    return _bounded(response, b"".join(reader.chunks))


async def aread_bounded(response: httpx.Response, policy: RetryPolicy) -> httpx.Response:
    """The async twin of :func:`read_bounded`."""
    reader = _Reader(policy)
    try:
        async for chunk in response.aiter_bytes():
            reader.add(chunk)
    finally:
        await response.aclose()
    return _bounded(response, b"".join(reader.chunks))


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


@dataclass(frozen=True)
class RetryNotice:
    """A retry about to happen: why, after how long, and which attempt comes next."""

    reason: str
    """``HTTP 503 Service Unavailable`` or the transport error (``ConnectError: ...``)."""
    delay: float
    """Seconds until the next attempt."""
    attempt: int
    """The attempt about to be made (2 for the first retry)."""
    max_attempts: int

    def line(self) -> str:
        """``retrying in 2 s: HTTP 503 Service Unavailable (attempt 2 of 5)``."""
        seconds = f"{round(self.delay, 1):g}"
        return f"retrying in {seconds} s: {self.reason} (attempt {self.attempt} of {self.max_attempts})"


OnRetry = Callable[[RetryNotice], None]
"""Told of each retry before its wait (the CLI prints :meth:`RetryNotice.line` on stderr)."""


def _reason(response: httpx.Response | None, error: Exception | None) -> str:
    if response is not None:
        return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    text = str(error) if error is not None else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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

    def notify(
        self, on_retry: OnRetry | None, delay: float, response: httpx.Response | None, error: Exception | None = None
    ) -> None:
        """Tell ``on_retry`` (if any) of the retry just decided."""
        if on_retry is not None:
            on_retry(RetryNotice(_reason(response, error), delay, self.attempt + 1, self.policy.max_attempts))


def send_with_retries(
    client: httpx.Client,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> httpx.Response:
    """Send ``request``; retry transient failures. Raises the last ``httpx.TransportError``."""
    attempts = _Attempts(policy, idempotent)
    while True:
        try:
            response = client.send(request, stream=True)
            if (delay := attempts.retry_in(response)) is None:
                return read_bounded(response, policy)  # a transient read error is retried like a send error
        except ResponseLimitExceeded:
            raise
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            if (delay := attempts.retry_in(None)) is None:
                raise
            attempts.notify(on_retry, delay, None, exc)
            sleep(delay)
            continue
        response.close()
        attempts.notify(on_retry, delay, response)
        sleep(delay)


async def asend_with_retries(
    client: httpx.AsyncClient,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: OnRetry | None = None,
) -> httpx.Response:
    """The async twin of :func:`send_with_retries` (same decisions, awaited transport)."""
    attempts = _Attempts(policy, idempotent)
    while True:
        try:
            response = await client.send(request, stream=True)
            if (delay := attempts.retry_in(response)) is None:
                return await aread_bounded(response, policy)
        except ResponseLimitExceeded:
            raise
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            if (delay := attempts.retry_in(None)) is None:
                raise
            attempts.notify(on_retry, delay, None, exc)
            await sleep(delay)
            continue
        await response.aclose()
        attempts.notify(on_retry, delay, response)
        await sleep(delay)
