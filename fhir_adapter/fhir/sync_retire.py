"""Retiring what a trial no longer has, without leaving a reference dangling.

**Which resources a trial had.** A trial pushed from its record (``push``/``sync`` in update and sync mode) carries
one more resource: a ``List`` with the identifier ``<trial key>-members`` whose entries reference every other
resource of the trial (``item.reference``, ``item.type`` and ``item.identifier``). Its content hash changes exactly
when the trial's set of resources changes, so an unchanged trial costs one read of its List and nothing else. A
converted Bundle file is pushed as it is, without a List: nothing is ever retired for it.

**Which of them to retire.** The members of the stored List that the new Bundle no longer has (by type and business
identifier) are the candidates. A candidate is kept when any resource on the server other than this trial's own
references it: another trial's member List (``List?item=Type/id``), or a resource of a type that can point at it
(``ResearchStudy?site=``, ``PractitionerRole?location=``, ...). A search is used where the CapabilityStatement
declares the parameter; otherwise every resource of the referring type is read and its references compared (a
server such as sekmet declares no ResearchStudy or List search).

**How.** Retired resources are deleted (``DELETE Type/id`` in one batch, referring resources first): a shared
Organization, Location or Practitioner is keyed by who it is, so a later trial naming it again recreates it with
the same identifier; a trial-scoped resource (site study, PractitionerRole, PlanDefinition, Group, ...) means
nothing without its trial. A status change (``Location.status = inactive``) would leave resources nobody uses in
every search, and one resource per key would no longer hold. The server keeps the deleted versions in its history.
A DELETE the server refuses (HAPI's referential integrity: something we did not see refers to it) is reported
``kept`` with the server's reason, not as a failure.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir._core import render_outcome
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.fhir.push import Outcome, PushClient, ResourceOutcome, choose_strategy, entry_identifier
from fhir_adapter.fhir.push_sync import held
from fhir_adapter.fhir.references import local_reference
from fhir_adapter.mapping.canonical import IDENTIFIER_SYSTEM
from fhir_adapter.mapping.identity import full_url, if_none_exist, stable_id

MEMBERS_SUFFIX = "-members"
MEMBERS_TITLE = "fhir-adapter: the resources of trial {key}"
RetireAction = Literal["retire", "keep"]

REFERRERS: dict[str, tuple[tuple[str, str], ...]] = {
    "Location": (("ResearchStudy", "site"), ("PractitionerRole", "location")),
    "Organization": (("ResearchStudy", "sponsor"), ("PractitionerRole", "organization"), ("Location", "organization")),
    "Practitioner": (("PractitionerRole", "practitioner"), ("ResearchStudy", "principalinvestigator")),
    "PractitionerRole": (("ResearchStudy", "principalinvestigator"),),
    "PlanDefinition": (("ResearchStudy", "protocol"),),
    "ResearchStudy": (("ResearchStudy", "partof"),),
}
"""Per target type, the (referring type, search parameter) pairs the mapping can produce; ``List?item`` for all."""

_DELETE_ORDER = ("ResearchStudy", "EvidenceReport", "DiagnosticReport", "EvidenceVariable", "PractitionerRole",
                 "PlanDefinition", "ActivityDefinition", "Group", "Practitioner", "Location", "Organization")


@dataclass(frozen=True)
class Member:
    """One resource a trial's stored member List names."""

    resource_type: str
    value: str
    reference: str | None
    """``Type/id`` on the server (None when the List holds no resolvable reference)."""


@dataclass(frozen=True)
class StoredMembers:
    list_reference: str
    members: tuple[Member, ...]


@dataclass(frozen=True)
class RetirePlan:
    resource_type: str
    identifier: str
    reference: str
    action: RetireAction
    reason: str


# -- the member List -------------------------------------------------------------------------


