"""Bulk Data export, the decisions: pure functions the runner in :mod:`fhir_adapter.fhir.bulk` calls.

Nothing here does I/O. The kick-off request (path, parameters, ``_typeFilter`` escaping) and whether a kick-off
error means "``_typeFilter`` unsupported"; the wait before the next status request (``Retry-After`` in seconds
or as an HTTP date, else a growing delay, capped) and whether an error answer is transient; the manifest,
checked (resource types that are plain names, http(s) URLs without credentials); the local file names
(``Type.ndjson``, ``Type.002.ndjson``); whether the server's token may go to a URL; and what to do with the
state a previous run left in the output directory.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from fhir_adapter.errors import FhirServerError, UsageError
from fhir_adapter.fhir._core import FHIR_JSON, Call, origin
from fhir_adapter.fhir.bulk_download import NDJSON, ExportState, FileState, shown_url
from fhir_adapter.http import parse_retry_after

ExportLevel = Literal["system", "group", "patient"]
Origin = tuple[str, str, int | None]
Plan = Literal["fresh", "poll", "download", "complete"]

_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


# -- the request ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRequest:
    """What to export; checked on creation (a UsageError names the bad value)."""

    level: ExportLevel = "system"
    group_id: str | None = None
    types: tuple[str, ...] = ()
    type_filters: tuple[str, ...] = ()
    since: str | None = None

    def __post_init__(self) -> None:
        if self.level not in ("system", "group", "patient"):
            raise UsageError(f"export level must be system, group or patient, not {self.level!r}")
        if (self.level == "group") != (self.group_id is not None):
            raise UsageError("a group id is needed for a Group export, and only there")
        if self.group_id is not None and not _ID.fullmatch(self.group_id):
            raise UsageError(f"not a FHIR id: {self.group_id!r}", field="--group")
        for name in self.types:
            if not _TYPE.fullmatch(name):
                raise UsageError(f"not a resource type: {name!r}", field="--type")
        for text in self.type_filters:
            kind, _, query = text.partition("?")
            if not _TYPE.fullmatch(kind) or not query:
                raise UsageError(f"expected Type?search, e.g. Observation?code=4548-4, got {text!r}",
                                 field="--type-filter")
            if self.types and kind not in self.types:
                raise UsageError(f"{text!r} filters {kind}, which is not among the exported types "
                                 f"({', '.join(self.types)})", field="--type-filter")
        if self.since is not None and not _INSTANT.fullmatch(self.since):
            raise UsageError(f"expected a FHIR instant such as 2024-01-31T00:00:00Z, got {self.since!r}",
                             field="--since")

    @property
    def path(self) -> str:
        """The kick-off path relative to the base URL."""
        if self.level == "group":
            return f"Group/{self.group_id}/$export"
        return "Patient/$export" if self.level == "patient" else "$export"

    def params(self, *, with_type_filters: bool = True) -> tuple[tuple[str, str], ...]:
        """The kick-off query: ``_type`` comma-joined, one ``_typeFilter`` per filter."""
        items = [("_outputFormat", NDJSON)]
        if self.types:
            items.append(("_type", ",".join(self.types)))
        if self.since:
            items.append(("_since", self.since))
        if with_type_filters:
            items.extend(("_typeFilter", encode_type_filter(f)) for f in self.type_filters)
        return tuple(items)

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "group": self.group_id, "types": list(self.types),
                "typeFilters": list(self.type_filters), "since": self.since}


def encode_type_filter(text: str) -> str:
    """A ``_typeFilter`` value: commas inside the search escaped as ``%2C``.

    Servers may split ``_typeFilter`` on commas (the IG allows a comma-separated list); a comma of the search
    itself (``code=a,b``, OR) is then escaped once more so it survives the split and the search parser's decoding.
    """
    return text.replace(",", "%2C")


def kickoff_call(base_url: str, request: ExportRequest, *, with_type_filters: bool = True) -> Call:
    return Call(
        "GET", f"{base_url.rstrip('/')}/{request.path}", request.path,
        params=request.params(with_type_filters=with_type_filters),
        headers={"Accept": FHIR_JSON, "Prefer": "respond-async"},
    )


def type_filter_unsupported(status: int, outcome: dict[str, Any] | None) -> bool:
    """Whether a kick-off error says the server does not take ``_typeFilter`` (then retry without it).

    A 4xx (or 501) whose OperationOutcome names ``_typeFilter`` or says ``not-supported``. Not an auth
    failure, a missing operation (404/405) or a rate limit: those fail the same way without the filter.
    """
    if status in (401, 403, 404, 405, 406, 429) or not (400 <= status < 500 or status == 501):
        return False
    if outcome is None:
        return False
    issues = [i for i in outcome.get("issue") or [] if isinstance(i, dict)]
    if any(i.get("code") == "not-supported" for i in issues):
        return True
    return "typefilter" in json.dumps(issues, ensure_ascii=False).lower()


# -- polling --------------------------------------------------------------------------------------------------


def poll_delay(retry_after: str | None, attempt: int, *, base: float, cap: float, now: float | None = None) -> float:
    """Seconds before the next status request: the server's ``Retry-After`` (seconds or HTTP date) when it gave
    one, else ``base`` growing by half each time; never more than ``cap``."""
    server = parse_retry_after(retry_after, now)
    if server is not None:
        return min(max(server, 0.0), cap)
    return float(min(cap, base * 1.5 ** max(attempt, 0)))


def transient_outcome(outcome: dict[str, Any] | None) -> bool:
    """An error answer to a status request that does not mean the job failed (IG: issue code ``transient``)."""
    if outcome is None:
        return False
    issues = [i for i in outcome.get("issue") or [] if isinstance(i, dict)]
    return bool(issues) and all(i.get("code") == "transient" or i.get("severity") in ("information", "warning")
                                for i in issues) and any(i.get("code") == "transient" for i in issues)


def outcome_of(response: httpx.Response) -> dict[str, Any] | None:
    """The OperationOutcome of an answer, None when its body is something else."""
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome" else None


# -- the manifest ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestFile:
    type: str
    url: str
    count: int | None = None


@dataclass(frozen=True)
class Manifest:
    transaction_time: str
    request: str
    requires_access_token: bool
    output: tuple[ManifestFile, ...]
    error: tuple[ManifestFile, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)


def _manifest_files(items: Any, key: str, base: str, where: str) -> tuple[ManifestFile, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise FhirServerError(f"{where}: the manifest's {key} is not a list")
    files = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise FhirServerError(f"{where}: manifest {key}[{index}] has no url")
        kind = item.get("type", "OperationOutcome" if key == "error" else None)
        if not isinstance(kind, str) or not _TYPE.fullmatch(kind):
            raise FhirServerError(f"{where}: manifest {key}[{index}].type {kind!r} is not a resource type")
        url = urljoin(base, item["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FhirServerError(f"{where}: manifest {key}[{index}].url is not an http(s) URL")
        if "@" in parts.netloc:
            raise FhirServerError(f"{where}: manifest {key}[{index}].url carries credentials ({shown_url(url)})")
        count = item.get("count")
        files.append(ManifestFile(kind, url, count if isinstance(count, int) and count >= 0 else None))
    return tuple(files)


def parse_manifest(data: Any, status_url: str) -> Manifest:
    """The completed export's manifest; a FhirServerError naming the status URL when it is malformed.

    ``requiresAccessToken`` missing counts as true: the token still goes to trusted origins only.
    """
    where = f"GET {status_url}"
    if not isinstance(data, dict):
        raise FhirServerError(f"{where}: the manifest is not a JSON object")
    requires = data.get("requiresAccessToken", True)
    if not isinstance(requires, bool):
        raise FhirServerError(f"{where}: requiresAccessToken is {requires!r}, not true or false")
    return Manifest(
        transaction_time=str(data.get("transactionTime") or ""),
        request=str(data.get("request") or ""),
        requires_access_token=requires,
        output=_manifest_files(data.get("output"), "output", status_url, where),
        error=_manifest_files(data.get("error"), "error", status_url, where),
        raw=data,
    )


def local_names(files: Sequence[ManifestFile]) -> list[str]:
    """``Type.ndjson`` for a type's first file, ``Type.002.ndjson``, ``Type.003.ndjson`` ... for the next ones,
    in manifest order (types were checked to be plain names: no path can come from the server)."""
    seen: Counter[str] = Counter()
    names = []
    for file in files:
        seen[file.type] += 1
        number = seen[file.type]
        names.append(f"{file.type}.ndjson" if number == 1 else f"{file.type}.{number:03d}.ndjson")
    return names


def plan_files(manifest: Manifest) -> list[FileState]:
    """The state's file list: output files at the top of the directory, error files under ``errors/``."""
    outputs = [FileState(f.url, name, f.type, "output", f.count)
               for f, name in zip(manifest.output, local_names(manifest.output), strict=True)]
    errors = [FileState(f.url, f"errors/{name}", f.type, "error", f.count)
              for f, name in zip(manifest.error, local_names(manifest.error), strict=True)]
    return outputs + errors


