"""Write modes of ``push``: create, update, sync; content hashes; what exists on the server already.

- ``create``: every resource a conditional create (``ifNoneExist``) or a PUT at its stable id: an
  existing resource is never changed.
- ``update``: every resource is looked up (search by identifier, or read at its stable id for
  types without identifier search); absent ones are created as in create mode; present ones are
  written: ``PUT Type?identifier=system|value`` (conditional update) where the CapabilityStatement
  declares ``conditionalUpdate``, else PUT at the id found.
- ``sync`` (the default): like update, but a resource whose stored content hash equals the new
  one is not sent at all ("unchanged"), and references to it point at the stored id.

The content hash: every pushed resource carries the identifier
``{"system": CONTENT_HASH_SYSTEM, "value": "sha256:<32 hex>"}``, the SHA-256 of its mapped content
(sorted-key JSON without ``id``, ``meta``, ``text`` and the hash identifier itself; references as
the Bundle's ``urn:uuid`` fullUrls, which are deterministic). It is an identifier, not a
``meta.tag``, because servers carry tags forward across updates. A shared Organization, Location or
Practitioner maps to the same content from every trial, so it is written only when it changes.

Planning is pure (:func:`plan_writes`); the only I/O is :func:`lookup_existing` (reads).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.fhir.search import escape_search_value
from fhir_adapter.mapping.canonical import PROJECT_BASE

WriteMode = Literal["create", "update", "sync"]
Action = Literal["create", "update", "unchanged"]
WRITE_MODES: tuple[WriteMode, ...] = ("create", "update", "sync")
CONTENT_HASH_SYSTEM = f"{PROJECT_BASE}/content-hash"
_NOT_HASHED = ("id", "meta", "text")


class ReadClient(Protocol):
    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...
    def search(self, resource_type: str, params: Any = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Stored:
    """What the server holds for one business identifier."""

    server_id: str
    version: str | None
    content_hash: str | None


@dataclass(frozen=True)
class PlannedWrite:
    index: int
    resource_type: str
    identifier: str
    action: Action
    stored: Stored | None = None


def content_hash(resource: dict[str, Any]) -> str:
    body = {k: v for k, v in resource.items() if k not in _NOT_HASHED}
    body["identifier"] = [i for i in resource.get("identifier") or [] if i.get("system") != CONTENT_HASH_SYSTEM]
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:32]


def with_content_hash(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with its content-hash identifier (replacing an older one) as the last identifier."""
    idents = [i for i in resource.get("identifier") or [] if i.get("system") != CONTENT_HASH_SYSTEM]
    resource = {**resource, "identifier": idents}
    resource["identifier"] = [*idents, {"system": CONTENT_HASH_SYSTEM, "value": content_hash(resource)}]
    return resource


def stored_hash(resource: dict[str, Any]) -> str | None:
    for ident in resource.get("identifier") or []:
        if ident.get("system") == CONTENT_HASH_SYSTEM and ident.get("value"):
            return str(ident["value"])
    return None


def _stored(resource: dict[str, Any]) -> Stored:
    version = (resource.get("meta") or {}).get("versionId")
    return Stored(str(resource["id"]), str(version) if version is not None else None, stored_hash(resource))


def held(client: ReadClient, resource_type: str, system: str, value: str, stable: str | None) -> list[dict[str, Any]]:
    """What the server holds under one business identifier: the resource at its stable id when one is given (none
    when the server has no such id), else what a search by identifier returns."""
    if stable is not None:
        try:
            return [client.read(resource_type, stable)]
        except FhirServerError as exc:
            if exc.status_code not in (404, 410):
                raise
            return []
    token = f"{escape_search_value(system)}|{escape_search_value(value)}"
    return client.search(resource_type, {"identifier": token})


def lookup_existing(
    client: ReadClient, keys: list[tuple[str, str, str, str | None]]
) -> dict[tuple[str, str], Stored]:
    """What the server holds per ``(type, value)``: ``keys`` are ``(type, system, value, stable_id)``;
    searched by identifier, or read at the stable id when one is given (types without identifier
    search). Two matches for one identifier is an error (the server holds duplicates: fix it first)."""
    found: dict[tuple[str, str], Stored] = {}
    for resource_type, system, value, stable in keys:
        matches = held(client, resource_type, system, value, stable)
        if len(matches) > 1:
            raise FhirServerError(
                f"{len(matches)} {resource_type} resources carry the identifier {system}|{value}; "
                "a sync needs one: remove the duplicates first"
            )
        if matches:
            found[(resource_type, value)] = _stored(matches[0])
    return found


def plan_action(mode: WriteMode, new_hash: str, stored: Stored | None) -> Action:
    """create when absent; unchanged (create mode: always when present; sync: same hash); else update."""
    if stored is None:
        return "create"
    if mode == "create" or (mode == "sync" and stored.content_hash == new_hash):
        return "unchanged"
    return "update"


def plan_writes(
    prepared: dict[str, Any],
    mode: WriteMode,
    caps: Capabilities,
    existing: dict[tuple[str, str], Stored] | None,
    identifier_of: Any,
) -> tuple[dict[str, Any], list[PlannedWrite]]:
    """The Bundle to send for ``mode`` and the plan per entry of ``prepared`` (the create-mode
    Bundle, content hashes included). ``existing`` (from :func:`lookup_existing`) is None in create
    mode: nothing was looked up, every entry is sent as prepared and its answer tells the outcome."""
    from fhir_adapter.fhir.push import rewrite_references

    sent = copy.deepcopy(prepared)
    plan: list[PlannedWrite] = []
    keep: list[dict[str, Any]] = []
    rewrites: dict[str, str] = {}
    for index, entry in enumerate(sent.get("entry") or []):
        resource = entry["resource"]
        resource_type = str(resource["resourceType"])
        system, value = identifier_of(entry)
        label = value if not system else f"{system}|{value}"
        stored = existing.get((resource_type, value)) if existing is not None else None
        # the hash the resource carries: computed before any reference was rewritten to a server id
        new_hash = stored_hash(resource) or content_hash(resource)
        action: Action = plan_action(mode, new_hash, stored) if existing is not None else "create"
        plan.append(PlannedWrite(index, resource_type, label, action, stored))
        if action == "unchanged" and stored is not None:
            if entry.get("fullUrl"):
                rewrites[str(entry["fullUrl"])] = f"{resource_type}/{stored.server_id}"
            continue
        request = entry.get("request") or {}
        if action == "update" and stored is not None and request.get("method") == "POST":
            if caps.conditional_update(resource_type):  # PUT Type?identifier=system|value
                entry["request"] = {"method": "PUT", "url": f"{resource_type}?{request['ifNoneExist']}"}
            else:  # read-then-PUT: at the id the lookup found
                resource["id"] = stored.server_id
                entry["request"] = {"method": "PUT", "url": f"{resource_type}/{stored.server_id}"}
                if entry.get("fullUrl"):
                    rewrites[str(entry["fullUrl"])] = f"{resource_type}/{stored.server_id}"
        keep.append(entry)
    for entry in keep:
        entry["resource"] = rewrite_references(entry["resource"], rewrites)
    sent["entry"] = keep
    return sent, plan
