"""Helpers shared by the CLI commands: consoles, JSON/NDJSON output, progress, --quiet/--verbose,
per-item failure reports, early checks."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fhir_adapter.config import Config
from fhir_adapter.errors import FhirAdapterError, InputError, UsageError
from fhir_adapter.ingest import DIRECTORY_SUFFIXES, FORMATS
from fhir_adapter.redact import redact, without_userinfo
from fhir_adapter.trial import TrialRecord

if TYPE_CHECKING:  # matching is imported by the commands that match, not by every command
    from fhir_adapter.matching.model import ScreenResult

StrictFlag = Annotated[
    bool, typer.Option("--strict", help="A malformed --data line or resource is an error, not skipped.")
]
"""``--strict`` of the commands that read patient data (match, screen)."""
OpenWorldFlag = Annotated[
    bool,
    typer.Option(
        "--open-world-diagnosis",
        help="Never rule a patient out for lacking the trial's condition (for sources known to be incomplete).",
    ),
]
"""``--open-world-diagnosis`` of the commands that match patients (match, screen)."""

# Piped or redirected output gets wide tables (rich falls back to 80 columns without a terminal);
# COLUMNS, when set, still wins.
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(soft_wrap=True, width=_PIPED_WIDTH)
err_console = Console(stderr=True, soft_wrap=True)
"""Progress, summaries and notes on stderr: silenced by ``--quiet``."""
alert_console = Console(stderr=True, soft_wrap=True)
"""Errors and warnings on stderr: never silenced."""


@dataclass
class Session:
    """What one run of the command line was asked for beyond its command: output level and settings."""

    quiet: bool = False
    verbose: bool = False
    config: Config = field(default_factory=Config)


session = Session()


def reset_session() -> None:
    """A fresh run (``main`` may run many times in one process, e.g. in tests)."""
    session.quiet = session.verbose = False
    session.config = Config()
    err_console.quiet = False
    disable_trace()


def current_config() -> Config:
    """The settings file and profile of this run (set by the root command)."""
    return session.config


def set_output(*, quiet: bool, verbose: bool) -> None:
    """Apply ``--quiet`` / ``--verbose``: quiet silences :data:`err_console`; verbose traces HTTP requests."""
    if quiet and verbose:
        raise UsageError("give at most one of --quiet and --verbose")
    session.quiet = session.quiet or quiet
    session.verbose = session.verbose or verbose
    err_console.quiet = session.quiet
    if verbose:
        enable_trace()
        note(session.config.describe())


def note(message: str) -> None:
    """An informational line on stderr, shown with ``--verbose`` only."""
    if session.verbose:
        err_console.print(f"[dim]info:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)


def write_text(text: str | bytes, output: Path) -> None:
    """Write ``text`` (or bytes, as they are) to ``output`` (parents created); an OSError becomes one InputError
    naming the file."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            output.write_bytes(text)
        else:
            output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", source=str(output)) from exc


