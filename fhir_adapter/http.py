"""Retries with backoff for httpx, shared by the registry client and the FHIR client.

Retried: 429, 502, 503, 504 and connection errors/timeouts, only for idempotent requests;
``Retry-After`` (seconds or an HTTP date) is honoured; the total time spent is bounded.
An ``on_retry`` callback hears of each retry before its wait (:class:`RetryNotice`).

Never retried: a TLS certificate that fails verification (retrying cannot fix it), an answer over the
size or time limits, and anything once the run's total deadline (``RetryPolicy.deadline_at``) is near.
A transport error that ends the loop is tagged with whether any attempt may have reached the server
(:func:`reached_server`): a write whose answer was lost has an unknown outcome, one that never connected did not
happen.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import ssl
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
    deadline_at: float | None = None
    """``time.monotonic()`` by which the whole run must be over (``--deadline``): no attempt starts, no wait and
    no answer lasts beyond it. None: no total deadline."""
    deadline_seconds: float | None = None
    """The ``--deadline`` those seconds came from (for the message)."""

    def remaining(self) -> float | None:
        """Seconds left before the run's deadline (None: no deadline)."""
        return None if self.deadline_at is None else self.deadline_at - time.monotonic()


class ResponseLimitExceeded(httpx.TransportError):
    """An answer that took longer than the deadline or grew beyond the size cap: never retried."""


class DeadlineExceeded(ResponseLimitExceeded):
    """The run's total deadline (``--deadline``) passed: nothing more is sent or awaited."""


def deadline_message(policy: RetryPolicy) -> str:
    return f"the run's deadline of {policy.deadline_seconds or 0:g} s (--deadline) was reached"


def check_deadline(policy: RetryPolicy) -> None:
    """Raise :class:`DeadlineExceeded` when the run's deadline has passed."""
    left = policy.remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded(deadline_message(policy))


def is_certificate_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failed TLS certificate verification."""
    seen: BaseException | None = exc
    for _ in range(8):  # the cause chain is short; bounded all the same
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_REACHED = "_fhir_adapter_reached_server"


def reached_server(exc: BaseException) -> bool:
    """Whether any attempt of the request that raised ``exc`` may have been received by the server.

    False only when every attempt failed to connect (refused, unresolvable, TLS handshake): then nothing was
    sent. Exceptions that did not come through :func:`send_with_retries` count as reached (the cautious answer).
    """
    return bool(getattr(exc, _REACHED, True))


def _never_connected(exc: BaseException) -> bool:
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


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
        check_deadline(self.policy)
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
    reached: bool = False
    """Whether any attempt so far may have been received by the server (an answer, or a failure after connecting)."""

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def retry_in(self, response: httpx.Response | None, error: BaseException | None = None) -> float | None:
        """After an attempt answered ``response`` (None: the transport error ``error``), the delay before retrying.

        None means stop: return the response, or re-raise the transport error. Only idempotent
        requests are retried, on a transport error or a retryable status, while attempts, the
        policy's total time and the run's deadline last. A certificate that fails verification is never retried.
        """
        self.attempt += 1
        if response is not None or error is None or not _never_connected(error):
            self.reached = True
        if not self.idempotent:
            return None
        if response is not None and response.status_code not in self.policy.retry_statuses:
            return None
        if error is not None and is_certificate_error(error):
            return None
        if self.attempt >= self.policy.max_attempts:
            return None
        delay = retry_delay(self.policy, self.attempt, response)
        if time.monotonic() - self.started + delay > self.policy.total_timeout:
            return None
        left = self.policy.remaining()
        if left is not None and delay >= left:
            return None  # the wait would outlast the run
        return delay

    def tag(self, exc: BaseException) -> None:
        """Record on ``exc`` whether the request may have reached the server (read by :func:`reached_server`)."""
        setattr(exc, _REACHED, self.reached)

    def notify(
        self, on_retry: OnRetry | None, delay: float, response: httpx.Response | None, error: Exception | None = None
    ) -> None:
        """Tell ``on_retry`` (if any) of the retry just decided."""
        if on_retry is not None:
            on_retry(RetryNotice(_reason(response, error), delay, self.attempt + 1, self.policy.max_attempts))


def _bound_timeouts(request: httpx.Request, policy: RetryPolicy) -> None:
    """No single wait (connect, read, write, pool) of ``request`` may outlast the run's deadline."""
    left = policy.remaining()
    if left is None:
        return
    current = request.extensions.get("timeout") or {}
    bounded = {name: (left if value is None else min(value, left)) for name, value in current.items()}
    for name in ("connect", "read", "write", "pool"):
        bounded.setdefault(name, left)
    request.extensions["timeout"] = bounded


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
            check_deadline(policy)
            _bound_timeouts(request, policy)
            response = client.send(request, stream=True)
            if (delay := attempts.retry_in(response)) is None:
                return read_bounded(response, policy)  # a transient read error is retried like a send error
        except ResponseLimitExceeded as exc:  # a deadline before sending leaves ``reached`` as the attempts left it
            attempts.tag(exc)
            raise
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            if (delay := attempts.retry_in(None, exc)) is None:
                attempts.tag(exc)
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
            check_deadline(policy)
            _bound_timeouts(request, policy)
            response = await client.send(request, stream=True)
            if (delay := attempts.retry_in(response)) is None:
                return await aread_bounded(response, policy)
        except ResponseLimitExceeded as exc:  # a deadline before sending leaves ``reached`` as the attempts left it
            attempts.tag(exc)
            raise
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            if (delay := attempts.retry_in(None, exc)) is None:
                attempts.tag(exc)
                raise
            attempts.notify(on_retry, delay, None, exc)
            await sleep(delay)
            continue
        await response.aclose()
        attempts.notify(on_retry, delay, response)
        await sleep(delay)
