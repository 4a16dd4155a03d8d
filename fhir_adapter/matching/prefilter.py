"""The server-side population pre-filter: which patients of a FHIR server are worth fetching at all.

:func:`candidate_ids`: the ``prefilter`` Patient searches of the computable inclusion atoms (age, sex, and one
``_has`` code search holding every index condition's codes), combined, for the parameters the
CapabilityStatement declares; ``_has`` (rarely declared, often supported) is tried and dropped when the server
rejects it. A server that ignores a parameter returns a superset, which is safe. Without any usable pre-filter
every patient is listed. :func:`ruled_out_patients` gives the patients left out, with what the pre-filter
proved about them, so that they are still reported.

Logs and errors name parameters and counts, never a patient id.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import parse_qsl

from fhir_adapter.criteria.model import Atom
from fhir_adapter.errors import FhirServerError
from fhir_adapter.fhir.capabilities import Capabilities
from fhir_adapter.matching.server import DEFAULT_PAGE_SIZE, AsyncServerData, PatientSnapshot

log = logging.getLogger(__name__)


@dataclass
class Prefilter:
    """The candidate ids and what the server-side pre-filter used."""

    ids: list[str]
    applied: list[str] = field(default_factory=list)
    """Search parameters applied (``birthdate``, ``_has:Condition:patient:code``...)."""
    dropped: list[str] = field(default_factory=list)
    """Pre-filter parameters the server does not support (not applied)."""
    items: list[tuple[str, str]] = field(default_factory=list)
    """The applied parameters with their values."""


_TEMPLATE = re.compile(r"\{\{\s*today\(\)\s*(?:([-+])\s*(\d+)\s*(year|month|week|day)s?)?\s*\}\}")


def _shift(day: date, sign: str, amount: int, unit: str) -> date:
    amount = -amount if sign == "-" else amount
    if unit in ("year", "month"):
        months = day.month - 1 + amount * (12 if unit == "year" else 1)
        year, month = day.year + months // 12, months % 12 + 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(day.day, last))
    return day + timedelta(days=amount * (7 if unit == "week" else 1))


def resolve_template(value: str, as_of: date) -> str | None:
    """``le{{today() - 18 years}}`` → ``le2007-06-01`` for ``as_of`` 2025-06-01; None if a template is left."""

    def replace(match: re.Match[str]) -> str:
        sign, amount, unit = match.groups()
        return (_shift(as_of, sign, int(amount), unit) if sign else as_of).isoformat()

    resolved = _TEMPLATE.sub(replace, value)
    return None if "{{" in resolved else resolved


_HAS_CONDITION_CODE = "_has:Condition:patient:code"


def _index_prefilter(atoms: Sequence[Atom]) -> list[tuple[str, str]]:
    """One ``_has:Condition:patient:code`` with the codes of every index condition (any of them will do).

    Only when the local answer would be the same: every index condition has a code search (no code
    prefixes, which a token search cannot express) and is read from Conditions alone (an infection
    proven by a positive test is an Observation). A required diagnosis that is not an index condition
    stays open-world (needs review when absent), so it never rules a patient out here."""
    index = [a for a in atoms if a.index and a.computable and a.kind == "inclusion"]
    codes: list[str] = []
    for atom in index:
        found = [
            value
            for name, value in parse_qsl((atom.prefilter or "").partition("?")[2])
            if name == _HAS_CONDITION_CODE
        ]
        if not found or any(t != "Condition" for t in atom.resource_types):
            return []
        codes.extend(c for c in found[0].split(",") if c not in codes)
    return [(_HAS_CONDITION_CODE, ",".join(codes))] if codes else []


def prefilter_items(atoms: Sequence[Atom], as_of: date) -> list[tuple[str, str]]:
    """The combined (AND) Patient search parameters of the computable inclusion atoms' pre-filters.

    Demographic pre-filters (age, sex) of atoms that hold for every cohort, plus the index conditions'
    code search (see :func:`_index_prefilter`). ``{{today() - N years}}`` templates are resolved against
    ``as_of``; a value with another template is left out.
    """
    items: list[tuple[str, str]] = []
    for atom in atoms:
        if atom.kind != "inclusion" or not atom.computable or not atom.prefilter or atom.cohort or atom.any_of:
            continue
        path, _, query = atom.prefilter.partition("?")
        if path.strip("/") != "Patient":
            continue
        for name, raw in parse_qsl(query, keep_blank_values=False):
            value = resolve_template(raw, as_of)
            if value is not None and name != _HAS_CONDITION_CODE and (name, value) not in items:
                items.append((name, value))
    return items + _index_prefilter(atoms)


def _base(name: str) -> str:
    return name.split(":", 1)[0]


def split_supported(
    items: list[tuple[str, str]], caps: Capabilities
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(declared, to try, unsupported): ``_has`` undeclared is worth a try; other undeclared params are not."""
    declared, probe, unsupported = [], [], []
    for name, value in items:
        if caps.supports_search("Patient", _base(name)):
            declared.append((name, value))
        elif _base(name) == "_has":
            probe.append((name, value))
        else:
            unsupported.append((name, value))
    return declared, probe, unsupported


