"""Issue 17's scenarios against the real command line and a real (hostile) loopback server.

Each test is one row of RELIABILITY.md: a hostile behaviour, the command run, the expected outcome. Every run
carries a canary bearer token and basic password in its environment; the last test scans everything every run
printed or wrote for them (and for the basic credentials' base64): zero leaks.

Run: ``pytest -q tests/hostile``.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.conftest import (
    BASIC,
    BEARER,
    CANARY_PASSWORD,
    CANARY_TOKEN,
    REPO,
    RUNS,
    SYS,
    Handler,
    Hostile,
    answer_json,
    drip,
    echo_authorization,
    endless,
    gzip_bomb,
    html_200,
    next_to,
    redirect,
    reset,
    run_cli,
    storm,
)

SAMPLE = REPO / "samples" / "NCT06577194.txt"
PATIENTS = REPO / "samples" / "patients" / "data"


def trial_bundle(nct: str) -> dict[str, Any]:
    """A small transaction Bundle of one trial: its ResearchStudy and sponsor."""
    org = {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{int(nct[3:]):012d}",
           "resource": {"resourceType": "Organization", "name": "Sponsor",
                        "identifier": [{"system": SYS, "value": "org:sponsor"}]},
           "request": {"method": "POST", "url": "Organization", "ifNoneExist": f"identifier={SYS}|org:sponsor"}}
    study = {"fullUrl": f"urn:uuid:10000000-0000-4000-8000-{int(nct[3:]):012d}",
             "resource": {"resourceType": "ResearchStudy", "status": "active", "title": f"Trial {nct}",
                          "identifier": [{"system": SYS, "value": nct}], "sponsor": {"reference": org["fullUrl"]}},
             "request": {"method": "POST", "url": "ResearchStudy", "ifNoneExist": f"identifier={SYS}|{nct}"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [study, org]}


def trial_file(tmp_path: Path, nct: str = "NCT00000017") -> Path:
    path = tmp_path / f"{nct}.json"
    path.write_text(json.dumps(trial_bundle(nct)))
    return path


def trial_dir(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "trials"
    folder.mkdir()
    for n in range(count):
        trial_file(folder, f"NCT{n + 1:08d}")
    return folder


def patients() -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(PATIENTS.glob("*.ndjson")) for line in f.read_text().splitlines()]


def one_error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


# -- answers that never end -----------------------------------------------------------------------------------

def test_drip_feed_is_cut_by_the_deadline(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("GET", r"/metadata", drip(0.2))
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BEARER, "--deadline", "3"], tmp_path)
    assert run.code == 5 and run.seconds < 20
    assert one_error_line(run.err) == (f"error: {hostile.base}: the run's deadline of 3 s (--deadline) was reached")


def test_endless_body_is_cut_by_the_deadline(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("GET", r"/metadata", endless)
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BEARER, "--deadline", "3"], tmp_path)
    assert run.code == 5 and run.seconds < 25
    line = one_error_line(run.err)
    assert line.startswith(f"error: {hostile.base}: ") and ("deadline of 3 s" in line or "larger than 512 MiB" in line)


def test_gzip_bomb_stops_at_the_size_cap(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("GET", r"/metadata", gzip_bomb)
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5
    assert one_error_line(run.err) == f"error: {hostile.base}: the answer is larger than 512 MiB"
    assert len(hostile.requests("GET", "/metadata")) == 1  # never retried


# -- writes whose answer is lost or wrong ---------------------------------------------------------------------

def test_reset_after_commit_is_read_back_as_created(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("POST", r"^/fhir/?$", reset(commit_first=True))
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BEARER, "--format", "json",
                   "-q"], tmp_path)
    assert run.code == 0, run.err
    assert "rejected" not in run.err and "nothing written" not in run.err
    assert "transaction outcome unknown (the answer was lost (" in run.err
    assert "read back from the server: 2 of 2 resources on the server as sent" in run.err
    report = json.loads(run.out)
    assert report["summary"] == {"created": 2}
    assert [r["status"] for r in report["inputs"][0]["resources"]] == ["read back", "read back"]


def test_reset_before_commit_is_read_back_as_nothing_written(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("POST", r"^/fhir/?$", reset(commit_first=False))
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5
    assert "transaction rejected" not in run.err
    assert "read back from the server: none of the 2 resources on the server as sent: nothing was written" in run.err
    assert not hostile.store


def test_html_200_to_a_transaction_is_an_unknown_outcome_not_a_rejection(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("POST", r"^/fhir/?$", html_200)
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BASIC], tmp_path)
    assert run.code == 5
    assert "rejected" not in run.err and "→ 200" not in run.err
    assert ("transaction outcome unknown (the server answered 200 without a transaction-response Bundle (server "
            "answered text/html instead of FHIR JSON (status 200)))") in run.err


def test_operation_outcome_200_is_an_unknown_outcome(hostile: Hostile, tmp_path: Path) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
                                                              "diagnostics": "accepted for processing"}]}
    hostile.on("POST", r"^/fhir/?$", answer_json(200, outcome))
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5
    assert "the server answered 200 with OperationOutcome instead of a transaction-response Bundle" in run.err


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_an_outcome_echoing_the_authorization_header_leaks_nothing(
    hostile: Hostile, tmp_path: Path, auth: str
) -> None:
    hostile.on("POST", r"^/fhir/?$", echo_authorization(422))
    hostile.on("GET", r"/ResearchStudy\?", echo_authorization(400))
    for extra in ([], ["--verbose"], ["--debug"]):
        run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base,
                       *(BEARER if auth == "bearer" else BASIC), *extra], tmp_path)
        assert run.code != 0 and "request had Authorization" in run.err
        assert "***" in run.err


# -- servers that are down --------------------------------------------------------------------------------------

def test_503_storm_is_retried_then_one_line(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("GET", r"/metadata", storm(503))
    run = run_cli(["push", str(trial_dir(tmp_path, 13)), "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5
    assert one_error_line(run.err) == "error: GET metadata → 503: error transient: try later"
    assert len(hostile.requests("GET", "/metadata")) == 5


def test_a_server_dying_after_metadata_is_retried_once_for_13_inputs(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("GET", r"\?identifier=", reset(commit_first=False))
    run = run_cli(["push", str(trial_dir(tmp_path, 13)), "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5 and run.seconds < 30
    reads = hostile.requests("GET", "?identifier=")
    assert len(reads) == 5  # one read with its retries; the 12 other inputs send nothing
    assert "error: 12 input(s) not pushed: cannot reach" in run.err
    assert not hostile.requests("POST")


def test_a_refused_port_fails_once(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_cli(["push", str(trial_dir(tmp_path, 13)), "--server", f"http://127.0.0.1:{port}/fhir", *BEARER],
                  tmp_path)
    assert run.code == 5 and run.seconds < 30
    assert one_error_line(run.err).startswith(f"error: cannot reach http://127.0.0.1:{port}/fhir: ConnectError")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """An HTTPS server with a self-signed certificate; yields its base URL and a list counting TLS handshakes."""
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handshakes: list[int] = []

    class TlsServer(ThreadingHTTPServer):
        def get_request(self) -> tuple[socket.socket, Any]:
            conn, address = self.socket.accept()
            handshakes.append(1)
            return context.wrap_socket(conn, server_side=True), address

        def handle_error(self, request: Any, client_address: Any) -> None:
            return  # the client refusing our certificate is the point

    server = TlsServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/fhir", handshakes
    finally:
        server.shutdown()
        server.server_close()


def test_a_bad_certificate_is_one_line_and_never_retried(tls_server: tuple[str, list[int]], tmp_path: Path) -> None:
    base, handshakes = tls_server
    run = run_cli(["push", str(trial_dir(tmp_path, 3)), "--server", base, *BEARER], tmp_path)
    assert run.code == 5 and run.seconds < 20
    line = one_error_line(run.err)
    assert line.startswith(f"error: {base}: TLS certificate verification failed (")
    assert "certificate" in line and "not retried" in line
    assert len(handshakes) == 1


# -- paging and redirects ---------------------------------------------------------------------------------------

SCREEN = ["screen", str(SAMPLE), "--as-of", "2025-01-01", "--no-prefilter", "--format", "json"]


def test_a_next_loop_is_stopped(hostile: Hostile, tmp_path: Path) -> None:
    hostile.load(patients())
    hostile.on("GET", r"^/fhir/Patient\?.*_elements=id", next_to(lambda h: f"{h.base}/Patient?_elements=id&_count=1000",
                                                               [{"resourceType": "Patient", "id": "p1"}]))
    run = run_cli([*SCREEN, "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5
    assert "page loop, the server sent the same next link twice" in one_error_line(run.err)


def test_a_foreign_next_link_is_refused_and_gets_no_token(hostile: Hostile, tmp_path: Path) -> None:
    hostile.load(patients())
    hostile.on("GET", r"^/fhir/Patient\?.*_elements=id", next_to(lambda h: f"{h.other}/Patient?page=2",
                                                               [{"resourceType": "Patient", "id": "p1"}]))
    run = run_cli([*SCREEN, "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5
    assert f"refusing next link to foreign origin http://127.0.0.1:{hostile.ports[1]}" in one_error_line(run.err)
    assert not [s for s in hostile.seen if s.port == hostile.ports[1]]


def test_a_foreign_redirect_is_refused_and_gets_no_token(hostile: Hostile, tmp_path: Path) -> None:
    hostile.on("GET", r"/metadata", redirect(lambda h: f"{h.other}/metadata"))
    run = run_cli(["push", str(trial_file(tmp_path)), "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 5
    assert "refusing redirect to foreign origin" in one_error_line(run.err)
    assert not [s for s in hostile.seen if s.port == hostile.ports[1]]


# -- screening: a deadline, a flood of data for one patient -------------------------------------------------------

def test_screen_deadline_writes_the_partial_report_marked_incomplete(hostile: Hostile, tmp_path: Path) -> None:
    hostile.load(patients())
    hostile.on("GET", r"^/fhir/Patient\?.*_id=smp-unit-variants", drip(0.2))  # the last patient never comes
    output = tmp_path / "out" / "screen.json"
    run = run_cli([*SCREEN, "--server", hostile.base, *BEARER, "--concurrency", "1", "--deadline", "12",
                   "-o", str(output)], tmp_path)
    assert run.code == 5, run.err
    assert one_error_line(run.err).startswith(
        "error: screening stopped: the deadline of 12 s (--deadline) was reached after ")
    report = json.loads(output.read_text())
    assert report["incomplete"].startswith("the deadline of 12 s (--deadline) was reached after ")
    assert 0 < len(report["patients"]) < 25
    assert "Patient/smp-unit-variants" not in {p["patient"] for p in report["patients"]}


def test_a_patient_over_the_entry_cap_is_needs_review_and_the_others_go_on(hostile: Hostile, tmp_path: Path) -> None:
    flood = [{"resourceType": "Observation", "id": f"flood-{n}", "status": "final",
              "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
              "subject": {"reference": "Patient/smp-zz-flood"}, "valueQuantity": {"value": 70 + n % 5}}
             for n in range(60)]
    hostile.load([*patients(), {"resourceType": "Patient", "id": "smp-zz-flood", "birthDate": "1970-01-01",
                                "gender": "female"}, *flood])
    output = tmp_path / "out" / "screen.json"
    run = run_cli([*SCREEN, "--server", hostile.base, *BEARER, "--max-patient-entries", "30", "-o", str(output)],
                  tmp_path)
    assert run.code == 0, run.err
    by_patient = {p["patient"]: p for p in json.loads(output.read_text())["patients"]}
    assert len(by_patient) == 26
    flooded = by_patient["Patient/smp-zz-flood"]
    assert flooded["verdict"] == "needs-review"
    assert flooded["reason"].startswith("the server holds more than 30 entries for one patient")
    assert by_patient["Patient/smp-eligible"]["verdict"] != "needs-review" or "30 entries" not in (
        by_patient["Patient/smp-eligible"]["reason"])


# -- push DIR -----------------------------------------------------------------------------------------------------

def test_push_a_directory_with_a_bad_file(hostile: Hostile, tmp_path: Path) -> None:
    folder = trial_dir(tmp_path, 3)
    (folder / "NCT00000002.json").write_text("{ this is not json")
    run = run_cli(["push", str(folder), "--server", hostile.base, *BEARER], tmp_path)
    assert run.code == 2
    assert f"error: {folder / 'NCT00000002.json'}:" in run.err and "push failed for 1 of 3 input(s)" in run.err
    assert {v for (t, v) in hostile.store if t == "ResearchStudy"} == {"NCT00000001", "NCT00000003"}


# -- the canary scan: must stay last ----------------------------------------------------------------------------

def test_zz_no_canary_secret_in_any_output() -> None:
    """Every run above carried the canary token and password; none of them, nor the basic credentials' base64,
    appears in any stdout, stderr or written file."""
    basic = base64.b64encode(f"canary-user:{CANARY_PASSWORD}".encode()).decode()
    assert RUNS, "run the whole module: the scan reads the runs of the scenarios above"
    leaks = [(n, secret) for n, run in enumerate(RUNS) for secret in (CANARY_TOKEN, CANARY_PASSWORD, basic)
             if secret in run.text()]
    assert leaks == []
    assert len(RUNS) >= 23  # every scenario ran in this session
