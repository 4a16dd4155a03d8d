"""The ``config`` commands: what the settings file and profile make of the commands' defaults.

``fhir-adapter [--config FILE] [--profile NAME] config show [--format table|json]`` prints the settings file in
effect, the selected profile, and every setting with its value and where it comes from: ``env NAME``,
``profile NAME`` or ``default`` (a flag on the command itself wins over all three). Secrets never appear:
settings only name environment variables and files, and the variables are shown by name with whether they are set.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from fhir_adapter.cli._common import check_choice, current_config, print_json, with_output_options
from fhir_adapter.config import Config, Effective, effective
from fhir_adapter.redact import without_userinfo

config_app = typer.Typer(
    name="config",
    help="Settings files and profiles: show what the commands will use.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_FORMATS = ("table", "json")
_COLUMNS = ("setting", "value", "from", "used by")


@dataclass(frozen=True)
class Row:
    """One setting as ``config show`` prints it."""

    key: str
    value: str
    source: str
    used_by: tuple[str, ...]


def command_defaults(command: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every leaf command (``config show``...) -> its parameters' built-in defaults."""
    subcommands = getattr(command, "commands", None)
    if isinstance(subcommands, dict):
        found: dict[str, dict[str, Any]] = {}
        for name, sub in subcommands.items():
            found.update(command_defaults(sub, f"{prefix}{name} "))
        return found
    return {prefix.strip(): {p.name: p.default for p in getattr(command, "params", [])}}


def shown_value(found: Effective, defaults: dict[str, dict[str, Any]]) -> str:
    """The value for people: a URL without credentials, a variable's name and whether it is set, never a secret."""
    value = found.value
    if value is None:
        per_command = {
            command: params[found.setting.param] for command, params in sorted(defaults.items())
            if found.setting.param in params and _real(params[found.setting.param])
        }
        by_value: dict[str, list[str]] = {}
        for command, default in per_command.items():
            by_value.setdefault(str(default), []).append(command)
        return "; ".join(f"{v} ({', '.join(c)})" for v, c in by_value.items()) if len(by_value) > 1 else (
            next(iter(by_value), "-")
        )
    if found.setting.kind == "env-name":
        return f"{value} ({'set' if os.environ.get(str(value)) else 'not set'})"
    if found.setting.kind == "url":
        return without_userinfo(str(value))
    return str(value)


def _real(default: Any) -> bool:
    return default is not None and default is not Ellipsis and default != ""


def rows(config: Config, defaults: dict[str, dict[str, Any]]) -> list[Row]:
    """Every setting: value, where it comes from, and the commands that use it."""
    found = effective(config)
    return [
        Row(f.setting.key, shown_value(f, defaults), f.source,
            tuple(sorted(c for c, params in defaults.items() if f.setting.param in params and c != "config show")))
        for f in found
    ]


def header(config: Config) -> list[str]:
    """The settings file and profile lines."""
    if config.path is None:
        return ["settings file: none (./fhir-adapter.toml, $XDG_CONFIG_HOME/fhir-adapter/config.toml, --config)",
                "profile: none"]
    lines = [f"settings file: {config.path} ({config.found_by})"]
    known = ", ".join(config.profiles) or "none"
    if config.profile is None:
        lines.append(f"profile: none selected (profiles: {known})")
    else:
        lines.append(f"profile: {config.profile.name} ({config.profile.selected_by}; profiles: {known})")
    return lines


def table_lines(found: list[Row]) -> list[str]:
    cells = [_COLUMNS, *((r.key, r.value, r.source, ", ".join(r.used_by)) for r in found)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS) - 1)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
            for row in cells]


def as_json(config: Config, found: list[Row]) -> dict[str, Any]:
    return {
        "settings_file": None if config.path is None else str(config.path),
        "found_by": config.found_by or None,
        "profile": None if config.profile is None else config.profile.name,
        "selected_by": None if config.profile is None else config.profile.selected_by,
        "profiles": list(config.profiles),
        "settings": [{"key": r.key, "value": r.value, "from": r.source, "used_by": list(r.used_by)} for r in found],
    }


def show(
    ctx: typer.Context,
    output_format: Annotated[str, typer.Option("--format", help="table | json.")] = "table",
) -> None:
    """The settings in effect and where each comes from (flag > env > profile > default); secrets masked."""
    output_format = check_choice(output_format, _FORMATS, "--format")
    config = current_config()
    found = rows(config, command_defaults(ctx.find_root().command))
    if output_format == "json":
        print_json(as_json(config, found))
        return
    sys.stdout.write("\n".join([*header(config), "", *table_lines(found)]) + "\n")
    sys.stdout.write("A flag on the command line wins over all of these.\n")


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    if not config_app.registered_commands:
        config_app.command("show")(with_output_options(show))
    app.add_typer(config_app, name="config")
