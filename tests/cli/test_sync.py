"""``fhir-adapter sync`` from a ClinicalTrials.gov query, against respx only (nothing leaves the process)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from fhir_adapter.cli import main
from tests.cli.conftest import empty_server_reads

REGISTRY = "https://registry.test/api/v2"
BASE = "http://fhir.test/fhir"
FHIR = {"Content-Type": "application/fhir+json"}
STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
             "rest": [{"mode": "server", "interaction": [{"code": "transaction"}, {"code": "batch"}]}]}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
        sys.exit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _study(nct_id: str) -> dict[str, Any]:
    return {"protocolSection": {"identificationModule": {"nctId": nct_id, "briefTitle": f"Trial {nct_id}"},
                                "statusModule": {"overallStatus": "RECRUITING"}}}


def _created(request: httpx.Request) -> httpx.Response:
    """A transaction answered 201 for every entry (a fresh server)."""
    sent = json.loads(request.content)
    entries = [{"response": {"status": "201 Created",
                             "location": f"{e['request']['url'].split('?')[0]}/{i}/_history/1"}}
               for i, e in enumerate(sent["entry"])]
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": entries},
                          headers=FHIR)


@pytest.fixture
def servers() -> Any:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200, json=STATEMENT, headers=FHIR))
        empty_server_reads(router, BASE)
        router.post(BASE).mock(side_effect=_created)
        yield router


def test_a_query_is_paged_and_since_last_run_narrows_the_next_run(
    servers: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = [{"studies": [_study("NCT00000001"), _study("NCT00000002")], "nextPageToken": "tok-2"},
             {"studies": [_study("NCT00000003")]}]
    registry = servers.get(f"{REGISTRY}/studies").mock(side_effect=[httpx.Response(200, json=p) for p in pages]
                                                       + [httpx.Response(200, json={"studies": []})])
    state = tmp_path / "sync-state.json"
    args = ["sync", "--query", "query.locn=Boston", "--status", "RECRUITING", "--filter-advanced", "AREA[Phase]PHASE2",
            "--since-last-run", "--state", str(state), "--base-url", REGISTRY, "--server", BASE]
    code, _, err = run(args, capsys)
    assert code == 0, err
    first, second = (dict(c.request.url.params) for c in registry.calls)
    assert first == {"query.locn": "Boston", "filter.overallStatus": "RECRUITING",
                     "filter.advanced": "AREA[Phase]PHASE2", "pageSize": "1000"}
    assert second == {**first, "pageToken": "tok-2"}
    assert "3 of 3 input(s) pushed" in err and "created" in err
    saved = json.loads(state.read_text())
    [(key, entry)] = saved["runs"].items()
    assert key == (f"{BASE} filter.advanced=AREA[Phase]PHASE2&filter.overallStatus=RECRUITING&query.locn=Boston")
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", entry["since"]) and entry["trials"] == 3

    code, _, err = run(args, capsys)  # the next run asks only for what was posted since
    assert code == 0, err
    assert dict(registry.calls[-1].request.url.params)["filter.advanced"] == (
        f"(AREA[Phase]PHASE2) AND AREA[LastUpdatePostDate]RANGE[{entry['since']},MAX]")
    assert "no trial matched the query since" in err


def test_nct_ids_are_fetched_and_the_dry_run_writes_nothing(
    servers: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    servers.get(f"{REGISTRY}/studies/NCT00000001").mock(return_value=httpx.Response(200, json=_study("NCT00000001")))
    code, out, err = run(["sync", "NCT00000001", "--base-url", REGISTRY, "--server", BASE, "--dry-run",
                          "--format", "json"], capsys)
    assert code == 0, err
    plan = json.loads(out)
    assert plan["source"] == "NCT00000001" and plan["counts"]["retire"] == 0
    assert ("List", "http://fhir-adapter.org/fhir/identifier|NCT00000001-members", "create") in {
        (r["type"], r["identifier"], r["action"]) for r in plan["plan"]}
    assert not [c for c in servers.calls if c.request.method != "GET"]


@pytest.mark.parametrize(("args", "message"), [
    (["--since-last-run"], "--since-last-run needs a query"),
    (["--query", "locn=Boston"], "--query must be NAME=VALUE with a query.*, filter.* or postFilter.* name"),
    (["--status", "recruiting now"], "--status takes registry statuses"),
    ([], "nothing to sync"),
])
def test_bad_query_options_are_one_line(
    servers: respx.MockRouter, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["sync", *args, "--server", BASE], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_broken_state_file_names_itself(
    servers: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    code, _, err = run(["sync", "--status", "RECRUITING", "--since-last-run", "--state", str(state),
                        "--server", BASE, "--base-url", REGISTRY], capsys)
    assert code != 0 and str(state) in err and "not JSON" in err and "Traceback" not in err
