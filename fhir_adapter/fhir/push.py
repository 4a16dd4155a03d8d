"""Pushing converted trials to a FHIR server, with a write strategy chosen from its capabilities.

Strategy per resource type (:func:`choose_strategies`), from the CapabilityStatement:

- ``conditional-create``: the type is declared with an ``identifier`` search parameter and
  conditional create; the entry stays ``POST`` + ``ifNoneExist: identifier=system|value`` and
  keeps its ``urn:uuid`` fullUrl, which the server resolves;
- ``put``: anything else, including types the statement does not list (unknown, not refused:
  servers store types they do not declare). The entry becomes ``PUT Type/<stable_id>`` and every
  reference to its ``urn:uuid`` becomes ``Type/<stable_id>``.

Outcome per resource, from the transaction (or batch) response: ``201`` → ``created``;
``200`` on a conditional create → ``unchanged`` (the server matched an existing resource and
wrote nothing); ``200`` on a PUT → ``updated``, or ``unchanged`` when the answered version is
the one before (servers such as HAPI skip no-op updates; sekmet writes a new version for every PUT,
so its PUT entries show ``updated`` on every push). Either way a second push creates nothing.

Servers without transactions get batches in dependency order (referenced resources first,
references rewritten to the ids the server returned); a failure there leaves the earlier
writes in place and the report says exactly what was written. A transaction the server rejected
leaves nothing (the server rolls back); the error names the entry when the OperationOutcome allows.
A write whose outcome is unknown (the answer lost, cut short, a 5xx, a 200 without a
transaction-response Bundle) is never reported as rejected: the sent resources are read back and
the report says what the server holds (:mod:`fhir_adapter.fhir.push_outcome`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, cast
from urllib.parse import unquote

from fhir_adapter.errors import FhirServerError, InputError
from fhir_adapter.fhir._core import error_issues, render_outcome
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.fhir.push_input import (  # re-exported: the inputs of push used to live here
    PUSHABLE_BUNDLE_TYPES,
    FhirVersionChoice,
    bundle_for_input,
    fhir_version_for,
    read_push_input,
)
from fhir_adapter.fhir.push_outcome import (
    ReadBack,
    check_transaction_answer,
    read_back,
    unknown_outcome,
    verdict_line,
)
from fhir_adapter.fhir.push_sync import (
    PlannedWrite,
    Stored,
    WriteMode,
    lookup_existing,
    plan_writes,
    with_content_hash,
)

Strategy = Literal["conditional-create", "put", "delete"]
Outcome = Literal["created", "updated", "unchanged", "failed", "skipped", "present", "retired", "kept"]
"""``present``: after an unknown outcome in create mode, on the server with the content sent (whether this push
wrote it cannot be told). ``retired`` / ``kept``: a resource the trial no longer has, deleted, or kept because
something else still refers to it (:mod:`fhir_adapter.fhir.sync_retire`)."""
_COUNTED: tuple[Outcome, ...] = ("created", "updated", "unchanged", "failed", "skipped")
PushMode = Literal["auto", "transaction", "batch"]
__all__ = ["PUSHABLE_BUNDLE_TYPES", "FhirVersionChoice", "bundle_for_input", "fhir_version_for", "read_push_input"]


class PushClient(Protocol):
    """What :func:`push_bundle` needs from a client (:class:`~fhir_adapter.fhir.FhirClient` has it)."""

    def capabilities(self) -> Capabilities: ...
    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]: ...
    def batch(self, bundle: dict[str, Any]) -> dict[str, Any]: ...
    def create(self, resource: dict[str, Any], if_none_exist: str | None = None) -> dict[str, Any]: ...
    def update(self, resource: dict[str, Any]) -> dict[str, Any]: ...
    def validate(self, resource: dict[str, Any]) -> dict[str, Any]: ...
    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...
    def search(self, resource_type: str, params: Any = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class TypeStrategy:
    resource_type: str
    strategy: Strategy
    reason: str


@dataclass(frozen=True)
class ResourceOutcome:
    index: int
    resource_type: str
    identifier: str
    strategy: Strategy
    outcome: Outcome
    status: str
    server_id: str | None = None
    version: str | None = None
    detail: str | None = None


@dataclass
class PushReport:
    source: str
    mode: Literal["transaction", "batch", "single"]
    strategies: dict[str, TypeStrategy]
    outcomes: list[ResourceOutcome] = field(default_factory=list)
    write_mode: WriteMode = "create"
    note: str | None = None
    """Set when the server's answer did not tell the outcome and the resources were read back: what was found."""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not any(o.outcome in {"failed", "skipped"} for o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        counts = {name: self.count(name) for name in _COUNTED}
        for extra in ("present", "retired", "kept"):
            if self.count(extra):
                counts[extra] = self.count(extra)
        return {
            "source": self.source,
            "mode": self.mode,
            "writeMode": self.write_mode,
            **({"outcomeUnknown": self.note} if self.note else {}),
            "strategies": {t: {"strategy": s.strategy, "reason": s.reason} for t, s in self.strategies.items()},
            "counts": counts,
            "resources": [asdict(o) for o in self.outcomes],
        }