# -- credentials ----------------------------------------------------------------------------------------------


def origin_text(value: Origin) -> str:
    scheme, host, port = value
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port == default else f":{port}")


def parse_origins(values: Sequence[str]) -> frozenset[Origin]:
    """``--bulk-file-origin`` values (``https://files.example.org[:port]``) as origins; UsageError otherwise."""
    found = set()
    for value in values:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"expected an origin such as https://files.example.org, got {value!r}",
                             field="--bulk-file-origin")
        if "@" in parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise UsageError(f"an origin is scheme://host[:port] only, got {shown_url(value)!r}",
                             field="--bulk-file-origin")
        found.add(origin(value))
    return frozenset(found)


def token_allowed(url: str, *, requires_access_token: bool, server: Origin, allowed: frozenset[Origin]) -> bool:
    """Whether the server's Authorization goes with a request for the file at ``url``.

    Never when the manifest says no token is needed (pre-signed URLs). When it says one is needed: only to the
    server's own origin or an allow-listed one; any other origin is a FhirServerError naming it, raised before
    anything is sent there.
    """
    if not requires_access_token:
        return False
    target = origin(url)
    if target == server or target in allowed:
        return True
    raise FhirServerError(
        f"the export manifest puts files on {origin_text(target)} and requires the access token for them, but "
        f"the token is only sent to {origin_text(server)}; add --bulk-file-origin {origin_text(target)} if you "
        "trust that origin (nothing was requested from it)", url=shown_url(url),
    )


