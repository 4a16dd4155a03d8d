"""``push --with-definitions``: the project's StructureDefinitions and CodeSystems on the server, once per run.

The resources are :func:`fhir_adapter.mapping.definitions.definition_resources` for the run's FHIR version (the same
as ``mappings/definitions/R4|R5``). Each carries the content-hash identifier of
:mod:`fhir_adapter.fhir.push_sync` and is looked up by its canonical URL first (``StructureDefinition?url=``; a read
at its id where the server declares no ``url`` search): unchanged ones are not sent, the rest go in one transaction
(batch without one) as conditional updates on the URL (``PUT StructureDefinition?url=...``) where the server
declares conditional update with ``url`` search, else as a PUT at the id found or at the definition's own id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir.push import PushClient
from fhir_adapter.fhir.push_sync import stored_hash, with_content_hash
from fhir_adapter.mapping.definitions import definition_resources


def _stored(client: PushClient, resource: dict[str, Any], by_url: bool) -> dict[str, Any] | None:
    resource_type = str(resource["resourceType"])
    if by_url:
        found = [r for r in client.search(resource_type, {"url": str(resource["url"])})
                 if r.get("resourceType") == resource_type]
        return found[0] if found else None
    try:
        return client.read(resource_type, str(resource["id"]))
    except FhirServerError as exc:
        if exc.status_code in (404, 410):
            return None
        raise


def definition_entries(client: PushClient, version: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The entries to write (reads only) and the plan's counts (create / update / unchanged)."""
    caps = client.capabilities()
    entries: list[dict[str, Any]] = []
    counts = {"create": 0, "update": 0, "unchanged": 0}
    for raw in definition_resources(version):
        resource = with_content_hash(raw)
        resource_type = str(resource["resourceType"])
        by_url = caps.supports_search(resource_type, "url")
        stored = _stored(client, resource, by_url)
        if stored is not None and stored_hash(stored) == stored_hash(resource):
            counts["unchanged"] += 1
            continue
        counts["create" if stored is None else "update"] += 1
        if by_url and caps.conditional_update(resource_type):
            url = f"{resource_type}?url={quote(str(resource['url']), safe=':/')}"
            resource = {k: v for k, v in resource.items() if k != "id"}
            if stored is not None:
                resource["id"] = stored["id"]
        else:
            resource = {**resource, "id": str(stored["id"] if stored is not None else resource["id"])}
            url = f"{resource_type}/{resource['id']}"
        entries.append({"resource": resource, "request": {"method": "PUT", "url": url}})
    return entries, counts


def push_definitions(client: PushClient, version: str, *, dry_run: bool = False) -> dict[str, int]:
    """Write the definitions that are missing or changed; the counts (created / updated / unchanged, or in a dry
    run to create / to update / unchanged). Raises FhirServerError naming the server's reason."""
    entries, counts = definition_entries(client, version)
    if dry_run:
        return {"to create": counts["create"], "to update": counts["update"], "unchanged": counts["unchanged"]}
    done = {"created": 0, "updated": 0, "unchanged": counts["unchanged"]}
    if not entries:
        return done
    caps = client.capabilities()
    kind = "transaction" if caps.supports_transaction or not caps.supports_batch else "batch"
    bundle = {"resourceType": "Bundle", "type": kind, "entry": entries}
    try:
        answer = client.transaction(bundle) if kind == "transaction" else client.batch(bundle)
    except FhirServerError as exc:
        raise FhirServerError(f"writing {len(entries)} definitions failed: {exc.message}",
                              status_code=exc.status_code, outcome=exc.outcome) from exc
    for item in answer.get("entry") or []:
        status = str((item.get("response") or {}).get("status") or "")[:3]
        if status == "201":
            done["created"] += 1
        elif status.startswith("2"):
            done["updated"] += 1
        else:
            raise FhirServerError(f"a definition was refused ({status}): {(item.get('response') or {}).get('outcome')}")
    return done
