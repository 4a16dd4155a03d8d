"""FHIR Bulk Data Access (v2) export client: kick-off, status polling, resumable parallel NDJSON downloads.

The flow (Bulk Data Access IG v2, ``$export``):

1. **Kick-off.** ``GET [base]/$export``, ``[base]/Patient/$export`` or ``[base]/Group/[id]/$export`` with
   ``Accept: application/fhir+json``, ``Prefer: respond-async`` and ``_outputFormat=application/fhir+ndjson``,
   ``_type``, ``_since``, ``_typeFilter`` (repeated, one ``Type?search`` each). The server answers 202 and the
   status URL in ``Content-Location``. A server that rejects ``_typeFilter`` (a 4xx whose OperationOutcome names
   it or says ``not-supported``) gets the kick-off again without it: the result then says the filter was not
   applied and the caller filters locally. (A CapabilityStatement cannot say which ``$export`` parameters a
   server takes, that is its OperationDefinition's business: the server's answer is the only reliable test.)
   An error file whose issue names ``_typeFilter`` (a lenient server that ignored it) counts as not applied too.
2. **Status.** ``GET`` the status URL until it answers 200: 202 (``X-Progress`` goes to the progress callback,
   changes only), 429 and 503 (and errors whose OperationOutcome says ``transient``) mean wait: ``Retry-After``
   in seconds or as an HTTP date, else a growing delay, both capped. 404/410: the job is gone. Other errors end
   the export with the server's OperationOutcome. ``poll_deadline`` bounds the wait: past it the job is
   cancelled (``DELETE``) and an error says so. 200 → the JSON manifest (``transactionTime``, ``request``,
   ``requiresAccessToken``, ``output[]``, ``error[]``).
3. **Files.** Every output and error file, in parallel (:mod:`fhir_adapter.fhir.bulk_download`), named
   ``Type.ndjson``, ``Type.002.ndjson`` ... (the names :mod:`fhir_adapter.matching.local` recognises) and error
   files ``errors/OperationOutcome.ndjson``. Error files are summarised (counts and first message), never dropped.
   The server's Authorization goes to a file URL only when the manifest says ``requiresAccessToken: true`` and
   the URL's origin is the server's or allow-listed (``allowed_file_origins``); a token required for any other
   origin is an error before any file is requested; ``requiresAccessToken: false`` sends no Authorization at all.
4. **State and resume.** ``export-state`` (JSON) records each step. The same export into the same directory
   resumes: it polls the recorded job when no manifest came yet, downloads only unfinished files otherwise, and
   does nothing when all are done (``restart=True`` always starts afresh). A job the server forgot (404/410) is
   an error telling to rerun with ``--restart``: never silently a new export.
5. **Cancel.** Cancellation (Ctrl-C, ``asyncio`` cancel) while polling or downloading sends ``DELETE`` to the
   status URL (best effort, short timeout), records ``cancelled`` and re-raises; the next run starts afresh.

Three modules: this one runs the flow (:func:`run_export`, the :class:`_Export` runner), the decisions are pure
functions in :mod:`fhir_adapter.fhir.bulk_plan` (re-exported here), the state file and the file transfers are in
:mod:`fhir_adapter.fhir.bulk_download`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from fhir_adapter.errors import FhirServerError, UsageError
from fhir_adapter.fhir._core import FHIR_JSON, Call, origin, render_outcome
from fhir_adapter.fhir.bulk_download import (
    Downloader,
    ErrorSummary,
    ExportState,
    FileAuth,
    ProgressCallback,
    file_finished,
    load_state,
    mask_patients,
    remove_files,
    save_state,
    shown_url,
    summarize_error_files,
)
from fhir_adapter.fhir.bulk_plan import (
    ExportLevel,
    ExportRequest,
    Manifest,
    ManifestFile,
    Origin,
    check_status_url,
    encode_type_filter,
    kickoff_call,
    local_names,
    outcome_of,
    parse_manifest,
    parse_origins,
    plan_files,
    poll_delay,
    resume_plan,
    token_allowed,
    transient_outcome,
    type_filter_unsupported,
)
from fhir_adapter.fhir.client import AsyncFhirClient
from fhir_adapter.http import USER_AGENT, RetryPolicy

__all__ = [
    "BulkSettings",
    "ExportGone",
    "ExportLevel",
    "ExportRequest",
    "ExportResult",
    "ExportStalled",
    "ExportedFile",
    "Manifest",
    "ManifestFile",
    "encode_type_filter",
    "export",
    "local_names",
    "parse_manifest",
    "parse_origins",
    "plan_files",
    "poll_delay",
    "resume_plan",
    "run_export",
    "token_allowed",
    "transient_outcome",
    "type_filter_unsupported",
]

_PROGRESS_LIMIT = 200
# Status polls: 429 and 503 are the poll loop's "wait", not the HTTP layer's retries (their Retry-After and the
# deadline apply); 502/504 and connection errors are retried by the HTTP layer as usual.
STATUS_RETRY = RetryPolicy(max_attempts=4, retry_statuses=frozenset({502, 504}))


# -- the result -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedFile:
    type: str
    path: Path
    resources: int
    bytes: int


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    files: tuple[ExportedFile, ...]
    type_filter_applied: bool
    """False when ``_typeFilter`` was requested but the server did not apply it: filter the files locally.
    True when every requested filter was applied (and when none was requested)."""
    errors: ErrorSummary
    error_files: tuple[Path, ...]
    resumed: bool
    transaction_time: str
    downloaded: tuple[str, ...] = ()
    """Local names of the files fetched by this run (a resumed run fetches only the unfinished ones)."""
    type_filters_requested: bool = False

    @property
    def resources(self) -> int:
        return sum(f.resources for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def paths(self, resource_type: str) -> list[Path]:
        """The files holding ``resource_type``, in manifest order."""
        return [f.path for f in self.files if f.type == resource_type]


def result_of(state: ExportState, out_dir: Path, *, resumed: bool, downloaded: Sequence[str]) -> ExportResult:
    outputs = [f for f in state.files if f.kind == "output"]
    error_paths = tuple(out_dir / f.name for f in state.files if f.kind == "error")
    errors = summarize_error_files(error_paths)
    requested = bool(state.request.get("typeFilters"))
    manifest = state.manifest or {}
    return ExportResult(
        out_dir=out_dir,
        files=tuple(ExportedFile(f.type, out_dir / f.name, f.resources, f.bytes) for f in outputs),
        type_filter_applied=not requested or (state.type_filter_sent and not errors.type_filter_ignored),
        errors=errors,
        error_files=error_paths,
        resumed=resumed,
        transaction_time=str(manifest.get("transactionTime") or ""),
        downloaded=tuple(downloaded),
        type_filters_requested=requested,
    )


# -- running an export ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkSettings:
    """Timing and transport knobs (tests inject ``sleep`` and ``clock`` so nothing really waits)."""

    min_poll_interval: float = 1.0
    max_poll_interval: float = 10.0
    """Cap on any wait between status requests, ``Retry-After`` included (HAPI asks for 120 s)."""
    cancel_timeout: float = 5.0
    download_timeout: float = 60.0
    download_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=4, max_delay=30.0))
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    download_transport: httpx.AsyncBaseTransport | None = None


class ExportStalled(FhirServerError):
    """The job did not finish before ``poll_deadline``."""


class ExportGone(FhirServerError):
    """The server no longer knows the job (404/410 on its status URL)."""


def _quiet(_message: str) -> None:
    pass


@dataclass
class _Export:
    """One export run: the client, the request, the directory, and the state as it evolves."""

    client: AsyncFhirClient
    request: ExportRequest
    out_dir: Path
    allowed: frozenset[Origin]
    settings: BulkSettings
    progress: ProgressCallback
    poll_deadline: float | None
    concurrency: int = 4
    state: ExportState | None = None
    server_origin: Origin = field(init=False)

    def __post_init__(self) -> None:
        self.server_origin = origin(self.client.base_url)

    def save(self) -> None:
        if self.state is not None:
            save_state(self.out_dir, self.state)

    # -- kick-off -----------------------------------------------------------------------------------------------
    async def kickoff(self) -> ExportState:
        send_filters = bool(self.request.type_filters)
        call = kickoff_call(self.client.base_url, self.request, with_type_filters=send_filters)
        call, response = await self.client.send_call(call)
        if send_filters and type_filter_unsupported(response.status_code, outcome_of(response)):
            why = render_outcome(outcome_of(response) or {})
            self.progress(f"the server refused _typeFilter ({response.status_code}: {why[:_PROGRESS_LIMIT]}); "
                          "exporting without it: filter the files locally")
            send_filters = False
            call = kickoff_call(self.client.base_url, self.request, with_type_filters=False)
            call, response = await self.client.send_call(call)
        if response.status_code != 202:
            if response.is_success:
                raise FhirServerError(
                    f"GET {call.label}: the server answered {response.status_code} to the kick-off, expected "
                    "202 Accepted (is Bulk Data $export supported?)", status_code=response.status_code,
                    method="GET", url=call.url,
                )
            self.client.parse_answer(call, response)  # raises the typed error with the OperationOutcome
        location = response.headers.get("content-location")
        if not location:
            raise FhirServerError(f"GET {call.label} → 202 without Content-Location: no status URL to poll",
                                  status_code=202, method="GET", url=call.url)
        status_url = check_status_url(urljoin(str(response.request.url), location), server=self.server_origin,
                                      allowed=self.allowed)
        self.progress(f"export started ({self.request.path}); status at {shown_url(status_url)}")
        return ExportState(server=self.client.base_url, request=self.request.to_json(), status_url=status_url,
                           type_filter_sent=send_filters)

    # -- status -------------------------------------------------------------------------------------------------
    async def poll(self, status_url: str) -> Manifest:
        call = Call("GET", status_url, "$export status", headers={"Accept": FHIR_JSON})
        started = self.settings.clock()
        attempt = 0
        last_progress: str | None = None
        while True:
            used, response = await self.client.send_call(call, retry=STATUS_RETRY)
            status = response.status_code
            if status == 200:
                try:
                    data = json.loads(response.content)
                except (ValueError, RecursionError) as exc:
                    raise FhirServerError(f"GET {status_url}: the manifest is not JSON", status_code=200,
                                          method="GET", url=status_url) from exc
                return parse_manifest(data, status_url)
            outcome = outcome_of(response)
            if status in (404, 410):
                detail = f": {render_outcome(outcome)}" if outcome else ""
                raise ExportGone(
                    f"GET {status_url} → {status}{detail}: the export job is gone (expired or deleted); "
                    "rerun with --restart to start a new export", status_code=status, method="GET", url=status_url,
                )
            if status not in (202, 429, 503) and not transient_outcome(outcome):
                if response.is_success:
                    raise FhirServerError(f"GET {status_url}: unexpected status {status} while polling",
                                          status_code=status, method="GET", url=status_url)
                self.client.parse_answer(used, response)  # the job failed: the server's OperationOutcome
            if status == 202:
                text = response.headers.get("x-progress") or "in progress"
            else:
                text = f"server busy ({status}), waiting"
            if text != last_progress:
                self.progress(mask_patients(text)[:_PROGRESS_LIMIT])
                last_progress = text
            delay = poll_delay(response.headers.get("retry-after"), attempt, base=self.settings.min_poll_interval,
                               cap=self.settings.max_poll_interval)
            waited = self.settings.clock() - started
            if self.poll_deadline is not None and waited + delay > self.poll_deadline:
                raise ExportStalled(
                    f"GET {status_url}: the export did not complete within {self.poll_deadline:g} s "
                    f"(last status {status}{': ' + last_progress if last_progress else ''}); the job was cancelled",
                    status_code=status, method="GET", url=status_url,
                )
            await self.settings.sleep(delay)
            attempt += 1

    async def delete_job(self, status_url: str) -> None:
        """``DELETE`` the job's status URL: best effort, one attempt, a short timeout, no error."""
        call = Call("DELETE", status_url, "$export status", headers={"Accept": FHIR_JSON})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.send_call(call, retry=RetryPolicy(max_attempts=1)),
                                   self.settings.cancel_timeout)

    async def cancel(self) -> None:
        """Delete the job on the server and record the export as cancelled."""
        state = self.state
        if state is None:
            return
        if state.status_url:
            await self.delete_job(state.status_url)
        state.status = "cancelled"
        with contextlib.suppress(OSError):
            self.save()

    # -- files --------------------------------------------------------------------------------------------------

    def _download_retry(self) -> RetryPolicy:
        """The download policy, bounded by the run's ``--deadline`` that the client carries."""
        policy, run = self.settings.download_retry, self.client.retry_policy
        if run.deadline_at is None or policy.deadline_at is not None:
            return policy
        return dataclasses.replace(policy, deadline_at=run.deadline_at, deadline_seconds=run.deadline_seconds)
    async def download(self, state: ExportState) -> list[str]:
        """Fetch the unfinished files; the names fetched."""
        manifest = parse_manifest(state.manifest, state.status_url or self.client.base_url)
        left = [f for f in state.files if not file_finished(self.out_dir, f)]
        # every token decision first: a forbidden origin fails before any file is requested
        jobs = [(f, token_allowed(f.url, requires_access_token=manifest.requires_access_token,
                                  server=self.server_origin, allowed=self.allowed)) for f in left]
        if not jobs:
            return []
        by_type = Counter(f.type for f in left)
        self.progress(f"downloading {len(left)} file(s): " + ", ".join(f"{t} ×{n}" for t, n in sorted(by_type.items())))
        auth = self.client.auth
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.download_timeout, connect=10.0), verify=self.client.verify,
            # httpx drops Authorization on a redirect to another origin, so following redirects is safe
            follow_redirects=True, headers={"User-Agent": USER_AGENT}, transport=self.settings.download_transport,
        ) as http:
            downloader = Downloader(
                http=http, out_dir=self.out_dir, file_auth=FileAuth(auth, http) if auth is not None else None,
                retry=self._download_retry(), sleep=self.settings.sleep, progress=self.progress,
            )
            if any(token for _, token in jobs) and auth is None:
                jobs = [(f, False) for f, _ in jobs]  # nothing to send: the server will say if it needs a token
            await downloader.fetch_all(jobs, concurrency=self.concurrency, on_done=lambda _f: self.save())
        return [f.name for f, _ in jobs]

    # -- the whole flow -----------------------------------------------------------------------------------------
    async def run(self, *, restart: bool) -> ExportResult:
        previous = load_state(self.out_dir)
        plan, note = resume_plan(previous, server=self.client.base_url, request=self.request.to_json(),
                                 restart=restart, finished=lambda f: file_finished(self.out_dir, f))
        if note:
            self.progress(note)
        if plan == "complete" and previous is not None:
            return result_of(previous, self.out_dir, resumed=True, downloaded=())
        if plan == "fresh":
            if previous is not None:
                remove_files(self.out_dir, previous.files)
                unfinished = previous.status in ("kicked-off", "downloading")
                if unfinished and previous.status_url and previous.server == self.client.base_url:
                    await self.delete_job(previous.status_url)  # --restart: free the old job on the server
            refuse_foreign_files(self.out_dir)
        else:
            self.state = previous
        try:
            if plan == "fresh":
                self.state = await self.kickoff()
                self.save()
            state = self.state
            assert state is not None
            if state.manifest is None:
                assert state.status_url is not None
                manifest = await self.poll(state.status_url)
                state.manifest, state.files, state.status = manifest.raw, plan_files(manifest), "downloading"
                self.save()
                self.progress(f"export complete on the server: {len(manifest.output)} file(s), "
                              f"{len(manifest.error)} error file(s)")
            downloaded = await self.download(state)
            state.status = "complete"
            self.save()
        except (asyncio.CancelledError, KeyboardInterrupt, ExportStalled):
            await self.cancel()
            raise
        return result_of(state, self.out_dir, resumed=plan != "fresh", downloaded=downloaded)


