"""``sync`` from a ClinicalTrials.gov query: the API v2 parameters, and ``--since-last-run`` with a state file.

The query is the registry's own ``GET /studies`` parameters: ``--query query.locn=Boston`` (any ``query.*``,
``filter.*`` or ``postFilter.*`` parameter, repeatable), ``--filter-advanced EXPR`` and ``--status RECRUITING``
(``filter.overallStatus``, repeatable). With ``--since-last-run`` only the trials updated since the previous
successful run of the same query against the same server are fetched: ``filter.advanced`` gets
``AREA[LastUpdatePostDate]RANGE[<date>,MAX]`` (joined with AND to the user's own expression); the API has no
``filter.lastUpdatePostDate`` parameter of its own.

The state file (``--state FILE``, like ``screen --checkpoint FILE``: an explicit path, nothing hidden) is JSON::

    {"version": 1, "runs": {"<server> <query>": {"since": "2026-03-01", "trials": 12}}}

keyed by the server URL and the query (parameters sorted, the date filter left out). ``since`` is the UTC date the
last successful run started: the registry posts by date, so the day of the run is fetched again next time (a sync
is idempotent, so that costs reads only). A run with any failed trial does not move the date.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhir_adapter.errors import InputError, UsageError

STATE_VERSION = 1
QUERY_PREFIXES = ("query.", "filter.", "postFilter.")
_NOT_QUERY = {"filter.ids", "postFilter.ids"}
_PARAM = re.compile(r"^(query|filter|postFilter)\.[A-Za-z]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def registry_params(queries: list[str], filter_advanced: str | None, statuses: list[str]) -> dict[str, str]:
    """The ``GET /studies`` parameters of the options; UsageError naming a malformed ``--query``."""
    params: dict[str, str] = {}
    for raw in queries:
        name, sep, value = raw.partition("=")
        name = name.strip()
        if not sep or not _PARAM.match(name) or name in _NOT_QUERY or not value.strip():
            raise UsageError(f"--query must be NAME=VALUE with a query.*, filter.* or postFilter.* name, got {raw!r}")
        params[name] = value.strip()
    if filter_advanced:
        params["filter.advanced"] = filter_advanced.strip()
    if statuses:
        found = [s.strip().upper() for raw in statuses for s in raw.split(",") if s.strip()]
        bad = [s for s in found if not re.match(r"^[A-Z_]+$", s)]
        if bad:
            raise UsageError(f"--status takes registry statuses such as RECRUITING, got {bad[0]!r}")
        params["filter.overallStatus"] = ",".join(found)
    return params


def since_params(params: dict[str, str], since: str | None) -> dict[str, str]:
    """``params`` restricted to trials whose last update was posted on or after ``since`` (YYYY-MM-DD)."""
    if since is None:
        return dict(params)
    clause = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
    own = params.get("filter.advanced")
    return {**params, "filter.advanced": f"({own}) AND {clause}" if own else clause}


def state_key(server: str, params: dict[str, str]) -> str:
    return f"{server.rstrip('/')} " + "&".join(f"{k}={v}" for k, v in sorted(params.items()))


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def read_since(path: Path, key: str) -> str | None:
    """The date of the last successful run of ``key``; None when the file or the entry is absent."""
    state = _read(path)
    run = (state.get("runs") or {}).get(key) or {}
    since = run.get("since")
    if since is not None and not (isinstance(since, str) and _DATE.match(since)):
        raise InputError(f"the state file's 'since' for this query is not a date: {since!r}", source=str(path))
    return since


def write_since(path: Path, key: str, since: str, trials: int) -> None:
    """Record a successful run (atomically: a crash leaves the old file)."""
    state = _read(path)
    runs = state.setdefault("runs", {})
    runs[key] = {"since": since, "trials": trials}
    state["version"] = STATE_VERSION
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".sync-state-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2, sort_keys=True)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise InputError(f"cannot write the state file: {exc.strerror or exc}", source=str(path)) from exc


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"version": STATE_VERSION, "runs": {}}
    except OSError as exc:
        raise InputError(f"cannot read the state file: {exc.strerror or exc}", source=str(path)) from exc
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise InputError(f"the state file is not JSON ({exc})", source=str(path)) from exc
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or not isinstance(state.get("runs"), dict):
        raise InputError(f"not a sync state file (expected version {STATE_VERSION} and 'runs')", source=str(path))
    return state
