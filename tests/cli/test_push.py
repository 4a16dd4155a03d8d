"""``fhir-adapter push`` in process, against respx (no traffic leaves the process)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from fhir_adapter.cli import main
from tests.cli.conftest import empty_server_reads

BASE = "http://fhir.test/fhir"
SYS = "http://fhir-adapter.org/fhir/identifier"
FHIR = {"Content-Type": "application/fhir+json"}
STATEMENT = {
    "resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
    "rest": [{"mode": "server", "interaction": [{"code": "transaction"}], "resource": [
        {"type": "Organization", "conditionalCreate": True, "searchParam": [{"name": "identifier"}]}]}],
}


def write_bundle(tmp_path: Path) -> Path:
    org = {"fullUrl": "urn:uuid:6f1c3c5e-0000-4000-8000-000000000001",
           "resource": {"resourceType": "Organization", "identifier": [{"system": SYS, "value": "T-sponsor"}]},
           "request": {"method": "POST", "url": "Organization", "ifNoneExist": f"identifier={SYS}|T-sponsor"}}
    study = {"fullUrl": "urn:uuid:6f1c3c5e-0000-4000-8000-000000000002",
             "resource": {"resourceType": "ResearchStudy", "status": "active",
                          "identifier": [{"system": SYS, "value": "T1"}], "sponsor": {"reference": org["fullUrl"]}},
             "request": {"method": "POST", "url": "ResearchStudy", "ifNoneExist": f"identifier={SYS}|T1"}}
    path = tmp_path / "T1.bundle.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [study, org]}))
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main([*args])
        sys.exit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def mock() -> Any:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200, json=STATEMENT, headers=FHIR))
        empty_server_reads(router, BASE)
        yield router


def test_dry_run_only_reads(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write = mock.post(BASE)
    code, out, _ = run(["push", str(write_bundle(tmp_path)), "--server", BASE, "--dry-run", "--format", "json"],
                       capsys)
    assert code == 0 and write.call_count == 0 and {c.request.method for c in mock.calls} == {"GET"}
    plan = json.loads(out)
    assert plan["strategies"]["ResearchStudy"]["strategy"] == "put"
    assert plan["strategies"]["Organization"]["strategy"] == "conditional-create"
    study = plan["bundle"]["entry"][0]
    assert study["request"] == {"method": "PUT", "url": "ResearchStudy/T1"}


def test_push_json_report(mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": f"{BASE}/ResearchStudy/T1/_history/1"}},
        {"response": {"status": "200 OK", "location": f"{BASE}/Organization/o-7/_history/2"}}]}
    mock.post(BASE).mock(return_value=httpx.Response(200, json=answer, headers=FHIR))
    code, out, _ = run(["push", str(write_bundle(tmp_path)), "--server", BASE, "--format", "json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert report["fhirVersion"] == "R4" and report["summary"] == {"created": 1, "unchanged": 1}
    rows = report["inputs"][0]["resources"]
    assert [(r["resource_type"], r["outcome"], r["server_id"], r["version"]) for r in rows] == [
        ("ResearchStudy", "created", "T1", "1"), ("Organization", "unchanged", "o-7", "2")]


def test_push_table_and_failure_exit_code(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oo = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "structure",
                                                         "diagnostics": "bad", "expression": ["Organization.name"]}]}
    mock.post(BASE).mock(return_value=httpx.Response(400, json=oo, headers=FHIR))
    code, _, err = run(["push", str(write_bundle(tmp_path)), "--server", BASE], capsys)
    assert code == 5
    assert f"entry #1 Organization {SYS}|T-sponsor: error structure: Organization.name: bad" in err
    assert "0 of 1 input(s) pushed" in err and "push failed for 1 of 1 input(s)" in err


def test_bad_options_and_insecure_warning(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(write_bundle(tmp_path))
    code, _, err = run(["push", path, "--server", BASE, "--fhir-version", "R3"], capsys)
    assert code == 2 and err.strip() == "error: --fhir-version must be one of auto, R4, R5, got 'R3'"
    code, _, err = run(["push", path, "--server", BASE, "--auth", "bearer"], capsys)
    assert code == 2 and "--token-env" in err
    monkeypatch.setenv("MY_TOKEN", "tok-do-not-print")
    code, out, err = run(["push", path, "--server", BASE, "--dry-run", "--insecure", "--verbose",
                          "--auth", "bearer", "--token-env", "MY_TOKEN"], capsys)
    assert code == 0 and "TLS certificate verification is OFF" in err
    assert "tok-do-not-print" not in out + err
    assert mock.calls[-1].request.headers["Authorization"] == "Bearer tok-do-not-print"


@respx.mock
def test_a_server_echoing_the_credentials_cannot_make_them_print(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's OperationOutcome repeats the request's Authorization header: stderr and stdout stay clean,
    with and without --debug and --verbose."""
    canary = "tok-canary-5c1d8e2f"
    monkeypatch.setenv("MY_TOKEN", canary)
    respx.get(f"{BASE}/metadata").respond(json=STATEMENT, headers=FHIR)
    empty_server_reads(respx.mock, BASE)

    def echo(request: httpx.Request) -> httpx.Response:
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception",
                   "diagnostics": f"rejected request with Authorization: {request.headers['Authorization']}"}]}
        return httpx.Response(422, json=outcome, headers=FHIR)

    respx.post(BASE).mock(side_effect=echo)
    path = str(write_bundle(tmp_path))
    for extra in ([], ["--debug"], ["--verbose"]):
        code, out, err = run(["push", path, "--server", BASE, "--auth", "bearer", "--token-env", "MY_TOKEN",
                              *extra], capsys)
        assert code != 0
        assert canary not in out and canary not in err, extra
        assert "rejected request with Authorization" in err


