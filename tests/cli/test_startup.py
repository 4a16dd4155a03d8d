"""Start-up and process settings: a command imports what it needs, not the whole project (``convert`` paid for every
command); ``convert`` runs the garbage collector less often."""

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


def test_trials_convert_with_fewer_collections_and_the_setting_is_restored() -> None:
    import gc

    from fhir_adapter.cli.convert_cmd import fewer_collections

    before, frozen = gc.get_threshold(), gc.get_freeze_count()  # screening may have frozen objects already
    with fewer_collections():
        assert gc.get_threshold()[0] == 10_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
