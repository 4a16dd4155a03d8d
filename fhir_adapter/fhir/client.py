"""The FHIR REST client: :class:`FhirClient` (sync) and :class:`AsyncFhirClient` (async).

Both faces hold one :class:`~fhir_adapter.fhir._core.ClientCore` (URLs, headers, error
mapping, redirect and paging decisions) and add only the transport: one pooled httpx client,
retries through :mod:`fhir_adapter.http`.

Retried (429/502/503/504, connection errors, timeouts; ``Retry-After`` honoured; total time
bounded by the :class:`RetryPolicy`): GET, PUT, conditional create (POST with
``If-None-Exist``) and transactions/batches whose entries are all GET/PUT/DELETE or conditional
creates. A plain POST, and any bundle holding one, is sent once. Retries are per run, not per request:
once a request found the server down (refusing connections, unreachable after its retries, a failed
certificate check, 503 after every retry), every later request of this client fails at once with that line.

Redirects are followed by hand, on the base URL's origin only; ``next`` links likewise.
Authorization therefore never reaches another origin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Self

import httpx

from fhir_adapter.fhir._core import Call, ClientCore, PreferReturn, resources_of
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.fhir.search import SearchParams
from fhir_adapter.http import RetryPolicy, asend_with_retries, send_with_retries

_DEFAULT_RETRY = RetryPolicy()


def _retried(policy: RetryPolicy, response: httpx.Response) -> bool:
    """Whether ``response`` is what was left after the policy retried its status (not a status it leaves alone)."""
    return policy.max_attempts > 1 and response.status_code in policy.retry_statuses


class FhirClient:
    """A synchronous FHIR R4/R5 REST client. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        retry: RetryPolicy = _DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
        max_pages: int = 1000,
        prefer_return: PreferReturn = "representation",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._core = ClientCore(base_url, max_pages=max_pages, prefer_return=prefer_return)
        self._retry = retry
        self._sleep = sleep
        self._capabilities: Capabilities | None = None
        self._http = httpx.Client(
            auth=auth, timeout=timeout, verify=verify, transport=transport,
            follow_redirects=False, headers=ClientCore.client_headers(),
        )

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def down(self) -> str | None:
        """Why this client holds the server for down (every later request fails at once), or None."""
        return self._core.down

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ----------------------------------------------------------------------
    def _send(self, call: Call) -> tuple[Call, httpx.Response]:
        self._core.fail_fast(call)
        exchange = self._core.exchange(call)
        while True:
            request = exchange.request(self._http)
            try:
                response = send_with_retries(
                    self._http, request, self._retry, idempotent=exchange.call.idempotent, sleep=self._sleep
                )
            except httpx.TransportError as exc:
                raise exchange.failed(exc) from exc
            self._core.note_answer(exchange.call, response, _retried(self._retry, response))
            if exchange.answered(response):
                return exchange.call, response

    def _request(self, call: Call) -> dict[str, Any]:
        call, response = self._send(call)
        return self._core.parse(call, response)

    # -- interactions -------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        """The server's CapabilityStatement, fetched once per client."""
        if self._capabilities is None:
            self._capabilities = Capabilities.from_statement(self._request(self._core.metadata_call()))
        return self._capabilities

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return self._request(self._core.read_call(resource_type, resource_id))

    def search_bundles(self, resource_type: str, params: SearchParams | None = None) -> Iterator[dict[str, Any]]:
        """The searchset pages one by one (``next`` links followed on the same origin only)."""
        pager = self._core.pager(resource_type)
        call: Call | None = self._core.search_call(resource_type, params)
        while call is not None:
            bundle = pager.page(*self._send(call))
            yield bundle
            call = pager.next_call(bundle)

    def search(self, resource_type: str, params: SearchParams | None = None) -> list[dict[str, Any]]:
        """Every resource of every page (matches and ``_include``\\ d resources alike)."""
        return [r for page in self.search_bundles(resource_type, params) for r in resources_of(page)]

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        return self._request(self._core.bundle_call(bundle, "transaction"))

    def batch(self, bundle: dict[str, Any]) -> dict[str, Any]:
        return self._request(self._core.bundle_call(bundle, "batch"))

    def create(self, resource: dict[str, Any], if_none_exist: str | None = None) -> dict[str, Any]:
        return self._request(self._core.create_call(resource, if_none_exist))

    def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        return self._request(self._core.update_call(resource))

    def validate(self, resource: dict[str, Any]) -> dict[str, Any]:
        """``POST [type]/$validate``: the OperationOutcome, whether the resource is valid or not."""
        call, response = self._send(self._core.validate_call(resource))
        return self._core.parse_validation(call, response)


