"""The CDS Hooks service over a real uvicorn server on 127.0.0.1: discovery, patient-view cards from prefetch
(equal to `match` for every sample patient), partial prefetch, JWT checks, feedback and metrics."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from fhir_adapter.matching import LocalData, Matcher
from fhir_adapter.service.app import create_app
from fhir_adapter.service.catalog import Catalog, load_catalog
from fhir_adapter.service.security import TokenVerifier
from fhir_adapter.service.testing import running

ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "samples" / "NCT06577194.txt"
SAMPLES = ROOT / "samples" / "patients" / "data"
ISSUER = "https://ehr.example.org"
HOOK = "/cds-services/trial-matching"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([TRIAL])


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-384")


@pytest.fixture(scope="module")
def server(catalog: Catalog, key: ECKey) -> Iterator[str]:
    verifier = TokenVerifier({ISSUER: KeySet([key])})
    with running(create_app(catalog, verifier=verifier)) as base:
        yield base


def token(key: ECKey, audience: str, **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": audience, "exp": int(time.time()) + 300, "jti": str(uuid.uuid4()),
            "sub": "ehr-client", **claims}
    return jwt.encode({"alg": "ES384", "typ": "JWT"}, body, key, algorithms=["ES384"])


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}


def prefetch_of(data: LocalData, patient_id: str, catalog: Catalog) -> dict[str, Any]:
    """What an EHR returns for the service's prefetch templates (the whole record of each type)."""
    out: dict[str, Any] = {"patient": data.patient(patient_id)}
    for key in catalog.prefetch():
        if key == "patient":
            continue
        resource_type = key[:1].upper() + key[1:-1]
        out[key] = searchset(list(data.resources(patient_id, resource_type)))
    return out


def hook(base: str, key: ECKey, patient_id: str, **extra: Any) -> httpx.Response:
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"patientId": patient_id,
            "userId": "Practitioner/1"}, **extra}
    headers = {"Authorization": f"Bearer {token(key, base + HOOK)}"}
    return httpx.post(base + HOOK, json=body, headers=headers, timeout=30)


def test_discovery_offers_patient_view_with_prefetch_from_the_criteria(server: str) -> None:
    services = httpx.get(server + "/cds-services", timeout=10).json()["services"]
    service, order = services
    assert (service["hook"], service["id"]) == ("patient-view", "trial-matching")
    assert (order["hook"], order["id"]) == ("order-select", "trial-matching-order")
    assert order["prefetch"] == service["prefetch"]
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert prefetch["conditions"] == "Condition?patient={{context.patientId}}"
    assert prefetch["observations"].startswith("Observation?patient={{context.patientId}}&code=http://loinc.org|")
    assert "751-8" in prefetch["observations"]  # neutrophils, from the compiled criteria
    assert all("date" not in template for template in prefetch.values())  # no relative-date token in CDS Hooks 2.0


def test_cards_from_prefetch_equal_match_for_every_sample_patient(server: str, key: ECKey, catalog: Catalog) -> None:
    data = LocalData(SAMPLES)
    matcher = Matcher(catalog.trials[0].criteria.atoms, as_of=date.today())
    for patient_id in sorted(data.patient_ids()):
        answer = hook(server, key, patient_id, prefetch=prefetch_of(data, patient_id, catalog))
        assert answer.status_code == 200, answer.text
        found = answer.json()["cards"]
        verdict = matcher.evaluate(data, patient_id)
        if verdict.verdict == "ineligible":
            assert found == [], patient_id
            continue
        [card] = found
        assert len(card["summary"]) <= 140 and "NCT06577194" in card["summary"]
        assert verdict.reason in card["detail"]
        for item in verdict.open_items:
            assert item in card["detail"]
        subject = card["suggestions"][0]["actions"][0]["resource"]
        assert subject["resourceType"] == "ResearchSubject" and subject["status"] == "candidate"
        assert subject["individual"]["reference"] == f"Patient/{patient_id}"
        assert card["links"][0]["url"] == "https://clinicaltrials.gov/study/NCT06577194"
        assert {r["code"] for r in card["overrideReasons"]} >= {"not-interested", "already-screened"}


def test_a_whole_prefetch_decides_not_a_candidate_and_a_paged_one_does_not(
    server: str, key: ECKey, catalog: Catalog
) -> None:
    data = LocalData(SAMPLES)
    whole = prefetch_of(data, "smp-no-diagnosis", catalog)
    assert hook(server, key, "smp-no-diagnosis", prefetch=whole).json()["cards"] == []
    paged = json.loads(json.dumps(whole))
    paged["conditions"]["link"] = [{"relation": "next", "url": "http://127.0.0.1:1/fhir/Condition?page=2"}]
    [card] = hook(server, key, "smp-no-diagnosis", prefetch=paged).json()["cards"]
    assert card["summary"].startswith("Possibly eligible")  # the diagnosis may be on the next page


def test_without_prefetch_or_server_there_are_no_cards(server: str, key: ECKey) -> None:
    answer = hook(server, key, "smp-eligible")
    assert answer.status_code == 200 and answer.json()["cards"] == []