def check_status_url(url: str, *, server: Origin, allowed: frozenset[Origin]) -> str:
    """The status URL, refused when it is on an origin the credentials must not go to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise FhirServerError(f"the kick-off answered an unusable status URL ({shown_url(url)})")
    target = origin(url)
    if target != server and target not in allowed:
        raise FhirServerError(
            f"the export status URL is on {origin_text(target)}, not the server's origin {origin_text(server)}: "
            "refusing to send the credentials there (--bulk-file-origin allows an origin)", url=shown_url(url),
        )
    return url


# -- resume ---------------------------------------------------------------------------------------------------


def resume_plan(
    state: ExportState | None, *, server: str, request: dict[str, Any], restart: bool,
    finished: Callable[[FileState], bool],
) -> tuple[Plan, str | None]:
    """What to do with the directory's previous state, and a line saying why (None: nothing to say).

    The state of another export (other server or request) is a UsageError unless ``restart``.
    """
    if state is None:
        return "fresh", None
    if restart:
        return "fresh", "starting a new export (--restart); the previous export's files are removed"
    if state.server != server or state.request != request:
        raise UsageError(
            f"the output directory holds another export ({state.request.get('level')} level from {state.server}): "
            "use another directory, or --restart to replace it"
        )
    if state.status == "cancelled":
        return "fresh", "the previous export was cancelled: starting a new one"
    if state.manifest is not None:
        left = [f for f in state.files if not finished(f)]
        if not left:
            return "complete", "already complete in this directory (--restart exports again)"
        return "download", f"resuming: {len(left)} of {len(state.files)} file(s) left to download"
    if state.status_url:
        return "poll", "resuming: polling the export job started before"
    return "fresh", None
