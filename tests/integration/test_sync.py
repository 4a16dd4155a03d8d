"""Shared identities and sync against the real servers (sekmet and HAPI on loopback).

- The 81 corpus records name each real organisation, site and person under one shared key
  (``org:``/``site:``/``person:``, fhir_adapter/mapping/shared.py); pushed, each key is ONE resource.
- ``sync`` writes exactly what changed: a changed status updates that ResearchStudy only; a third
  push writes nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from fhir_adapter.fhir import FhirClient, escape_search_value
from fhir_adapter.fhir.push import bundle_for_input, push_bundle
from fhir_adapter.ingest import load_trial
from fhir_adapter.mapping import business_identifier
from fhir_adapter.mapping.shared import is_shared_value
from fhir_adapter.pipeline import trial_bundle

from .conftest import CORPUS

pytestmark = pytest.mark.integration

SYS = "http://fhir-adapter.org/fhir/identifier"
SHARED_TYPES = ("Organization", "Location", "Practitioner")
SYNC_TRIALS = ("NCT00034216", "NCT00109785", "NCT00184067")


def _count(client: FhirClient, resource_type: str, value: str) -> int:
    if not client.capabilities().supports_search(resource_type, "identifier"):
        return 1  # PUT at its stable id (sekmet's ResearchStudy): one resource by construction
    return len(client.search(resource_type, {"identifier": f"{SYS}|{escape_search_value(value)}"}))


def _corpus() -> list[Any]:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return sorted(CORPUS.glob("*.json"))


def test_corpus_shared_identities_leave_one_resource_per_key(fhir_client: FhirClient) -> None:
    paths = _corpus()
    keys: dict[str, set[str]] = {t: set() for t in SHARED_TYPES}
    mentions: Counter[str] = Counter()
    for path in paths:
        bundle, _ = bundle_for_input(path, "R4")
        values = [(e["resource"]["resourceType"], business_identifier(e["resource"])) for e in bundle["entry"]]
        assert len(values) == len(set(values)), path.name  # each key once per transaction
        for resource_type, ident in values:
            if resource_type in SHARED_TYPES and ident is not None:
                keys[resource_type].add(ident[1])
                mentions[resource_type] += 1
        report = push_bundle(fhir_client, bundle, source=path.name)
        assert report.ok, (path.name, report.to_json()["counts"])
    # the corpus names fewer real parties than it has mentions: the shared keys merged them
    assert len(keys["Organization"]) < mentions["Organization"]
    assert len(keys["Location"]) < mentions["Location"]
    assert "org:national-cancer-institute-nci" in keys["Organization"]
    assert not any("site-public-contact" in k for k in keys["Practitioner"])
    per_key = Counter(
        _count(fhir_client, t, value) for t in SHARED_TYPES for value in keys[t] if is_shared_value(value)
    )
    assert set(per_key) == {1}, per_key  # exactly one resource per key on the server
    print(f"\nshared keys: { {t: len(v) for t, v in keys.items()} }, mentions: {dict(mentions)}")


def test_sync_updates_exactly_what_changed(fhir_client: FhirClient) -> None:
    paths = {p.stem: p for p in _corpus()}
    records = [load_trial(paths[nct]) for nct in SYNC_TRIALS]
    first = [push_bundle(fhir_client, trial_bundle(r, "R4"), source=r.label) for r in records]
    assert all(r.ok for r in first)
    assert all(o.outcome in ("created", "unchanged", "updated") for r in first for o in r.outcomes)

    again = [push_bundle(fhir_client, trial_bundle(r, "R4"), source=r.label) for r in records]
    assert [o.outcome for r in again for o in r.outcomes if o.outcome != "unchanged"] == []

    changed = records[1]
    new_status = "COMPLETED" if changed.overall_status != "COMPLETED" else "TERMINATED"
    edited = changed.model_copy(update={"overall_status": new_status, "overall_status_raw": new_status})
    bundles = [trial_bundle(r, "R4") for r in (records[0], edited, records[2])]
    second = [push_bundle(fhir_client, b, source=str(i)) for i, b in enumerate(bundles)]
    written = [(o.resource_type, o.identifier.rsplit("|", 1)[-1], o.outcome)
               for r in second for o in r.outcomes if o.outcome != "unchanged"]
    assert written == [("ResearchStudy", changed.nct_id, "updated")]
    study = next(o for o in second[1].outcomes if o.resource_type == "ResearchStudy")
    stored = fhir_client.read("ResearchStudy", str(study.server_id))
    assert {"url": "http://fhir-adapter.org/fhir/StructureDefinition/registry-overall-status",
            "valueString": new_status} in stored["extension"]

    third = [push_bundle(fhir_client, b, source=str(i)) for i, b in enumerate(bundles)]
    assert {o.outcome for r in third for o in r.outcomes} == {"unchanged"}
    for report in third:  # nothing duplicated
        for o in report.outcomes:
            assert _count(fhir_client, o.resource_type, o.identifier.rsplit("|", 1)[-1]) == 1, o


def test_update_mode_writes_every_resource_without_duplicates(fhir_client: FhirClient) -> None:
    path = {p.stem: p for p in _corpus()}[SYNC_TRIALS[0]]
    bundle, _ = bundle_for_input(path, "R4")
    push_bundle(fhir_client, bundle, source=path.name)
    report = push_bundle(fhir_client, bundle, source=path.name, write_mode="update")
    assert report.ok and report.count("created") == 0
    for o in report.outcomes:
        assert _count(fhir_client, o.resource_type, o.identifier.rsplit("|", 1)[-1]) == 1, o
    create = push_bundle(fhir_client, bundle, source=path.name, write_mode="create")
    assert create.count("created") == 0 and create.ok


def test_sync_command_says_what_it_did(fhir_server: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """``fhir-adapter sync`` over a directory: the first run creates or reports unchanged, a second run changes
    nothing and says so in its one summary line; ``--dry-run`` reads only."""
    import shutil

    from fhir_adapter.cli import main

    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    folder = tmp_path / "trials"
    folder.mkdir()
    shutil.copy(CORPUS / "NCT00750126.json", folder)

    def run(*extra: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(["sync", str(folder), "--server", fhir_server, *extra])
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    code, out, err = run()
    assert code == 0, err
    code, out, err = run()
    assert code == 0, err
    summary = (out + err).strip().splitlines()[-1]
    assert summary.endswith(" unchanged") and "created" not in summary and "updated" not in summary, summary
    assert "1 of 1 input(s) pushed" in summary
    code, out, err = run("--dry-run")
    assert code == 0 and "created" not in out + err and "updated" not in out + err, out + err


# -- issue 14 acceptance: sync the corpus, change 5 records, sync again, a third sync changes nothing ---------------

ACCEPTANCE = ("NCT01503372", "NCT03727126", "NCT06806462", "NCT05021172", "NCT04437602", "NCT06177795")
"""Five records to change (status, a site renamed, a contact, a criterion, a site removed) and one left alone."""
Key = tuple[str, str]


def _edited(records: dict[str, Any]) -> dict[str, Any]:
    """The five changes, made in memory on the parsed records."""
    status, site, contact, criterion, removed, _ = (records[n] for n in ACCEPTANCE)
    new = dict(records)
    new[status.nct_id] = status.model_copy(update={"overall_status": "TERMINATED", "overall_status_raw": "TERMINATED"})
    locations = list(site.locations)
    locations[1] = locations[1].model_copy(update={"facility": "Sync Acceptance Renamed Clinic"})
    new[site.nct_id] = site.model_copy(update={"locations": locations})
    person = contact.central_contacts[0].model_copy(update={"phone": "+1 555 0100"})
    new[contact.nct_id] = contact.model_copy(update={"central_contacts": [person, *contact.central_contacts[1:]]})
    text = str(criterion.eligibility.criteria)
    first = next(line for line in text.splitlines() if line.strip().startswith(("*", "-", "•")) or line[:1].isdigit())
    changed = text.replace(first, first.rstrip() + " within the last 30 days", 1)
    eligibility = criterion.eligibility.model_copy(update={"criteria": changed, "criteria_raw": changed})
    new[criterion.nct_id] = criterion.model_copy(update={"eligibility": eligibility})
    new[removed.nct_id] = removed.model_copy(update={"locations": removed.locations[:-1]})
    return new


def _hashes(record: Any) -> dict[Key, str]:
    """(type, identifier value) -> content hash of every resource a sync writes for the record (member List too)."""
    from fhir_adapter.fhir.push_sync import content_hash
    from fhir_adapter.fhir.sync_retire import with_member_list

    bundle = with_member_list(trial_bundle(record, "R4"))
    found = {}
    for entry in bundle["entry"]:
        ident = business_identifier(entry["resource"])
        assert ident is not None
        found[(entry["resource"]["resourceType"], ident[1])] = content_hash(entry["resource"])
    return found


def _expected(before: dict[str, Any], after: dict[str, Any]) -> set[tuple[str, str, str]]:
    """What a sync must report from the two versions of the records alone: created, updated, retired."""
    old = {k: v for r in before.values() for k, v in _hashes(r).items()}
    new = {k: v for r in after.values() for k, v in _hashes(r).items()}
    found = {(t, v, "created") for (t, v) in new.keys() - old.keys()}
    found |= {(t, v, "updated") for (t, v) in new.keys() & old.keys() if new[(t, v)] != old[(t, v)]}
    return found | {(t, v, "retired") for (t, v) in old.keys() - new.keys()}


def _total(client: FhirClient, resource_type: str) -> int:
    page = next(client.search_bundles(resource_type, {"_summary": "count"}))
    return int(page["total"])


def _sync_all(client: FhirClient, records: dict[str, Any]) -> list[Any]:
    from fhir_adapter.fhir.sync_run import push_trial

    reports = [push_trial(client, trial_bundle(r, "R4"), from_record=True, source=n) for n, r in records.items()]
    assert all(r.ok for r in reports), [r.to_json()["counts"] for r in reports]
    return reports


def _changes(reports: list[Any]) -> set[tuple[str, str, str]]:
    return {(o.resource_type, o.identifier.rsplit("|", 1)[-1], o.outcome)
            for r in reports for o in r.outcomes if o.outcome != "unchanged"}


def test_sync_acceptance_five_changed_records(fhir_client: FhirClient) -> None:
    """Issue 14: sync, change 5 records, sync again: exactly those resources are written (the removed site and the
    renamed site's old Location retired); nothing duplicated; a third sync changes nothing; one resource per key."""
    from fhir_adapter.mapping.shared import site_key

    paths = {p.stem: p for p in _corpus()}
    records = {n: load_trial(paths[n]) for n in ACCEPTANCE}
    _sync_all(fhir_client, records)  # the first sync: created, or updated where earlier tests pushed them first
    assert _changes(_sync_all(fhir_client, records)) == set()  # idempotent
    counts_before = {t: _total(fhir_client, t) for t in SHARED_TYPES}

    edited = _edited(records)
    expected = _expected(records, edited)
    # the dropped resources belong to no other corpus trial, so they must be retired (not kept)
    others = {k for p in paths.values() if p.stem not in ACCEPTANCE for k in _hashes(load_trial(p))}
    assert not {(t, v) for t, v, o in expected if o == "retired"} & others
    assert {(t, o) for t, _, o in expected} >= {("Location", "retired"), ("Location", "created"),
                                                ("ResearchStudy", "updated"), ("Group", "updated")}

    second = _sync_all(fhir_client, edited)
    assert _changes(second) == expected
    changed_trials = {r.source for r in second if any(o.outcome != "unchanged" for o in r.outcomes)}
    assert changed_trials == set(ACCEPTANCE[:5])

    assert _changes(_sync_all(fhir_client, edited)) == set()  # the third sync changes nothing

    # nothing duplicated: every resource of the edited trials is one resource; the retired ones are gone
    for record in edited.values():
        for (resource_type, value) in _hashes(record):
            assert _count(fhir_client, resource_type, value) == 1, (resource_type, value)
    for resource_type, value, outcome in expected:
        if outcome == "retired" and fhir_client.capabilities().supports_search(resource_type, "identifier"):
            assert _count(fhir_client, resource_type, value) == 0, (resource_type, value)
    # the server's counts moved by exactly the distinct keys created and retired
    for resource_type in SHARED_TYPES:
        moved = sum(1 for t, _, o in expected if t == resource_type and o == "created") - sum(
            1 for t, _, o in expected if t == resource_type and o == "retired")
        assert _total(fhir_client, resource_type) == counts_before[resource_type] + moved, resource_type
    # the Location keys are the documented site keys of the records' facilities (normalise_name, site_key)
    site_keys = {site_key(s.facility, s.city, s.country, s.zip) for r in edited.values() for s in r.locations}
    pushed = {v for r in edited.values() for (t, v) in _hashes(r) if t == "Location"}
    assert pushed == {k for k in site_keys if k is not None}
