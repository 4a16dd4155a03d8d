"""Build the API reference (HTML) from the public docstrings with pdoc.

    python scripts/build_api_docs.py [-o build/api]

Documents ``fhir_adapter`` (the names in its ``__all__``: the README's "Python API") and
``fhir_adapter.errors`` (the exception types and their exit codes). The output folder is git-ignored
(``build/``); CI builds it through ``tests/test_api_docs.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pdoc
import pdoc.render

MODULES = ("fhir_adapter", "fhir_adapter.errors")
"""The public modules: the package's ``__all__`` and the errors every caller may catch."""
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "build" / "api"


def build(output: Path) -> list[Path]:
    """Write the reference into ``output``; the HTML pages written."""
    pdoc.render.configure(docformat="restructuredtext", show_source=False, search=True)
    output.mkdir(parents=True, exist_ok=True)
    pdoc.pdoc(*MODULES, output_directory=output)
    return sorted(output.rglob("*.html"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="output folder (build/api)")
    args = parser.parse_args(argv)
    pages = build(args.output)
    print(f"{len(pages)} page(s) written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
