"""Bulk Data export, the file side: the resumable state file and the parallel NDJSON downloads.

:mod:`fhir_adapter.fhir.bulk` runs the export (kick-off, status polling) and hands this module the files of
the manifest:

- **State.** ``export-state`` (JSON) in the output directory records the status URL, the kick-off request,
  the server's manifest and, per file, its URL, local name, size, resource count and whether it is done. It
  is rewritten atomically (temp file + rename, mode 0600: file URLs may be pre-signed) after every change, so
  an interrupted export resumes where it stopped. It never holds an Authorization header or a token. Its name
  has no ``.json`` suffix on purpose: :class:`~fhir_adapter.matching.local.LocalData` reads every ``*.json``
  under a directory as FHIR, and the export directory must stay readable as it is.
- **Downloads.** Each file is streamed (never whole in memory) to a hidden temp name (``.<name>.part``, which
  no NDJSON reader picks up) and renamed when complete; at most ``concurrency`` at once. Transient answers
  (429/502/503/504, connection errors) restart that file after a delay; a failed file does not stop the others,
  so a rerun only fetches what is left.
- **Credentials.** The caller decides per file whether the server's Authorization may go with it (see
  :func:`fhir_adapter.fhir.bulk.token_allowed`). When it may, :class:`FileAuth` obtains the header from the
  client's own :class:`httpx.Auth` flow (no second implementation of SMART): the flow's token requests are sent
  here and the file request itself is streamed. A 401 is handed back to the flow once, which makes SMART Backend
  Services fetch a fresh token and the file is fetched again; a second 401 (or a static token's first) is the
  flow's :class:`~fhir_adapter.errors.AuthError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import httpx

from fhir_adapter.errors import AuthError, FhirAdapterError, FhirServerError, UsageError
from fhir_adapter.fhir._core import DeadlineError, render_outcome
from fhir_adapter.http import DeadlineExceeded, RetryPolicy, check_deadline, deadline_message, retry_delay

log = logging.getLogger("fhir_adapter.fhir")

STATE_FILE = "export-state"  # not *.json: see the module docstring
STATE_VERSION = 1
NDJSON = "application/fhir+ndjson"
CHUNK = 64 * 1024
_ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error answer read to explain it
_MESSAGE_LIMIT = 300
_PATIENT_REF = re.compile(r"(?<![A-Za-z])(Patient/)[^\s/?#,;\"'<>)\]]+")

FileKind = Literal["output", "error"]
StateStatus = Literal["kicked-off", "downloading", "complete", "cancelled"]
ProgressCallback = Callable[[str], None]


def shown_url(url: str) -> str:
    """``scheme://host/path`` of a file URL, for messages: a pre-signed URL's query is a credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


def mask_patients(text: str) -> str:
    """``Patient/123`` → ``Patient/***`` in server text that is shown (error files, progress)."""
    return _PATIENT_REF.sub(r"\1***", text)


# -- the state file -------------------------------------------------------------------------------------------


@dataclass
class FileState:
    """One file of the manifest and how far its download got."""

    url: str
    name: str
    """Relative to the output directory: ``Observation.002.ndjson``, ``errors/OperationOutcome.ndjson``."""
    type: str
    kind: FileKind = "output"
    count: int | None = None
    """The manifest's resource count, when the server gave one."""
    bytes: int = 0
    resources: int = 0
    done: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileState:
        count = data.get("count")
        return cls(
            url=str(data["url"]), name=_safe_name(str(data["name"])), type=str(data["type"]),
            kind="error" if data.get("kind") == "error" else "output",
            count=count if isinstance(count, int) else None, bytes=int(data.get("bytes", 0)),
            resources=int(data.get("resources", 0)), done=bool(data.get("done", False)),
        )


@dataclass
class ExportState:
    """What ``export-state`` holds (see the module docstring)."""

    server: str
    request: dict[str, Any]
    status_url: str | None = None
    status: StateStatus = "kicked-off"
    type_filter_sent: bool = True
    manifest: dict[str, Any] | None = None
    files: list[FileState] = field(default_factory=list)
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportState:
        status = data.get("status")
        return cls(
            server=str(data["server"]),
            request=dict(data["request"]),
            status_url=data.get("status_url") if isinstance(data.get("status_url"), str) else None,
            status=cast(StateStatus, status) if status in ("kicked-off", "downloading", "complete", "cancelled")
            else "kicked-off",
            type_filter_sent=bool(data.get("type_filter_sent", True)),
            manifest=data.get("manifest") if isinstance(data.get("manifest"), dict) else None,
            files=[FileState.from_json(f) for f in data.get("files") or []],
            version=int(data.get("version", STATE_VERSION)),
        )


