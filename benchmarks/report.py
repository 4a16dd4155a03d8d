"""HTML report benchmark: size and time to render in headless Chromium, the work list against the baseline.

    python benchmarks/report.py [--patients 10000] [--seed 7] [--baseline-commit 26ef7b3]

The population and the trial are those of ``benchmarks/screen.py`` (built once into ``benchmarks/.data/``).
The screening is rendered twice: by the work list (``fhir_adapter.matching.worklist``: data as JSON once,
rendered by a small script, 100 rows a page) and by the baseline, the patients x criteria matrix of
``fhir_adapter/matching/report.py`` as of ``--baseline-commit`` (read with ``git show``, run in this
process). Each page is opened in Debian's Chromium (``/usr/bin/chromium``, driven by Playwright) and
timed from navigation to its first complete render (``data-ready`` for the work list, the load event for
the baseline, which is static markup). Targets: under 10 MB and under 3 s for 10,000 patients.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screen import AS_OF, REPO, build_population, trial_atoms

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def baseline_renderer(commit: str) -> Any:
    """``render_html`` of the report module as it was at ``commit``."""
    source = subprocess.run(
        ["git", "show", f"{commit}:fhir_adapter/matching/report.py"], cwd=REPO, check=True, capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("baseline_report")
    exec(compile(source, f"{commit}:report.py", "exec"), module.__dict__)
    return module.render_html


def time_in_browser(path: Path, ready: str | None) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        started = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load", timeout=600_000)
        if ready:
            page.wait_for_selector(ready, timeout=600_000)
        seconds = time.perf_counter() - started
        browser.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--trial-patients", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-commit", default="26ef7b3")
    args = parser.parse_args()

    from fhir_adapter.matching.local import LocalData
    from fhir_adapter.matching.screen import screen
    from fhir_adapter.matching.worklist import render_html

    criteria = trial_atoms()
    folder, info = build_population(args.patients, args.seed, args.trial_patients)
    result = screen(criteria, LocalData(folder, freeze_gc=True), as_of=AS_OF)
    print(f"population: {info}; {len(result.patients)} patients screened against {len(criteria.atoms)} atoms")
    out = REPO / "benchmarks" / ".data" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, render, ready in (
        ("work list (this tree)", lambda: render_html(result, criteria.atoms), "body[data-ready=true]"),
        (f"baseline matrix ({args.baseline_commit})", lambda: baseline_renderer(args.baseline_commit)(
            result, criteria.atoms), None),
    ):
        started = time.perf_counter()
        page = render()
        build_s = time.perf_counter() - started
        path = out / f"{name.split()[0]}.html"
        path.write_text(page, encoding="utf-8")
        size = path.stat().st_size / 1e6
        seconds = time_in_browser(path, ready)
        rows.append((name, size, build_s, seconds))
    print(f"  {'report':<32}{'size MB':>9}{'build s':>9}{'open s (Chromium)':>19}")
    for name, size, build_s, seconds in rows:
        print(f"  {name:<32}{size:>9.1f}{build_s:>9.2f}{seconds:>19.2f}")
    (_, size, _, seconds), (_, base_size, _, base_seconds) = rows
    print(f"  baseline / work list: {base_size / size:.1f}x the size, {base_seconds / seconds:.1f}x the time to open")
    print("targets: a 10,000-patient report under 10 MB and open in under 3 s in headless Chromium")


if __name__ == "__main__":
    main()
