"""Everything the sync and async FHIR clients share that does no I/O.

Request building (URLs, headers, idempotency), response parsing and error mapping, redirect
and paging decisions, exchange logging. :mod:`fhir_adapter.fhir.client` adds only the transport.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit

import httpx

from fhir_adapter.errors import AuthError, FhirServerError, UsageError
from fhir_adapter.fhir.search import SearchParams, mask_url, query_items
from fhir_adapter.http import (
    USER_AGENT,
    DeadlineExceeded,
    ResponseLimitExceeded,
    is_certificate_error,
    reached_server,
)
from fhir_adapter.redact import without_userinfo as without_userinfo  # defined here before: still importable

log = logging.getLogger("fhir_adapter.fhir")

FHIR_JSON = "application/fhir+json"
PreferReturn = Literal["representation", "OperationOutcome", "minimal"]
MAX_REDIRECTS = 5
_VALIDATION_STATUSES = frozenset({200, 400, 412, 422})
_DOWN_STATUSES = frozenset({502, 503, 504})
"""Statuses that, still answered after every retry, mean the server is down for this run."""
FailureKind = Literal["unreachable", "certificate", "lost", "limit", "deadline"]


class TransportFailure(FhirServerError):
    """No usable answer: the server could not be reached, refused the certificate check, or the answer was lost,
    cut short or over a limit. ``reached`` tells whether the request may have arrived (a write's outcome is then
    unknown); ``kind`` says which failure it was."""

    def __init__(self, message: str, *, kind: FailureKind, reached: bool, method: str, url: str) -> None:
        super().__init__(message, method=method, url=url)
        self.kind = kind
        self.reached = reached


class DeadlineError(TransportFailure):
    """The run's ``--deadline`` passed: the command stops."""


def _certificate_reason(exc: BaseException) -> str:
    """``self-signed certificate`` from ``[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed
    certificate (_ssl.c:1006)``."""
    text = str(exc)
    _, found, rest = text.partition("certificate verify failed:")
    return (rest if found else text).split(" (_ssl", 1)[0].strip() or "verification failed"


