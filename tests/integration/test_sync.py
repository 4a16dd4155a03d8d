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
