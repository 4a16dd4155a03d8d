"""Criteria compiler throughput over the shared ClinicalTrials.gov corpus, plus the summary figures.

Run: ``python benchmarks/criteria.py [CORPUS_DIR]`` (default ``<repo>/../shared/data/ctgov``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from fhir_adapter.criteria import compile_criteria
from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.criteria.summary import summarize
from fhir_adapter.ingest import iter_trials
from fhir_adapter.trial import TrialRecord


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
    print(f"{len(trials)} trials, {summary.atoms} atoms in {elapsed:.2f} s: {summary.atoms / elapsed:.0f} atoms/s")
    print(json.dumps(summary.contract(top=12), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
