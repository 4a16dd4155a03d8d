"""Population-scale screening benchmark: the memory, DuckDB and Spark engines on the same files, side by side.

    python benchmarks/population.py [--patients 10000,100000] [--engines memory,duckdb,spark]
                                    [--format ndjson|gz|parquet] [--code DIR] [--workers N]

Population: ``benchmarks/screen.py``'s 10,000-patient population (a seeded carebundle cohort expanded by clones,
with rectal-cancer trial patients injected; about 38 resources and 45 KB of NDJSON per patient) is the base; a
size N is N / 10,000 copies of it made by DuckDB itself (every UUID gets the copy number in its first 8 hex digits,
so references stay consistent), written as NDJSON, gzipped NDJSON or Parquet under ``benchmarks/.data/`` (git-ignored).
The disk each size takes is printed.

Trial: the seed trial's compiled criteria (``samples/NCT06577194.txt``), as the CLI compiles them.

Each engine runs in a fresh process (``screen_files``, the path ``fhir-adapter screen --data DIR --engine E``
takes), so its figures include loading, and its peak RSS is the child's, including writing the JSON report
(``contract_json``, digested rather than written; its seconds are the "JSON s" column, not in patients/s); "CPU s"
is the screen's CPU time (the process's and its worker processes', DuckDB's threads included). The
results of every engine are compared with the first engine's (a digest of the whole result contract): identical
or not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / ".data"
TRIAL = REPO / "samples" / "NCT06577194.txt"
AS_OF = "2026-02-01"
BASE_PATIENTS = 10_000

_CHILD = r"""
import hashlib, json, resource, sys, time
from datetime import date
from pathlib import Path
started = time.perf_counter()
from fhir_adapter.engines import screen_files
from fhir_adapter.pipeline import load_compiled
try:
    from fhir_adapter.matching.spill import count_by
except ImportError:  # an older checkout (BENCH_PYTHONPATH): count by iterating
    from collections import Counter
    def count_by(patients, field):
        return Counter(getattr(p, field) for p in patients)
folder, engine, as_of, trial, workers = sys.argv[1:6]
criteria = load_compiled(Path(trial))[1]
def cpu():  # this process's CPU seconds and its finished children's (worker processes)
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
compiled = time.perf_counter()
cpu_start = cpu()
extra = {"workers": int(workers)} if workers else {}  # an older checkout (--code) has no workers option
found = screen_files(criteria, [Path(folder)], as_of=date.fromisoformat(as_of), engine=engine, **extra)
done = time.perf_counter()
cpu_screen = cpu() - cpu_start
screen_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
digest = hashlib.sha256()
for chunk in found.result.contract_json():  # the report as the CLI writes it, never one string
    digest.update(chunk.encode())