def refuse_foreign_files(out_dir: Path) -> None:
    """A fresh export writes ``Type.ndjson`` names: refuse a directory that already holds NDJSON files no
    export state describes, rather than overwrite or mix with them."""
    found = sorted(p.name for p in out_dir.glob("*.ndjson"))
    if found:
        raise UsageError(
            f"{out_dir} already holds NDJSON files that are not from an export here ({', '.join(found[:3])}"
            f"{' ...' if len(found) > 3 else ''}): choose an empty directory"
        )


async def run_export(
    server: AsyncFhirClient | str,
    *,
    auth: httpx.Auth | None = None,
    level: ExportLevel = "system",
    group_id: str | None = None,
    types: Sequence[str] | None = None,
    type_filters: Sequence[str] = (),
    since: str | None = None,
    out_dir: Path,
    allowed_file_origins: Sequence[str] = (),
    concurrency: int = 4,
    progress: ProgressCallback | None = None,
    poll_deadline: float | None = None,
    restart: bool = False,
    settings: BulkSettings | None = None,
) -> ExportResult:
    """Run (or resume) a Bulk Data export into ``out_dir`` and return what it wrote.

    ``server`` is an :class:`AsyncFhirClient` (its auth is used for the kick-off, the status and, where allowed,
    the files) or a base URL with ``auth``. ``progress`` gets short text lines (never resource content).
    Errors are the project's: UsageError (bad arguments, a directory holding something else), FhirServerError
    (the server or a file failed; ``ExportGone``, ``ExportStalled``), AuthError. See the module docstring.

    To export what a trial needs and read it::

        result = await run_export(client, level="patient", types=["Patient", "Condition", "Observation"],
                                  type_filters=["Observation?code=http://loinc.org|4548-4"], out_dir=tmp)
        data = LocalData([result.out_dir])          # reads Type.ndjson / Type.NNN.ndjson
        if not result.type_filter_applied: ...      # the server ignored the filters: filter locally
    """
    request = ExportRequest(level, group_id, tuple(types or ()), tuple(type_filters), since)
    allowed = parse_origins(allowed_file_origins)
    if not 1 <= concurrency <= 64:
        raise UsageError(f"concurrency must be between 1 and 64, got {concurrency}", field="--concurrency")
    if poll_deadline is not None and poll_deadline <= 0:
        raise UsageError(f"the poll deadline must be positive, got {poll_deadline:g}", field="--poll-deadline")
    settings = settings or BulkSettings()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output directory: {exc.strerror or exc}", source=str(out_dir)) from exc
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(server, str):
            client = await stack.enter_async_context(AsyncFhirClient(server, auth=auth, sleep=settings.sleep))
        elif auth is not None:
            raise UsageError("give the auth to the AsyncFhirClient, not to run_export")
        else:
            client = server
        job = _Export(client, request, out_dir, allowed, settings, progress or _quiet, poll_deadline,
                      concurrency=concurrency)
        return await job.run(restart=restart)
    raise AssertionError("unreachable")  # pragma: no cover  (mypy: async with may swallow exceptions)


def export(server: str, **kwargs: Any) -> ExportResult:
    """The synchronous face of :func:`run_export` (same keyword arguments), for scripts."""
    return asyncio.run(run_export(server, **kwargs))
