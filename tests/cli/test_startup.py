"""Start-up: a command imports what it needs, not the whole project (``convert`` paid for every command)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fhir_adapter.cli import _command_of


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["convert", "x.json"], "convert"),
        (["--debug", "--config", "c.toml", "--profile", "p", "convert"], "convert"),
        (["--config=c.toml", "screen", "--help"], "screen"),
        (["config", "show"], None),  # reads every command's options
        (["--help"], None),
        (["--version"], None),
        (["nonsense"], None),
        ([], None),
    ],
)
def test_the_command_a_line_runs(args: list[str], command: str | None) -> None:
    assert _command_of(args) == command


def test_converting_does_not_import_the_fhir_clients_or_the_matcher() -> None:
    code = (
        "import sys, fhir_adapter.cli, fhir_adapter.cli.convert_cmd; "
        "print(sorted(m for m in ('httpx', 'duckdb', 'fhir_adapter.matching', 'fhir_adapter.fhir', "
        "'fhir_adapter.engines') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
