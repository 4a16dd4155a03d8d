"""Authentication for FHIR servers, as :class:`httpx.Auth` flows.

- :class:`BearerAuth`: a static token read from an environment variable or a file;
- :class:`BasicAuth`: user name and password (password from an environment variable in the CLI);
- :class:`SmartBackendAuth`: SMART Backend Services (OAuth2 ``client_credentials`` with a
  ``private_key_jwt`` client assertion signed RS384 or ES384 with joserfc).

Secrets never appear in ``repr``, messages or logs. The token and discovery requests are
yielded from the flow, so they use the client's transport (and its tests' mocks).
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from joserfc import jwk, jwt

from fhir_adapter.errors import AuthError, UsageError
from fhir_adapter.redact import register_secret

AuthKind = Literal["none", "bearer", "basic", "smart"]
SigningAlg = Literal["RS384", "ES384"]
DEFAULT_SCOPE = "system/*.rs"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # seconds; SMART caps exp at now + 5 minutes
REFRESH_MARGIN = 60  # seconds before expiry when a cached token is replaced
PrivateKey = jwk.RSAKey | jwk.ECKey


def _refused(status: int, what: str) -> AuthError:
    return AuthError(f"the FHIR server refused the {what} ({status}); check the credentials and their scopes")


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` with a fixed token; a 401 is a clear :class:`AuthError`."""

    def __init__(self, token: str) -> None:
        token = token.strip()
        if not token:
            raise UsageError("the bearer token is empty")
        self._token = token
        register_secret(token)

    @classmethod
    def from_env(cls, variable: str) -> BearerAuth:
        value = os.environ.get(variable)
        if not value:
            raise UsageError(f"environment variable {variable} is not set or empty (expected a bearer token)")
        return cls(value)

    @classmethod
    def from_file(cls, path: str | Path) -> BearerAuth:
        try:
            return cls(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read the token file: {exc.strerror}", source=str(path)) from exc

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            raise _refused(401, "bearer token")


class BasicAuth(httpx.Auth):
    """HTTP Basic authentication; the password never shows in ``repr``."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        register_secret(password)
        register_secret(self._header.removeprefix("Basic "))

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code == 401:
            raise _refused(401, "user name and password")


def load_private_key(path: str | Path, alg: SigningAlg, key_id: str | None = None) -> tuple[PrivateKey, str]:
    """A private signing key and its kid from a JWK / JWK Set (JSON) or a PEM file.

    The kid is ``key_id`` when given, else the JWK's ``kid``, else the RFC 7638 thumbprint.
    """
    key_type: Literal["RSA", "EC"] = "RSA" if alg == "RS384" else "EC"
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the private key: {exc.strerror}", source=source) from exc
    try:
        if raw.lstrip().startswith(b"{"):
            data = json.loads(raw)
            candidates = data["keys"] if isinstance(data.get("keys"), list) else [data]
            chosen = [
                k for k in candidates
                if k.get("kty") == key_type and "d" in k and (key_id is None or k.get("kid") == key_id)
            ]
            if not chosen:
                wanted = f"private {key_type} key" + (f" with kid {key_id}" if key_id else "")
                raise UsageError(f"no {wanted} in this JWK file (alg {alg})", source=source)
            key = jwk.import_key(chosen[0], key_type)
        else:
            key = jwk.import_key(raw, key_type)
    except UsageError:
        raise
    except Exception as exc:  # joserfc and cryptography raise various types for unreadable keys
        raise UsageError(f"not a {key_type} private key usable for {alg}: {type(exc).__name__}", source=source) from exc
    if not isinstance(key, jwk.RSAKey | jwk.ECKey) or not key.is_private:
        raise UsageError(f"not a private {key_type} key", source=source)
    if isinstance(key, jwk.ECKey) and key.curve_name != "P-384":
        raise UsageError(f"ES384 needs a P-384 key, this one is {key.curve_name}", source=source)
    return key, key_id or key.kid or key.thumbprint()


@dataclass
class _Token:
    value: str
    expires_at: float


class SmartBackendAuth(httpx.Auth):
    """SMART Backend Services: a cached access token from a signed client assertion.

    The token endpoint is ``token_url``, else discovered from
    ``<fhir_base_url>/.well-known/smart-configuration``. The token is reused until 60 s before
    it expires; a 401 from the FHIR server gets one fresh token and one retry, then an AuthError.
    """

    requires_response_body = True

    def __init__(
        self,
        *,
        client_id: str,
        key: PrivateKey,
        key_id: str,
        alg: SigningAlg = "RS384",
        token_url: str | None = None,
        fhir_base_url: str | None = None,
        scope: str = DEFAULT_SCOPE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if token_url is None and fhir_base_url is None:
            raise UsageError("SMART auth needs a token URL or the FHIR base URL to discover it")
        self.client_id = client_id
        self.alg = alg
        self.key_id = key_id
        self.scope = scope
        self._key = key
        self._token_url = token_url
        self._fhir_base_url = fhir_base_url.rstrip("/") if fhir_base_url else None
        self._clock = clock
        self._token: _Token | None = None

    @classmethod
    def from_key_file(
        cls, path: str | Path, *, client_id: str, alg: SigningAlg = "RS384", key_id: str | None = None,
        **kwargs: Any,
    ) -> SmartBackendAuth:
        key, kid = load_private_key(path, alg, key_id)
        return cls(client_id=client_id, key=key, key_id=kid, alg=alg, **kwargs)

    def __repr__(self) -> str:
        return f"SmartBackendAuth(client_id={self.client_id!r}, alg={self.alg!r}, kid={self.key_id!r}, key='***')"

    # -- pure pieces --------------------------------------------------------------------
    def client_assertion(self, token_url: str) -> str:
        """The signed JWT: iss = sub = client id, aud = token URL, exp = now + 5 min, a fresh jti."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "exp": now + ASSERTION_LIFETIME,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": self.alg, "kid": self.key_id, "typ": "JWT"}
        return jwt.encode(header, claims, self._key, algorithms=[self.alg])

    def _token_request(self, token_url: str) -> httpx.Request:
        assertion = self.client_assertion(token_url)
        register_secret(assertion)
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        return httpx.Request("POST", token_url, data=form, headers={"Accept": "application/json"})

    def _discovery_request(self) -> httpx.Request:
        return httpx.Request(
            "GET", f"{self._fhir_base_url}/.well-known/smart-configuration", headers={"Accept": "application/json"}
        )

    def _read_discovery(self, response: httpx.Response) -> str:
        where = str(response.request.url)
        try:
            token_url = response.json().get("token_endpoint") if response.is_success else None
        except ValueError:
            token_url = None
        if not isinstance(token_url, str) or not token_url:
            raise AuthError(
                f"no token_endpoint in {where} (status {response.status_code}); give the token URL (--token-url)"
            )
        return token_url

    def _read_token(self, response: httpx.Response, token_url: str) -> _Token:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if not response.is_success:
            detail = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
            raise AuthError(
                f"token request to {token_url} failed ({response.status_code})" + (f": {detail}" if detail else "")
            )
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(f"token endpoint {token_url} answered without an access_token")
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else float(ASSERTION_LIFETIME)
        register_secret(value)
        return _Token(value, self._clock() + seconds)

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._token.expires_at - REFRESH_MARGIN

    # -- the flow -----------------------------------------------------------------------
    def _acquire(self) -> Generator[httpx.Request, httpx.Response, _Token]:
        if self._token_url is None:
            self._token_url = self._read_discovery((yield self._discovery_request()))
        token_url = self._token_url
        self._token = self._read_token((yield self._token_request(token_url)), token_url)
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._fresh() or self._token is None:
            yield from self._acquire()
        assert self._token is not None
        request.headers["Authorization"] = f"Bearer {self._token.value}"
        response = yield request
        if response.status_code != 401:
            return
        token = yield from self._acquire()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            raise AuthError(
                "the FHIR server refused a freshly issued SMART access token (401); "
                f"check that client {self.client_id!r} is registered with scope {self.scope!r}"
            )