def _safe_name(name: str) -> str:
    """A state file's local name, refused when it would leave the output directory (a hand-edited state)."""
    path = Path(name)
    if path.is_absolute() or ".." in path.parts or not name:
        raise ValueError(f"file name {name!r} leaves the output directory")
    return name


def load_state(out_dir: Path) -> ExportState | None:
    """The state in ``out_dir``, None when there is none; a UsageError when it cannot be read."""
    path = out_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {STATE_VERSION}")
        return ExportState.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"cannot read the export state ({exc}); remove it or rerun with --restart", source=str(path)
        ) from exc


def save_state(out_dir: Path, state: ExportState) -> None:
    """Write the state atomically (temp file + rename), readable by the owner only."""
    text = json.dumps(state.to_json(), indent=2, ensure_ascii=False) + "\n"
    handle, temp = tempfile.mkstemp(prefix=".export-state.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o600)
        os.replace(temp, out_dir / STATE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def temp_path(out_dir: Path, name: str) -> Path:
    target = out_dir / name
    return target.with_name(f".{target.name}.part")


def file_finished(out_dir: Path, file: FileState) -> bool:
    """Done in the state, and still on disk with the size the state recorded (else it is fetched again)."""
    if not file.done:
        return False
    try:
        return (out_dir / file.name).stat().st_size == file.bytes
    except OSError:
        return False


def remove_files(out_dir: Path, files: Iterable[FileState]) -> None:
    """Delete the files (and temp files) a previous export wrote: only those the state lists."""
    for file in files:
        for path in (out_dir / file.name, temp_path(out_dir, file.name)):
            with contextlib.suppress(OSError):
                path.unlink()


# -- error files ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorSummary:
    """What the manifest's error files (NDJSON of OperationOutcome) say: counts and the first message."""

    files: int = 0
    outcomes: int = 0
    issues: int = 0
    first_message: str | None = None
    type_filter_ignored: bool = False
    """An issue says the server did not apply ``_typeFilter`` (it exported the types unfiltered)."""


def _mentions_type_filter(issue: dict[str, Any]) -> bool:
    text = json.dumps(issue, ensure_ascii=False).lower()
    return "_typefilter" in text or "typefilter" in text


def summarize_error_files(paths: Sequence[Path]) -> ErrorSummary:
    """Count the OperationOutcomes and issues of the downloaded error files; keep the first message (patient
    references masked, cut to 300 characters). A malformed line counts as an issue of its own."""
    outcomes = issues = 0
    first: str | None = None
    ignored = False
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    outcome = json.loads(line)
                except ValueError:
                    outcome = None
                if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
                    issues += 1
                    first = first or f"{path.name}:{number}: not an OperationOutcome"
                    continue
                outcomes += 1
                found = [i for i in outcome.get("issue") or [] if isinstance(i, dict)]
                issues += len(found)
                ignored = ignored or any(_mentions_type_filter(i) for i in found)
                if first is None and found:
                    first = render_outcome({"issue": found[:1]})
    if first is not None:
        first = mask_patients(first)[:_MESSAGE_LIMIT]
    return ErrorSummary(len(paths), outcomes, issues, first, ignored)


# -- credentials for file URLs ---------------------------------------------------------------------------------


class FileAuth:
    """The client's :class:`httpx.Auth` flow driven by hand for streamed file downloads.

    httpx reads every answer whole when a flow needs response bodies (SMART's does, for its token answers), and
    Bulk files can be gigabytes: so the flow is stepped here. Its own requests (SMART discovery, token) are sent
    through ``http`` without auth; when it yields the file request (now carrying Authorization) the caller
    streams it. One lock serialises the flow steps, so parallel downloads do not interleave token requests.
    """

    def __init__(self, auth: httpx.Auth, http: httpx.AsyncClient) -> None:
        self._auth = auth
        self._http = http
        self._lock = asyncio.Lock()

    def sign(self, request: httpx.Request) -> SignedRequest:
        return SignedRequest(self._auth.async_auth_flow(request), request, self._http, self._lock)


class SignedRequest:
    """One file request inside its auth flow (see :class:`FileAuth`)."""

    def __init__(
        self, flow: AsyncGenerator[httpx.Request, httpx.Response], request: httpx.Request,
        http: httpx.AsyncClient, lock: asyncio.Lock,
    ) -> None:
        self._flow = flow
        self.request = request
        self._http = http
        self._lock = lock
        self._started = False

    async def _step(self, answer: httpx.Response | None) -> bool:
        """Advance the flow until it yields the file request again (True) or ends (False)."""
        while True:
            try:
                if not self._started:
                    self._started = True
                    out = await self._flow.__anext__()
                else:
                    assert answer is not None
                    out = await self._flow.asend(answer)
            except StopAsyncIteration:
                return False
            if out.url == self.request.url:
                self.request = out
                return True
            # the flow's own request (SMART discovery or token): a small answer, read whole
            answer = await self._http.send(out, auth=None)

    async def start(self) -> None:
        async with self._lock:
            if not await self._step(None):
                raise AuthError(f"the auth flow sent no request for {shown_url(str(self.request.url))}")

    async def refused(self, response: httpx.Response) -> None:
        """Hand a 401 to the flow: it gets a fresh token (then :attr:`request` carries it) or raises AuthError."""
        async with self._lock:
            if not await self._step(response):
                raise AuthError(f"GET {shown_url(str(self.request.url))} → 401: the access token was refused")

    async def close(self) -> None:
        await self._flow.aclose()


# -- downloads ------------------------------------------------------------------------------------------------


class _LineCounter:
    """Non-blank lines of an NDJSON stream fed in chunks (one resource per line)."""

    def __init__(self) -> None:
        self.count = 0
        self._open = False  # the current line has content

    def feed(self, chunk: bytes) -> None:
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            if self._open or part.strip():
                self.count += 1
            self._open = False
        if parts[-1].strip():
            self._open = True

    def close(self) -> int:
        if self._open:
            self.count += 1
            self._open = False
        return self.count


class _Retry(Exception):
    """One attempt failed transiently: retry after ``delay`` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


async def _explain(response: httpx.Response) -> str:
    """What an error answer says (its OperationOutcome when it has one), from at most 64 KiB of it."""
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= _ERROR_BODY_LIMIT:
            break
    with contextlib.suppress(ValueError, RecursionError):
        data = json.loads(body)
        if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
            return ": " + mask_patients(render_outcome(data))[:_MESSAGE_LIMIT]
    return ""


@dataclass
class Downloader:
    """Streams manifest files to ``out_dir`` (see the module docstring)."""

    http: httpx.AsyncClient
    out_dir: Path
    file_auth: FileAuth | None
    retry: RetryPolicy
    sleep: Callable[[float], Awaitable[None]]
    progress: ProgressCallback

    async def fetch(self, file: FileState, *, send_token: bool) -> None:
        """Download one file (retrying transient failures from the start), then mark it done."""
        target = self.out_dir / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_path(self.out_dir, file.name)
        attempt = 0
        while True:
            attempt += 1
            try:
                try:
                    check_deadline(self.retry)
                    size, resources = await self._attempt(file, temp, send_token, attempt)
                    break
                except DeadlineExceeded as exc:  # a transport error in httpx's eyes, but never retried
                    raise self._deadline(file) from exc
                except httpx.TransportError as exc:  # the auth flow's token request could not be sent
                    raise _Retry(retry_delay(self.retry, attempt), f"{type(exc).__name__}: {exc}") from exc
            except _Retry as retry:
                if attempt >= self.retry.max_attempts:
                    raise FhirServerError(
                        f"GET {shown_url(file.url)}: {retry.reason}, still after {attempt} attempts; "
                        "rerun the same command to resume", method="GET", url=shown_url(file.url),
                    ) from retry
                left = self.retry.remaining()
                if left is not None and retry.delay >= left:
                    raise self._deadline(file) from retry  # the wait alone would outlast the run's deadline
                log.debug("GET %s: %s, retry in %.1f s", shown_url(file.url), retry.reason, retry.delay)
                await self.sleep(retry.delay)
        os.replace(temp, target)
        file.bytes, file.resources, file.done = size, resources, True
        note = "" if file.count is None or file.count == resources else f" (the manifest says {file.count})"
        self.progress(f"downloaded {file.name}: {resources} resources, {size} bytes{note}")

    def _deadline(self, file: FileState) -> DeadlineError:
        """The run's ``--deadline`` passed while downloading: files already done stay done (a rerun resumes)."""
        return DeadlineError(
            f"GET {shown_url(file.url)}: {deadline_message(self.retry)}; rerun the same command to resume",
            kind="deadline", reached=True, method="GET", url=shown_url(file.url),
        )

    async def _attempt(self, file: FileState, temp: Path, send_token: bool, attempt: int) -> tuple[int, int]:
        request = self.http.build_request("GET", file.url, headers={"Accept": NDJSON})
        signed = None
        if send_token:
            if self.file_auth is None:
                raise UsageError("internal: a token is required but the client has no auth")  # guarded by caller
            signed = self.file_auth.sign(request)
            await signed.start()
            request = signed.request
        try:
            response = await self._send(request, file)
            for _ in range(2):  # a 401 once: the flow refreshes the token; the flow raises on the next
                if response.status_code != 401 or signed is None:
                    break
                await response.aread()
                await response.aclose()
                await signed.refused(response)
                response = await self._send(signed.request, file)
            try:
                return await self._receive(file, response, temp, attempt)
            finally:
                await response.aclose()
        finally:
            if signed is not None:
                await signed.close()

    async def _send(self, request: httpx.Request, file: FileState) -> httpx.Response:
        try:
            response = await self.http.send(request, stream=True, auth=None)
        except httpx.TransportError as exc:
            raise _Retry(retry_delay(self.retry, 1), f"{type(exc).__name__}: {exc or 'no answer'}") from exc
        log.debug("GET %s → %s", shown_url(file.url), response.status_code)
        return response

    async def _receive(self, file: FileState, response: httpx.Response, temp: Path, attempt: int) -> tuple[int, int]:
        status = response.status_code
        where = f"GET {shown_url(file.url)}"
        if status in self.retry.retry_statuses:
            raise _Retry(retry_delay(self.retry, attempt, response), f"status {status}")
        if status == 401:
            raise AuthError(f"{where} → 401{await _explain(response)}: the file needs an access token "
                            "although the manifest says requiresAccessToken false")
        if status in (404, 410):
            raise FhirServerError(
                f"{where} → {status}{await _explain(response)}: the file has expired or was removed; "
                "rerun with --restart for a new export", status_code=status, method="GET", url=shown_url(file.url),
            )
        if not response.is_success:
            raise FhirServerError(f"{where} → {status}{await _explain(response)}", status_code=status,
                                  method="GET", url=shown_url(file.url))
        counter = _LineCounter()
        size = 0
        try:
            with temp.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):  # decoded: gzip content-encoding is undone here
                    check_deadline(self.retry)  # a slow file must not outlast the run's --deadline
                    out.write(chunk)
                    counter.feed(chunk)
                    size += len(chunk)
        except DeadlineExceeded:
            raise  # not retried: fetch() ends the run with one line
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise _Retry(retry_delay(self.retry, attempt), f"{type(exc).__name__} while reading") from exc
        except OSError as exc:
            raise UsageError(f"cannot write: {exc.strerror or exc}", source=str(temp)) from exc
        return size, counter.close()

    async def fetch_all(
        self, jobs: Sequence[tuple[FileState, bool]], *, concurrency: int, on_done: Callable[[FileState], None]
    ) -> None:
        """Download every (file, send_token) with at most ``concurrency`` at once.

        A file that fails does not stop the others (what finished is recorded, so a rerun fetches only the
        rest); the first failure is raised once all have ended. Cancellation stops them all at once.
        """
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(file: FileState, send_token: bool) -> None:
            async with gate:
                await self.fetch(file, send_token=send_token)
                on_done(file)

        results = await asyncio.gather(*(one(f, t) for f, t in jobs), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, Exception):  # cancellation, KeyboardInterrupt: not a file's failure
                raise failure
        if failures:
            first = failures[0]
            if len(failures) > 1 and isinstance(first, FhirAdapterError):
                first.message += f" (and {len(failures) - 1} more file(s) failed)"
            raise first
