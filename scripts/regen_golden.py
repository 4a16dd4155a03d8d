"""Regenerate samples/golden/NCT06577194.R4.json and .R5.json from the seed trial.

Runs the real conversion: the seed's registry page through ``fhir_adapter.ingest.load_trial``,
the criteria compiler and the lexicon's drug lookup when they are available. While a piece is
missing it says so and falls back (hand-typed seed record, no criteria, no drug codes), so the
golden files always show what the current tree produces. Run: ``python scripts/regen_golden.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "samples" / "golden"
SEED_ID = "NCT06577194"
SEED_PAGES = [REPO / "samples" / f"{SEED_ID}.txt", REPO.parent / "shared" / "data" / "registry-page" / f"{SEED_ID}.txt"]


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def seed_trial() -> Any:
    try:
        from fhir_adapter.ingest import load_trial  # type: ignore[attr-defined]
    except ImportError:
        load_trial = None
    page = next((p for p in SEED_PAGES if p.is_file()), None)
    if load_trial is not None and page is not None:
        return load_trial(page)
    _note("ingest.load_trial or the seed page is missing: using the hand-typed seed record of tests/mapping")
    sys.path.insert(0, str(REPO / "tests" / "mapping"))
    from ctgov_records import seed_by_hand

    return seed_by_hand()


def criteria_for(trial: Any) -> Any:
    try:
        from fhir_adapter.criteria import compile_criteria

        return compile_criteria(trial)
    except (ImportError, AttributeError) as exc:
        _note(f"criteria compiler unavailable ({exc}): golden files carry no criteria atoms")
        return None


def drug_lookup() -> Any:
    from fhir_adapter.errors import ConfigError
    from fhir_adapter.mapping.interventions import default_drug_lookup

    lookup = default_drug_lookup()
    try:
        lookup("capecitabine")
    except ConfigError as exc:
        _note(f"drug lexicon unavailable ({exc}): drugs stay text-only")
        return lambda name: None
    return lookup


def golden_bundles() -> dict[str, dict[str, Any]]:
    """The bundles the golden files must hold (also used by tests/mapping/test_golden.py)."""
    from fhir_adapter.mapping import to_bundle

    trial = seed_trial()
    criteria = criteria_for(trial)
    lookup = drug_lookup()
    return {version: to_bundle(trial, version, criteria, drug_lookup=lookup) for version in ("R4", "R5")}


def render(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for version, bundle in golden_bundles().items():
        path = GOLDEN_DIR / f"{SEED_ID}.{version}.json"
        path.write_text(render(bundle), encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)} ({len(bundle['entry'])} entries)")


if __name__ == "__main__":
    main()