def auth_from_options(
    kind: AuthKind,
    *,
    base_url: str | None = None,
    token_env: str | None = None,
    token_file: str | Path | None = None,
    username: str | None = None,
    password_env: str | None = None,
    client_id: str | None = None,
    private_key: str | Path | None = None,
    key_id: str | None = None,
    alg: SigningAlg = "RS384",
    token_url: str | None = None,
    scope: str = DEFAULT_SCOPE,
) -> httpx.Auth | None:
    """The auth flow the CLI options describe; a :class:`UsageError` naming what is missing."""
    if kind == "none":
        return None
    if kind == "bearer":
        if bool(token_env) == bool(token_file):
            raise UsageError("--auth bearer needs exactly one of --token-env VAR or --token-file PATH")
        return BearerAuth.from_env(token_env) if token_env else BearerAuth.from_file(str(token_file))
    if kind == "basic":
        if not username or not password_env:
            raise UsageError("--auth basic needs --username and --password-env VAR")
        password = os.environ.get(password_env)
        if password is None:
            raise UsageError(f"environment variable {password_env} is not set (expected the password)")
        return BasicAuth(username, password)
    if kind == "smart":
        if not client_id or not private_key:
            raise UsageError("--auth smart needs --client-id and --private-key PATH")
        if alg not in ("RS384", "ES384"):
            raise UsageError(f"--alg must be RS384 or ES384, not {alg}")
        return SmartBackendAuth.from_key_file(
            private_key, client_id=client_id, alg=alg, key_id=key_id,
            token_url=token_url, fhir_base_url=base_url, scope=scope,
        )
    raise UsageError(f"unknown --auth {kind!r}: choose none, bearer, basic or smart")
