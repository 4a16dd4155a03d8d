"""What users of a command line expect: --version, -h, python -m, case-insensitive choices, one-line usage
errors with exit code 2 (the real console script, run as a subprocess where it matters)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fhir_adapter._version import __version__

from . import run_cli

ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "samples" / "NCT06577194.txt"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert run(capsys, flag) == (0, f"fhir-adapter {__version__}\n", "")


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["screen", "-h"]])
def test_short_and_long_help(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, _err = run(capsys, *args)
    assert code == 0 and "Usage:" in out


def test_python_dash_m_runs_the_same_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "fhir_adapter", "--version"], capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"fhir-adapter {__version__}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frobnicate"], "error: No such option: --frobnicate (see fhir-adapter --help)"),
        (["screen"], "error: Missing argument 'trial'. (see fhir-adapter screen --help)"),
        (["screen", str(TRIAL), "--data", "x", "--format", "pdf"],
         "error: --format must be one of table, json, ndjson, html, got 'pdf'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args)
    assert (code, out, err.strip()) == (2, "", message)
    assert "╭" not in err  # no boxed panel


def test_choices_are_case_insensitive(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "inspect", str(TRIAL), "--format", "JSON")
    assert code == 0 and out.lstrip().startswith("{")
    data = ROOT / "samples" / "patients" / "data"
    code, out, _err = run(capsys, "screen", str(TRIAL), "--data", str(data), "--format", "Json", "--as-of",
                          "2025-01-01", "--fhir-version", "r5")
    assert code == 0 and '"trial": "NCT06577194"' in out


@pytest.mark.parametrize("command", ["push", "screen"])
def test_credentials_in_a_server_url_are_refused_and_never_printed(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run(capsys, command, str(TRIAL), "--server", "http://alice:S3cretPW@127.0.0.1:1/fhir")
    assert code == 2 and out == ""
    assert "S3cretPW" not in err and "alice" not in err
    assert "must not carry credentials (http://***@127.0.0.1:1/fhir)" in err


def test_the_python_client_refuses_them_too() -> None:
    from fhir_adapter.errors import UsageError
    from fhir_adapter.fhir import FhirClient

    with pytest.raises(UsageError) as caught:
        FhirClient("https://alice:S3cretPW@127.0.0.1:1/fhir")
    assert "S3cretPW" not in str(caught.value) and "https://***@127.0.0.1:1/fhir" in str(caught.value)


def test_an_nct_id_where_a_file_is_expected_says_how_to_fetch_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "screen", "NCT06577194", "--data", "samples/patients/data")
    assert code == 2 and out == ""
    assert "looks like a registry id: fetch it first with `fhir-adapter fetch NCT06577194 -o DIR`" in err


def test_files_of_other_types_in_an_input_directory_are_listed_as_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "NCT06577194.txt").write_text(TRIAL.read_text())
    (tmp_path / "protocol.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / ".hidden").write_text("x")
    for command in ("inspect", "criteria"):
        code, _out, err = run(capsys, command, str(tmp_path))
        assert code == 0
        assert f"skipped {tmp_path / 'protocol.pdf'}: not a trial record file" in err
        assert ".hidden" not in err


def test_the_package_is_typed() -> None:
    import fhir_adapter

    assert (Path(fhir_adapter.__file__).parent / "py.typed").is_file()


def test_shell_completion_is_typers() -> None:
    """`--show-completion bash` prints a completion script, and the script's protocol completes command names."""
    import os
    import subprocess
    import sys

    script = subprocess.run([sys.executable, "-m", "fhir_adapter", "--show-completion", "bash"],
                            capture_output=True, text=True, check=False)
    assert script.returncode == 0 and "COMP_WORDS" in script.stdout, script.stderr
    env = {**os.environ, "_FHIR_ADAPTER_COMPLETE": "complete_bash", "COMP_WORDS": "fhir-adapter scr", "COMP_CWORD": "1"}
    completed = subprocess.run([sys.executable, "-m", "fhir_adapter"], capture_output=True, text=True, env=env,
                               check=False)
    assert completed.stdout.split() == ["screen"], completed.stdout + completed.stderr


def test_exit_codes_are_the_readme_table() -> None:
    """Every error class exits with the code the README's table gives its meaning, and the table lists no other
    code than those and the CLI's own (1 for some of several inputs, 70 for an internal error, 130 on Ctrl-C)."""
    import re

    from fhir_adapter import errors

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    codes = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+?) \|$", table, re.MULTILINE)}
    expected = {
        errors.InputError: "bad input or options", errors.UsageError: "bad input or options",
        errors.RegistryError: "registry API", errors.MappingError: "mapping produced invalid FHIR (a bug)",
        errors.FhirServerError: "FHIR server error", errors.AuthError: "authentication",
        errors.ConfigError: "broken mapping table",
    }
    for cls, meaning in expected.items():
        assert codes.get(cls.exit_code) == meaning, cls.__name__
    assert codes[1] == "some of several inputs failed" and codes[70] == "internal error"
    assert set(codes) == {cls.exit_code for cls in expected} | {1, 70}
