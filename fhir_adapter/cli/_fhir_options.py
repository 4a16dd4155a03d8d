"""The FHIR connection options every server-facing command shares (push, match, screen).

Decorate a command with :func:`with_fhir_options` and give it a keyword parameter
``fhir: FhirOptions``; the decorator adds ``--server``, ``--auth`` and the credential flags
to the command line and hands them over as one :class:`FhirOptions`::

    @with_fhir_options
    def match(patients: Path, *, fhir: FhirOptions) -> None:
        with fhir.client() as client:
            ...
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import typer

from fhir_adapter.cli._common import (
    check_http_url,
    current_config,
    enable_trace,
    warn,
    with_output_options,
    with_parameters,
)
from fhir_adapter.config import AUTH_ENV, SERVER_ENV, TOKEN_ENV_ENV
from fhir_adapter.errors import UsageError
from fhir_adapter.fhir.auth import DEFAULT_SCOPE, AuthKind, SigningAlg, auth_from_options
from fhir_adapter.fhir.client import AsyncFhirClient, FhirClient
from fhir_adapter.http import RetryPolicy
from fhir_adapter.matching.fetch_cap import DEFAULT_MAX_PATIENT_ENTRIES, patient_entry_cap

_AUTH_KINDS = ("none", "bearer", "basic", "smart")
_ALGS = ("RS384", "ES384")


@dataclass(frozen=True)
class FhirOptions:
    server: str
    auth: str = "none"
    token_env: str | None = None
    token_file: Path | None = None
    username: str | None = None
    password_env: str | None = None
    client_id: str | None = None
    private_key: Path | None = None
    key_id: str | None = None
    alg: str = "RS384"
    token_url: str | None = None
    scope: str = DEFAULT_SCOPE
    insecure: bool = False
    verbose: bool = False
    deadline: float | None = None
    """``--deadline SECONDS``: the whole command must be over by then (None: no total deadline)."""
    max_patient_entries: int | None = None
    """``--max-patient-entries N`` (match, screen): one patient's data fetched from the server at most."""
    started: float = field(default_factory=time.monotonic, init=False, compare=False)
    """When the command started (``time.monotonic()``): the deadline counts from here."""

    def check(self) -> None:
        """The cheap option checks, done before the command reads anything (no file, no network)."""
        check_http_url(self.server, "--server")
        if self.deadline is not None and not 0 < self.deadline <= MAX_DEADLINE:
            raise UsageError(f"--deadline must be more than 0 and at most {MAX_DEADLINE:g} seconds, "
                             f"got {self.deadline:g}")
        if self.auth not in _AUTH_KINDS:
            raise UsageError(f"--auth must be one of {', '.join(_AUTH_KINDS)}, not {self.auth!r}")
        if self.alg not in _ALGS:
            raise UsageError(f"--alg must be RS384 or ES384, not {self.alg!r}")

    def make_auth(self) -> httpx.Auth | None:
        self.check()
        return auth_from_options(
            cast(AuthKind, self.auth), base_url=self.server, token_env=self.token_env, token_file=self.token_file,
            username=self.username, password_env=self.password_env, client_id=self.client_id,
            private_key=self.private_key, key_id=self.key_id, alg=cast(SigningAlg, self.alg),
            token_url=self.token_url, scope=self.scope,
        )

    def client(self, *, timeout: float = 30.0, retry: RetryPolicy | None = None) -> FhirClient:
        """A client for ``--server`` with the chosen auth; warns about ``--insecure``; sets up ``--verbose``."""
        return FhirClient(self.server, **self._client_settings(timeout, retry))

    def async_client(self, *, timeout: float = 30.0, retry: RetryPolicy | None = None) -> AsyncFhirClient:
        """The async twin of :meth:`client` (population screening)."""
        return AsyncFhirClient(self.server, **self._client_settings(timeout, retry))

    def deadline_left(self) -> float | None:
        """Seconds left before ``--deadline`` (negative once passed; None without a deadline)."""
        return None if self.deadline is None else self.started + self.deadline - time.monotonic()

    def deadline_line(self) -> str:
        """The one line a command ends with when its ``--deadline`` passed."""
        return f"the deadline of {self.deadline or 0:g} s (--deadline) was reached"

    def retry_policy(self, retry: RetryPolicy | None = None) -> RetryPolicy:
        """``retry`` (default: the client's) bounded by ``--deadline``."""
        policy = retry or RetryPolicy()
        if self.deadline is None:
            return policy
        return dataclasses.replace(policy, deadline_at=self.started + self.deadline, deadline_seconds=self.deadline)

    def _client_settings(self, timeout: float, retry: RetryPolicy | None) -> dict[str, Any]:
        if self.verbose:
            enable_trace()
        if self.insecure:
            warn(f"TLS certificate verification is OFF for {self.server} (--insecure)")
        settings: dict[str, Any] = {"auth": self.make_auth(), "timeout": timeout, "verify": not self.insecure}
        if retry is not None or self.deadline is not None:
            settings["retry"] = self.retry_policy(retry)
        return settings