def test_a_server_that_does_not_answer_gives_no_cards_quickly(server: str, key: ECKey) -> None:
    started = time.monotonic()
    answer = hook(server, key, "smp-eligible", fhirServer="http://127.0.0.1:1/fhir",
                  fhirAuthorization={"access_token": "tok-never-logged", "token_type": "Bearer",
                                     "scope": "patient/*.read", "subject": "app"})
    assert answer.status_code == 200 and answer.json()["cards"] == []
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "a bearer token is required"),
        ({"Authorization": "Bearer not-a-jwt"}, "malformed token"),
    ],
)
def test_calls_without_a_good_token_are_refused(server: str, headers: dict[str, str], reason: str) -> None:
    body = {"hook": "patient-view", "hookInstance": "1", "context": {"patientId": "smp-eligible"}}
    answer = httpx.post(server + HOOK, json=body, headers=headers, timeout=10)
    assert (answer.status_code, answer.json()["detail"]) == (401, reason)


def test_wrong_audience_expired_foreign_and_replayed_tokens_are_refused(server: str, key: ECKey) -> None:
    body = {"hook": "patient-view", "hookInstance": "1", "context": {"patientId": "smp-eligible"}}
    other = ECKey.generate_key("P-384")
    cases = [
        (token(key, "http://elsewhere/cds-services/trial-matching"), "wrong audience"),
        (token(key, server + HOOK, exp=int(time.time()) - 3600), "expired token"),
        (token(other, server + HOOK), "bad signature"),
        (token(key, server + HOOK, iss="https://unknown.example"), "untrusted issuer"),
    ]
    for value, reason in cases:
        answer = httpx.post(server + HOOK, json=body, headers={"Authorization": f"Bearer {value}"}, timeout=10)
        assert (answer.status_code, answer.json()["detail"]) == (401, reason)
    once = token(key, server + HOOK)
    first = httpx.post(server + HOOK, json=body, headers={"Authorization": f"Bearer {once}"}, timeout=10)
    again = httpx.post(server + HOOK, json=body, headers={"Authorization": f"Bearer {once}"}, timeout=10)
    assert first.status_code == 200 and (again.status_code, again.json()["detail"]) == (401, "token replayed")


def test_feedback_is_counted_in_the_metrics(server: str, key: ECKey) -> None:
    before = httpx.get(server + "/metrics", timeout=10).json()
    body = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted"},
                         {"card": str(uuid.uuid4()), "outcome": "overridden"}]}
    headers = {"Authorization": f"Bearer {token(key, server + HOOK + '/feedback')}"}
    assert httpx.post(server + HOOK + "/feedback", json=body, headers=headers, timeout=10).status_code == 200
    after = httpx.get(server + "/metrics", timeout=10).json()
    assert after.get("feedback-accepted", 0) == before.get("feedback-accepted", 0) + 1
    assert after.get("feedback-overridden", 0) == before.get("feedback-overridden", 0) + 1


def test_serve_refuses_to_run_open_or_exposed(capsys: pytest.CaptureFixture[str]) -> None:
    from fhir_adapter.cli import main

    for args, message in (
        (["serve", "--trials", str(TRIAL)], "give --trusted-issuer ISSUER=JWKS_FILE"),
        (["serve", "--demo", "--host", "0.0.0.0"], "--demo accepts calls without a token"),
        (["serve", "--trusted-issuer", "no-equals-sign", "--trials", str(TRIAL)], "must be ISSUER=JWKS_FILE"),
        (["serve", "--trusted-issuer", "https://ehr=/no/such.json", "--trials", str(TRIAL)],
         "error: /no/such.json: cannot read the JWKS"),
        (["serve", "--trusted-issuer", f"https://ehr={TRIAL}", "--trials", str(TRIAL)], "not a JWKS"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and "internal error" not in err


def test_inactive_trials_are_not_served(tmp_path: Path) -> None:
    record = json.loads((ROOT / "samples" / "ctgov").glob("*.json").__next__().read_text())
    record["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    path = tmp_path / "done.json"
    path.write_text(json.dumps(record))
    catalog = load_catalog([TRIAL, path])
    assert [t.id for t in catalog.trials] == ["NCT06577194"]
    assert any("not recruiting (COMPLETED)" in line for line in catalog.skipped)


def test_a_body_too_large_is_refused_before_it_is_read(server: str) -> None:
    """The declared length alone gets a 413: the service does not wait for 64 MB to arrive."""
    host, port = server.removeprefix("http://").split(":")
    request = (
        f"POST {HOOK} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {64 * 1024 * 1024}\r\nConnection: close\r\n\r\n{{}}"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        status_line = sock.recv(200).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413")


def test_a_fhir_server_that_never_answers_gives_no_cards_within_the_budget(server: str, key: ECKey) -> None:
    """A server that accepts the connection and says nothing: the call ends after the FHIR timeout, without cards."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            conn, _ = listener.accept()
            held.append(conn)  # never answered
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    started = time.monotonic()
    try:
        answer = hook(server, key, "smp-eligible", fhirServer=f"http://127.0.0.1:{port}/fhir")
    finally:
        listener.close()
        for conn in held:
            conn.close()
    assert answer.status_code == 200 and answer.json()["cards"] == []
    assert time.monotonic() - started < 15
