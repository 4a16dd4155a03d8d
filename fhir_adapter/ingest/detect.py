"""Reading an input file safely and telling its format from its content."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fhir_adapter.errors import InputError

CTGOV_JSON = "ctgov-json"
REGISTRY_PAGE = "registry-page"
CTGOV_XML = "ctgov-xml"
FORMATS = (CTGOV_JSON, REGISTRY_PAGE, CTGOV_XML)

MAX_INPUT_BYTES = 50 * 1024 * 1024
_XML_ROOT = re.compile(r"<clinical_study[\s>/]")
_NCT_ID_LINE = re.compile(r"^NCT ID:\s*\S", re.MULTILINE)


_NCT_ID = re.compile(r"NCT\d{8}")


def read_text(path: Path) -> str:
    """The file's text; InputError (naming the path) if unreadable, empty, binary or over 50 MB."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError(f"file is {size} bytes, more than the {MAX_INPUT_BYTES} byte limit", source=source)
        data = path.read_bytes()
    except InputError:
        raise
    except IsADirectoryError as exc:
        raise InputError("is a directory, expected a file", source=source) from exc
    except FileNotFoundError as exc:
        if _NCT_ID.fullmatch(path.name.strip().upper()):
            # an id where a file is expected: say how to get the record
            raise InputError(
                f"no such file; {path.name} looks like a registry id: fetch it first with "
                f"`fhir-adapter fetch {path.name.upper()} -o DIR`",
                source=source,
            ) from exc
        raise InputError(f"cannot read: {exc.strerror or exc}", source=source) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=source) from exc
    return decode(data, source)


def decode(data: bytes, source: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"input is more than the {MAX_INPUT_BYTES} byte limit", source=source)
    if b"\x00" in data:
        raise InputError("binary content, expected JSON, XML or page text", source=source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", source=source) from exc
    if not text.strip():
        raise InputError("empty input", source=source)
    return text


def check_format(name: str | None) -> str | None:
    if name is not None and name not in FORMATS:
        raise InputError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}")
    return name


def detect_format(text: str, source: str) -> str:
    """ctgov-json (an object, list or NDJSON), ctgov-xml (<clinical_study>) or registry-page text."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return CTGOV_JSON
    if stripped.startswith("<") and _XML_ROOT.search(stripped[:4096]):
        return CTGOV_XML
    if _NCT_ID_LINE.search(text) and _has_page_heading(text):
        return REGISTRY_PAGE
    raise InputError(
        "unrecognised content: not ClinicalTrials.gov JSON, <clinical_study> XML or registry page text",
        source=source,
    )


def _has_page_heading(text: str) -> bool:
    from fhir_adapter.ingest.registry_page import HEADINGS

    return any(line.strip() in HEADINGS for line in text.splitlines())


def is_ndjson(text: str) -> bool:
    """More than one JSON value, one per line (a single document spanning lines is not NDJSON)."""
    lines = _first_lines(text, 2)
    if len(lines) < 2:
        return False
    try:
        json.loads(lines[0])
    except json.JSONDecodeError:
        return False
    return True


def _first_lines(text: str, count: int) -> list[str]:
    """The first ``count`` non-blank lines of ``text`` as ``splitlines`` finds them, without splitting all of it
    (a pretty-printed record has thousands of lines, and only two matter)."""
    size = 4096
    while True:
        head = text[:size]
        lines = head.splitlines()
        if len(head) < len(text):
            lines = lines[:-1]  # the last line of a prefix may go on past it
        found = [line for line in lines if line.strip()][:count]
        if len(found) == count or len(head) == len(text):
            return found
        size *= 4