def print_json(data: Any, output: Path | None = None) -> None:
    """Write ``data`` as indented JSON to ``output`` or stdout (plain, no colour codes)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(text, output)


def print_ndjson(items: Iterable[Any], output: Path | None = None) -> None:
    """Write each item as one line of compact JSON to ``output`` or stdout (NDJSON), as the items come."""
    if output is None:
        _write_lines(items, sys.stdout, flush=True)  # a reader of the pipe gets each line as it is ready
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as handle:
            _write_lines(items, handle, flush=False)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", source=str(output)) from exc


def _write_lines(items: Iterable[Any], handle: typing.TextIO, *, flush: bool) -> None:
    for item in items:
        handle.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
        if flush:
            handle.flush()


def print_documents(documents: list[Any], output_format: str, *, single: bool, output: Path | None = None) -> None:
    """``json``: the one document when ``single``, else a JSON list; ``ndjson``: one document per line."""
    if output_format == "ndjson":
        print_ndjson(documents, output)
    else:
        print_json(documents[0] if single and len(documents) == 1 else documents, output)


def one_file_input(inputs: list[Path]) -> bool:
    """One input that is a file (not a directory): ``--format json`` then prints one object, not a list."""
    return len(inputs) == 1 and not inputs[0].is_dir()


def patient_lines(result: ScreenResult) -> Iterator[dict[str, Any]]:
    """The NDJSON lines of a screening: each patient's result with the trial and date (self-contained), made one
    at a time (a million-patient screening is never one object)."""
    as_of = result.as_of.isoformat()
    for patient in result.patients:
        yield {"trial": result.trial, "as_of": as_of, **patient.contract()}


def write_chunks(chunks: Iterable[str], output: Path | None = None) -> None:
    """Write text made piece by piece to ``output`` (parents created) or stdout."""
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(chunk)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", source=str(output)) from exc


def alert(markup: str) -> None:
    """An error or warning line on stderr: never silenced, and printed above a progress bar that is running."""
    target = err_console if _bars else alert_console  # the bar's console keeps the bar below the line
    target.print(markup, highlight=False, soft_wrap=True)


def report_failure(exc: FhirAdapterError) -> None:
    """One line on stderr for an item that failed while others go on."""
    alert(f"[bold red]error:[/] {escape(exc.one_line())}")


def warn(message: str) -> None:
    alert(f"[yellow]warning:[/] {escape(redact(message))}")


def warn_unread_files(inputs: list[Path]) -> None:
    """One warning per file in an input directory that is not read (a PDF, a CSV): nothing is skipped silently."""
    for path in inputs:
        if not path.is_dir():
            continue
        try:
            entries = sorted(path.iterdir())
        except OSError:
            continue  # the reader reports the unreadable directory itself
        for entry in entries:
            if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() not in DIRECTORY_SUFFIXES:
                warn(f"skipped {entry}: not a trial record file ({', '.join(DIRECTORY_SUFFIXES)})")


def warn_record(record: TrialRecord) -> None:
    """The record's ingest warnings (unknown enum values kept as given...), one line each on stderr."""
    for message in record.warnings:
        warn(f"{record.label}: {message}")


def exit_after_failures(failed: int, exit_code: int, message: str, *, source: str | None = None) -> None:
    """End a command whose failed items were already reported on stderr, one line each.

    One failure: its line says it all, just exit with ``exit_code``. Several: one summary line
    (``message``) after them. None: return.
    """
    if not failed:
        return
    if failed == 1:
        raise typer.Exit(exit_code)
    error = FhirAdapterError(message, source=source)
    error.exit_code = exit_code
    raise error


def check_choice(value: str, choices: tuple[str, ...], option: str) -> str:
    """The choice ``value`` names, in any case (``r4`` is ``R4``), else a UsageError naming ``option``."""
    for choice in choices:
        if value.casefold() == choice.casefold():
            return choice
    raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


def check_input_format(value: str | None) -> str | None:
    """``--input-format``: None (detect) or one of the ingest formats."""
    if value is None:
        return None
    return check_choice(value, tuple(FORMATS), "--input-format")


def check_http_url(value: str, option: str) -> str:
    """An ``http(s)://host/...`` URL, else a UsageError naming ``option``."""
    parts = urlsplit(value)
    shown = without_userinfo(value)
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{option} must not carry credentials ({shown}): use --auth basic --username NAME --password-env VAR"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{option} must be an http(s)://host/... URL, got {shown!r}")
    return value


def check_output_path(path: Path | None, option: str, *, directory: bool = False) -> None:
    """Fail before any work when ``path`` cannot be written: a directory where a file is meant
    (or the reverse), or a parent that is a file."""
    if path is None:
        return
    if directory:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path} exists and is not a directory", field=option)
    elif path.is_dir():
        raise UsageError(f"{path} is a directory, expected a file name", field=option)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {path}: {parent} is not a directory", field=option)
            break


_bars: list[Progress] = []
"""The progress bar drawn now (at most one)."""
ProgressCallback = Callable[[int, int | None], None]
"""Fed with (done, total); total None when it is not known in advance. Counts only, never ids."""