def trial_entry(bundle: dict[str, Any]) -> dict[str, Any] | None:
    """The trial's own ResearchStudy entry (the one that is not ``partOf`` another)."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "ResearchStudy" and not resource.get("partOf") and entry_identifier(entry):
            return dict(entry)
    return None


def members_value(bundle: dict[str, Any]) -> str | None:
    entry = trial_entry(bundle)
    ident = entry_identifier(entry) if entry is not None else None
    return f"{ident[1]}{MEMBERS_SUFFIX}" if ident is not None else None


def is_member_list(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "List" and any(
        i.get("system") == IDENTIFIER_SYSTEM and str(i.get("value", "")).endswith(MEMBERS_SUFFIX)
        for i in resource.get("identifier") or []
    )


def with_member_list(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle plus (or with a fresh) member List naming every other entry; unchanged without a trial study."""
    value = members_value(bundle)
    if value is None:
        return bundle
    entries = [e for e in bundle.get("entry") or [] if not is_member_list(e.get("resource") or {})]
    items = []
    for entry in entries:
        ident = entry_identifier(entry)
        resource_type = str((entry.get("resource") or {}).get("resourceType"))
        if ident is None or not entry.get("fullUrl"):
            continue
        item: dict[str, Any] = {"reference": str(entry["fullUrl"]), "type": resource_type,
                                "identifier": {"system": ident[0] or IDENTIFIER_SYSTEM, "value": ident[1]}}
        items.append({"item": item})
    resource = {
        "resourceType": "List",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": value}],
        "status": "current",
        "mode": "snapshot",
        "title": MEMBERS_TITLE.format(key=value.removesuffix(MEMBERS_SUFFIX)),
        "entry": items,
    }
    member_entry = {"fullUrl": full_url("List", value), "resource": resource,
                    "request": {"method": "POST", "url": "List", "ifNoneExist": if_none_exist(value)}}
    return {**copy.copy(bundle), "entry": [*entries, member_entry]}


def _members(resource: dict[str, Any]) -> tuple[Member, ...]:
    found = []
    for entry in resource.get("entry") or []:
        item = entry.get("item") or {}
        ident = item.get("identifier") or {}
        reference = local_reference(item.get("reference"))
        resource_type = str(item.get("type") or (reference or "").split("/", 1)[0])
        if ident.get("value") and resource_type:
            found.append(Member(resource_type, str(ident["value"]), reference))
    return tuple(found)


def stored_members(client: PushClient, caps: Capabilities, bundle: dict[str, Any]) -> StoredMembers | None:
    """The trial's member List as the server holds it (reads only); None when there is none."""
    value = members_value(bundle)
    if value is None:
        return None
    stable = stable_id("List", value) if choose_strategy("List", caps).strategy == "put" else None
    found = [r for r in held(client, "List", IDENTIFIER_SYSTEM, value, stable) if r.get("resourceType") == "List"]
    if not found:
        return None
    return StoredMembers(f"List/{found[0]['id']}", _members(found[0]))


# -- who still refers to a candidate ------------------------------------------------------------


def _references(resource: Any) -> set[str]:
    blob = json.dumps(resource)
    return {ref for raw in re.findall(r'"reference":\s*"([^"]+)"', blob) if (ref := local_reference(raw))}


def referrers(
    client: PushClient, caps: Capabilities, targets: list[str], exclude: set[str]
) -> dict[str, str]:
    """For each ``Type/id`` in ``targets`` still referenced from outside ``exclude``, one referrer (``Type/id``).

    Searches where the server declares the parameter; reads every resource of the referring type otherwise.
    """
    found: dict[str, str] = {}
    scanned: dict[str, list[dict[str, Any]]] = {}
    for target in targets:
        target_type = target.split("/", 1)[0]
        for source, param in (("List", "item"), *REFERRERS.get(target_type, ())):
            if caps.supports_search(source, param):
                hits = [r for r in client.search(source, {param: target}) if r.get("resourceType") == source]
            else:
                if source not in scanned:
                    scanned[source] = [r for r in client.search(source) if r.get("resourceType") == source]
                hits = [r for r in scanned[source] if target in _references(r)]
            outside = [f"{source}/{r.get('id')}" for r in hits if f"{source}/{r.get('id')}" not in exclude]
            if outside:
                found[target] = outside[0]
                break
    return found


