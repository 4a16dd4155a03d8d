"""Settings files with named profiles for the command line.

A TOML file holds ``[profiles.NAME]`` tables and may name one with ``default_profile``::

    default_profile = "test"

    [profiles.test]
    server = "https://fhir.test.example/fhir"
    auth = "bearer"
    token_env = "TEST_FHIR_TOKEN"      # the NAME of the variable that holds the token
    fhir_version = "R4"
    deadline = 600                     # seconds a server command may take in all (--deadline)

The file is ``--config FILE``, else ``$FHIR_ADAPTER_CONFIG``, else ``./fhir-adapter.toml``, else
``$XDG_CONFIG_HOME/fhir-adapter/config.toml`` (``~/.config/...``); the first one found is the only one read.
The profile is ``--profile NAME``, else ``$FHIR_ADAPTER_PROFILE``, else ``default_profile``; without one, no
profile applies. A profile's value is a default: a command-line flag and an environment variable both win.

Secrets are only referenced (``token_env``, ``token_file``, ``password_env``, ``private_key_file``): a profile
that holds one itself (``token = "..."``) is refused, and so is a URL with credentials.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fhir_adapter.errors import UsageError
from fhir_adapter.redact import without_userinfo

CONFIG_ENV = "FHIR_ADAPTER_CONFIG"
PROFILE_ENV = "FHIR_ADAPTER_PROFILE"
SERVER_ENV = "FHIR_ADAPTER_SERVER"
AUTH_ENV = "FHIR_ADAPTER_AUTH"
TOKEN_ENV_ENV = "FHIR_ADAPTER_TOKEN_ENV"
LOCAL_FILE = "fhir-adapter.toml"
USER_FILE = Path("fhir-adapter") / "config.toml"


@dataclass(frozen=True)
class Setting:
    """One key a profile may set: the command option it stands for and how its value is checked."""

    key: str
    """The key in ``[profiles.NAME]``."""
    param: str
    """The command parameter it gives a default to (``--private-key`` for ``private_key_file``)."""
    kind: str
    """A key of :data:`_CHECKS`: text, url, path, env-name, choice, count, seconds, entries."""
    env: str | None = None
    """The environment variable that stands in for the flag (and beats the profile)."""
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("server", "server", "url", env=SERVER_ENV),
    Setting("auth", "auth", "choice", env=AUTH_ENV, choices=("none", "bearer", "basic", "smart")),
    Setting("token_env", "token_env", "env-name", env=TOKEN_ENV_ENV),
    Setting("token_file", "token_file", "path"),
    Setting("username", "username", "text"),
    Setting("password_env", "password_env", "env-name"),
    Setting("client_id", "client_id", "text"),
    Setting("private_key_file", "private_key", "path"),
    Setting("key_id", "key_id", "text"),
    Setting("alg", "alg", "choice", choices=("RS384", "ES384")),
    Setting("token_url", "token_url", "url"),
    Setting("scope", "scope", "text"),
    Setting("fhir_version", "fhir_version", "choice", choices=("R4", "R5")),
    Setting("concurrency", "concurrency", "count"),
    Setting("deadline", "deadline", "seconds"),
    Setting("max_patient_entries", "max_patient_entries", "entries"),
)
"""Everything a profile may set, in the order ``config show`` lists it. Not ``insecure``: turning TLS
verification off stays a per-run flag."""

_SECRET_HINTS: dict[str, str] = {
    "token": "token_env (the name of a variable) or token_file",
    "access_token": "token_env (the name of a variable) or token_file",
    "bearer_token": "token_env (the name of a variable) or token_file",
    "password": "password_env (the name of a variable)",
    "private_key": "private_key_file (a JWK or PEM file)",
    "client_secret": "SMART Backend Services signs with a key: private_key_file",
    "secret": "a *_env or *_file setting",
    "api_key": "a *_env or *_file setting",
    "refresh_token": "a *_env or *_file setting",
    "jwk": "private_key_file (a JWK or PEM file)",
}
"""Keys that would hold a secret itself, and what to write instead."""
_SECRET_WORDS = ("token", "password", "secret", "private_key", "passphrase", "credential")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_CONCURRENCY = 64
_MAX_SECONDS = 7 * 24 * 3600
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


@dataclass(frozen=True)
class Profile:
    """The selected profile: its name, what selected it, and its checked values by command parameter."""

    name: str
    selected_by: str
    """``--profile``, ``FHIR_ADAPTER_PROFILE`` or ``default_profile``."""
    values: dict[str, Any]
    """Command parameter -> value (paths resolved against the file's folder)."""


@dataclass(frozen=True)
class Config:
    """The settings file in effect (if any) and the selected profile (if any)."""

    path: Path | None = None
    found_by: str = ""
    """``--config``, ``FHIR_ADAPTER_CONFIG``, ``./fhir-adapter.toml`` or ``$XDG_CONFIG_HOME``."""
    profiles: tuple[str, ...] = ()
    profile: Profile | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    """Command parameter -> the selected profile's value (empty without a profile)."""

    def describe(self) -> str:
        """One line for people: which file and profile are in effect."""
        if self.path is None:
            return "no settings file"
        text = f"settings file {self.path} ({self.found_by})"
        if self.profile is None:
            return text + ", no profile selected"
        return text + f", profile {self.profile.name} ({self.profile.selected_by})"


def user_config_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/fhir-adapter/config.toml``, or ``~/.config/fhir-adapter/config.toml``."""
    base = environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / USER_FILE


def find_config(
    explicit: Path | None, environ: Mapping[str, str], cwd: Path
) -> tuple[Path, str] | None:
    """The settings file to read and how it was found; a named one must exist (UsageError)."""
    named = (explicit, "--config") if explicit is not None else (
        (Path(environ[CONFIG_ENV]), CONFIG_ENV) if environ.get(CONFIG_ENV) else None
    )
    if named is not None:
        path, how = named
        if not path.is_file():
            reason = "is a directory" if path.is_dir() else "no such file"
            raise UsageError(f"cannot read the settings file ({how}): {reason}", source=str(path))
        return path, how
    for path, how in ((cwd / LOCAL_FILE, f"./{LOCAL_FILE}"), (user_config_path(environ), "$XDG_CONFIG_HOME")):
        if path.is_file():
            return path, how
    return None


def read_toml(path: Path) -> dict[str, Any]:
    """The file parsed; unreadable or malformed is one UsageError naming the file (and the line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read the settings file: {reason}", source=str(path)) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_WHERE.search(message)
        if where is None:
            raise UsageError(f"invalid TOML: {message}", source=str(path)) from exc
        line, column = where.groups()
        raise UsageError(f"invalid TOML: {message[: where.start()]} (column {column})",
                         source=f"{path}:{line}") from exc


def load_config(
    explicit: Path | None = None,
    profile: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """The settings file and selected profile, every value checked (UsageError naming file and key)."""
    env = os.environ if environ is None else environ
    found = find_config(explicit, env, cwd or Path.cwd())
    wanted = (profile, "--profile") if profile else ((env[PROFILE_ENV], PROFILE_ENV) if env.get(PROFILE_ENV) else None)
    if found is None:
        if wanted is not None:
            raise UsageError(
                f"no settings file to take profile {wanted[0]!r} from: give --config FILE, or write ./{LOCAL_FILE} "
                f"or {user_config_path(env)}", field=wanted[1],
            )
        return Config()
    path, found_by = found
    document = read_toml(path)
    profiles = _profiles_table(document, path)
    if wanted is None and document.get("default_profile") is not None:
        wanted = (_text(document["default_profile"], path, "default_profile"), "default_profile")
    if wanted is None:
        return Config(path, found_by, tuple(profiles))
    name, selected_by = wanted
    if name not in profiles:
        known = ", ".join(profiles) or "none"
        where = "default_profile" if selected_by == "default_profile" else None
        raise UsageError(f"no profile {name!r} in the settings file (profiles: {known}; selected by {selected_by})",
                         source=str(path), field=where)
    values = check_profile(profiles[name], path, name)
    return Config(path, found_by, tuple(profiles), Profile(name, selected_by, values), values)


def _profiles_table(document: dict[str, Any], path: Path) -> dict[str, Any]:
    for key in document:
        if key not in ("default_profile", "profiles"):
            raise UsageError(f"unknown key {key!r}: a settings file holds default_profile and [profiles.NAME] "
                             "tables", source=str(path), field=key)
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise UsageError("must be a table of [profiles.NAME] tables", source=str(path), field="profiles")
    return profiles


def check_profile(table: Any, path: Path, name: str) -> dict[str, Any]:
    """A profile's values by command parameter; an inline secret or an unknown key is a UsageError."""
    where = f"profiles.{name}"
    if not isinstance(table, dict):
        raise UsageError("must be a table of settings", source=str(path), field=where)
    by_key = {s.key: s for s in SETTINGS}
    values: dict[str, Any] = {}
    for key, value in table.items():
        setting = by_key.get(key)
        if setting is None:
            raise _not_a_setting(key, path, f"{where}.{key}")
        values[setting.param] = _CHECKS[setting.kind](setting, value, path, f"{where}.{key}")
    return values


def _not_a_setting(key: str, path: Path, where: str) -> UsageError:
    hint = _SECRET_HINTS.get(key.lower())
    if hint is None and any(word in key.lower() for word in _SECRET_WORDS):
        hint = "a *_env or *_file setting"
    if hint is not None:  # the key goes in the sentence: "password: ..." would be masked as a credential
        return UsageError(f"{where} is an inline secret, which a settings file must not hold: use {hint}",
                          source=str(path))
    known = ", ".join(s.key for s in SETTINGS)
    return UsageError(f"unknown setting (known: {known})", source=str(path), field=where)


def _text(value: Any, path: Path, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError("must be a non-empty string", source=str(path), field=where)
    return value.strip()


def _check_text(setting: Setting, value: Any, path: Path, where: str) -> str:
    return _text(value, path, where)


def _check_url(setting: Setting, value: Any, path: Path, where: str) -> str:
    url = _text(value, path, where)
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"must not carry credentials ({without_userinfo(url)}): use auth and a *_env setting",
                         source=str(path), field=where)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"must be an http(s)://host/... URL, got {without_userinfo(url)!r}",
                         source=str(path), field=where)
    return url


def _check_path(setting: Setting, value: Any, path: Path, where: str) -> Path:
    file = Path(_text(value, path, where)).expanduser()
    return file if file.is_absolute() else path.parent / file


def _check_env_name(setting: Setting, value: Any, path: Path, where: str) -> str:
    name = _text(value, path, where)
    if not _ENV_NAME.fullmatch(name):
        raise UsageError("must be the NAME of an environment variable (letters, digits, _), not the secret itself",
                         source=str(path), field=where)
    return name


def _check_choice(setting: Setting, value: Any, path: Path, where: str) -> str:
    text = _text(value, path, where)
    for choice in setting.choices:
        if text.casefold() == choice.casefold():
            return choice
    raise UsageError(f"must be one of {', '.join(setting.choices)}, got {text!r}", source=str(path), field=where)


def _check_count(setting: Setting, value: Any, path: Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_CONCURRENCY:
        raise UsageError(f"must be a whole number from 1 to {_MAX_CONCURRENCY}, got {value!r}",
                         source=str(path), field=where)
    return value


def _check_seconds(setting: Setting, value: Any, path: Path, where: str) -> float:
    """A duration in seconds (``deadline = 600``): more than 0, at most a week."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= _MAX_SECONDS:
        raise UsageError(f"must be a number of seconds, more than 0 and at most {_MAX_SECONDS}, got {value!r}",
                         source=str(path), field=where)
    return float(value)


def _check_entries(setting: Setting, value: Any, path: Path, where: str) -> int:
    """A whole number of entries, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"must be a whole number, at least 1, got {value!r}", source=str(path), field=where)
    return value


_CHECKS: dict[str, Callable[[Setting, Any, Path, str], Any]] = {
    "text": _check_text,
    "url": _check_url,
    "path": _check_path,
    "env-name": _check_env_name,
    "choice": _check_choice,
    "count": _check_count,
    "seconds": _check_seconds,
    "entries": _check_entries,
}


@dataclass(frozen=True)
class Effective:
    """Where one setting's value comes from when no flag is given."""

    setting: Setting
    value: Any
    """The value (None: the command's built-in default)."""
    source: str
    """``env NAME``, ``profile NAME`` or ``default``."""


def effective(config: Config, environ: Mapping[str, str] | None = None) -> list[Effective]:
    """Every setting as the commands see it without flags: environment, then profile, then default."""
    env = os.environ if environ is None else environ
    found: list[Effective] = []
    for setting in SETTINGS:
        if setting.env and env.get(setting.env):
            found.append(Effective(setting, env[setting.env], f"env {setting.env}"))
        elif setting.param in config.defaults and config.profile is not None:
            found.append(Effective(setting, config.defaults[setting.param], f"profile {config.profile.name}"))
        else:
            found.append(Effective(setting, None, "default"))
    return found
