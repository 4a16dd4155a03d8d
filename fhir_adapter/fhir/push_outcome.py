"""When a write's answer cannot be trusted: say "outcome unknown", then ask the server what it holds.

A transaction either committed or it did not; the answer tells which, unless it never arrives whole. The
connection reset after the body was sent, the read timed out, a 5xx came back (a proxy may fail after the server
committed), a 200 carried an HTML page or an OperationOutcome instead of a ``transaction-response`` Bundle, or a
4xx said some entries were committed after all. Then "rejected, nothing written" would be a guess, and a wrong
guess makes the operator push again into duplicates or give up on a trial that is on the server.

So :func:`unknown_outcome` separates the certain rejections (nothing reached the server, or a 4xx
OperationOutcome with errors only) from the unknown outcomes, and :func:`read_back` settles an unknown one by
reading each sent resource back by its business identifier (the ResearchStudy by the trial's identifier, every
dependent by its own; a read at the stable id for types without identifier search) and comparing the content hash
the server holds with the one sent. The counts of the report then come from what the server holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhir_adapter.errors import AuthError, FhirServerError
from fhir_adapter.fhir._core import TransportFailure
from fhir_adapter.fhir.push_sync import PlannedWrite, ReadClient, Stored, WriteMode, lookup_existing, stored_hash

TRANSACTION_ANSWERS = ("transaction-response", "batch-response")
_COMMITTED = re.compile(r"\b(commit(?:ted)?|created|stored|written|saved|persisted)\b", re.IGNORECASE)


class UnknownOutcome(FhirServerError):
    """A transaction (or batch) whose answer does not say what the server wrote."""


def check_transaction_answer(answer: dict[str, Any], entries: int) -> None:
    """Raise :class:`UnknownOutcome` unless ``answer`` is a transaction-response Bundle with one entry per entry
    sent: a 200 carrying an OperationOutcome (or anything else) says nothing about what was written."""
    kind = answer.get("resourceType") or "an empty body"
    if kind != "Bundle" or answer.get("type") not in TRANSACTION_ANSWERS:
        shown = f"a {kind} Bundle of type {answer.get('type')!r}" if kind == "Bundle" else f"{kind}"
        raise UnknownOutcome(f"the server answered 200 with {shown} instead of a transaction-response Bundle",
                             status_code=200)
    answered = answer.get("entry") or []
    if len(answered) != entries:
        raise UnknownOutcome(f"the server answered {len(answered)} entries for a bundle of {entries}",
                             status_code=200)


def unknown_outcome(exc: Exception) -> str | None:
    """Why the write that raised ``exc`` may have been committed, or None when it certainly was not.

    Certain: the request never reached the server (refused, unresolvable, certificate), or a 401/403, or a 4xx
    whose OperationOutcome holds errors and nothing that says entries were committed.
    """
    if isinstance(exc, AuthError):
        return None
    if not isinstance(exc, FhirServerError):
        return None
    if isinstance(exc, UnknownOutcome):
        return exc.message
    if isinstance(exc, TransportFailure):
        return _transport_reason(exc) if exc.reached else None
    status = exc.status_code
    if status is None:
        return exc.message  # no status: the answer could not be read as one
    if 200 <= status < 300:
        return f"the server answered {status} without a transaction-response Bundle ({_short(exc.message)})"
    if status >= 500:
        return f"the server answered {status} after receiving the transaction ({_short(exc.message)})"
    if 400 <= status < 500 and not _certain_rejection(exc.outcome):
        return f"the server answered {status} without an OperationOutcome that rules out written entries"
    return None


def _transport_reason(exc: TransportFailure) -> str:
    if exc.kind == "deadline":
        return "the run's deadline was reached while the server held the transaction"
    if exc.kind == "limit":
        return f"the answer was over a limit ({_short(exc.message)})"
    return f"the answer was lost ({_short(exc.message)})"


def _short(message: str) -> str:
    """The error's reason without the leading ``METHOD label:`` or base URL (the line names the server once)."""
    return message.split(": ", 1)[1] if message.startswith(("POST ", "http://", "https://")) else message


def _certain_rejection(outcome: dict[str, Any] | None) -> bool:
    """An OperationOutcome with at least one error and no issue saying something was committed."""
    if not outcome:
        return False
    issues = [i for i in outcome.get("issue") or [] if isinstance(i, dict)]
    if not any(i.get("severity") in {"error", "fatal"} for i in issues):
        return False
    for issue in issues:
        if issue.get("severity") in {"information", "warning"}:
            text = " ".join(str(v) for v in (issue.get("diagnostics"), (issue.get("details") or {}).get("text")) if v)
            if _COMMITTED.search(text):
                return False
    return True


@dataclass(frozen=True)
class ReadBack:
    """One sent entry as the server holds it after an unknown outcome."""

    index: int
    resource_type: str
    identifier: str
    outcome: str
    """created, updated, unchanged, present (create mode: there, but whether this push wrote it is unknown), or
    failed (not there, or other content)."""
    stored: Stored | None
    detail: str


def read_back(
    client: ReadClient,
    sent: dict[str, Any],
    plan: list[PlannedWrite],
    write_mode: WriteMode,
    keys_of: Callable[[dict[str, Any]], tuple[str, str, str, str | None] | None],
) -> list[ReadBack]:
    """What the server holds for every entry of ``sent`` (the Bundle sent), compared with what was sent.

    ``plan`` says what each entry held before (looked up in update and sync mode; nothing in create mode, where a
    resource found with the sent content is ``present``). Raises FhirServerError when the server cannot be read.
    """
    entries: list[dict[str, Any]] = sent.get("entry") or []
    keys = [keys_of(e) for e in entries]
    found = lookup_existing(client, [k for k in keys if k is not None])
    before = [p for p in plan if p.action != "unchanged" or p.stored is None]
    checks: list[ReadBack] = []
    for index, (entry, key) in enumerate(zip(entries, keys, strict=True)):
        planned = before[index] if index < len(before) else None
        resource_type = str(entry["resource"]["resourceType"])
        label = planned.identifier if planned is not None else (key[2] if key else "-")
        now = found.get((resource_type, key[2])) if key is not None else None
        outcome, detail = _compare(stored_hash(entry["resource"]), now, planned, write_mode)
        checks.append(ReadBack(planned.index if planned else index, resource_type, label, outcome, now, detail))
    return checks


def _compare(
    sent_hash: str | None, now: Stored | None, planned: PlannedWrite | None, write_mode: WriteMode
) -> tuple[str, str]:
    if now is None:
        return "failed", "not on the server (read back after the unknown outcome)"
    if sent_hash is None or now.content_hash != sent_hash:
        return "failed", "the server holds other content (read back after the unknown outcome)"
    if write_mode == "create":
        return "present", "on the server with this content; whether this push wrote it is not known"
    stored = planned.stored if planned is not None else None
    if stored is None:
        return "created", "read back after the unknown outcome"
    if stored.content_hash != sent_hash or stored.version != now.version:
        return "updated", "read back after the unknown outcome"
    return "unchanged", "read back after the unknown outcome"


def verdict_line(reason: str, checks: list[ReadBack]) -> str:
    """``outcome unknown (the answer was lost: …); read back: 12 of 12 resources on the server as sent``."""
    there = sum(1 for c in checks if c.outcome != "failed")
    if there == len(checks):
        said = f"{there} of {len(checks)} resources on the server as sent"
    elif there == 0:
        said = f"none of the {len(checks)} resources on the server as sent: nothing was written"
    else:
        said = f"only {there} of {len(checks)} resources on the server as sent"
    return f"transaction outcome unknown ({reason}); read back from the server: {said}"
