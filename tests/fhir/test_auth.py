"""Auth flows: bearer, basic, SMART Backend Services (client assertion decoded and checked)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fhir_fakes import BASE, Sleeps
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from fhir_adapter.errors import AuthError, UsageError
from fhir_adapter.fhir import BasicAuth, BearerAuth, FhirClient, SmartBackendAuth, auth_from_options
from fhir_adapter.fhir.auth import load_private_key

TOKEN_URL = "https://auth.test/oauth/token"
PATIENT = {"resourceType": "Patient", "id": "p1"}
FHIR = {"Content-Type": "application/fhir+json"}


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_reply(value: str, expires_in: int = 300) -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "token_type": "bearer", "expires_in": expires_in})


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "ec-1"}, private=True)


def smart(key: RSAKey | ECKey, clock: Clock, **kwargs: object) -> SmartBackendAuth:
    alg = "RS384" if isinstance(key, RSAKey) else "ES384"
    args: dict[str, object] = {"token_url": TOKEN_URL, **kwargs}
    return SmartBackendAuth(client_id="my-app", key=key, key_id=str(key.kid), alg=alg, clock=clock,
                            **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_token_request_carries_a_valid_client_assertion(
    mock: respx.MockRouter, sleeps: Sleeps, rsa_key: RSAKey, ec_key: ECKey, alg: str
) -> None:
    key = rsa_key if alg == "RS384" else ec_key
    clock = Clock()
    token = mock.post(TOKEN_URL).mock(side_effect=[token_reply("tok-1", 300), token_reply("tok-2", 300)])
    api = mock.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(200, json=PATIENT, headers=FHIR))
    auth = smart(key, clock, scope="system/Patient.rs system/Observation.rs")
    with FhirClient(BASE, auth=auth, sleep=sleeps) as fhir:
        fhir.read("Patient", "p1")
        clock.now += 250  # 50 s left on tok-1: inside the 60 s margin, so a new token is fetched
        fhir.read("Patient", "p1")
    assert token.call_count == 2
    assert [c.request.headers["Authorization"] for c in api.calls] == ["Bearer tok-1", "Bearer tok-2"]
    jtis = []
    for call in token.calls:
        sent = form(call.request)
        assert sent["grant_type"] == "client_credentials"
        assert sent["scope"] == "system/Patient.rs system/Observation.rs"
        assert sent["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        decoded = jwt.decode(sent["client_assertion"], key, algorithms=[alg])
        assert decoded.header == {"alg": alg, "kid": key.kid, "typ": "JWT"}
        claims = decoded.claims
        assert claims["iss"] == claims["sub"] == "my-app"
        assert claims["aud"] == TOKEN_URL
        assert 0 < claims["exp"] - claims["iat"] <= 300
        jtis.append(claims["jti"])
    assert len(set(jtis)) == 2


def test_smart_token_cached_between_requests(mock: respx.MockRouter, sleeps: Sleeps, rsa_key: RSAKey) -> None:
    token = mock.post(TOKEN_URL).mock(return_value=token_reply("tok", 3600))
    mock.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(200, json=PATIENT, headers=FHIR))
    with FhirClient(BASE, auth=smart(rsa_key, Clock()), sleep=sleeps) as fhir:
        for _ in range(3):
            fhir.read("Patient", "p1")
    assert token.call_count == 1


def test_smart_discovers_token_endpoint(mock: respx.MockRouter, sleeps: Sleeps, rsa_key: RSAKey) -> None:
    discovery = mock.get(f"{BASE}/.well-known/smart-configuration").mock(
        return_value=httpx.Response(200, json={"token_endpoint": TOKEN_URL})
    )
    token = mock.post(TOKEN_URL).mock(return_value=token_reply("tok"))
    mock.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(200, json=PATIENT, headers=FHIR))
    auth = smart(rsa_key, Clock(), token_url=None, fhir_base_url=BASE)
    with FhirClient(BASE, auth=auth, sleep=sleeps) as fhir:
        fhir.read("Patient", "p1")
    assert discovery.call_count == 1 and token.call_count == 1
    assert "Authorization" not in discovery.calls[0].request.headers
    assert jwt.decode(form(token.calls[0].request)["client_assertion"], rsa_key,
                      algorithms=["RS384"]).claims["aud"] == TOKEN_URL


def test_expired_token_refreshed_once_then_auth_error(
    mock: respx.MockRouter, sleeps: Sleeps, rsa_key: RSAKey
) -> None:
    token = mock.post(TOKEN_URL).mock(side_effect=[token_reply("old"), token_reply("new"), token_reply("newer"),
                                                   token_reply("newest")])
    api = mock.get(f"{BASE}/Patient/p1").mock(side_effect=[
        httpx.Response(401), httpx.Response(200, json=PATIENT, headers=FHIR),  # revoked, then fine
        httpx.Response(401), httpx.Response(401),  # refused even with a fresh token
    ])
    with FhirClient(BASE, auth=smart(rsa_key, Clock()), sleep=sleeps) as fhir:
        assert fhir.read("Patient", "p1") == PATIENT
        assert [c.request.headers["Authorization"] for c in api.calls] == ["Bearer old", "Bearer new"]
        with pytest.raises(AuthError) as err:
            fhir.read("Patient", "p1")
    assert "refused a freshly issued SMART access token (401)" in err.value.one_line()
    assert "newest" not in err.value.one_line()
    assert token.call_count == 3
    assert err.value.exit_code == 6


def test_token_endpoint_error_is_explained(mock: respx.MockRouter, sleeps: Sleeps, rsa_key: RSAKey) -> None:
    mock.post(TOKEN_URL).mock(return_value=httpx.Response(
        400, json={"error": "invalid_client", "error_description": "unknown kid"}))
    with FhirClient(BASE, auth=smart(rsa_key, Clock()), sleep=sleeps) as fhir, pytest.raises(AuthError) as err:
        fhir.read("Patient", "p1")
    assert err.value.one_line() == f"token request to {TOKEN_URL} failed (400): invalid_client: unknown kid"


def test_bearer_401_is_auth_error_and_repr_masks(mock: respx.MockRouter, sleeps: Sleeps) -> None:
    auth = BearerAuth("very-secret")
    assert "very-secret" not in repr(auth)
    mock.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(401))
    with FhirClient(BASE, auth=auth, sleep=sleeps) as fhir, pytest.raises(AuthError) as err:
        fhir.read("Patient", "p1")
    assert "very-secret" not in err.value.one_line()


def test_bearer_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FHIR_TOKEN", "from-env")
    path = tmp_path / "token"
    path.write_text("from-file\n")
    for auth, value in ((BearerAuth.from_env("FHIR_TOKEN"), "from-env"), (BearerAuth.from_file(path), "from-file")):
        request = httpx.Request("GET", BASE)
        next(auth.auth_flow(request))
        assert request.headers["Authorization"] == f"Bearer {value}"
    monkeypatch.delenv("FHIR_TOKEN")
    with pytest.raises(UsageError, match="FHIR_TOKEN is not set"):
        BearerAuth.from_env("FHIR_TOKEN")


def test_basic_auth_header_and_repr() -> None:
    auth = BasicAuth("alice", "pw!")
    request = httpx.Request("GET", BASE)
    next(auth.auth_flow(request))
    assert request.headers["Authorization"] == "Basic YWxpY2U6cHch"
    assert "pw!" not in repr(auth)


def test_private_key_from_pem_jwks_and_wrong_type(tmp_path: Path, rsa_key: RSAKey, ec_key: ECKey) -> None:
    pem = tmp_path / "key.pem"
    pem.write_bytes(rsa_key.as_pem(private=True))
    key, kid = load_private_key(pem, "RS384")
    assert isinstance(key, RSAKey) and kid == rsa_key.thumbprint()
    assert load_private_key(pem, "RS384", "given")[1] == "given"
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps({"keys": [rsa_key.as_dict(private=False), ec_key.as_dict(private=True)]}))
    key, kid = load_private_key(jwks, "ES384")
    assert isinstance(key, ECKey) and kid == "ec-1"
    with pytest.raises(UsageError, match="no private RSA key"):
        load_private_key(jwks, "RS384")  # only the public half of the RSA key is in the set
    with pytest.raises(UsageError):
        load_private_key(pem, "ES384")


def test_auth_from_options(tmp_path: Path, rsa_key: RSAKey, monkeypatch: pytest.MonkeyPatch) -> None:
    assert auth_from_options("none") is None
    with pytest.raises(UsageError, match="exactly one of --token-env"):
        auth_from_options("bearer")
    with pytest.raises(UsageError, match="--username and --password-env"):
        auth_from_options("basic", username="a")
    monkeypatch.setenv("PW", "x")
    assert isinstance(auth_from_options("basic", username="a", password_env="PW"), BasicAuth)
    with pytest.raises(UsageError, match="--client-id and --private-key"):
        auth_from_options("smart", client_id="c")
    key = tmp_path / "k.json"
    key.write_text(json.dumps(rsa_key.as_dict(private=True)))
    auth = auth_from_options("smart", client_id="c", private_key=key, base_url=BASE)
    assert isinstance(auth, SmartBackendAuth) and auth.key_id == "rsa-1" and auth.scope == "system/*.rs"
    assert "'d'" not in repr(auth) and rsa_key.as_dict(private=True)["d"] not in repr(auth)
