"""The HTML work list in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The page is the screening of the sample patients against the seed trial. Checked: no script error, the
counts, the verdict filter, sorting by open items, the detail view with evidence, the patient column staying
in view when the criteria scroll sideways, at 1,280 px and at 800 px. Screenshots of both widths are kept in
``build/test-artifacts/`` (or ``$FHIR_ADAPTER_ARTIFACTS``).

Without Chromium the test fails under CI (``.ci/run`` installs it and sets ``FHIR_ADAPTER_REQUIRE_BROWSER=1``)
and is skipped with a reason naming the package elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from seed_trial import seed_atoms

from fhir_adapter.matching import LocalData
from fhir_adapter.matching.report import verdict_counts
from fhir_adapter.matching.screen import screen
from fhir_adapter.matching.worklist import render_html

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "patients" / "data"
CHROMIUM = os.environ.get("FHIR_ADAPTER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("FHIR_ADAPTER_ARTIFACTS") or ROOT / "build" / "test-artifacts")
# flags that keep Chromium off the network (this machine's network is closed) and quiet
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    if os.environ.get("FHIR_ADAPTER_REQUIRE_BROWSER") or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    atoms = seed_atoms()
    result = screen(_criteria(atoms), LocalData(SAMPLES), as_of=date(2025, 1, 1))
    path = tmp_path_factory.mktemp("report") / "screen.html"
    path.write_text(render_html(result, atoms, considered="25 patients considered from the samples"))
    return path, dict(verdict_counts(result))


def _criteria(atoms: Any) -> Any:
    from fhir_adapter.criteria.model import CompiledCriteria

    return CompiledCriteria(trial="NCT06577194", atoms=atoms)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser: Any, path: Path, width: int) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]")
    return page, errors


def _rows(page: Any, verdict: str | None = None) -> int:
    selector = f'#body tr[data-verdict="{verdict}"]' if verdict else "#body tr"
    return int(page.locator(selector).count())


@pytest.mark.parametrize("width", [1280, 800])
def test_work_list_in_chromium(browser: Any, page_file: tuple[Path, dict[str, int]], width: int) -> None:
    path, counts = page_file
    page, errors = _open(browser, path, width)
    # counts shown, one row per patient (fewer than a page)
    for verdict, n in counts.items():
        assert page.locator(f'#counts button[data-verdict="{verdict}"]').inner_text() == f"{verdict}: {n}"
        assert _rows(page, verdict) == n
    assert "25 patients considered" in page.locator("#considered").inner_text()
    # criteria grouped: inclusions, then exclusions; full text on hover
    groups = page.locator("#head tr.groups th[scope=colgroup]").all_inner_texts()
    assert groups == ["inclusion criteria", "exclusion criteria"]
    titles = [page.locator("#head th.c").nth(i).get_attribute("title") or "" for i in range(3)]
    assert titles[0].startswith("alive (inclusion)")  # the deceased patient's pseudo-criterion comes first
    assert any("ECOG" in t for t in titles)

    # the patient column stays in view when the criteria scroll sideways
    first = page.locator("#body tr td.s0").first
    left_before = first.bounding_box()["x"]
    page.locator(".wrap").evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    assert page.locator(".wrap").evaluate("w => w.scrollLeft") > 0
    assert abs(first.bounding_box()["x"] - left_before) < 1
    page.locator(".wrap").evaluate("w => { w.scrollLeft = 0; }")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"worklist-{width}.png"), full_page=False)

    # filter: hide the ineligible patients, then show them again
    page.locator('#counts button[data-verdict="ineligible"]').click()
    assert _rows(page, "ineligible") == 0 and _rows(page) == counts["eligible"] + counts["needs-review"]
    page.locator('#counts button[data-verdict="ineligible"]').click()
    assert _rows(page, "ineligible") == counts["ineligible"]

    # sort by open items: the needs-review rows come ordered by how much is open
    page.locator("#sort").select_option("open")
    assert _rows(page) == sum(counts.values())

    # search, then the detail view with evidence
    page.locator("#search").fill("smp-low-neutrophils")
    assert _rows(page) == 1
    page.locator("#body tr td.s0 button").click()
    detail = page.locator("#detail")
    assert detail.is_visible()
    text = detail.inner_text()
    assert "Patient/smp-low-neutrophils: ineligible" in text
    assert "absolute neutrophil count 1.2 × 10⁹/L" in text
    assert "Observation/" in text and "2024-12-22" in text
    assert not errors, errors
    page.close()


def test_report_never_runs_text_as_markup(browser: Any, tmp_path: Path) -> None:
    """A criterion text or reason with markup shows as text; nothing runs."""
    from fhir_adapter.criteria.model import Atom
    from fhir_adapter.matching.model import AtomResult, PatientResult, ScreenResult

    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    atoms = [Atom(id="inc-1", kind="inclusion", text=hostile, computable=True)]
    result = ScreenResult(trial="NCT00000000", as_of=date(2025, 1, 1), patients=[
        PatientResult(patient="Patient/x</script>", verdict="needs-review", reason=hostile, open_items=[hostile],
                      criteria=[AtomResult(id="inc-1", result="unknown", reason=hostile)]),
    ])
    path = tmp_path / "hostile.html"
    path.write_text(render_html(result, atoms))
    page, errors = _open(browser, path, 1280)
    assert page.evaluate("window.pwned") is None
    assert hostile in page.locator("#body td.s2").inner_text()
    assert not errors, errors
    page.close()
