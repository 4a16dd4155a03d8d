"""The parsed mapping tables, kept as JSON in the user's cache directory between runs.

Why: parsing the YAML tables (about 1.2 MB: labs, medications, procedures...) took a quarter of a second of every
command's start-up, as much as converting 25 trials; reading the same data back from JSON takes a thirtieth of
that. The YAML files stay the only source: an entry is found by a hash of the file's bytes (and of the parser's
version), so an edited table is parsed again, and a table whose parsed form JSON would not give back exactly (a
date, a key that is not a string) is never cached. Any failure to read or write the cache is ignored: the table is
then parsed as before.

The directory is ``$FHIR_ADAPTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/fhir-adapter``, else
``~/.cache/fhir-adapter``; ``FHIR_ADAPTER_CACHE_DIR=off`` turns the cache off. Entries of older versions of a
table are left there (two checkouts may use two versions); the directory may be deleted at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_FORMAT = "tables-1"
"""Changes when the cached form changes, so that older entries are not read."""


def cache_dir() -> Path | None:
    """Where parsed tables are kept, or None when the cache is off."""
    chosen = os.environ.get("FHIR_ADAPTER_CACHE_DIR")
    if chosen:
        return None if chosen.lower() == "off" else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fhir-adapter"


def parsed(name: str, raw: bytes, parser_tag: str, parse: Callable[[bytes], Any]) -> Any:
    """``parse(raw)``, or the same value read back from the cache entry of these bytes and this parser."""
    directory = cache_dir()
    if directory is None:
        return parse(raw)
    digest = hashlib.blake2b(f"{_FORMAT} {parser_tag}\n".encode() + raw, digest_size=16).hexdigest()
    entry = directory / f"{name}-{digest}.json"
    try:
        return json.loads(entry.read_bytes())
    except (OSError, ValueError):  # no entry yet, or one cut short by a crash: parse and write it
        pass
    value = parse(raw)
    _write(entry, value)
    return value


def _write(entry: Path, value: Any) -> None:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        if json.loads(text) != value:
            return  # JSON would not give this value back (a key that is not a string...)
    except (TypeError, ValueError, RecursionError):  # a date, NaN...: not cached
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=entry.stem, suffix=".tmp")
    except OSError:
        return
    try:
        # written beside and renamed: a process reading the entry meanwhile sees all of it or none
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, entry)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
