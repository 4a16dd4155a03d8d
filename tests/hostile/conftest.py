"""A hostile FHIR server on loopback, scriptable per request, for the reliability scenarios.

``hostile`` gives two origins (two ports of 127.0.0.1, one shared script and request log): ``hostile.base`` is
the FHIR base the CLI is pointed at, ``hostile.other`` a second origin for foreign ``next`` links and redirects.
By default the server is a small but honest FHIR server: a CapabilityStatement (transaction, identifier search,
conditional create), searches by identifier from its store, transactions committed to the store, Patient searches
(``_id``, ``_revinclude``) over the patients loaded with :meth:`Hostile.load`. ``hostile.on(METHOD, REGEX,
behaviour)`` replaces that for matching requests; the behaviours below are the hostile ones (drip-feed, endless
body, gzip bomb, reset, HTML 200, an OperationOutcome echoing the Authorization header, a 503 storm, ``next``
loops and foreign ``next`` links, redirects).

Bounded: every behaviour that streams stops after :data:`MAX_STREAM_SECONDS` or when the fixture ends, the server
threads are daemons, and the CLI runs in a subprocess with a timeout (:func:`run_cli`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_STREAM_SECONDS = 20.0
"""A streaming behaviour never lasts longer than this, whatever the client does."""
CLI_TIMEOUT = 90.0
"""A scenario's CLI run is killed after this (a hang is a failure, never a stuck test session)."""
CANARY_TOKEN = "tok-canary-7Hq2xV9pLm"
CANARY_PASSWORD = "pw-canary-Zr84kQ1sWn"
SYS = "http://fhir-adapter.org/fhir/identifier"
FHIR_JSON = "application/fhir+json"


@dataclass
class Seen:
    """One request the server received."""

    port: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[["Handler", Seen], None]