@contextmanager
def progress_bar(enabled: bool = True, label: str = "screening") -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr fed with (done, total), or None (nothing drawn).

    Drawn only on a terminal (not ``TERM=dumb``) and without ``--quiet``: a redirected stderr gets nothing at
    all, not even a blank line. Writes to stdout go above the bar when stdout is the terminal too, and are left alone
    (never rerouted to stderr) when it is redirected.
    """
    if not (enabled and err_console.is_terminal and not err_console.is_dumb_terminal and not err_console.quiet):
        yield None
        return
    columns = (SpinnerColumn(), TextColumn(escape(label)), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, redirect_stdout=sys.stdout.isatty()) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        _bars.append(bar)
        try:
            yield update
        finally:
            _bars.remove(bar)


def show_progress(flag: bool | None) -> bool:
    """``--progress/--no-progress``: the flag when given, else on (drawn only when stderr is a terminal)."""
    return True if flag is None else flag


ProgressFlag = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: on when it is a terminal).",
                 show_default=False),
]
"""``--progress/--no-progress`` of the commands that may take long over many inputs."""


class _RedactingFormatter(logging.Formatter):
    """Log lines pass through the redaction layer like every other output."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _TraceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the stderr of the moment (a test, or a progress bar, may have replaced it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


TRACED_LOGGERS = ("fhir_adapter.fhir", "fhir_adapter.ingest")
"""The loggers ``--verbose`` shows: each HTTP request (method, masked URL, status, time)."""


_levels_before_trace: dict[str, int] = {}


def enable_trace() -> None:
    """Log each request of the FHIR and registry clients to stderr (ids masked)."""
    for name in TRACED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, _TraceHandler) for h in logger.handlers):
            handler = _TraceHandler(sys.stderr)
            handler.setFormatter(_RedactingFormatter("trace: %(message)s"))
            logger.addHandler(handler)
        _levels_before_trace.setdefault(name, logger.level)
        logger.setLevel(logging.DEBUG)


def disable_trace() -> None:
    """Undo :func:`enable_trace` (``main`` may run many times in one process, e.g. in tests)."""
    for name, level in list(_levels_before_trace.items()):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _TraceHandler)]:
            logger.removeHandler(handler)
        logger.setLevel(level)
        del _levels_before_trace[name]


F = TypeVar("F", bound=Callable[..., Any])


def with_parameters(
    func: Callable[..., Any], added: Mapping[str, tuple[Any, Any]], *, drop: str | None = None
) -> tuple[inspect.Signature, dict[str, Any]]:
    """``func``'s signature without ``drop``, with ``added`` keyword-only options (name -> (type, typer.Option)),
    its annotations resolved (typer reads them from the wrapper): (signature, annotations)."""
    signature = inspect.signature(func)
    hints = typing.get_type_hints(func, include_extras=True)
    kept = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
            if p.name != drop]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=option)
             for name, (kind, option) in added.items()]
    parameters = [*kept, *extra]
    new = signature.replace(parameters=parameters, return_annotation=hints.get("return", signature.return_annotation))
    return new, {p.name: p.annotation for p in parameters}


OUTPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "quiet": (bool, typer.Option(False, "--quiet", "-q",
                                 help="Only the output, errors and warnings: no progress, summaries or notes.")),
    "verbose": (bool, typer.Option(False, "--verbose", "-v",
                                   help="Also the settings in effect and each HTTP request (ids masked) on stderr.")),
}
"""``--quiet`` and ``--verbose``, on every command."""


def with_output_options(func: F) -> F:
    """Give the command ``--quiet`` and ``--verbose`` (those it does not declare itself) and apply them first."""
    own = set(inspect.signature(func).parameters)
    added = {name: option for name, option in OUTPUT_OPTIONS.items() if name not in own}
    signature, annotations = with_parameters(func, added)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        levels = {name: bool(kwargs.pop(name) if name in added else kwargs.get(name)) for name in OUTPUT_OPTIONS}
        set_output(**levels)
        return func(*args, **kwargs)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = annotations
    return cast(F, wrapper)
