"""Helpers shared by the CLI commands: consoles, JSON output, per-item failure reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from fhir_adapter.errors import FhirAdapterError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def print_json(data: Any, output: Path | None = None) -> None:
    """Write ``data`` as indented JSON to ``output`` or stdout (plain, no colour codes)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")


def report_failure(exc: FhirAdapterError) -> None:
    """One line on stderr for an item that failed while others go on."""
    err_console.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
