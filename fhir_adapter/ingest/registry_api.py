"""Live fetch of study records from the ClinicalTrials.gov API v2.

One id: ``GET /studies/{id}``. Several: ``GET /studies?filter.ids=A,B,...`` in batches of at most
100, following ``nextPageToken`` (stopping on an empty page too). A query (:func:`search_studies`):
``GET /studies?query.*=...&filter.*=...`` with pages of 1000, following ``nextPageToken``.
Transient failures are retried through :func:`fhir_adapter.http.send_with_retries`; ``on_retry`` hears of
each retry (the CLI says so on stderr) and ``progress`` of the studies fetched so far.
Each request is logged at DEBUG level.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from fhir_adapter.errors import InputError, NotFoundError, RegistryError
from fhir_adapter.http import USER_AGENT, OnRetry, RetryPolicy, send_with_retries
from fhir_adapter.ingest.ctgov_json import parse_study
from fhir_adapter.ingest.text import NCT_ID
from fhir_adapter.trial import TrialRecord

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
BATCH_SIZE = 100
SEARCH_PAGE_SIZE = 1000
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A page that keeps handing out tokens must not loop forever.
MAX_PAGES_PER_BATCH = 1000
log = logging.getLogger(__name__)


def normalize_ids(ids: Sequence[str]) -> list[str]:
    """Upper-cased, de-duplicated NCT ids in their given order; InputError naming the first bad one."""
    normalized: list[str] = []
    for raw in ids:
        nct_id = raw.strip().upper()
        if not NCT_ID.match(nct_id):
            raise InputError("not an NCT id (NCT followed by 8 digits)", source=repr(raw))
        if nct_id not in normalized:
            normalized.append(nct_id)
    return normalized


def fetch_trials(
    ids: Sequence[str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    client: httpx.Client | None = None,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
    sleep: Callable[[float], None] | None = None,
    on_retry: OnRetry | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """The raw API v2 study objects of ``ids``, in the order given.

    Raises InputError for a malformed id (before any request), NotFoundError for ids the registry
    does not know, RegistryError for other failures (status and URL in the message). ``on_retry`` is told
    of each retry before its wait; ``progress`` gets (studies fetched, ids asked) after each page.
    """
    nct_ids = normalize_ids(ids)
    if not nct_ids:
        return []
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})
    fetcher = _Fetcher(http, base_url.rstrip("/"), policy, sleep, on_retry)
    try:
        if len(nct_ids) == 1:
            return [fetcher.one(nct_ids[0])]
        studies: dict[str, dict[str, Any]] = {}
        for start in range(0, len(nct_ids), BATCH_SIZE):
            for page in fetcher.batch(nct_ids[start : start + BATCH_SIZE]):
                studies.update(page)
                if progress is not None:
                    progress(len(studies), len(nct_ids))
    finally:
        if own_client:
            http.close()
    missing = [nct_id for nct_id in nct_ids if nct_id not in studies]
    if missing:
        raise NotFoundError(f"not in the registry: {', '.join(missing)}", source=base_url)
    return [studies[nct_id] for nct_id in nct_ids]


def search_studies(
    params: Mapping[str, str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    client: httpx.Client | None = None,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
    sleep: Callable[[float], None] | None = None,
    on_retry: OnRetry | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every study matching ``params`` (``query.*``, ``filter.*``, ``postFilter.*``, ``sort``: the API v2
    ``GET /studies`` parameters), page by page (``pageSize`` 1000, following ``nextPageToken`` with the same
    parameters), each NCT id once, in the registry's order. ``progress`` gets the studies found after each page.
    Raises RegistryError (status and URL in the message)."""
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})
    fetcher = _Fetcher(http, base_url.rstrip("/"), policy, sleep, on_retry)
    found: dict[str, dict[str, Any]] = {}
    try:
        for page in fetcher.pages({**params, "pageSize": str(SEARCH_PAGE_SIZE)}):
            for study in page:
                nct_id = _nct_id_of(study)
                if nct_id is not None:
                    found.setdefault(nct_id, study)
            if progress is not None:
                progress(len(found))
    finally:
        if own_client:
            http.close()
    return list(found.values())


def records_from_studies(
    studies: Sequence[dict[str, Any]], source: str = "ClinicalTrials.gov API"
) -> list[TrialRecord]:
    """Fetched study objects -> TrialRecords (source names the study's API URL)."""
    return [parse_study(study, _study_source(study, source)) for study in studies]


def _study_source(study: dict[str, Any], default: str) -> str:
    nct_id = _nct_id_of(study)
    return f"{DEFAULT_BASE_URL}/studies/{nct_id}" if nct_id else default


def _nct_id_of(study: Any) -> str | None:
    try:
        value = study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return None
    return value.upper() if isinstance(value, str) else None


class _Fetcher:
    def __init__(
        self, client: httpx.Client, base_url: str, policy: RetryPolicy, sleep: Callable[[float], None] | None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.policy = policy
        self.sleep = sleep or time.sleep
        self.on_retry = on_retry

    def one(self, nct_id: str) -> dict[str, Any]:
        url = f"{self.base_url}/studies/{nct_id}"
        response = self._get(url, {})
        if response.status_code == 404:
            raise NotFoundError(f"{nct_id} not found in the registry", source=url)
        study = self._json(response)
        if not isinstance(study, dict) or "protocolSection" not in study:
            raise RegistryError("answer is not a study record", source=url)
        return study

    def batch(self, nct_ids: Sequence[str]) -> Iterator[dict[str, dict[str, Any]]]:
        """The studies of each page of one batch, by NCT id."""
        for page in self.pages({"filter.ids": ",".join(nct_ids), "pageSize": str(len(nct_ids))}):
            found: dict[str, dict[str, Any]] = {}
            for study in page:
                nct_id = _nct_id_of(study)
                if nct_id is not None:
                    found[nct_id] = study
            yield found

    def pages(self, params: dict[str, str]) -> Iterator[list[Any]]:
        url = f"{self.base_url}/studies"
        token: str | None = None
        for _ in range(MAX_PAGES_PER_BATCH):
            page_params = {**params, **({"pageToken": token} if token else {})}
            response = self._get(url, page_params)
            body = self._json(response)
            studies = body.get("studies") if isinstance(body, dict) else None
            if not isinstance(studies, list):
                raise RegistryError("answer has no 'studies' list", source=str(response.request.url))
            yield studies
            token = body.get("nextPageToken")
            if not studies or not isinstance(token, str) or not token:
                return
        raise RegistryError(f"more than {MAX_PAGES_PER_BATCH} pages, stopped", source=url)

    def _get(self, url: str, params: dict[str, str]) -> httpx.Response:
        request = self.client.build_request("GET", url, params=params, headers={"Accept": "application/json"})
        started = time.monotonic()
        try:
            response = send_with_retries(
                self.client, request, self.policy, idempotent=True, sleep=self.sleep, on_retry=self.on_retry
            )
        except httpx.HTTPError as exc:
            raise RegistryError(f"request failed: {type(exc).__name__}: {exc}", source=str(request.url)) from exc
        log.debug("GET %s -> %s (%.0f ms)", request.url, response.status_code, (time.monotonic() - started) * 1000)
        if response.status_code >= 400 and response.status_code != 404:
            raise RegistryError(f"HTTP {response.status_code} {response.reason_phrase}", source=str(request.url))
        if response.status_code == 404 and "/studies/" not in url:
            raise RegistryError("HTTP 404 Not Found", source=str(request.url))
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            message = f"answer is not JSON (HTTP {response.status_code})"
            raise RegistryError(message, source=str(response.request.url)) from exc