_HELP = "FHIR server"
MAX_DEADLINE = 7 * 24 * 3600.0
"""A week: a longer --deadline is a typo (milliseconds given as seconds)."""
# SERVER_ENV (imported above) is the server when --server is not given (for match/screen only when --data is not
# given either); then the profile's server.
_OPTIONS: dict[str, tuple[Any, Any]] = {
    "server": (str, typer.Option(..., "--server", help="FHIR base URL, e.g. https://host/fhir.",
                                 envvar=SERVER_ENV, rich_help_panel=_HELP)),
    "auth": (str, typer.Option("none", "--auth", help="none | bearer | basic | smart.", envvar=AUTH_ENV,
                               rich_help_panel=_HELP)),
    "token_env": (str | None, typer.Option(None, "--token-env", help="Env var holding the bearer token.",
                                           envvar=TOKEN_ENV_ENV, rich_help_panel=_HELP)),
    "token_file": (Path | None, typer.Option(None, "--token-file", help="File holding the bearer token.",
                                             rich_help_panel=_HELP)),
    "username": (str | None, typer.Option(None, "--username", help="Basic auth user name.", rich_help_panel=_HELP)),
    "password_env": (str | None, typer.Option(None, "--password-env", help="Env var holding the basic password.",
                                              rich_help_panel=_HELP)),
    "client_id": (str | None, typer.Option(None, "--client-id", help="SMART client id.", rich_help_panel=_HELP)),
    "private_key": (Path | None, typer.Option(None, "--private-key", help="SMART signing key (JWK/JWKS JSON or PEM).",
                                              rich_help_panel=_HELP)),
    "key_id": (str | None, typer.Option(None, "--key-id", help="kid of the SMART key (default: the JWK's).",
                                        rich_help_panel=_HELP)),
    "alg": (str, typer.Option("RS384", "--alg", help="RS384 | ES384.", rich_help_panel=_HELP)),
    "token_url": (str | None, typer.Option(None, "--token-url", help="Token endpoint (default: SMART discovery).",
                                           rich_help_panel=_HELP)),
    "scope": (str, typer.Option(DEFAULT_SCOPE, "--scope", help="SMART scopes.", rich_help_panel=_HELP)),
    "insecure": (bool, typer.Option(False, "--insecure", help="Do not verify TLS certificates.",
                                    rich_help_panel=_HELP)),
    "verbose": (bool, typer.Option(False, "--verbose", "-v", help="Trace requests (ids masked) on stderr.",
                                   rich_help_panel=_HELP)),
    "deadline": (float | None, typer.Option(None, "--deadline", metavar="SECONDS", rich_help_panel=_HELP,
                                            help="Stop the whole command after this many seconds, with one line "
                                                 "and exit 5 (screen writes the patients done, marked incomplete).")),
}
_PATIENT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "max_patient_entries": (int | None, typer.Option(
        None, "--max-patient-entries", min=1, metavar="N", rich_help_panel=_HELP,
        help=f"Entries fetched for one patient at most (default {DEFAULT_MAX_PATIENT_ENTRIES:,}); past it that "
             "patient is needs-review with the reason.")),
}
"""Options of the commands that read patients from the server (match, screen: those whose --server is optional)."""
assert set(_OPTIONS) | set(_PATIENT_OPTIONS) == {f.name for f in fields(FhirOptions) if f.init}

F = TypeVar("F", bound=Callable[..., Any])


_OPTIONAL_SERVER = (str | None, typer.Option(None, "--server", help="FHIR base URL, e.g. https://host/fhir.",
                                              rich_help_panel=_HELP))


def with_fhir_options(func: F) -> F:
    """Replace the command's ``fhir`` parameter by the FHIR connection options (and add ``--quiet``).

    ``fhir: FhirOptions`` makes ``--server`` required; ``fhir: FhirOptions | None`` makes it
    optional (the command then gets None when no server was given, e.g. ``--data`` instead).
    Without ``--server`` or ``--data``, an optional server comes from ``FHIR_ADAPTER_SERVER``, else the profile.
    """
    if "fhir" not in inspect.signature(func).parameters:
        raise TypeError(f"{func.__name__} needs a keyword parameter 'fhir: FhirOptions'")
    server_required = typing.get_type_hints(func).get("fhir") is FhirOptions
    options = dict(_OPTIONS) if server_required else {**_OPTIONS, "server": _OPTIONAL_SERVER, **_PATIENT_OPTIONS}
    signature, annotations = with_parameters(func, options, drop="fhir")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        names = [name for name in options if name in kwargs]
        values = flag_beats_profile({name: kwargs.pop(name) for name in names}, current_config().defaults)
        if values["server"] is None and not kwargs.get("data"):
            values["server"] = configured_server()  # no source given: the configured server
        fhir = None if values["server"] is None else FhirOptions(**values)
        if fhir is None:
            return func(*args, fhir=fhir, **kwargs)
        fhir.check()
        with patient_entry_cap(fhir.max_patient_entries or DEFAULT_MAX_PATIENT_ENTRIES):
            return func(*args, fhir=fhir, **kwargs)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = annotations
    return with_output_options(cast(F, wrapper))


_EITHER_OR = (("token_env", "token_file"),)
"""Options of which one is given: when the profile gives one and the command line the other, the flag wins."""


def flag_beats_profile(values: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """``values`` without a profile's choice that a flag replaced (``--token-file`` over the profile's token_env)."""
    kept = dict(values)
    for pair in _EITHER_OR:
        if all(kept[name] is not None for name in pair):
            from_profile = [name for name in pair if name in profile and profile[name] == kept[name]]
            if len(from_profile) == 1:
                kept[from_profile[0]] = None
    return kept


def configured_server() -> str | None:
    """The server of ``FHIR_ADAPTER_SERVER``, else of the selected profile, else None."""
    return os.environ.get(SERVER_ENV) or current_config().defaults.get("server")
