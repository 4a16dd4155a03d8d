"""Criteria compiler throughput over the shared ClinicalTrials.gov corpus, plus the summary figures.

Run: ``python benchmarks/criteria.py [CORPUS_DIR] [--code DIR] [--repeat N]`` (default corpus
``<repo>/../shared/data/ctgov``).

The rate is atoms per second of wall time over one pass of the corpus, after one trial has warmed the lexicon
and the phrase tables; the CPU-time rate is printed beside it (on a shared machine it moves less with the
load). The lexicon load is timed in a fresh interpreter (best of three).

``--code DIR``: also measure the ``fhir_adapter`` package (and ``mappings``) in DIR, e.g. a previous commit
(``git archive COMMIT fhir_adapter mappings | tar -x -C DIR``), and print both side by side with the ratio. Each
side then runs in its own fresh process, alternately, ``--repeat`` times (the best run of each is kept), so the
two see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fhir_adapter.criteria import compile_criteria
from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.criteria.summary import summarize
from fhir_adapter.ingest import iter_trials
from fhir_adapter.trial import TrialRecord

REPO = Path(__file__).resolve().parents[1]
TARGET_ATOMS_PER_S = 5000
BASELINE_ATOMS_PER_S = 800  # the compiler before the open-terminology lexicon (BENCHMARKS.md, 2026-11-24)
_LOAD = (
    "import time; t = time.perf_counter(); from fhir_adapter.terminology import lexicon; i = time.perf_counter(); "
    "lex = lexicon(); print(i - t, time.perf_counter() - i, len(lex.concepts()))"
)
# One pass in a fresh process, with only the public API (so an older checkout runs it too).
_CHILD = r"""
import json, sys, time
from pathlib import Path
from fhir_adapter.criteria import compile_criteria
from fhir_adapter.ingest import iter_trials
from fhir_adapter.trial import TrialRecord
trials = [t for t in iter_trials(Path(sys.argv[1])) if isinstance(t, TrialRecord)]
compile_criteria(trials[0])
wall, cpu = time.perf_counter(), time.process_time()
atoms = sum(len(compile_criteria(t).atoms) for t in trials)
print(json.dumps({"trials": len(trials), "atoms": atoms, "seconds": time.perf_counter() - wall,
                  "cpu_seconds": time.process_time() - cpu}))
"""


def _env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def lexicon_load_seconds(code: Path | None = None) -> tuple[float, float, int]:
    """(package import, lexicon load, concepts) in a fresh interpreter, best of three."""
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", _LOAD], capture_output=True, text=True, check=True, env=_env(code), cwd=code
        ).stdout.split()
        runs.append((float(out[0]), float(out[1]), int(out[2])))
    return min(runs, key=lambda r: r[1])


def compile_pass(corpus: Path, code: Path | None) -> dict[str, float]:
    """One pass over the corpus in a fresh process, with this checkout's package or the one in ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(corpus)],
        capture_output=True, text=True, check=True, env=_env(code if code is not None else REPO), cwd=code or REPO,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _rates(figures: dict[str, float]) -> tuple[float, float]:
    return figures["atoms"] / figures["seconds"], figures["atoms"] / figures["cpu_seconds"]


def compare(corpus: Path, code: Path, repeat: int) -> int:
    """This checkout and ``code``, side by side (best of ``repeat`` alternate runs each)."""
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(repeat):
        ours.append(compile_pass(corpus, None))
        theirs.append(compile_pass(corpus, code))
    best_ours = max(ours, key=lambda f: _rates(f)[1])
    best_theirs = max(theirs, key=lambda f: _rates(f)[1])
    if best_ours["atoms"] != best_theirs["atoms"]:
        print(f"note: the two compile different numbers of atoms ({best_ours['atoms']} vs {best_theirs['atoms']})")
    load_ours, load_theirs = lexicon_load_seconds(REPO), lexicon_load_seconds(code)
    rows = [
        ("atoms/s (wall)", _rates(best_ours)[0], _rates(best_theirs)[0]),
        ("atoms/s (CPU)", _rates(best_ours)[1], _rates(best_theirs)[1]),
        ("lexicon load s", load_ours[1], load_theirs[1]),
        ("package import s", load_ours[0], load_theirs[0]),
    ]
    print(f"{int(best_ours['trials'])} trials, {int(best_ours['atoms'])} atoms; best of {repeat} alternate runs each")
    print(f"{'':<18} {'this checkout':>14} {str(code)[-24:]:>24} {'ratio':>7}  (this / other)")
    for name, a, b in rows:
        ratio = a / b if b else float("nan")
        digits = 0 if a >= 100 else 3
        print(f"{name:<18} {a:>14.{digits}f} {b:>24.{digits}f} {ratio:>6.2f}x")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "ctgov")
    parser.add_argument("--code", type=Path, help="also measure the fhir_adapter package in this directory")
    parser.add_argument("--repeat", type=int, default=3, help="alternate runs per side with --code (best kept)")
    args = parser.parse_args(argv)
    corpus: Path = args.corpus
    if args.code is not None:
        return compare(corpus, args.code.resolve(), max(1, args.repeat))
    trials = [t for t in iter_trials(corpus) if isinstance(t, TrialRecord)]
    if not trials:
        print(f"no trials under {corpus}")
        return 1
    compile_criteria(trials[0])  # warm the lexicon and phrase tables
    start, cpu = time.perf_counter(), time.process_time()
    compiled: list[CompiledCriteria] = [compile_criteria(t) for t in trials]
    elapsed, cpu_elapsed = time.perf_counter() - start, time.process_time() - cpu
    summary = summarize(compiled)
    rate = summary.atoms / elapsed
    print(f"{len(trials)} trials, {summary.atoms} atoms in {elapsed:.2f} s: {rate:.0f} atoms/s "
          f"({summary.atoms / cpu_elapsed:.0f} atoms/s of CPU time)")
    print(f"  vs baseline {BASELINE_ATOMS_PER_S} atoms/s: x{rate / BASELINE_ATOMS_PER_S:.1f}; "
          f"target {TARGET_ATOMS_PER_S} atoms/s: {rate / TARGET_ATOMS_PER_S:.0%}")
    imported, loaded, concepts = lexicon_load_seconds()
    print(f"  lexicon: {concepts} concepts loaded in {loaded:.2f} s (target < 0.5 s), after {imported:.2f} s of "
          "package import, in a fresh interpreter")
    print(json.dumps(summary.contract(top=12), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
