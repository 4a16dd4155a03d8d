"""Conversion throughput: the shared ClinicalTrials.gov corpus to R4 and R5 Bundles, validation included.

Usage: ``python benchmarks/convert.py [--rounds N] [--corpus DIR]``.

* **Mapping + validation**: records are read once (ingest is not measured); each round maps every record without
  its criteria. Prints records/s per version for the first (cold: imports, caches) and the following rounds.
* **The CLI's path** (``convert`` with criteria, the default): ingest from the file, compile the criteria, map and
  validate, per record; the best round and the share of each part, R4.

Then the peak memory of one extra traced round (tracemalloc slows Python down, so it is kept out of the timed
rounds) and the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "ctgov"


def load_records(corpus: Path) -> list[Any]:
    try:
        from fhir_adapter.ingest import load_trial  # type: ignore[attr-defined]
    except ImportError:
        sys.path.insert(0, str(REPO / "tests" / "mapping"))
        from ctgov_records import from_ctgov_json

        return [from_ctgov_json(json.loads(p.read_text()), str(p)) for p in sorted(corpus.glob("*.json"))]
    return [load_trial(p) for p in sorted(corpus.glob("*.json"))]


def forget_validated() -> None:
    """Each round starts without the resources an earlier round validated (repeating the same records would
    otherwise measure the cache, not the conversion); within a round, one site or sponsor shared by several trials
    is still validated once, as in a real run."""
    try:
        from fhir_adapter.mapping.validation import forget_validated as forget
    except ImportError:  # a version without the cache
        return
    forget()


def convert_all(records: list[Any], version: str, lookup: Any) -> float:
    from fhir_adapter.mapping import to_bundle

    forget_validated()
    start = time.perf_counter()
    for record in records:
        to_bundle(record, version, drug_lookup=lookup)
    return time.perf_counter() - start


def full_path(paths: list[Path], lookup: Any) -> dict[str, float]:
    """Seconds per part over every file: ingest, criteria, mapping + validation (R4, criteria included)."""
    from fhir_adapter.criteria import compile_criteria
    from fhir_adapter.ingest import load_trial  # type: ignore[attr-defined]
    from fhir_adapter.mapping import to_bundle

    parts = {"ingest": 0.0, "criteria": 0.0, "mapping + validation": 0.0}
    forget_validated()
    for path in paths:
        t0 = time.perf_counter()
        record = load_trial(path)
        t1 = time.perf_counter()
        criteria = compile_criteria(record)
        t2 = time.perf_counter()
        to_bundle(record, "R4", criteria, drug_lookup=lookup)
        t3 = time.perf_counter()
        parts["ingest"] += t1 - t0
        parts["criteria"] += t2 - t1
        parts["mapping + validation"] += t3 - t2
    return parts


def drug_lookup() -> Any:
    from fhir_adapter.errors import ConfigError
    from fhir_adapter.mapping.interventions import default_drug_lookup

    lookup = default_drug_lookup()
    try:
        lookup("capecitabine")
    except ConfigError:
        print("note: drug lexicon unavailable, drugs stay text-only", file=sys.stderr)
        return lambda name: None
    return lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    records = load_records(args.corpus)
    if not records:
        sys.exit(f"no records in {args.corpus}")
    lookup = drug_lookup()
    for version in ("R4", "R5"):
        cold = convert_all(records, version, lookup)
        warm = [convert_all(records, version, lookup) for _ in range(max(args.rounds - 1, 1))]
        best = min(warm)
        total = sum(warm)
        print(
            f"{version}: {len(records)} records | cold {len(records) / cold:.0f} rec/s | "
            f"warm mean {len(records) * len(warm) / total:.0f} rec/s, best {len(records) / best:.0f} rec/s"
        )
    paths = sorted(args.corpus.glob("*.json"))
    rounds = [full_path(paths, lookup) for _ in range(max(args.rounds, 2))]
    best = min(rounds, key=lambda parts: sum(parts.values()))
    total = sum(best.values())
    shares = ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in best.items())
    print(f"CLI path (ingest + criteria + mapping + validation, R4): {len(paths) / total:.0f} records/s "
          f"(target 100); {shares}")
    tracemalloc.start()
    for version in ("R4", "R5"):
        convert_all(records, version, lookup)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak traced memory during one R4+R5 round: {peak / 2**20:.1f} MiB; max RSS {max_rss:.0f} MiB")


if __name__ == "__main__":
    main()