def plan_retire(
    client: PushClient, caps: Capabilities, bundle: dict[str, Any], before: StoredMembers | None
) -> list[RetirePlan]:
    """What the trial no longer has (``before``: its stored member List) and whether each can go: ``retire``
    when nothing outside this trial refers to it, ``keep`` (with the referrer) otherwise. Reads only."""
    if before is None:
        return []
    now = {(str(e["resource"]["resourceType"]), ident[1]) for e in bundle.get("entry") or []
           if (ident := entry_identifier(e)) is not None}
    gone = [m for m in before.members if (m.resource_type, m.value) not in now and m.reference]
    if not gone:
        return []
    exclude = {m.reference for m in before.members if m.reference} | {before.list_reference}
    used = referrers(client, caps, [str(m.reference) for m in gone], exclude)
    plans = [
        RetirePlan(m.resource_type, m.value, str(m.reference), "keep", f"still referenced by {used[str(m.reference)]}")
        if str(m.reference) in used
        else RetirePlan(m.resource_type, m.value, str(m.reference), "retire", "no longer in the trial; unreferenced")
        for m in gone
    ]
    return sorted(plans, key=_delete_rank)


def _delete_rank(plan: RetirePlan) -> tuple[int, str]:
    rank = _DELETE_ORDER.index(plan.resource_type) if plan.resource_type in _DELETE_ORDER else len(_DELETE_ORDER)
    return rank, plan.reference


# -- deleting ------------------------------------------------------------------------------------


def retire(client: PushClient, caps: Capabilities, plans: list[RetirePlan], first_index: int) -> list[ResourceOutcome]:
    """Delete the ``retire`` rows (one batch, referring resources first; a transaction when the server has no
    batch); ``keep`` rows are reported ``kept``. A refused DELETE is ``kept`` with the server's reason."""
    doomed = [p for p in plans if p.action == "retire"]
    answers: list[dict[str, Any]] = []
    error: str | None = None
    if doomed:
        bundle = {"resourceType": "Bundle", "type": "batch" if caps.supports_batch or not caps.supports_transaction
                  else "transaction",
                  "entry": [{"request": {"method": "DELETE", "url": p.reference}} for p in doomed]}
        try:
            send = client.batch if bundle["type"] == "batch" else client.transaction
            answers = send(bundle).get("entry") or []
        except FhirServerError as exc:
            error = render_outcome(exc.outcome) if exc.outcome else exc.message
    outcomes: list[ResourceOutcome] = []
    answered = iter(answers)
    for offset, plan in enumerate(plans):
        ident = f"{IDENTIFIER_SYSTEM}|{plan.identifier}"
        server_id = plan.reference.split("/", 1)[1]
        if plan.action == "keep":
            outcomes.append(ResourceOutcome(first_index + offset, plan.resource_type, ident, "delete", "kept", "-",
                                            server_id, detail=plan.reason))
            continue
        answer = next(answered, {}) if error is None else {}
        status = str((answer.get("response") or {}).get("status") or "?")
        code = status.strip()[:3]
        if error is None and (code.startswith("2") or code in ("404", "410")):
            outcomes.append(ResourceOutcome(first_index + offset, plan.resource_type, ident, "delete", "retired",
                                            status, server_id))
            continue
        outcome = (answer.get("response") or {}).get("outcome")
        why = error or (render_outcome(outcome) if isinstance(outcome, dict) else f"DELETE answered {status}")
        kept: Outcome = "kept" if code == "409" or "referen" in why.lower() else "failed"
        outcomes.append(ResourceOutcome(first_index + offset, plan.resource_type, ident, "delete", kept,
                                        status, server_id, detail=f"the server refused the DELETE: {why}"))
    return outcomes
