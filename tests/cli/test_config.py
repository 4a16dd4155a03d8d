"""Settings files and profiles: where they are found, what they may hold, and the precedence
flag > environment variable > profile > built-in default (the real command line, respx for the server)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from . import run_cli

ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "samples" / "NCT06577194.txt"
DATA = ROOT / "samples" / "patients" / "data"
PROFILE_SERVER = "http://profile.test/fhir"
ENV_SERVER = "http://env.test/fhir"
FLAG_SERVER = "http://flag.test/fhir"
FHIR = {"Content-Type": "application/fhir+json"}
STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
             "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}]}
SETTINGS = f"""\
default_profile = "test"

[profiles.test]
server = "{PROFILE_SERVER}"
auth = "bearer"
token_env = "TEST_FHIR_TOKEN"
fhir_version = "r5"
concurrency = 3

[profiles.prod]
server = "http://prod.test/fhir"
"""


def write(folder: Path, text: str = SETTINGS, name: str = "fhir-adapter.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def show(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, *args, "config", "show", "--format", "json")
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def setting(document: dict[str, Any], key: str) -> tuple[str, str]:
    found = next(s for s in document["settings"] if s["key"] == key)
    return found["value"], found["from"]


@pytest.fixture
def servers() -> Any:
    """Three FHIR servers (respx): which one was asked tells where --server came from."""
    with respx.mock(assert_all_called=False) as router:
        for base in (PROFILE_SERVER, ENV_SERVER, FLAG_SERVER):
            router.get(f"{base}/metadata").mock(return_value=httpx.Response(200, json=STATEMENT, headers=FHIR))
        yield router


def dry_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    # --mode create: a create-only plan needs nothing but the CapabilityStatement, which tells which server was asked
    code, out, err = run_cli(capsys, "push", str(TRIAL), "--dry-run", "--mode", "create", "--format", "json", *args)
    return code, (json.loads(out) if out.strip() else {}), err


def test_the_profile_gives_the_server_auth_and_fhir_version(
    servers: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path)
    monkeypatch.setenv("TEST_FHIR_TOKEN", "tok-SECRET-1")
    code, plan, err = dry_run(capsys)
    assert code == 0, err
    (call,) = servers.calls
    assert str(call.request.url) == f"{PROFILE_SERVER}/metadata"
    assert call.request.headers["Authorization"] == "Bearer tok-SECRET-1"
    assert plan["fhirVersion"] == "R5"  # the profile's, instead of push's default "auto" (R4 from the server)
    assert "tok-SECRET-1" not in err


def test_a_flag_beats_the_environment_which_beats_the_profile(
    servers: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path)
    monkeypatch.setenv("TEST_FHIR_TOKEN", "t")
    monkeypatch.setenv("FHIR_ADAPTER_SERVER", ENV_SERVER)
    assert dry_run(capsys)[0] == 0
    assert dry_run(capsys, "--server", FLAG_SERVER, "--fhir-version", "R4")[1]["fhirVersion"] == "R4"
    monkeypatch.setenv("FHIR_ADAPTER_AUTH", "none")
    assert dry_run(capsys)[0] == 0
    asked = [(str(c.request.url), c.request.headers.get("Authorization")) for c in servers.calls]
    assert asked == [(f"{ENV_SERVER}/metadata", "Bearer t"), (f"{FLAG_SERVER}/metadata", "Bearer t"),
                     (f"{ENV_SERVER}/metadata", None)]


def test_config_show_names_the_source_of_every_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path)
    monkeypatch.setenv("FHIR_ADAPTER_AUTH", "basic")
    monkeypatch.setenv("TEST_FHIR_TOKEN", "tok-SECRET-2")
    document = show(capsys)
    assert (document["settings_file"], document["found_by"]) == (str(tmp_path / "fhir-adapter.toml"),
                                                                  "./fhir-adapter.toml")
    assert (document["profile"], document["selected_by"], document["profiles"]) == ("test", "default_profile",
                                                                                    ["test", "prod"])
    assert setting(document, "server") == (PROFILE_SERVER, "profile test")
    assert setting(document, "auth") == ("basic", "env FHIR_ADAPTER_AUTH")
    assert setting(document, "token_env") == ("TEST_FHIR_TOKEN (set)", "profile test")  # the name, never the value
    assert setting(document, "fhir_version") == ("R5", "profile test")
    assert setting(document, "concurrency") == ("3", "profile test")
    assert setting(document, "alg") == ("RS384", "default")
    code, out, _ = run_cli(capsys, "config", "show")
    assert code == 0 and "tok-SECRET-2" not in out
    assert out.splitlines()[:2] == [f"settings file: {tmp_path / 'fhir-adapter.toml'} (./fhir-adapter.toml)",
                                    "profile: test (default_profile; profiles: test, prod)"]
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in out.splitlines()[3:-1]}
    assert rows["token_env"] == [
        "token_env", "TEST_FHIR_TOKEN (set)", "profile test", "export, match, push, screen, serve, sync"
    ]
    assert rows["auth"] == ["auth", "basic", "env FHIR_ADAPTER_AUTH", "export, match, push, screen, serve, sync"]


def test_without_a_settings_file_the_defaults_are_per_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    document = show(capsys)
    assert (document["settings_file"], document["profile"]) == (None, None)
    assert setting(document, "fhir_version") == ("R4 (convert, screen); auto (push, sync)", "default")
    assert setting(document, "server") == ("-", "default")


def test_profile_selection_flag_then_env_then_default_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "elsewhere", name="team.toml")
    assert show(capsys, "--config", str(path))["profile"] == "test"
    monkeypatch.setenv("FHIR_ADAPTER_CONFIG", str(path))
    monkeypatch.setenv("FHIR_ADAPTER_PROFILE", "prod")
    document = show(capsys)
    assert (document["found_by"], document["profile"], document["selected_by"]) == (
        "FHIR_ADAPTER_CONFIG", "prod", "FHIR_ADAPTER_PROFILE")
    assert setting(document, "server") == ("http://prod.test/fhir", "profile prod")
    # --profile wins, and is accepted after the command name too, also as --profile=NAME
    for args in (["--profile", "test", "config", "show"], ["config", "show", "--profile=test"]):
        code, out, err = run_cli(capsys, *args, "--format", "json")
        assert code == 0, err
        assert (json.loads(out)["profile"], json.loads(out)["selected_by"]) == ("test", "--profile")


def test_the_current_folder_comes_before_the_user_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    xdg = tmp_path / "xdg"
    user = write(xdg / "fhir-adapter", SETTINGS.replace("default_profile", "# default_profile"), "config.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.chdir(tmp_path)
    document = show(capsys)
    assert (document["settings_file"], document["found_by"], document["profile"]) == (
        str(user), "$XDG_CONFIG_HOME", None)
    write(tmp_path)
    assert show(capsys)["settings_file"] == str(tmp_path / "fhir-adapter.toml")


def test_screen_with_data_ignores_the_profile_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path)
    code, out, err = run_cli(capsys, "screen", str(TRIAL), "--data", str(DATA), "--format", "json", "--as-of",
                             "2025-01-01")
    assert code == 0, err
    assert json.loads(out)["trial"] == "NCT06577194"


def test_convert_takes_the_profile_fhir_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, r5, _ = run_cli(capsys, "convert", str(TRIAL), "--fhir-version", "R5")
    code4, r4, _ = run_cli(capsys, "convert", str(TRIAL))
    write(tmp_path)
    code_profile, from_profile, err = run_cli(capsys, "convert", str(TRIAL))
    assert (code, code4, code_profile) == (0, 0, 0), err
    assert from_profile == r5 != r4


INLINE = "is an inline secret, which a settings file must not hold: use "


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ('token = "tok-SECRET-3"', f"profiles.bad.token {INLINE}token_env (the name of a variable) or token_file"),
        ('password = "tok-SECRET-3"', f"profiles.bad.password {INLINE}password_env (the name of a variable)"),
        ('client_secret = "tok-SECRET-3"',
         f"profiles.bad.client_secret {INLINE}SMART Backend Services signs with a key: private_key_file"),
        ('private_key = "-----BEGIN PRIVATE KEY-----tok-SECRET-3"',
         f"profiles.bad.private_key {INLINE}private_key_file (a JWK or PEM file)"),
        ('token_env = "eyJ.tok-SECRET-3"',
         "profiles.bad.token_env: must be the NAME of an environment variable (letters, digits, _), not the secret "
         "itself"),
        ('server = "http://alice:tok-SECRET-3@127.0.0.1/fhir"',
         "profiles.bad.server: must not carry credentials (http://***@127.0.0.1/fhir): use auth and a *_env setting"),
        ("concurrency = 0", "profiles.bad.concurrency: must be a whole number from 1 to 64, got 0"),
        ('colour = "blue"', "profiles.bad.colour: unknown setting (known: server, auth, token_env, token_file, "
                            "username, password_env, client_id, private_key_file, key_id, alg, token_url, scope, "
                            "fhir_version, concurrency, deadline, max_patient_entries)"),
    ],
)
def test_a_bad_profile_is_one_line_naming_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], profile: str, message: str
) -> None:
    path = write(tmp_path, f"[profiles.bad]\n{profile}\n")
    code, out, err = run_cli(capsys, "--config", str(path), "--profile", "bad", "inspect", str(TRIAL))
    assert (code, out, err) == (2, "", f"error: {path}: {message}\n")
    assert "tok-SECRET-3" not in err


def test_settings_file_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert run_cli(capsys, "--config", str(missing), "inspect", str(TRIAL)) == (
        2, "", f"error: {missing}: cannot read the settings file (--config): no such file\n")
    broken = write(tmp_path, '[profiles.a]\nserver = "http://x.test"\nauth =\n')
    assert run_cli(capsys, "inspect", str(TRIAL), "--config", str(broken)) == (
        2, "", f"error: {broken}:3: invalid TOML: Invalid value (column 7)\n")
    good = write(tmp_path, SETTINGS, "good.toml")
    assert run_cli(capsys, "--config", str(good), "--profile", "staging", "config", "show") == (
        2, "", f"error: {good}: no profile 'staging' in the settings file (profiles: test, prod; selected by "
               "--profile)\n")


def test_a_profile_without_a_settings_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "--profile", "test", "config", "show")
    assert (code, out) == (2, "")
    assert err.startswith("error: --profile: no settings file to take profile 'test' from: give --config FILE")


def test_a_token_file_flag_replaces_the_profile_token_env(
    servers: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path)
    monkeypatch.setenv("TEST_FHIR_TOKEN", "from-the-profile-env")
    (tmp_path / "token.txt").write_text("from-the-file\n", encoding="utf-8")
    code, _, err = dry_run(capsys, "--token-file", str(tmp_path / "token.txt"))
    assert code == 0, err
    assert servers.calls[0].request.headers["Authorization"] == "Bearer from-the-file"


def test_match_without_data_or_server_asks_the_profile_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, SETTINGS.replace('auth = "bearer"\n', ""))
    with respx.mock(assert_all_called=False) as router:
        route = router.route(host="profile.test").respond(404, json={"resourceType": "OperationOutcome"},
                                                           headers=FHIR)
        code, out, err = run_cli(capsys, "match", str(TRIAL), "--patient", "p1", *["--as-of", "2025-01-01"])
    assert route.call_count >= 1 and all(c.request.url.host == "profile.test" for c in router.calls)
    assert (code, out, err) == (5, "", "error: GET metadata → 404: OperationOutcome without issues\n")
