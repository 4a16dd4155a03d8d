"""Criteria compiler throughput over the shared ClinicalTrials.gov corpus, plus the summary figures.

Run: ``python benchmarks/criteria.py [CORPUS_DIR]`` (default ``<repo>/../shared/data/ctgov``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fhir_adapter.criteria import compile_criteria
from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.criteria.summary import summarize
from fhir_adapter.ingest import iter_trials
from fhir_adapter.trial import TrialRecord

TARGET_ATOMS_PER_S = 5000
BASELINE_ATOMS_PER_S = 800  # the compiler before the open-terminology lexicon (BENCHMARKS.md, 2026-11-24)
_LOAD = (
    "import time; t = time.perf_counter(); from fhir_adapter.terminology import lexicon; i = time.perf_counter(); "
    "lex = lexicon(); print(i - t, time.perf_counter() - i, len(lex.concepts()))"
)


def lexicon_load_seconds() -> tuple[float, float, int]:
    """(package import, lexicon load, concepts) in a fresh interpreter, best of three."""
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True, check=True).stdout.split()
        runs.append((float(out[0]), float(out[1]), int(out[2])))
    return min(runs, key=lambda r: r[1])


def main(argv: list[str]) -> int:
    corpus = Path(argv[0]) if argv else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ctgov"
    trials = [t for t in iter_trials(corpus) if isinstance(t, TrialRecord)]
    if not trials:
        print(f"no trials under {corpus}")
        return 1
    compile_criteria(trials[0])  # warm the lexicon and phrase tables
    start = time.perf_counter()
    compiled: list[CompiledCriteria] = [compile_criteria(t) for t in trials]
    elapsed = time.perf_counter() - start
    summary = summarize(compiled)
    rate = summary.atoms / elapsed
    print(f"{len(trials)} trials, {summary.atoms} atoms in {elapsed:.2f} s: {rate:.0f} atoms/s")
    print(f"  vs baseline {BASELINE_ATOMS_PER_S} atoms/s: x{rate / BASELINE_ATOMS_PER_S:.1f}; "
          f"target {TARGET_ATOMS_PER_S} atoms/s: {rate / TARGET_ATOMS_PER_S:.0%}")
    imported, loaded, concepts = lexicon_load_seconds()
    print(f"  lexicon: {concepts} concepts loaded in {loaded:.2f} s (target < 0.5 s), after {imported:.2f} s of "
          "package import, in a fresh interpreter")
    print(json.dumps(summary.contract(top=12), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