def test_the_server_and_auth_can_come_from_the_environment(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIR_ADAPTER_SERVER", BASE)
    monkeypatch.setenv("FHIR_ADAPTER_AUTH", "bearer")
    monkeypatch.setenv("FHIR_ADAPTER_TOKEN_ENV", "MY_TOKEN")
    monkeypatch.setenv("MY_TOKEN", "tok-from-env-1234")
    code, out, _ = run(["push", str(write_bundle(tmp_path)), "--dry-run", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["strategies"]
    assert mock.calls[0].request.headers["Authorization"] == "Bearer tok-from-env-1234"
    # a flag wins over the environment
    code, _, err = run(["push", str(write_bundle(tmp_path)), "--server", "http://127.0.0.1:1/fhir", "--auth", "none",
                        "--dry-run"], capsys)
    assert code != 0 and "127.0.0.1:1" in err


# -- reliability: directories, a server found down, unknown outcomes ----------------------------------------------

def _trial_dir(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "trials"
    folder.mkdir()
    source = json.loads(write_bundle(tmp_path).read_text())
    for n in range(count):
        (folder / f"T{n:02d}.json").write_text(json.dumps(source))
    return folder


def test_push_a_directory_pushes_every_trial_file_and_reports_the_bad_one(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": f"{BASE}/ResearchStudy/T1/_history/1"}},
        {"response": {"status": "201 Created", "location": f"{BASE}/Organization/o-7/_history/1"}}]}
    writes = mock.post(BASE).mock(return_value=httpx.Response(200, json=answer, headers=FHIR))
    folder = _trial_dir(tmp_path, 2)
    (folder / "broken.json").write_text("{not json")
    (folder / "notes.pdf").write_bytes(b"%PDF")
    code, out, err = run(["push", str(folder), "--server", BASE, "--format", "json"], capsys)
    assert code == 2 and writes.call_count == 2
    assert f"{folder / 'broken.json'}: " in err and "malformed JSON" in err
    assert f"skipped {folder / 'notes.pdf'}: not a trial record file" in err
    report = json.loads(out)
    assert [Path(i["source"]).name for i in report["inputs"]] == ["T00.json", "T01.json"]
    assert "push failed for 1 of 3 input(s)" in err


def test_a_directory_without_trial_files_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run(["push", str(tmp_path / "empty"), "--server", BASE], capsys)
    assert code == 2
    suffixes = ".json, .ndjson, .jsonl, .xml, .txt"
    assert err.strip() == f"error: {tmp_path / 'empty'}: no trial files ({suffixes}) in directory"


def test_a_server_that_goes_down_is_retried_once_per_run_not_per_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After /metadata the server refuses every connection: the first input's reads use the retries, the other 12
    inputs are not tried at all, and one line says so."""
    monkeypatch.setattr("fhir_adapter.http.retry_delay", lambda *args: 0.0)  # retries without the waits
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/metadata").respond(json=STATEMENT, headers=FHIR)
        refused = router.route(url__regex=rf"^{BASE}/(?!metadata).*").mock(
            side_effect=httpx.ConnectError("Connection refused"))
        code, _, err = run(["push", str(_trial_dir(tmp_path, 13)), "--server", BASE], capsys)
    assert code == 5, err
    assert refused.call_count == 5  # one read, its 5 attempts; nothing for the 12 inputs after it
    lines = err.strip().splitlines()
    assert lines[0] == f"error: cannot reach {BASE}: ConnectError: Connection refused"
    assert lines[1] == (f"error: 12 input(s) not pushed: cannot reach {BASE}: ConnectError: Connection refused "
                        "(found earlier in this run)")
    assert lines[-1] == "error: push failed for 13 of 13 input(s)"


def test_a_lost_answer_is_read_back_and_said_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fhir_adapter.http.retry_delay", lambda *args: 0.0)  # retries without the waits
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/metadata").respond(json=STATEMENT, headers=FHIR)
        empty_server_reads(router, BASE)  # the server holds nothing: the transaction did not commit
        router.post(BASE).mock(side_effect=httpx.ReadTimeout("timed out"))
        code, out, err = run(["push", str(write_bundle(tmp_path)), "--server", BASE], capsys)
    assert code == 5
    assert "rejected" not in err and "transaction rejected" not in out
    (line,) = [x for x in err.splitlines() if "outcome unknown" in x]
    assert line == (f"error: {tmp_path / 'T1.bundle.json'}: transaction outcome unknown (the answer was lost (cannot "
                    f"reach {BASE}: ReadTimeout: timed out)); read back from the server: none of the 2 resources on "
                    "the server as sent: nothing was written")
    assert "failed" in out


def test_the_deadline_stops_the_inputs_left(
    mock: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each transaction takes 0.3 s; a deadline of 1 s lets a few of the 8 inputs through and stops the rest."""
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": f"{BASE}/ResearchStudy/T1/_history/1"}},
        {"response": {"status": "201 Created", "location": f"{BASE}/Organization/o-7/_history/1"}}]}

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.3)
        return httpx.Response(200, json=answer, headers=FHIR)

    writes = mock.post(BASE).mock(side_effect=slow)
    started = time.monotonic()
    code, _, err = run(["push", str(_trial_dir(tmp_path, 8)), "--server", BASE, "--deadline", "1"], capsys)
    assert code == 5 and time.monotonic() - started < 3
    assert 1 <= writes.call_count < 8
    assert "input(s) not pushed: the deadline of 1 s (--deadline) was reached" in err
    assert err.strip().splitlines()[-1].startswith("error: push failed for ")


