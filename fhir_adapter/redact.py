"""One redaction layer for every text the tool prints: errors, warnings, traces and reports.

Masked: the secrets this process was given (bearer tokens, passwords, client assertions: registered by the auth
code when it reads them), anything that looks like an ``Authorization`` value (``Bearer …``, ``Basic …``) or a
credential parameter (``access_token=…``, ``password=…``), and ``user:password@`` in URLs. A server that echoes
the request headers in its OperationOutcome cannot make the CLI print the credentials.
"""

from __future__ import annotations

import re

MASK = "***"
# a credential, not a word: at least 8 characters with a digit or one of = + / . _ ~ - ("Basic metabolic panel" stays)
_SCHEMES = re.compile(
    r"\b(Bearer|Basic|Digest|Negotiate|DPoP)\s+(?=[A-Za-z0-9._~+/=-]*[0-9=+/._~-])[A-Za-z0-9._~+/=-]{8,}",
    re.IGNORECASE,
)
_HEADER = re.compile(r"\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key)(\"?\s*[:=]\s*\"?)[^\s\",;]+",
                     re.IGNORECASE)
_PARAMS = re.compile(
    r"\b(access_token|refresh_token|id_token|client_secret|client_assertion|password|passwd|api_key|apikey)"
    r"(\"?\s*[:=]\s*\"?)[^\s\"&,;]+",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(://)[^/\s@]+@")
_MIN_SECRET = 4
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is masked wherever it shows up (short values would mask ordinary words)."""
    if value and len(value.strip()) >= _MIN_SECRET:
        _secrets.add(value.strip())


def redact(text: str) -> str:
    """``text`` with every secret masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _SCHEMES.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (safe to print)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{path}"
