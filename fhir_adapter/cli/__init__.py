"""The ``fhir-adapter`` command line: a thin layer over the public API.

Each command lives in its own module and registers itself on :data:`app`.
Errors of the project's own type print as one line on stderr with their exit code;
``--debug`` (anywhere on the command line) shows the traceback too, and never changes the exit code.
``--config FILE`` and ``--profile NAME`` (anywhere too) select the settings file and profile
(:mod:`fhir_adapter.config`): the profile's values become the commands' defaults, below flags and
environment variables.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from fhir_adapter._version import __version__
from fhir_adapter.cli._common import alert_console, reset_session, session
from fhir_adapter.config import load_config
from fhir_adapter.errors import FhirAdapterError
from fhir_adapter.redact import redact

app = typer.Typer(
    name="fhir-adapter",
    help="Clinical-trial records to FHIR: ingest, convert, compile criteria, push, match patients.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fhir-adapter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors (anywhere on the line)."),
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_show_version, is_eager=True
    ),
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", show_default=False,
                     help="Settings file with \\[profiles.NAME] tables (default: $FHIR_ADAPTER_CONFIG, "
                          "./fhir-adapter.toml, ~/.config/fhir-adapter/config.toml). Anywhere on the line."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", metavar="NAME", show_default=False,
                     help="Profile of the settings file (default: $FHIR_ADAPTER_PROFILE, else its default_profile). "
                          "Anywhere on the line."),
    ] = None,
) -> None:
    """fhir-adapter: clinical-trial registry records to FHIR and patient matching."""
    session.config = load_config(config, profile)
    ctx.default_map = profile_defaults(ctx.command, session.config.defaults)


def profile_defaults(command: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The click ``default_map`` of ``command`` (a group: per subcommand) from a profile's values.

    A value is a default of every command that has a parameter of that name, so a flag and an environment
    variable still win. Not ``server`` for a command that also reads ``--data``: there the profile's server
    is used only when neither is given (see ``with_fhir_options``).
    """
    subcommands = getattr(command, "commands", None)
    if isinstance(subcommands, dict):
        return {name: profile_defaults(sub, values) for name, sub in subcommands.items()}
    names = {param.name for param in getattr(command, "params", [])}
    skipped = {"server"} if "data" in names else set()
    return {name: value for name, value in values.items() if name in names and name not in skipped}


_COMMANDS = {
    "inspect": "inspect_cmd", "fetch": "fetch_cmd", "convert": "convert_cmd", "criteria": "criteria_cmd",
    "push": "push_cmd", "sync": "sync_cmd", "match": "match_cmd", "screen": "screen_cmd", "serve": "serve_cmd",
    "export": "export_cmd", "config": "config_cmd",
}
"""Each command and the module (``fhir_adapter.cli.<module>``) that registers it, in the order of the help."""
_NEEDS_EVERY_COMMAND = frozenset({"config"})
"""Commands that read the others (``config show`` names the commands that use each setting)."""
_registered: list[str] = []


def _register_commands(args: list[str] | None = None) -> None:
    """Add the command that ``args`` run to :data:`app`, or every command when they run none or the help.

    Why only one: each command module imports what its command needs (the FHIR clients, DuckDB, the matcher), and
    importing every one of them was most of a ``convert``'s start-up. ``main`` may run many times in one process
    (e.g. in tests): a command is registered once, and the commands keep the order of :data:`_COMMANDS`.
    """
    wanted = _command_of(args or [])
    wanted_names = list(_COMMANDS) if wanted is None else [wanted]
    if all(name in _registered for name in wanted_names):
        return
    names = [name for name in _COMMANDS if name in wanted_names or name in _registered]
    app.registered_commands.clear()
    app.registered_groups.clear()
    for name in names:
        importlib.import_module(f"fhir_adapter.cli.{_COMMANDS[name]}").register(app)
    _registered[:] = names


def _command_of(args: list[str]) -> str | None:
    """The command name ``args`` (hoisted: root options first) run, or None when that is not certain."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in _HOISTED:
            index += 2
        elif arg == "--debug" or arg.split("=", 1)[0] in _HOISTED:
            index += 1
        elif arg.startswith("-"):
            return None  # --help, --version, a completion option...: every command
        else:
            return arg if arg in _COMMANDS and arg not in _NEEDS_EVERY_COMMAND else None
    return None


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
    alert_console.print(f"[bold red]error:[/] {escape(message)} (see {escape(where)} --help)", highlight=False,
                        soft_wrap=True)
    sys.exit(int(getattr(exc, "exit_code", 2)))


_HOISTED = ("--config", "--profile")
"""Root options with a value that are accepted anywhere on the line (like ``--debug``)."""


def hoist(args: list[str]) -> list[str]:
    """``--debug``, ``--config FILE`` and ``--profile NAME`` moved before the command name (click only knows
    root options there); nothing after ``--`` is touched."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if arg == "--debug":
            front.insert(0, arg)
        elif name in _HOISTED and ("=" in arg or index + 1 < len(args)):
            taken = 1 if "=" in arg else 2
            front.extend(args[index : index + taken])
            index += taken
            continue
        else:
            rest.append(arg)
        index += 1
    return [*front, *rest]


def main(argv: list[str] | None = None) -> None:
    args = hoist(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args
    reset_session()
    _register_commands(args)
    command = typer.main.get_command(app)
    try:
        # not standalone: usage errors come here and are printed as one line like every other error
        code = command.main(args=args, prog_name="fhir-adapter", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except FhirAdapterError as exc:
        if debug:
            traceback.print_exc()  # the traceback, and the same exit code as without --debug
        alert_console.print(f"[bold red]error:[/] {escape(exc.one_line())}", highlight=False, markup=True,
                            soft_wrap=True)
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
        alert_console.print(
            f"[bold red]internal error:[/] {detail} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)
