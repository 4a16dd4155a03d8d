"""Progress bars (stderr, terminals only, counts only), --quiet and --verbose on every command, NO_COLOR."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from fhir_adapter.cli._common import err_console

from . import run_cli

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "samples" / "NCT06577194.txt"
TWO = [str(ROOT / "samples" / "ctgov" / "NCT00109785.json"), str(ROOT / "samples" / "ctgov" / "NCT00184067.json")]
DATA = ROOT / "samples" / "patients" / "data"
AS_OF = ["--as-of", "2025-01-01"]
COMMANDS = [["inspect"], ["fetch"], ["convert"], ["criteria"], ["push"], ["match"], ["screen"], ["serve"],
            ["export"], ["config", "show"]]
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;[0-9;]+)m")
"""An SGR sequence that sets a foreground colour (bold and italic are not colours)."""
REGISTRY = "https://registry.test/api/v2"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr counts as an interactive terminal (stdout, captured, does not)."""
    monkeypatch.setattr(err_console, "_force_terminal", True)
    monkeypatch.setattr(err_console, "is_interactive", True)
    monkeypatch.setenv("TERM", "xterm")


def test_a_bar_on_a_terminal_with_counts_only(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "screen", str(SEED), "--data", str(DATA), *AS_OF, "--format", "json")
    assert code == 0 and json.loads(out)["trial"] == "NCT06577194"  # stdout holds only the report
    assert "screening" in err and "25/25" in err
    assert "smp-" not in err  # never a patient id


@pytest.mark.parametrize(
    ("args", "label"),
    [(["inspect", *TWO, "--format", "ndjson"], "reading trials"),
     (["criteria", *TWO, "--format", "ndjson"], "compiling trials"),
     (["convert", *TWO, "--format", "ndjson"], "converting trials")],
)
def test_trial_commands_show_a_bar_and_keep_stdout_clean(
    terminal: None, capsys: pytest.CaptureFixture[str], args: list[str], label: str
) -> None:
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and label in err and "2/" in err
    assert len([json.loads(line) for line in out.splitlines()]) == 2 and "\x1b" not in out
    _, _, quiet = run_cli(capsys, *args, "--no-progress")
    assert label not in quiet


@pytest.mark.parametrize(
    "args",
    [["screen", str(SEED), "--data", str(DATA), *AS_OF, "--format", "json"], ["inspect", *TWO],
     ["criteria", *TWO, "--format", "json"]],
)
def test_progress_on_a_redirected_stderr_prints_nothing_not_even_a_blank_line(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    plain = run_cli(capsys, *args)
    with_flag = run_cli(capsys, *args, "--progress")
    assert with_flag == plain
    assert not with_flag[2].startswith("\n") and "\n\n" not in with_flag[2]


def _created(request: httpx.Request) -> httpx.Response:
    """A transaction answered with one 201 per entry."""
    entries = json.loads(request.content)["entry"]
    answers = [{"response": {"status": "201 Created",
                             "location": f"{e['request']['url'].split('?')[0]}/{n}/_history/1"}}
               for n, e in enumerate(entries)]
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": answers})


@respx.mock
def test_push_and_fetch_of_several_show_a_bar(
    terminal: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = "http://fhir.test/fhir"
    statement = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                 "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}]}
    respx.get(f"{base}/metadata").respond(200, json=statement)
    respx.post(base).mock(side_effect=_created)
    code, _, err = run_cli(capsys, "push", *TWO, "--server", base, "--mode", "create")
    assert code == 0 and "pushing trials" in err and "2/2" in err, err
    studies = [{"protocolSection": {"identificationModule": {"nctId": n}}} for n in ("NCT00000001", "NCT00000002")]
    respx.get(f"{REGISTRY}/studies").respond(json={"studies": studies})
    code, _, err = run_cli(capsys, "fetch", "NCT00000001", "NCT00000002", "-o", str(tmp_path), "--base-url", REGISTRY)
    assert code == 0 and "fetching studies" in err and "2/2" in err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_quiet_and_verbose(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert all(name in out for name in ("--quiet", "-q", "--verbose", "-v")), out


def test_quiet_leaves_the_output_errors_and_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["screen", str(SEED), "--data", str(DATA), *AS_OF, "--format", "json"]
    loud = run_cli(capsys, *args)
    quiet = run_cli(capsys, *args, "--quiet")
    assert "25 patients considered" in loud[2]
    assert quiet == (0, loud[1], "")
    (tmp_path / "NCT06577194.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "protocol.pdf").write_bytes(b"%PDF-1.4")
    code, out, err = run_cli(capsys, "convert", str(tmp_path), "missing.json", "-o", str(tmp_path / "out"), "-q")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"warning: skipped {tmp_path / 'protocol.pdf'}: not a trial record file (.json, .ndjson, .jsonl, .xml, .txt)",
        "error: missing.json: cannot read: No such file or directory",
    ]
    assert run_cli(capsys, "inspect", str(SEED), "-q", "-v")[2] == (
        "error: give at most one of --quiet and --verbose\n")


def test_verbose_says_which_settings_apply_and_traces_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "team.toml"
    settings.write_text('[profiles.test]\nfhir_version = "R5"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "--config", str(settings), "--profile", "test", "inspect", str(SEED), "-v")
    assert code == 0
    assert f"info: settings file {settings} (--config), profile test (--profile)" in err
    with respx.mock:
        respx.get(f"{REGISTRY}/studies/NCT00000001").respond(
            json={"protocolSection": {"identificationModule": {"nctId": "NCT00000001"}}})
        code, _, err = run_cli(capsys, "fetch", "NCT00000001", "-o", str(tmp_path), "--base-url", REGISTRY,
                               "--verbose")
    assert code == 0
    assert re.search(rf"trace: GET {REGISTRY}/studies/NCT00000001 -> 200 \(\d+ ms\)", err), err
    code, _, err = run_cli(capsys, "inspect", str(SEED))
    assert "info:" not in err  # the next run is not verbose


def _colours(env: dict[str, str]) -> list[Any]:
    done = subprocess.run(
        [sys.executable, "-m", "fhir_adapter", "match", str(SEED), "--data", str(DATA), "--patient",
         "smp-eligible", *AS_OF],
        capture_output=True, text=True, check=False, env={**os.environ, **env}, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return COLOUR.findall(done.stdout)


def test_no_color_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    assert _colours({"FORCE_COLOR": "1"})  # colours on a (forced) terminal
    assert _colours({"FORCE_COLOR": "1", "NO_COLOR": "1"}) == []