class AsyncFhirClient:
    """The asyncio twin of :class:`FhirClient` (same arguments, same methods, awaited)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        retry: RetryPolicy = _DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
        max_pages: int = 1000,
        prefer_return: PreferReturn = "representation",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._core = ClientCore(base_url, max_pages=max_pages, prefer_return=prefer_return)
        self._retry = retry
        self._sleep = sleep
        self._auth = auth
        self._verify = verify
        self._capabilities: Capabilities | None = None
        self._http = httpx.AsyncClient(
            auth=auth, timeout=timeout, verify=verify, transport=transport,
            follow_redirects=False, headers=ClientCore.client_headers(),
        )

    @property
    def base_url(self) -> str:
        return self._core.base_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def auth(self) -> httpx.Auth | None:
        """The auth flow of this client (Bulk Data file downloads reuse it, see :mod:`fhir_adapter.fhir.bulk`)."""
        return self._auth

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy, with the run's ``--deadline`` (Bulk Data file downloads keep that deadline)."""
        return self._retry

    @property
    def verify(self) -> bool:
        """Whether TLS certificates are verified (``--insecure`` turns it off)."""
        return self._verify

    async def send_call(self, call: Call, *, retry: RetryPolicy | None = None) -> tuple[Call, httpx.Response]:
        """The raw answer to ``call``, whatever its status, after same-origin redirects and retries.

        For operations whose answers are not one FHIR resource (Bulk Data kick-off and status: 202 with
        an empty body, a JSON manifest). ``retry`` replaces the client's policy for this call. Map an
        error answer with :meth:`parse_answer`.
        """
        return await self._send(call, retry)

    def parse_answer(self, call: Call, response: httpx.Response) -> dict[str, Any]:
        """The FHIR resource of a 2xx answer; the project's typed error (naming the call) for any other."""
        return self._core.parse(call, response)

    async def _send(self, call: Call, retry: RetryPolicy | None = None) -> tuple[Call, httpx.Response]:
        self._core.fail_fast(call)
        exchange = self._core.exchange(call)
        policy = retry or self._retry
        if retry is not None and self._retry.deadline_at is not None:  # a call's own policy keeps the run's deadline
            policy = dataclasses.replace(retry, deadline_at=self._retry.deadline_at,
                                         deadline_seconds=self._retry.deadline_seconds)
        while True:
            request = exchange.request(self._http)
            try:
                response = await asend_with_retries(
                    self._http, request, policy, idempotent=exchange.call.idempotent, sleep=self._sleep
                )
            except httpx.TransportError as exc:
                raise exchange.failed(exc) from exc
            self._core.note_answer(exchange.call, response, _retried(policy, response))
            if exchange.answered(response):
                return exchange.call, response

    async def _request(self, call: Call) -> dict[str, Any]:
        call, response = await self._send(call)
        return self._core.parse(call, response)

    async def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            self._capabilities = Capabilities.from_statement(await self._request(self._core.metadata_call()))
        return self._capabilities

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return await self._request(self._core.read_call(resource_type, resource_id))

    async def search_bundles(
        self, resource_type: str, params: SearchParams | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        pager = self._core.pager(resource_type)
        call: Call | None = self._core.search_call(resource_type, params)
        while call is not None:
            bundle = pager.page(*await self._send(call))
            yield bundle
            call = pager.next_call(bundle)

    async def search(self, resource_type: str, params: SearchParams | None = None) -> list[dict[str, Any]]:
        return [r async for page in self.search_bundles(resource_type, params) for r in resources_of(page)]

    async def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        return await self._request(self._core.bundle_call(bundle, "transaction"))

    async def batch(self, bundle: dict[str, Any]) -> dict[str, Any]:
        return await self._request(self._core.bundle_call(bundle, "batch"))

    async def create(self, resource: dict[str, Any], if_none_exist: str | None = None) -> dict[str, Any]:
        return await self._request(self._core.create_call(resource, if_none_exist))

    async def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        return await self._request(self._core.update_call(resource))

    async def validate(self, resource: dict[str, Any]) -> dict[str, Any]:
        call, response = await self._send(self._core.validate_call(resource))
        return self._core.parse_validation(call, response)
