"""Who may call the service: the EHR's JWT bearer token, as CDS Hooks 2.0 requires
(https://cds-hooks.hl7.org/2.0/#trusting-cds-clients).

The token must be signed by a key of a trusted issuer's JWKS (configured per issuer), name that issuer in
``iss``, the called endpoint's URL in ``aud``, carry ``exp`` (not past) and a ``jti`` not seen before (replay).
Failures are one short reason for the 401 answer; the token itself is never logged.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from fhir_adapter.errors import InputError

ALGORITHMS = ["RS384", "ES384", "RS256", "ES256"]
_LEEWAY = 30


class Unauthorized(Exception):
    """The request's token is missing or not acceptable (the message says why, without the token)."""


def load_keyset(path: str | Path) -> KeySet:
    """A JWKS (``{"keys": [...]}``) from a file; an unreadable or malformed file is an InputError naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return KeySet.import_key_set(data)
    except OSError as exc:
        raise InputError(f"cannot read the JWKS: {exc.strerror or exc}", source=str(path)) from exc
    except (ValueError, TypeError, KeyError, JoseError) as exc:
        raise InputError(f"not a JWKS ({{\"keys\": [...]}}): {type(exc).__name__}", source=str(path)) from exc


@dataclass
class TokenVerifier:
    issuers: dict[str, KeySet]
    """Trusted issuer -> its public keys."""
    seen: dict[str, float] = field(default_factory=dict)
    """jti -> expiry, to refuse a token used twice."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, authorization: str | None, audience: str, now: float | None = None) -> dict[str, Any]:
        """The token's claims, or :class:`Unauthorized`."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("a bearer token is required")
        token = authorization.split(" ", 1)[1].strip()
        try:
            issuer = _issuer_of(token)
        except ValueError:  # json and unicode decoding errors are ValueErrors too
            raise Unauthorized("malformed token") from None
        keys = self.issuers.get(issuer)
        if keys is None:
            raise Unauthorized("untrusted issuer")
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        except (JoseError, ValueError):
            raise Unauthorized("bad signature") from None
        claims = decoded.claims
        moment = time.time() if now is None else now
        audiences = claims.get("aud")
        if audience not in (audiences if isinstance(audiences, list) else [audiences]):
            raise Unauthorized("wrong audience")
        expiry = claims.get("exp")
        if not isinstance(expiry, int | float) or expiry + _LEEWAY < moment:
            raise Unauthorized("expired token")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise Unauthorized("no jti")
        with self._lock:
            self.seen = {k: v for k, v in self.seen.items() if v + _LEEWAY >= moment}
            if jti in self.seen:
                raise Unauthorized("token replayed")
            self.seen[jti] = float(expiry)
        return dict(claims)


def _issuer_of(token: str) -> str:
    """The ``iss`` claim read before verification, only to choose the issuer's keys."""
    try:
        claims = json.loads(extract_compact(token.encode()).payload)
    except JoseError as exc:
        raise ValueError("not a JWS") from exc
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str):
        raise ValueError("no iss")
    return issuer
