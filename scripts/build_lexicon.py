"""Build the generated lexicon tables (``mappings/lexicon/<area>.tsv``) from open terminology sources.

Run by a developer, not at install time::

    python scripts/build_lexicon.py [--shared ../shared] [--check]

Each area is a module ``scripts/lexicon/<area>.py`` exposing ``SOURCES`` (the source files it reads,
relative to ``shared/``) and ``build(shared: Path, curated: dict[str, dict]) -> dict[str, dict]``: the
concepts, keyed by concept key, in the schema of ``fhir_adapter.terminology`` (every code with its
``source``). ``curated`` holds the hand-curated YAML tables, so an area can leave alone what a person
already decided. The format is :mod:`fhir_adapter.generated_lexicon` (concept entries plus a precomputed phrase
index, so the lexicon loads fast). The output is deterministic (sorted keys, no dates), so ``--check`` can
compare the committed files with a fresh build (the corpus tests in ``tests/terminology/`` do).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fhir_adapter.generated_lexicon import render  # noqa: E402
from fhir_adapter.mappings import load_table  # noqa: E402
from fhir_adapter.terminology import CONCEPT_TABLES  # noqa: E402

AREAS: tuple[str, ...] = ("conditions", "medications")
"""Areas with a generator module in scripts/lexicon/ (each writes mappings/lexicon/<area>.tsv)."""


def build_area(area: str, shared: Path) -> str:
    module = importlib.import_module(f"lexicon.{area}")
    curated = {name: load_table(name) for name in CONCEPT_TABLES}
    concepts = module.build(shared, curated)
    return render(area, list(module.SOURCES), concepts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("areas", nargs="*", default=list(AREAS))
    args = parser.parse_args(argv)
    out_dir = ROOT / "mappings" / "lexicon"
    stale = []
    for area in args.areas:
        text = build_area(area, args.shared)
        target = out_dir / f"{area}.tsv"
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(area)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.with_suffix(".json").unlink(missing_ok=True)  # the format of earlier builds
        print(f"wrote {target.relative_to(ROOT)} ({text.count(chr(10) + 'concept' + chr(9))} concepts)")
    if stale:
        print("stale generated tables: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
