"""The ``fhir-adapter`` command line: a thin layer over the public API.

Each command lives in its own module and registers itself on :data:`app`.
Errors of the project's own type print as one line on stderr with their exit code;
``--debug`` (anywhere on the command line) shows the traceback too, and never changes the exit code.
"""

from __future__ import annotations

import sys
import traceback
from typing import NoReturn

import typer
from rich.markup import escape

from fhir_adapter._version import __version__
from fhir_adapter.cli._common import err_console
from fhir_adapter.errors import FhirAdapterError
from fhir_adapter.redact import redact

app = typer.Typer(
    name="fhir-adapter",
    help="Clinical-trial records to FHIR: ingest, convert, compile criteria, push, match patients.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fhir-adapter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_show_version, is_eager=True
    ),
) -> None:
    """fhir-adapter: clinical-trial registry records to FHIR and patient matching."""


def _register_commands() -> None:
    """Add every command to :data:`app`, once (``main`` may run many times in one process, e.g. in tests)."""
    if app.registered_commands:
        return
    from fhir_adapter.cli import (
        convert_cmd,
        criteria_cmd,
        fetch_cmd,
        inspect_cmd,
        match_cmd,
        push_cmd,
        screen_cmd,
        serve_cmd,
    )

    for module in (inspect_cmd, fetch_cmd, convert_cmd, criteria_cmd, push_cmd, match_cmd, screen_cmd, serve_cmd):
        module.register(app)


def _is(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is one of click's exceptions of these names (typer may bundle its own click)."""
    return any(cls.__name__ in names for cls in type(exc).__mro__)


def _usage_error(exc: Exception) -> NoReturn:
    """A usage error as one line, like every other error (no boxed panel); no arguments at all show the help."""
    if _is(exc, "Abort"):
        sys.exit(130)
    ctx = getattr(exc, "ctx", None)
    if _is(exc, "NoArgsIsHelpError") and ctx is not None:
        typer.echo(ctx.get_help(), err=True)
        sys.exit(2)
    where = ctx.command_path if ctx is not None else "fhir-adapter"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    err_console.print(f"[bold red]error:[/] {escape(message)} (see {escape(where)} --help)", highlight=False,
                      soft_wrap=True)
    sys.exit(int(getattr(exc, "exit_code", 2)))


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:  # accepted anywhere: click only knows it before the command name
        args = ["--debug", *(a for a in args if a != "--debug")]
    _register_commands()
    command = typer.main.get_command(app)
    try:
        # not standalone: usage errors come here and are printed as one line like every other error
        code = command.main(args=args, prog_name="fhir-adapter", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except FhirAdapterError as exc:
        if debug:
            traceback.print_exc()  # the traceback, and the same exit code as without --debug
        err_console.print(f"[bold red]error:[/] {escape(exc.one_line())}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _is(exc, "UsageError", "Abort"):
            _usage_error(exc)
        if debug:
            traceback.print_exc()
            sys.exit(70)
        detail = escape(redact(f"{type(exc).__name__}: {exc}"))
        err_console.print(
            f"[bold red]internal error:[/] {detail} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)