# -- pure planning ----------------------------------------------------------------------------


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def entry_identifier(entry: dict[str, Any]) -> tuple[str | None, str] | None:
    """(system, value) of an entry's business identifier: its ``ifNoneExist`` query, else the
    resource's first identifier with a value."""
    query = (entry.get("request") or {}).get("ifNoneExist") or ""
    match = re.match(r"^identifier=(.*)$", unquote(query))
    if match:
        parts = re.split(r"(?<!\\)\|", match.group(1), maxsplit=1)
        if len(parts) == 2:
            return _unescape(parts[0]) or None, _unescape(parts[1])
        return None, _unescape(parts[0])
    for ident in (entry.get("resource") or {}).get("identifier") or []:
        if ident.get("value"):
            return ident.get("system"), str(ident["value"])
    return None


def identifier_text(ident: tuple[str | None, str] | None) -> str:
    if ident is None:
        return "-"
    return ident[1] if not ident[0] else f"{ident[0]}|{ident[1]}"


def _resource_types(bundle: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for entry in bundle.get("entry") or []:
        seen.setdefault(str((entry.get("resource") or {}).get("resourceType", "?")), None)
    return list(seen)


def choose_strategy(resource_type: str, caps: Capabilities) -> TypeStrategy:
    """Conditional create where the statement allows it, PUT at a stable id otherwise."""
    if not caps.declares(resource_type):
        reason = "not in the CapabilityStatement (unknown type): PUT at a stable id"
        return TypeStrategy(resource_type, "put", reason)
    if not caps.supports_search(resource_type, "identifier"):
        return TypeStrategy(resource_type, "put", "no 'identifier' search parameter declared")
    if not caps.conditional_create(resource_type):
        return TypeStrategy(resource_type, "put", "conditional create not declared")
    return TypeStrategy(resource_type, "conditional-create", "declares 'identifier' search and conditional create")


def choose_strategies(bundle: dict[str, Any], caps: Capabilities) -> dict[str, TypeStrategy]:
    return {t: choose_strategy(t, caps) for t in _resource_types(bundle)}


def rewrite_references(value: Any, mapping: dict[str, str]) -> Any:
    """A copy of ``value`` with every ``reference`` found in ``mapping`` replaced."""
    if isinstance(value, dict):
        return {
            k: (mapping.get(v, v) if k == "reference" and isinstance(v, str) else rewrite_references(v, mapping))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [rewrite_references(v, mapping) for v in value]
    return value


def prepare_bundle(bundle: dict[str, Any], strategies: dict[str, TypeStrategy]) -> dict[str, Any]:
    """The transaction to send: PUT-strategy entries at stable ids, references rewritten to them."""
    from fhir_adapter.mapping.identity import stable_id

    if bundle.get("resourceType") != "Bundle":
        raise InputError("not a Bundle")
    prepared = copy.deepcopy(bundle)
    prepared["type"] = "transaction"
    rewrites: dict[str, str] = {}
    for index, entry in enumerate(prepared.get("entry") or []):
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not resource.get("resourceType"):
            raise InputError(f"entry #{index} has no resource")
        resource_type = str(resource["resourceType"])
        entry["resource"] = resource = with_content_hash(resource)  # hashed before any rewrite
        ident = entry_identifier(entry)
        strategy = strategies[resource_type].strategy
        if strategy == "put":
            if ident is None:
                raise InputError(f"entry #{index} ({resource_type}) has no identifier to derive a stable id from")
            resource_id = str(resource.get("id") or stable_id(resource_type, ident[1]))
            resource["id"] = resource_id
            entry["request"] = {"method": "PUT", "url": f"{resource_type}/{resource_id}"}
            if entry.get("fullUrl"):
                rewrites[str(entry["fullUrl"])] = f"{resource_type}/{resource_id}"
        elif not (entry.get("request") or {}).get("ifNoneExist"):
            if ident is None:
                raise InputError(f"entry #{index} ({resource_type}) has no identifier for a conditional create")
            query = "identifier=" + identifier_text(ident).replace(",", "\\,")
            entry["request"] = {"method": "POST", "url": resource_type, "ifNoneExist": query}
    for entry in prepared.get("entry") or []:
        entry["resource"] = rewrite_references(entry["resource"], rewrites)
    return prepared


def plan_push(bundle: dict[str, Any], caps: Capabilities) -> tuple[dict[str, TypeStrategy], dict[str, Any]]:
    """The strategies and the prepared transaction, without sending anything (``--dry-run``)."""
    strategies = choose_strategies(bundle, caps)
    return strategies, prepare_bundle(bundle, strategies)


# -- reading answers ---------------------------------------------------------------------------


def _id_and_version(response_entry: dict[str, Any]) -> tuple[str | None, str | None]:
    answer = response_entry.get("response") or {}
    resource = response_entry.get("resource") or {}
    location = str(answer.get("location") or "")
    match = re.search(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([^/?#]+))?/?$", location)
    server_id = resource.get("id") or (match.group(2) if match else None)
    version = (resource.get("meta") or {}).get("versionId") or (match.group(3) if match else None)
    if version is None:
        etag = re.match(r'^(?:W/)?"?([^"]+)"?$', str(answer.get("etag") or ""))
        version = etag.group(1) if etag else None
    return server_id, version


def classify(status: str, method: str, version: str | None = None, previous: str | None = None) -> Outcome:
    """``201`` created; ``200`` unchanged for a matched conditional create, else updated
    (unchanged when the version did not move)."""
    code = status.strip()[:3]
    if code == "201":
        return "created"
    if code.startswith("2") or code == "304":
        if method == "POST" or code == "304":
            return "unchanged"
        if previous is not None and version == previous:
            return "unchanged"
        return "updated"
    return "failed"


def _outcome(
    index: int, entry: dict[str, Any], response_entry: dict[str, Any], strategies: dict[str, TypeStrategy],
    previous: str | None = None,
) -> ResourceOutcome:
    resource_type = str(entry["resource"]["resourceType"])
    answer = response_entry.get("response") or {}
    status = str(answer.get("status") or "?")
    server_id, version = _id_and_version(response_entry)
    method = str((entry.get("request") or {}).get("method", "")).upper()
    outcome = classify(status, method, version, previous)
    detail = render_outcome(answer["outcome"]) if isinstance(answer.get("outcome"), dict) else None
    return ResourceOutcome(
        index=index, resource_type=resource_type, identifier=identifier_text(entry_identifier(entry)),
        strategy=strategies[resource_type].strategy, outcome=outcome, status=status,
        server_id=server_id, version=version, detail=detail if outcome == "failed" else None,
    )


def outcomes_from_response(
    prepared: dict[str, Any], response: dict[str, Any], strategies: dict[str, TypeStrategy]
) -> list[ResourceOutcome]:
    sent = prepared.get("entry") or []
    check_transaction_answer(response, len(sent))
    answered = response.get("entry") or []
    return [_outcome(i, e, r, strategies) for i, (e, r) in enumerate(zip(sent, answered, strict=True))]


def merge_plan(
    plan: list[PlannedWrite], sent_outcomes: list[ResourceOutcome], strategies: dict[str, TypeStrategy]
) -> list[ResourceOutcome]:
    """One outcome per planned entry: the server's answer for those sent, ``unchanged`` for the rest.
    A PUT whose answered version is the stored one is ``unchanged`` too (servers skip no-op updates)."""
    answers = iter(sent_outcomes)
    merged: list[ResourceOutcome] = []
    for planned in plan:
        stored = planned.stored
        if planned.action == "unchanged" and stored is not None:
            merged.append(ResourceOutcome(
                planned.index, planned.resource_type, planned.identifier,
                strategies[planned.resource_type].strategy, "unchanged", "not sent (same content hash)",
                server_id=stored.server_id, version=stored.version,
            ))
            continue
        answer = next(answers)
        outcome = answer.outcome
        if outcome == "updated" and stored is not None and answer.version == stored.version:
            outcome = "unchanged"
        merged.append(ResourceOutcome(
            planned.index, answer.resource_type, answer.identifier, answer.strategy, outcome, answer.status,
            answer.server_id, answer.version, answer.detail,
        ))
    return merged


def explain_transaction_failure(exc: FhirServerError, prepared: dict[str, Any]) -> FhirServerError:
    """The server's error plus which entry failed (index, type, identifier) when it can be told."""
    entries = prepared.get("entry") or []
    outcome = exc.outcome or {}
    texts = [
        " ".join([*(i.get("expression") or []), *(i.get("location") or []), str(i.get("diagnostics") or "")])
        for i in outcome.get("issue") or []
    ]
    blob = " ".join(texts)
    culprits: list[int] = []
    by_index = re.search(r"entry\[(\d+)\]", blob)
    if by_index and int(by_index.group(1)) < len(entries):
        culprits = [int(by_index.group(1))]
    else:
        named = {m.group(1) for m in re.finditer(r"\b([A-Z][A-Za-z]+)(?=\.|\b)", blob)}
        culprits = [i for i, e in enumerate(entries) if e["resource"]["resourceType"] in named]
    if len(culprits) == 1:
        entry = entries[culprits[0]]
        where = (
            f"entry #{culprits[0]} {entry['resource']['resourceType']} "
            f"{identifier_text(entry_identifier(entry))}"
        )
    elif culprits:
        kind = entries[culprits[0]]["resource"]["resourceType"]
        where = f"one of entries {', '.join(f'#{i}' for i in culprits[:10])} ({kind})"
    else:
        where = "entry not named by the server"
    status = f" → {exc.status_code}" if exc.status_code else ""
    detail = render_outcome(outcome) if outcome else exc.message
    return FhirServerError(
        f"transaction rejected{status}, nothing written (the server rolls back): {where}: {detail}",
        source=exc.source, status_code=exc.status_code, method=exc.method, url=exc.url, outcome=exc.outcome,
    )


# -- doing it ---------------------------------------------------------------------------------


def validate_entries(client: PushClient, prepared: dict[str, Any], caps: Capabilities) -> bool:
    """``$validate`` every resource when the server offers it; raise on any error-severity issue.

    Returns False (nothing checked) when the server declares no ``validate`` operation.
    """
    entries = prepared.get("entry") or []
    problems: list[str] = []
    checked = False
    for index, entry in enumerate(entries):
        resource = entry["resource"]
        if not caps.has_operation("validate", resource["resourceType"]):
            continue
        checked = True
        errors = error_issues(client.validate(resource))
        if errors:
            label = f"entry #{index} {resource['resourceType']} {identifier_text(entry_identifier(entry))}"
            problems.append(f"{label}: {render_outcome({'issue': errors})}")
    if problems:
        raise FhirServerError(f"$validate found errors, nothing pushed: {' | '.join(problems)}")
    return checked


def _dependency_layers(entries: list[dict[str, Any]]) -> list[list[int]]:
    """Entry indexes grouped so that every entry comes after the entries it references."""
    address = {}
    for i, entry in enumerate(entries):
        if entry.get("fullUrl"):
            address[str(entry["fullUrl"])] = i
        request = entry.get("request") or {}
        if str(request.get("method", "")).upper() == "PUT":
            address[str(request.get("url"))] = i
    needs: dict[int, set[int]] = {}
    for i, entry in enumerate(entries):
        refs = set(re.findall(r'"reference":\s*"([^"]+)"', json.dumps(entry["resource"])))
        needs[i] = {address[r] for r in refs if r in address and address[r] != i}
    layers: list[list[int]] = []
    done: set[int] = set()
    while len(done) < len(entries):
        layer = [i for i in range(len(entries)) if i not in done and needs[i] <= done]
        if not layer:
            raise InputError("the bundle's references form a cycle; it can only be sent as a transaction")
        layers.append(layer)
        done.update(layer)
    return layers


def _push_batches(
    client: PushClient, prepared: dict[str, Any], strategies: dict[str, TypeStrategy], use_batch: bool
) -> list[ResourceOutcome]:
    entries: list[dict[str, Any]] = prepared.get("entry") or []
    resolved: dict[str, str] = {}
    results: dict[int, ResourceOutcome] = {}
    failed = False
    for layer in _dependency_layers(entries):
        if failed:
            for i in layer:
                entry = entries[i]
                results[i] = ResourceOutcome(
                    i, entry["resource"]["resourceType"], identifier_text(entry_identifier(entry)),
                    strategies[entry["resource"]["resourceType"]].strategy, "skipped", "-",
                    detail="not sent: an earlier batch failed",
                )
            continue
        batch = [{**entries[i], "resource": rewrite_references(entries[i]["resource"], resolved)} for i in layer]
        answers = _send_layer(client, batch, use_batch)
        for i, entry, answer in zip(layer, batch, answers, strict=True):
            outcome = _outcome(i, entry, answer, strategies)
            results[i] = outcome
            if outcome.outcome == "failed":
                failed = True
            elif entry.get("fullUrl") and outcome.server_id:
                resolved[str(entry["fullUrl"])] = f"{outcome.resource_type}/{outcome.server_id}"
    return [results[i] for i in range(len(entries))]


def _send_layer(client: PushClient, batch: list[dict[str, Any]], use_batch: bool) -> list[dict[str, Any]]:
    if use_batch:
        response = client.batch({"resourceType": "Bundle", "type": "batch", "entry": batch})
        check_transaction_answer(response, len(batch))
        answers: list[dict[str, Any]] = response.get("entry") or []
        return answers
    out = []
    for entry in batch:
        request = entry.get("request") or {}
        try:
            if str(request.get("method")).upper() == "PUT":
                resource = client.update(entry["resource"])
                status = "200 OK" if str((resource.get("meta") or {}).get("versionId", "1")) != "1" else "201 Created"
            else:
                resource = client.create(entry["resource"], if_none_exist=request.get("ifNoneExist"))
                status = "201 Created"
            out.append({"resource": resource, "response": {"status": status}})
        except FhirServerError as exc:
            if unknown_outcome(exc) is not None:
                raise  # not a rejection: the caller reads back what the server holds
            out.append({"response": {"status": str(exc.status_code or "?"), "outcome": exc.outcome or {
                "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception",
                                                               "diagnostics": exc.message}]}}})
    return out


def existing_for(client: PushClient, prepared: dict[str, Any], strategies: dict[str, TypeStrategy]
                 ) -> dict[tuple[str, str], Stored]:
    """What the server holds for each entry (reads only): identifier search, or a read at the stable id."""
    keys = [lookup_key(entry, strategies) for entry in prepared.get("entry") or []]
    return lookup_existing(client, [k for k in keys if k is not None])


def lookup_key(entry: dict[str, Any], strategies: dict[str, TypeStrategy]) -> tuple[str, str, str, str | None] | None:
    """(type, system, value, stable id) to look an entry up by: identifier search, or a read at its stable id."""
    resource_type = str(entry["resource"]["resourceType"])
    ident = entry_identifier(entry)
    if ident is None:
        return None
    stable = entry["resource"].get("id") if strategies[resource_type].strategy == "put" else None
    return resource_type, ident[0] or "", ident[1], str(stable) if stable else None


def plan_sync_push(
    client: PushClient, bundle: dict[str, Any], caps: Capabilities, write_mode: WriteMode
) -> tuple[dict[str, TypeStrategy], dict[str, Any], list[PlannedWrite]]:
    """The strategies, the Bundle to send and the action per resource; reads the server (never writes)
    in update and sync mode."""
    strategies, prepared = plan_push(bundle, caps)
    existing = existing_for(client, prepared, strategies) if write_mode != "create" else None
    sent, plan = plan_writes(prepared, write_mode, caps, existing, _identifier_pair)
    return strategies, sent, plan


def _identifier_pair(entry: dict[str, Any]) -> tuple[str | None, str]:
    ident = entry_identifier(entry)
    return ident if ident is not None else (None, "-")


def push_bundle(
    client: PushClient, bundle: dict[str, Any], *, source: str = "bundle", validate: bool = False,
    mode: PushMode = "auto", write_mode: WriteMode = "sync",
) -> PushReport:
    """Write one converted trial; the report lists every resource's outcome.

    ``write_mode`` (see :mod:`fhir_adapter.fhir.push_sync`): ``create`` never changes what exists,
    ``update`` writes every resource, ``sync`` writes only what changed. ``mode="auto"`` uses a
    transaction when the server declares one, else batches in dependency order, else one request
    per resource. Raises FhirServerError when a transaction fails.
    """
    caps = client.capabilities()
    strategies, prepared, plan = plan_sync_push(client, bundle, caps, write_mode)
    if validate:
        validate_entries(client, prepared, caps)
    use_transaction = mode == "transaction" or (mode == "auto" and caps.supports_transaction)
    if not prepared.get("entry"):  # nothing changed: nothing to send
        outcomes = merge_plan(plan, [], strategies)
        return PushReport(source, "transaction" if use_transaction else "batch", strategies, outcomes, write_mode)
    use_batch = mode == "batch" or caps.supports_batch
    sent_as: Literal["transaction", "batch", "single"] = (
        "transaction" if use_transaction else "batch" if use_batch else "single"
    )
    try:
        if use_transaction:
            outcomes = outcomes_from_response(prepared, client.transaction(prepared), strategies)
        else:
            outcomes = _push_batches(client, prepared, strategies, use_batch)
    except FhirServerError as exc:
        reason = unknown_outcome(exc)
        if reason is None:
            if use_transaction:
                raise explain_transaction_failure(exc, prepared) from exc
            raise
        return _settle(client, reason, PushReport(source, sent_as, strategies, [], write_mode), prepared, plan)
    return PushReport(source, sent_as, strategies, merge_plan(plan, outcomes, strategies), write_mode)


def _settle(
    client: PushClient, reason: str, report: PushReport, sent: dict[str, Any], plan: list[PlannedWrite]
) -> PushReport:
    """The report of a write whose outcome is unknown, from reading every sent resource back."""
    try:
        checks = read_back(client, sent, plan, report.write_mode, lambda e: lookup_key(e, report.strategies))
    except FhirServerError as exc:
        raise FhirServerError(
            f"transaction outcome unknown ({reason}); reading it back failed too ({exc.message}): the trial may or "
            "may not be on the server; push it again once the server answers (a push is idempotent)",
            status_code=exc.status_code, method="POST", url=getattr(client, "base_url", None),
        ) from exc
    report.outcomes = merge_plan(plan, [_read_outcome(c, report.strategies) for c in checks], report.strategies)
    report.note = verdict_line(reason, checks)
    return report


def _read_outcome(check: ReadBack, strategies: dict[str, TypeStrategy]) -> ResourceOutcome:
    stored = check.stored
    return ResourceOutcome(
        check.index, check.resource_type, check.identifier, strategies[check.resource_type].strategy,
        cast(Outcome, check.outcome), "read back", server_id=stored.server_id if stored else None,
        version=stored.version if stored else None, detail=check.detail,
    )


def summary(reports: Iterable[PushReport]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for report in reports:
        for o in report.outcomes:
            totals[o.outcome] = totals.get(o.outcome, 0) + 1
    return totals