reported = time.perf_counter()
verdicts = dict(count_by(found.result.patients, "reason_code"))
print(json.dumps({
    "patients": len(found.result.patients), "seconds": done - compiled, "cpu": cpu_screen,
    "startup": compiled - started,
    "report_seconds": reported - done, "screen_rss_mb": screen_rss,
    "digest": digest.hexdigest()[:16], "reasons": verdicts,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def base_population() -> Path:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from screen import build_population  # the 10,000-patient population of benchmarks/screen.py

    folder, _info = build_population(BASE_PATIENTS, 7, 200)
    return folder


def build(patients: int, fmt: str) -> Path:
    """``patients`` (a multiple of 10,000) as Bulk NDJSON files (plain or gzipped) or Parquet tables (one resource
    per row, JSON text in ``resource``), made by DuckDB from the base population."""
    import duckdb

    base = base_population()
    copies = max(1, patients // BASE_PATIENTS)
    target = DATA / f"population-{copies * BASE_PATIENTS}{'' if fmt == 'ndjson' else '-' + fmt}"
    if (target / "done").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": "4GB", "preserve_insertion_order": False})
    con.execute("SET enable_progress_bar = false")
    uuid = "[0-9a-f]{8}-([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    for source in sorted(base.glob("*.ndjson")):
        # One file per resource type, as a Bulk export names them, and the injected trial patients' file.
        name = f"{source.stem}." + {"ndjson": "ndjson", "gz": "ndjson.gz", "parquet": "parquet"}[fmt]
        options = "FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\\x01'" + (
            ", COMPRESSION gzip" if fmt == "gz" else ""
        )
        if fmt == "parquet":
            options = "FORMAT parquet"
        con.execute(f"""
            COPY (
                SELECT CASE WHEN k = 0 THEN line
                            ELSE regexp_replace(line, '{uuid}', printf('%08x', k) || '-\\1', 'g') END AS resource
                FROM read_csv('{source}', columns = {{'line': 'VARCHAR'}}, delim = '\\x01', quote = '', escape = '',
                              header = false, auto_detect = false, max_line_size = 33554432),
                     range({copies}) AS copies(k)
            ) TO '{target / name}' ({options})""")
    (target / "done").write_text(str(copies * BASE_PATIENTS))
    return target


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6


def run(
    folder: Path, engine: str, code: Path | None = None, workers: int | None = None
) -> dict[str, object]:
    """One engine in a fresh process; ``code``: a directory holding another version of ``fhir_adapter`` (and
    ``mappings``) to measure instead of this checkout's; ``workers``: the DuckDB engine's worker processes
    (None: its default, one per core)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), engine, AS_OF, str(TRIAL), "" if workers is None else str(workers)],
        capture_output=True, text=True, env=env, check=False, cwd=code,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    figures: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", default="10000", help="comma-separated sizes (multiples of 10,000)")
    parser.add_argument("--engines", default="memory,duckdb,spark")
    parser.add_argument("--format", choices=("ndjson", "gz", "parquet"), default="ndjson",
                        help="NDJSON, gzipped NDJSON (as Bulk servers may send it) or Parquet (resource JSON per row)")
    parser.add_argument("--code", type=Path, help="measure the fhir_adapter package in this directory instead "
                        "(e.g. a previous commit: git archive COMMIT fhir_adapter mappings | tar -x -C DIR)")
    parser.add_argument("--workers", type=int, help="the DuckDB engine's worker processes (default 1: evaluate in "
                        "the screen's process; not passed to an older --code)")
    args = parser.parse_args()
    print(f"cpu: {os.cpu_count()} cores; trial: {TRIAL.name} (compiled); as of {AS_OF}")
    print(f"{'patients':>10} {'format':<8} {'disk MB':>9} {'engine':<7} {'seconds':>8} {'patients/s':>11} "
          f"{'CPU s':>6} {'peak RSS MB':>12} {'JSON s':>7} {'vs first':>9}  "
          "result (largest child process's RSS: Spark's JVM)")
    for size in (int(s) for s in args.patients.split(",")):
        folder = build(size, args.format)
        disk = disk_mb(folder)
        baseline: dict[str, object] | None = None
        for engine in args.engines.split(","):
            figures = run(folder, engine, args.code, args.workers)
            fmt = args.format
            if "error" in figures:
                print(f"{size:>10} {fmt:<8} {disk:>9.0f} {engine:<7} failed: {figures['error']}")
                continue
            seconds = float(figures["seconds"])  # type: ignore[arg-type]
            patients = int(figures["patients"])  # type: ignore[call-overload]
            ratio = ""
            if baseline is None:
                baseline = figures
            else:
                ratio = f"{float(baseline['seconds']) / seconds:.1f}x"  # type: ignore[arg-type]
            same = f"baseline {figures['digest']}" if figures is baseline else (
                "identical" if figures["digest"] == baseline["digest"] else "DIFFERENT"
            )
            child = float(figures.get("children_rss_mb", 0.0))  # type: ignore[arg-type]
            print(f"{size:>10} {fmt:<8} {disk:>9.0f} {engine:<7} {seconds:>8.1f} {patients / seconds:>11,.0f} "
                  f"{float(figures.get('cpu', 0.0)):>6.1f} "  # type: ignore[arg-type]
                  f"{float(figures['rss_mb']):>12,.0f} {float(figures['report_seconds']):>7.1f} "  # type: ignore[arg-type]
                  f"{ratio:>9}  {same} {figures['reasons']}"
                  + (f" (child {child:,.0f} MB)" if child > 50 else ""))


if __name__ == "__main__":
    main()