@dataclass
class Hostile:
    base: str
    other: str
    ports: tuple[int, int]
    stop: threading.Event
    routes: list[tuple[str, re.Pattern[str], Behaviour]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    store: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    patients: list[dict[str, Any]] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    batch: bool = False

    def on(self, method: str, pattern: str, behaviour: Behaviour) -> None:
        """Answer requests whose method matches and whose path+query matches ``pattern`` (search) with
        ``behaviour``; the latest rule wins."""
        self.routes.insert(0, (method.upper(), re.compile(pattern), behaviour))

    def load(self, resources: list[dict[str, Any]]) -> None:
        """Patients and their data for the Patient searches."""
        self.patients.extend(resources)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [s for s in self.seen if (method is None or s.method == method) and (path is None or path in s.path)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        hostile: Hostile = self.server.hostile
        seen = Seen(self.server.server_address[1], self.command, self.path, dict(self.headers.items()), body)
        hostile.seen.append(seen)
        for method, pattern, behaviour in hostile.routes:
            if method == self.command and pattern.search(self.path):
                behaviour(self, seen)
                return
        honest(self, seen)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    # -- writing ------------------------------------------------------------------------------------------------
    def send(self, status: int, body: bytes, content_type: str = FHIR_JSON, headers: dict[str, str] | None = None
             ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(data).encode(), headers=headers)

    @property
    def hostile(self) -> Hostile:
        return self.server.hostile  # type: ignore[no-any-return]


# -- the honest server --------------------------------------------------------------------------------------------

def capability_statement(batch: bool) -> dict[str, Any]:
    types = ["ResearchStudy", "Organization", "Location", "Practitioner", "PractitionerRole", "PlanDefinition",
             "ActivityDefinition", "EvidenceVariable", "Group", "Patient", "Condition", "Observation",
             "MedicationRequest", "MedicationStatement", "Procedure", "AllergyIntolerance"]
    interactions = [{"code": "transaction"}] + ([{"code": "batch"}] if batch else [])
    return {
        "resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "interaction": interactions, "resource": [
            {"type": t, "conditionalCreate": True, "conditionalUpdate": False,
             "interaction": [{"code": c} for c in ("read", "create", "update", "search-type")],
             "searchParam": [{"name": p, "type": "token"} for p in ("identifier", "patient", "subject", "_id")],
             "searchRevInclude": [f"{r}:patient" for r in types] + [f"{r}:subject" for r in types]}
            for t in types]}],
    }


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
                              "entry": [{"resource": r} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def commit(hostile: Hostile, body: bytes) -> dict[str, Any]:
    """Apply a transaction to the store (conditional create matches by identifier; PUT writes at its id) and
    build the transaction-response."""
    entries = []
    for entry in json.loads(body).get("entry") or []:
        resource = dict(entry["resource"])
        rtype = resource["resourceType"]
        value = next((i["value"] for i in resource.get("identifier") or [] if i.get("system") == SYS), None)
        key = (rtype, value or resource.get("id") or f"anon-{next(hostile.ids)}")
        before = hostile.store.get(key)
        version = str(int(before["meta"]["versionId"]) + 1) if before else "1"
        request = entry.get("request") or {}
        if before is not None and request.get("method") == "POST":
            entries.append({"response": {"status": "200 OK", "location": f"{rtype}/{before['id']}/_history/"
                                         f"{before['meta']['versionId']}"}})
            continue
        resource["id"] = before["id"] if before else (resource.get("id") or f"h{next(hostile.ids)}")
        resource["meta"] = {"versionId": version}
        hostile.store[key] = resource
        status = "201 Created" if before is None else "200 OK"
        entries.append({"response": {"status": status, "location": f"{rtype}/{resource['id']}/_history/{version}"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def _about(resource: dict[str, Any], patient_id: str) -> bool:
    for name in ("subject", "patient"):
        ref = (resource.get(name) or {}).get("reference")
        if ref == f"Patient/{patient_id}":
            return True
    return False


def honest(handler: Handler, seen: Seen) -> None:
    hostile = handler.hostile
    parts = urlsplit(seen.path)
    path = parts.path.removeprefix("/fhir").strip("/")
    query = parse_qsl(parts.query)
    if seen.method == "GET" and path == "metadata":
        handler.json(200, capability_statement(hostile.batch))
    elif seen.method == "POST" and path == "":
        handler.json(200, commit(hostile, seen.body))
    elif seen.method == "GET" and "/" not in path:
        handler.json(200, searchset(_search(hostile, path, dict(query), query)))
    elif seen.method == "GET":
        rtype, rid = path.split("/", 1)
        found = [r for r in hostile.store.values() if r["resourceType"] == rtype and r.get("id") == rid]
        if found:
            handler.json(200, found[0])
        else:
            handler.json(404, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found", "diagnostics": f"{rtype}/{rid} is not known"}]})
    else:
        handler.json(405, {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "not-supported", "diagnostics": "not supported"}]})


def _search(hostile: Hostile, rtype: str, params: dict[str, str], query: list[tuple[str, str]]
            ) -> list[dict[str, Any]]:
    if "identifier" in params:
        value = params["identifier"].split("|", 1)[-1].replace("\\", "")
        found = hostile.store.get((rtype, value))
        return [found] if found else []
    if rtype == "Patient":
        patients = [r for r in hostile.patients if r["resourceType"] == "Patient"]
        if "_id" in params:
            patients = [p for p in patients if p["id"] == params["_id"]]
        out = list(patients)
        if any(name == "_revinclude" for name, _ in query):
            for patient in patients:
                out += [r for r in hostile.patients if _about(r, patient["id"])]
        return out
    pid = (params.get("patient") or params.get("subject") or "").removeprefix("Patient/")
    return [r for r in hostile.patients if r["resourceType"] == rtype and _about(r, pid)]


# -- hostile behaviours -------------------------------------------------------------------------------------------

def answer_json(status: int, data: Any, headers: dict[str, str] | None = None) -> Behaviour:
    return lambda handler, seen: handler.json(status, data, headers)


def html_200(handler: Handler, seen: Seen) -> None:
    handler.send(200, b"<html><body><h1>Welcome to the portal</h1></body></html>", "text/html")


def drip(interval: float = 0.2) -> Behaviour:
    """A 200 whose body comes one byte per ``interval``: the read timeout never fires, the answer never ends."""
    def behaviour(handler: Handler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", FHIR_JSON)
        handler.send_header("Content-Length", "100000000")
        handler.end_headers()
        _stream(handler, lambda: b" ", interval)
    return behaviour


def endless(handler: Handler, seen: Seen) -> None:
    """A 200 that sends megabytes of JSON-ish bytes as fast as it can, without end."""
    handler.send_response(200)
    handler.send_header("Content-Type", FHIR_JSON)
    handler.end_headers()  # no length, no chunking: the body ends when the connection does
    handler.close_connection = True
    chunk = b"[" * 4096 + b" " * (1 << 20)
    _stream(handler, lambda: chunk, 0.0)


def gzip_bomb(handler: Handler, seen: Seen) -> None:
    """600 MiB of zeros in about 600 KB of gzip."""
    body = _bomb()
    handler.send(200, body, headers={"Content-Encoding": "gzip"})


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    if not _BOMB:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
        zeros = bytes(1 << 20)
        _BOMB.append(b"".join([*(compressor.compress(zeros) for _ in range(600)), compressor.flush()]))
    return _BOMB[0]


def _stream(handler: Handler, piece: Callable[[], bytes], interval: float) -> None:
    ends = time.monotonic() + MAX_STREAM_SECONDS
    stop: threading.Event = handler.hostile.stop
    try:
        while time.monotonic() < ends and not stop.is_set():
            handler.wfile.write(piece())
            handler.wfile.flush()
            if interval:
                time.sleep(interval)
    except OSError:
        return  # the client gave up: what it should do
    finally:
        handler.close_connection = True


def reset(*, commit_first: bool) -> Behaviour:
    """Read the request, optionally commit the transaction, then reset the connection (RST, no answer)."""
    def behaviour(handler: Handler, seen: Seen) -> None:
        if commit_first:
            commit(handler.hostile, seen.body)
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.connection.close()
    return behaviour


def echo_authorization(status: int = 422) -> Behaviour:
    """An OperationOutcome that repeats the request's Authorization header in its diagnostics."""
    def behaviour(handler: Handler, seen: Seen) -> None:
        header = seen.headers.get("Authorization", "(none)")
        handler.json(status, {"resourceType": "OperationOutcome", "issue": [{
            "severity": "error", "code": "security",
            "diagnostics": f"rejected; request had Authorization: {header} and header dump {seen.headers}"}]})
    return behaviour


def storm(status: int = 503) -> Behaviour:
    """Always ``status`` with ``Retry-After: 0`` (retries come at once: the storm is short in wall time)."""
    return lambda handler, seen: handler.json(status, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "transient", "diagnostics": "try later"}]}, {"Retry-After": "0"})


def next_to(url: Callable[[Hostile], str], resources: list[dict[str, Any]] | None = None) -> Behaviour:
    """A searchset page whose ``next`` link is ``url(hostile)`` (the same page: a loop; another origin: foreign)."""
    return lambda handler, seen: handler.json(200, searchset(resources or [], url(handler.hostile)))


def redirect(url: Callable[[Hostile], str], status: int = 307) -> Behaviour:
    def behaviour(handler: Handler, seen: Seen) -> None:
        handler.send(status, b"", "text/plain", {"Location": url(handler.hostile)})
    return behaviour


# -- fixtures -----------------------------------------------------------------------------------------------------

@pytest.fixture
def hostile() -> Iterator[Hostile]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    ports = (servers[0].server_address[1], servers[1].server_address[1])
    state = Hostile(f"http://127.0.0.1:{ports[0]}/fhir", f"http://127.0.0.1:{ports[1]}/fhir", ports,
                    threading.Event())
    threads = []
    for server in servers:
        server.daemon_threads = True
        server.hostile = state  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        threads.append(thread)
    try:
        yield state
    finally:
        state.stop.set()
        for server in servers:
            server.shutdown()
            server.server_close()


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    files: dict[str, str]

    def text(self) -> str:
        """Everything the run printed or wrote, for the canary scan."""
        return "\n".join([self.out, self.err, *self.files.values()])


RUNS: list[Run] = []
"""Every scenario run of the session (the canary scan reads them all)."""


def run_cli(args: list[str], tmp_path: Path, *, env: dict[str, str] | None = None,
            timeout: float = CLI_TIMEOUT) -> Run:
    """The real command line in a subprocess (bounded by ``timeout``), with the canary secrets in its environment;
    the files it wrote under ``tmp_path/out`` are read back for the scan."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_ADAPTER_")}
    environment.update({"CANARY_TOKEN": CANARY_TOKEN, "CANARY_PASSWORD": CANARY_PASSWORD, "NO_COLOR": "1",
                        "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "COLUMNS": "200", **(env or {})})
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "fhir_adapter", *args], capture_output=True, text=True,
                          timeout=timeout, env=environment, cwd=tmp_path)
    outputs = tmp_path / "out"
    files = {str(p): p.read_text(errors="replace") for p in sorted(outputs.rglob("*")) if p.is_file()} if (
        outputs.is_dir()) else {}
    run = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started, files)
    RUNS.append(run)
    return run


BEARER = ["--auth", "bearer", "--token-env", "CANARY_TOKEN"]
BASIC = ["--auth", "basic", "--username", "canary-user", "--password-env", "CANARY_PASSWORD"]