@dataclass(frozen=True)
class Call:
    """One HTTP exchange to make: what the transport needs plus what error messages need."""

    method: str
    url: str
    label: str
    params: tuple[tuple[str, str], ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    idempotent: bool = True


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports made explicit, for same-origin checks."""
    parsed = httpx.URL(str(url))
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, parsed.host.lower(), port


def entry_is_idempotent(entry: dict[str, Any]) -> bool:
    request = entry.get("request") or {}
    method = str(request.get("method", "")).upper()
    if method in {"GET", "HEAD", "PUT", "DELETE"}:
        return True
    return method == "POST" and bool(request.get("ifNoneExist"))


def bundle_is_idempotent(bundle: dict[str, Any]) -> bool:
    """A transaction/batch may be retried only when replaying it changes nothing more.

    True when every entry is a read, a PUT, a DELETE or a conditional create (POST with
    ``ifNoneExist``): replaying such a bundle after a lost answer finds the resources the first
    attempt wrote. Any plain POST (or PATCH) makes the bundle non-idempotent: never retried.
    """
    return all(entry_is_idempotent(e) for e in bundle.get("entry") or [])


def render_outcome(outcome: dict[str, Any]) -> str:
    """``error invalid: Patient.gender: bad code; warning ...`` from an OperationOutcome."""
    parts = []
    for issue in outcome.get("issue") or []:
        head = f"{issue.get('severity', '?')} {issue.get('code', '?')}:"
        where = ", ".join(issue.get("expression") or issue.get("location") or [])
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
        parts.append(" ".join(p for p in (head, f"{where}:" if where else "", text) if p).rstrip(":"))
    return "; ".join(parts) or "OperationOutcome without issues"


def error_issues(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues of severity error or fatal."""
    return [i for i in outcome.get("issue") or [] if i.get("severity") in {"error", "fatal"}]


def _describe_body(response: httpx.Response) -> tuple[str, dict[str, Any] | None]:
    """(what the body is, the parsed FHIR resource or None)."""
    if not response.content.strip():
        return "an empty body", None
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    if "json" not in content_type:
        return content_type, None
    try:
        data = json.loads(response.content)
    except ValueError:
        return f"invalid JSON ({content_type})", None
    except RecursionError:
        return f"JSON nested too deeply ({content_type})", None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        return f"JSON without resourceType ({content_type})", None
    return content_type, data


class ClientCore:
    """Configuration and pure logic shared by :class:`FhirClient` and :class:`AsyncFhirClient`."""

    def __init__(self, base_url: str, *, max_pages: int, prefer_return: PreferReturn) -> None:
        parsed = httpx.URL(base_url)
        if parsed.userinfo:
            # httpx would send them as Basic auth, and the URL would carry the password into every message
            raise UsageError(
                f"credentials in the FHIR base URL are not accepted ({without_userinfo(base_url)}): "
                "use --auth basic --username NAME --password-env VAR"
            )
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise UsageError(f"FHIR base URL must be http(s)://host/...: {base_url!r}")
        if max_pages < 1:
            raise UsageError("max_pages must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.origin = origin(self.base_url)
        self.max_pages = max_pages
        self.prefer_return = prefer_return
        self.down: str | None = None
        """Why this run holds the server for down (refused, unreachable, bad certificate, 503 storm), once shown."""

    # -- building -----------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    @staticmethod
    def client_headers() -> dict[str, str]:
        return {"Accept": FHIR_JSON, "User-Agent": USER_AGENT}

    def _write_headers(self) -> dict[str, str]:
        return {"Content-Type": f"{FHIR_JSON}; charset=utf-8", "Prefer": f"return={self.prefer_return}"}

    @staticmethod
    def _body(resource: dict[str, Any]) -> bytes:
        return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()

    def metadata_call(self) -> Call:
        return Call("GET", self.url("metadata"), "metadata")

    def read_call(self, resource_type: str, resource_id: str) -> Call:
        path = f"{resource_type}/{resource_id}"
        return Call("GET", self.url(path), path)

    def search_call(self, resource_type: str, params: SearchParams | None) -> Call:
        return Call(
            "GET",
            self.url(resource_type),
            resource_type,
            params=tuple(query_items(params)),
            headers={"Prefer": "handling=strict"},
        )

    def bundle_call(self, bundle: dict[str, Any], kind: Literal["transaction", "batch"]) -> Call:
        if bundle.get("resourceType") != "Bundle":
            raise UsageError(f"a {kind} needs a Bundle, got {bundle.get('resourceType')!r}")
        body = {**bundle, "type": kind}
        return Call(
            "POST", self.base_url, "Bundle", headers=self._write_headers(), body=self._body(body),
            idempotent=bundle_is_idempotent(body),
        )

    def create_call(self, resource: dict[str, Any], if_none_exist: str | None) -> Call:
        resource_type = _resource_type(resource)
        headers = self._write_headers()
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        return Call(
            "POST", self.url(resource_type), resource_type, headers=headers, body=self._body(resource),
            idempotent=bool(if_none_exist),
        )

    def update_call(self, resource: dict[str, Any]) -> Call:
        resource_type = _resource_type(resource)
        resource_id = resource.get("id")
        if not resource_id:
            raise UsageError(f"cannot update a {resource_type} without an id")
        path = f"{resource_type}/{resource_id}"
        return Call("PUT", self.url(path), path, headers=self._write_headers(), body=self._body(resource))

    def validate_call(self, resource: dict[str, Any]) -> Call:
        resource_type = _resource_type(resource)
        path = f"{resource_type}/$validate"
        headers = {"Content-Type": f"{FHIR_JSON}; charset=utf-8"}
        return Call("POST", self.url(path), path, headers=headers, body=self._body(resource))

    # -- answers ------------------------------------------------------------------------
    def parse(self, call: Call, response: httpx.Response) -> dict[str, Any]:
        """The FHIR resource of a 2xx answer; a typed error for anything else."""
        what, data = _describe_body(response)
        status = response.status_code
        where = f"{call.method} {mask_url(call.label)}"
        if response.is_success:
            if data is not None:
                return data
            if what == "an empty body" and call.method != "GET":
                return {}
            raise self._error(f"{where}: server answered {what} instead of FHIR JSON (status {status})", call, status)
        if data is not None and data.get("resourceType") == "OperationOutcome":
            message = f"{where} → {status}: {render_outcome(data)}"
        elif data is not None:
            message = f"{where} → {status}: server answered a {data['resourceType']} instead of an OperationOutcome"
        else:
            message = f"{where}: server answered {what} instead of FHIR JSON (status {status})"
        if status in {401, 403}:
            raise AuthError(f"{message} (check --auth and the credentials' scopes)")
        raise self._error(message, call, status, data if data and data["resourceType"] == "OperationOutcome" else None)

    def parse_validation(self, call: Call, response: httpx.Response) -> dict[str, Any]:
        """``$validate`` answers its OperationOutcome with 200, or 400/412/422 when the resource is invalid."""
        _, data = _describe_body(response)
        if (
            response.status_code in _VALIDATION_STATUSES
            and data is not None
            and data.get("resourceType") == "OperationOutcome"
        ):
            return data
        return self.parse(call, response)

    def _error(
        self, message: str, call: Call, status: int | None, outcome: dict[str, Any] | None = None
    ) -> FhirServerError:
        return FhirServerError(message, status_code=status, method=call.method, url=call.url, outcome=outcome)

    def transport_error(self, call: Call, exc: Exception) -> TransportFailure:
        """The one-line error for a request the transport gave up on; remembered when it shows the server down."""
        reason = str(exc) or type(exc).__name__
        reached = reached_server(exc)
        where = {"method": call.method, "url": call.url}
        error: TransportFailure
        if isinstance(exc, DeadlineExceeded):
            error = DeadlineError(f"{self.base_url}: {reason}", kind="deadline", reached=reached, **where)
        elif isinstance(exc, ResponseLimitExceeded):
            error = TransportFailure(f"{self.base_url}: {reason}", kind="limit", reached=reached, **where)
        elif is_certificate_error(exc):
            error = TransportFailure(
                f"{self.base_url}: TLS certificate verification failed ({_certificate_reason(exc)}); not retried: "
                "fix the server's certificate or trust its CA (SSL_CERT_FILE)", kind="certificate", reached=False,
                **where,
            )
        else:
            error = TransportFailure(
                f"cannot reach {self.base_url}: {type(exc).__name__}: {reason}",
                kind="lost" if reached else "unreachable", reached=reached, **where,
            )
        # retried already (or hopeless): later requests fail fast. A write whose answer was lost does not say the
        # server is down (it may have hung up on that one request): its outcome is read back with the next requests.
        if error.kind in {"unreachable", "certificate"} or (error.kind == "lost" and call.method == "GET"):
            self.down = self.down or error.message
        return error

    def fail_fast(self, call: Call) -> None:
        """Raise at once when this run already found the server down (no request, no retries)."""
        if self.down is not None:
            raise TransportFailure(f"{self.down} (earlier in this run; not retried)", kind="unreachable",
                                   reached=False, method=call.method, url=call.url)

    def note_answer(self, call: Call, response: httpx.Response, retried: bool) -> None:
        """A 502/503/504 still answered after every retry of a read: the server is down for this run (a write's
        5xx is not enough: its outcome is read back next)."""
        if retried and call.method == "GET" and response.status_code in _DOWN_STATUSES:
            reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
            self.down = self.down or f"{self.base_url} keeps answering {reason}"

    def redirect_call(self, call: Call, response: httpx.Response, hops: int) -> Call | None:
        """The call to follow a same-origin redirect with, None when ``response`` is not a redirect.

        Foreign-origin redirects are refused: credentials must never travel to another origin.
        """
        location = response.headers.get("location")
        if not response.is_redirect or not location:
            return None
        target = urljoin(str(response.request.url), location)
        if origin(target) != self.origin:
            raise self._error(
                f"{call.method} {mask_url(call.label)}: refusing redirect to foreign origin "
                f"{_origin_text(target)} (credentials are only sent to {_origin_text(self.base_url)})",
                call, response.status_code,
            )
        if hops >= MAX_REDIRECTS:
            raise self._error(f"{call.method} {mask_url(call.label)}: more than {MAX_REDIRECTS} redirects", call, None)
        if response.status_code in {307, 308}:
            return replace(call, url=target, params=())
        return replace(call, method="GET", url=target, params=(), body=None, idempotent=True)

    def log_exchange(self, call: Call, response: httpx.Response, elapsed_ms: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s → %s (%.0f ms)", call.method, mask_url(str(response.request.url)),
                      response.status_code, elapsed_ms)

    def pager(self, resource_type: str) -> Pager:
        return Pager(self, resource_type)

    def exchange(self, call: Call) -> Exchange:
        return Exchange(self, call)


@dataclass
class Exchange:
    """One call through its same-origin redirects; the faces only send :meth:`request`.

    ``call`` is the call being made (the redirect target after a redirect), ``hops`` how many
    redirects were followed so far.
    """

    core: ClientCore
    call: Call
    hops: int = 0
    started: float = 0.0

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The request for :attr:`call`; starts the clock for the exchange log."""
        call = self.call
        request = http.build_request(
            call.method, call.url, params=list(call.params) or None, headers=call.headers, content=call.body
        )
        self.started = time.perf_counter()
        return request

    def failed(self, exc: Exception) -> FhirServerError:
        """The error to raise when the transport gave up on :attr:`call`."""
        return self.core.transport_error(self.call, exc)

    def answered(self, response: httpx.Response) -> bool:
        """Log the answer; True when it is final, False when :attr:`call` now follows a redirect."""
        self.core.log_exchange(self.call, response, (time.perf_counter() - self.started) * 1000)
        follow = self.core.redirect_call(self.call, response, self.hops)
        if follow is None:
            return True
        self.call, self.hops = follow, self.hops + 1
        return False


@dataclass
class Pager:
    """Follows ``Bundle.link[relation=next]`` safely: same origin only, no loops, at most max_pages."""

    core: ClientCore
    resource_type: str
    seen: set[str] = field(default_factory=set)
    pages: int = 0

    def visited(self, url: str | httpx.URL) -> None:
        self.pages += 1
        self.seen.add(page_key(str(url)))

    def page(self, call: Call, response: httpx.Response) -> dict[str, Any]:
        """The searchset bundle of one fetched page, counted as visited."""
        self.visited(response.request.url)
        return self.core.parse(call, response)

    def next_call(self, bundle: dict[str, Any]) -> Call | None:
        links = [link for link in bundle.get("link") or [] if link.get("relation") == "next" and link.get("url")]
        if not links:
            return None
        url = urljoin(self.core.base_url + "/", str(links[0]["url"]))
        label = f"{self.resource_type} (page {self.pages + 1})"
        call = Call("GET", url, label, headers={"Prefer": "handling=strict"})
        if origin(url) != self.core.origin:
            raise self.core._error(
                f"GET {label}: refusing next link to foreign origin {_origin_text(url)} "
                f"(searching {_origin_text(self.core.base_url)})", call, None,
            )
        if page_key(url) in self.seen:
            raise self.core._error(f"GET {label}: page loop, the server sent the same next link twice", call, None)
        if self.pages >= self.core.max_pages:
            raise self.core._error(
                f"GET {label}: stopped after {self.core.max_pages} pages (max_pages); narrow the search", call, None
            )
        return call


def page_key(url: str) -> str:
    """A page URL normalised for loop detection: the same page spelled with other percent-encoding, case of the
    escapes, or parameter order is the same page."""
    parts = urlsplit(url)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    path = unquote(parts.path).rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}?{urlencode(query)}"


def _origin_text(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _resource_type(resource: dict[str, Any]) -> str:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise UsageError("resource has no resourceType")
    return resource_type


def resources_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a searchset page (search mode ``match`` and ``include`` alike)."""
    return [
        e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
