"""CLI tests: the real console entry point (``fhir_adapter.cli.main``) run in process."""

from __future__ import annotations

import pytest

from fhir_adapter.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``fhir-adapter ARGS``."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