def test_the_deadline_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["push", str(write_bundle(tmp_path)), "--server", BASE, "--deadline", "0"], capsys)
    assert code == 2 and err.strip() == "error: --deadline must be more than 0 and at most 604800 seconds, got 0"


def test_with_definitions_writes_the_project_definitions_once_as_conditional_updates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fhir_adapter.mapping.definitions import definition_resources

    statement = {**STATEMENT, "rest": [{**STATEMENT["rest"][0], "resource": [  # type: ignore[index]
        *STATEMENT["rest"][0]["resource"],  # type: ignore[index]
        *({"type": t, "conditionalUpdate": True, "searchParam": [{"name": "url"}]}
          for t in ("StructureDefinition", "CodeSystem"))]}]}
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bundle = json.loads(request.content)
        sent.append(bundle)
        return httpx.Response(200, headers=FHIR, json={"resourceType": "Bundle", "type": "transaction-response",
                                                       "entry": [{"response": {"status": "201 Created"}}
                                                                 for _ in bundle["entry"]]})

    with respx.mock(assert_all_called=False) as router:
        router.get(f"{BASE}/metadata").mock(return_value=httpx.Response(200, json=statement, headers=FHIR))
        empty_server_reads(router, BASE)
        router.post(BASE).mock(side_effect=answer)
        code, _, err = run(["push", str(write_bundle(tmp_path)), "--server", BASE, "--with-definitions"], capsys)
    assert code == 0, err
    expected = definition_resources("R4")
    assert f"definitions (R4) on {BASE}: {len(expected)} created" in err
    definitions = sent[0]["entry"]
    assert [e["request"] for e in definitions] == [
        {"method": "PUT", "url": f"{r['resourceType']}?url={r['url']}"} for r in expected]
    assert all("id" not in e["resource"] for e in definitions)
    assert len(sent) == 2  # the definitions once, then the trial