async def candidate_ids(
    source: AsyncServerData, *, use_prefilter: bool = True, page_size: int = DEFAULT_PAGE_SIZE
) -> Prefilter:
    """Ids of the patients worth evaluating, sorted; falls back to every patient of the server."""
    caps = await source.client.capabilities()
    items = prefilter_items(source.atoms, source.context.as_of) if use_prefilter else []
    declared, probe, unsupported = split_supported(items, caps)
    listing = [("_elements", "id"), ("_count", str(page_size))]
    dropped = [n for n, _ in unsupported]
    attempts = [declared + probe, declared] if probe else [declared]
    for attempt in attempts:
        if not attempt:
            break
        try:
            ids = await _ids(source, attempt + listing)
        except FhirServerError as exc:
            if exc.status_code not in {400, 422}:
                raise
            dropped += [n for n, _ in (probe if attempt is attempts[0] and probe else declared)]
            continue
        if any(_base(n) == "birthdate" for n, _ in attempt):
            ids |= await _missing_birthdate_ids(source, attempt, listing)
        applied = list(dict.fromkeys(n for n, _ in attempt))
        return Prefilter(sorted(ids), applied, list(dict.fromkeys(dropped)), list(attempt))
    ids = await _ids(source, listing)
    return Prefilter(sorted(ids), [], list(dict.fromkeys(dropped)))


async def _ids(source: AsyncServerData, items: list[tuple[str, str]]) -> set[str]:
    found = await source.search_all("Patient", items)
    return {str(r["id"]) for r in found if r.get("resourceType") == "Patient" and r.get("id")}


async def _missing_birthdate_ids(
    source: AsyncServerData, attempt: list[tuple[str, str]], listing: list[tuple[str, str]]
) -> set[str]:
    """Patients without a birth date pass an age pre-filter too (their age is unknown, not out of range)."""
    others = [(n, v) for n, v in attempt if _base(n) != "birthdate"]
    try:
        return await _ids(source, [*others, ("birthdate:missing", "true"), *listing])
    except FhirServerError:
        log.warning("server rejected birthdate:missing; patients without a birth date are not screened")
        return set()


async def ruled_out_patients(
    source: AsyncServerData, found: Prefilter, *, page_size: int = DEFAULT_PAGE_SIZE
) -> dict[str, PatientSnapshot]:
    """The patients the pre-filter left out, each as a snapshot holding only what the pre-filter proved.

    Their Patient resources come from one listing (pages of ``page_size``). A patient outside the index
    conditions' code search has no such Condition on the server: its snapshot says its Conditions are
    complete and empty, so the evaluator decides "not a candidate" exactly as it would on the full record.
    Other types are empty and not complete (the caller evaluates only the atoms the pre-filter speaks to)."""
    everyone = await source.search_all("Patient", [("_count", str(page_size))])
    kept = set(found.ids)
    patients = {
        str(r["id"]): r for r in everyone if r.get("resourceType") == "Patient" and r.get("id") and r["id"] not in kept
    }
    if not patients:
        return {}
    has = [(n, v) for n, v in found.items if n == _HAS_CONDITION_CODE]
    with_index: set[str] = set()
    if has:
        others = [item for item in found.items if item[0] != _HAS_CONDITION_CODE]
        listing = [("_elements", "id"), ("_count", str(page_size))]
        with_index = kept if not others else await _ids(source, has + listing)
    types = (await source.plan()).types
    return {
        pid: PatientSnapshot(
            pid,
            resource,
            {t: [] for t in types},
            types,
            complete_types=frozenset({"Condition"}) if has and pid not in with_index else frozenset(),
        )
        for pid, resource in patients.items()
    }
