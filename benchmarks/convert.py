"""Conversion throughput: the shared ClinicalTrials.gov corpus to R4 and R5 Bundles, validation included.

Usage: ``python benchmarks/convert.py [--rounds N] [--corpus DIR] [--code DIR]``.

* **Mapping + validation**: records are read once (ingest is not measured); each round maps every record without
  its criteria. Prints records/s per version for the first (cold: imports, caches) and the following rounds.
* **The CLI's path** (``convert`` with criteria, the default): ingest from the file, compile the criteria, map,
  validate, per record, R4; the best round, with the time of each stage (mapping and validation are timed apart:
  the Bundle is mapped unvalidated, then each of its resources is validated as ``to_bundle`` does), by the wall
  clock and by this process's CPU time (which other work on the machine disturbs less). The records run under
  the garbage-collector setting ``convert`` uses (``fewer_collections``, where the tree has it); the writing of
  each Bundle as ``convert`` prints it is timed too, apart from the path's total.
* ``--code DIR``: the same measurement of the package in DIR (for example the tree before a change:
  ``git archive HEAD fhir_adapter mappings | tar -x -C DIR``) in a subprocess, printed beside this tree's with the
  gain (>1: this tree is faster). Both run one after the other on the same machine, so the gain holds under load
  better than absolute figures do.

Then the peak memory of one extra traced round (tracemalloc slows Python down, so it is kept out of the timed
rounds) and the process's maximum resident set size. ``--json`` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "ctgov"
STAGES = ("ingest", "criteria", "mapping", "validation")
WRITING = "writing"
TARGET = 100


def load_records(corpus: Path) -> list[Any]:
    from fhir_adapter.ingest import load_trial

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


def convert_all(records: list[Any], version: Literal["R4", "R5"], lookup: Any) -> float:
    from fhir_adapter.mapping import to_bundle

    forget_validated()
    start = time.perf_counter()
    for record in records:
        to_bundle(record, version, drug_lookup=lookup)
    return time.perf_counter() - start


def full_path(paths: list[Path], lookup: Any) -> dict[str, dict[str, float]]:
    """Seconds per stage over every file (R4, criteria included), wall clock and this process's CPU time: what
    ``to_bundle`` does, in two timed halves, then the writing of the Bundle (outside the stages)."""
    from fhir_adapter.criteria import compile_criteria
    from fhir_adapter.ingest import load_trial
    from fhir_adapter.mapping import to_bundle
    from fhir_adapter.mapping.validation import validate
    from fhir_adapter.mapping.versions import flavor

    write = bundle_writer()
    r4 = flavor("R4")
    wall = dict.fromkeys((*STAGES, WRITING), 0.0)
    cpu = dict.fromkeys((*STAGES, WRITING), 0.0)
    forget_validated()
    with cli_collections():
        for path in paths:
            marks = [(time.perf_counter(), time.process_time())]
            record = load_trial(path)
            marks.append((time.perf_counter(), time.process_time()))
            criteria = compile_criteria(record)
            marks.append((time.perf_counter(), time.process_time()))
            bundle = to_bundle(record, "R4", criteria, drug_lookup=lookup, validate=False)
            marks.append((time.perf_counter(), time.process_time()))
            for entry in bundle["entry"]:
                validate(entry["resource"], r4, entry["fullUrl"])
            marks.append((time.perf_counter(), time.process_time()))
            write(bundle)
            marks.append((time.perf_counter(), time.process_time()))
            for stage, before, after in zip((*STAGES, WRITING), marks, marks[1:], strict=False):
                wall[stage] += after[0] - before[0]
                cpu[stage] += after[1] - before[1]
    return {"wall": wall, "cpu": cpu}


def cli_collections() -> Any:
    """The garbage-collector setting ``convert`` runs its records under (none in trees without one)."""
    try:
        from fhir_adapter.cli.convert_cmd import fewer_collections
    except ImportError:
        return contextlib.nullcontext()
    return fewer_collections()


def bundle_writer() -> Any:
    """How ``convert`` turns a Bundle into text (json.dumps in trees without its own writer)."""
    try:
        from fhir_adapter.cli._indented_json import dumps_indented
    except ImportError:
        return lambda bundle: json.dumps(bundle, indent=2, ensure_ascii=False)
    return dumps_indented


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


def measure(corpus: Path, rounds: int) -> dict[str, Any]:
    """Every figure of one tree (the fhir_adapter this interpreter imports)."""
    import fhir_adapter

    records = load_records(corpus)
    if not records:
        sys.exit(f"no records in {corpus}")
    lookup = drug_lookup()
    figures: dict[str, Any] = {"package": str(Path(fhir_adapter.__file__).parent), "records": len(records)}
    versions: tuple[Literal["R4", "R5"], ...] = ("R4", "R5")
    for version in versions:
        cold = convert_all(records, version, lookup)
        warm = [convert_all(records, version, lookup) for _ in range(max(rounds - 1, 1))]
        figures[version] = {
            "cold": len(records) / cold,
            "warm mean": len(records) * len(warm) / sum(warm),
            "best": len(records) / min(warm),
        }
    paths = sorted(corpus.glob("*.json"))
    runs = [full_path(paths, lookup) for _ in range(max(rounds, 2))]
    best = min(runs, key=lambda run: sum(run["wall"][stage] for stage in STAGES))
    figures["CLI path"] = {"files": len(paths), **best}
    tracemalloc.start()
    for version in versions:
        convert_all(records, version, lookup)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures["peak traced MiB"] = peak / 2**20
    figures["max RSS MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return figures


def print_one(figures: dict[str, Any]) -> None:
    n = figures["records"]
    for version in ("R4", "R5"):
        f = figures[version]
        print(f"{version}: {n} records | cold {f['cold']:.0f} rec/s | "
              f"warm mean {f['warm mean']:.0f} rec/s, best {f['best']:.0f} rec/s")
    path = figures["CLI path"]
    files = path["files"]
    wall, cpu = (sum(path[clock][stage] for stage in STAGES) for clock in ("wall", "cpu"))
    print(f"CLI path (ingest + criteria + mapping + validation, R4): {files / wall:.0f} records/s wall clock, "
          f"{files / cpu:.0f} records/s of CPU time (target {TARGET}); per record, wall / CPU:")
    for stage in STAGES:
        wall_ms, cpu_ms = (path[clock][stage] / files * 1000 for clock in ("wall", "cpu"))
        print(f"  {stage:<11} {wall_ms:5.1f} ms / {cpu_ms:5.1f} ms ({path['cpu'][stage] / cpu:.0%} of CPU)")
    if WRITING in path["cpu"]:
        wall_ms, cpu_ms = (path[clock][WRITING] / files * 1000 for clock in ("wall", "cpu"))
        print(f"  then writing the Bundle as convert does: {wall_ms:.1f} ms / {cpu_ms:.1f} ms (not in the total)")
    print(f"peak traced memory during one R4+R5 round: {figures['peak traced MiB']:.1f} MiB; "
          f"max RSS {figures['max RSS MiB']:.0f} MiB")


def rows(figures: dict[str, Any]) -> dict[str, tuple[float, bool]]:
    """The comparable figures, flat: name -> (value, whether higher is better)."""
    flat = {}
    for version in ("R4", "R5"):
        for kind in ("cold", "warm mean", "best"):
            flat[f"mapping + validation {version}, {kind} (rec/s)"] = (figures[version][kind], True)
    path = figures["CLI path"]
    files = path["files"]
    for clock in ("wall", "cpu"):
        flat[f"CLI path R4, {clock} (rec/s)"] = (files / sum(path[clock][stage] for stage in STAGES), True)
        for stage in (*STAGES, WRITING):
            flat[f"  {stage}, {clock} (ms/record)"] = (path[clock][stage] / files * 1000, False)
    flat["peak traced memory (MiB)"] = (figures["peak traced MiB"], False)
    flat["max RSS (MiB)"] = (figures["max RSS MiB"], False)
    return flat


def print_side_by_side(mine: dict[str, Any], other: dict[str, Any], other_dir: Path) -> None:
    """Both trees' figures, and the gain of this tree (>1: faster or smaller)."""
    left, right = rows(mine), rows(other)
    width = max(len(name) for name in left)
    print(f"{'':{width}}  {'this tree':>10}  {str(other_dir)[-24:]:>24}  {'gain':>7}")
    for name, (value, higher_better) in left.items():
        theirs = right[name][0]
        gain = (value / theirs if higher_better else theirs / value) if value and theirs else None
        print(f"{name:{width}}  {value:10.1f}  {theirs:24.1f}  {f'x{gain:.2f}' if gain else '-':>7}")
    print(f"(this tree: {mine['package']}; other: {other['package']})")


def measure_elsewhere(code: Path, argv: list[str]) -> dict[str, Any]:
    """This script's --json figures for the package in ``code``, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(code.resolve())}
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the run on {code} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--code", type=Path, help="also measure the fhir_adapter package in this directory")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    shared = ["--rounds", str(args.rounds), "--corpus", str(args.corpus)]
    other = measure_elsewhere(args.code, shared) if args.code else None
    mine = measure(args.corpus, args.rounds)
    if args.json:
        print(json.dumps(mine))
        return
    print_one(mine)
    if other is not None:
        print()
        print_side_by_side(mine, other, args.code)


if __name__ == "__main__":
    main()
