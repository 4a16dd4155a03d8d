"""Local population screening: ranking, limit, checkpoint resume."""

from __future__ import annotations

import importlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria
from fhir_adapter.matching.checkpoint import Checkpoint
from fhir_adapter.matching.local import LocalData
from fhir_adapter.matching.model import AtomResult, PatientResult
from fhir_adapter.matching.screen import ScreenStats, rank, screen

# the module itself: ``fhir_adapter.matching.screen`` as an attribute is the re-exported function
screen_module = importlib.import_module("fhir_adapter.matching.screen")

LOINC = "http://loinc.org"
AS_OF = date(2024, 6, 1)

pytestmark = pytest.mark.usefixtures("no_lexicon")


CRITERIA = CompiledCriteria(
    trial="NCT00000002",
    atoms=[
        Atom(id="age", kind="inclusion", text="Age 18 or older", category="demographic", comparator="ge",
             value=18, unit="a", computable=True),
        Atom(id="inc-1", kind="inclusion", text="Platelets >= 100", category="lab", comparator="ge", value=100,
             unit="10*9/L", concepts=[Coding(system=LOINC, code="777-3")], computable=True),
    ],
)


def _patient(pid: str, birth: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "birthDate": birth}


def _platelets(pid: str, value: float) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"o-{pid}", "status": "final",
            "subject": {"reference": f"Patient/{pid}"}, "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
            "effectiveDateTime": "2024-05-01", "valueQuantity": {"value": value, "unit": "10*9/L"}}


@pytest.fixture
def population(tmp_path: Path) -> Path:
    """p01..p09: adults with platelets 250 (eligible), 50 (ineligible) or none (needs-review); p10 a child."""
    resources: list[dict[str, Any]] = []
    for n in range(1, 10):
        pid = f"p{n:02d}"
        resources.append(_patient(pid, "1970-01-01"))
        if n % 3 == 1:
            resources.append(_platelets(pid, 250))
        elif n % 3 == 2:
            resources.append(_platelets(pid, 50))
    resources.append(_patient("p10", "2015-01-01"))
    path = tmp_path / "data.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def _result(pid: str, verdict: str, *outcomes: str) -> PatientResult:
    criteria = [AtomResult(id=f"a{i}", result=o, reason="r") for i, o in enumerate(outcomes)]  # type: ignore[arg-type]
    items = [f"obtain a{i}" for i, o in enumerate(outcomes) if o == "unknown"]
    return PatientResult(patient=f"Patient/{pid}", verdict=verdict, reason="r", criteria=criteria,  # type: ignore[arg-type]
                         open_items=items)


def test_rank_eligible_then_review_by_open_items_then_ineligible() -> None:
    ranked = rank([
        _result("z", "ineligible", "not-met"),
        _result("b", "needs-review", "unknown", "unknown"),
        _result("c", "needs-review", "unknown"),
        _result("a", "needs-review", "unknown", "unknown"),
        _result("y", "eligible", "met"),
        _result("x", "eligible", "met"),
    ])
    assert [p.patient for p in ranked] == [
        "Patient/x", "Patient/y", "Patient/c", "Patient/a", "Patient/b", "Patient/z"
    ]


def test_screen_local_population(population: Path) -> None:
    result = screen(CRITERIA, LocalData(population), as_of=AS_OF)
    verdicts = {p.patient: p.verdict for p in result.patients}
    assert verdicts["Patient/p01"] == "eligible"
    assert verdicts["Patient/p02"] == "ineligible"
    assert verdicts["Patient/p03"] == "needs-review"
    assert verdicts["Patient/p10"] == "ineligible"
    order = [p.verdict for p in result.patients]
    assert order == sorted(order, key=["eligible", "needs-review", "ineligible"].index)
    assert result.trial == "NCT00000002" and result.as_of == AS_OF


def test_limit_takes_the_first_ids(population: Path) -> None:
    result = screen(CRITERIA, LocalData(population), as_of=AS_OF, limit=3)
    assert sorted(p.patient for p in result.patients) == ["Patient/p01", "Patient/p02", "Patient/p03"]


def test_progress_reports_counts_only(population: Path) -> None:
    calls: list[tuple[int, int]] = []
    screen(CRITERIA, LocalData(population), as_of=AS_OF, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 10) and calls[-1] == (10, 10)


def test_checkpoint_resume_skips_finished_patients(
    population: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = LocalData(population)
    full = screen(CRITERIA, data, as_of=AS_OF)
    marker_path = tmp_path / "run.jsonl"

    class Interrupt(Exception):
        pass

    def stop_after(k: int) -> Any:
        def progress(done: int, total: int) -> None:
            if done >= k:
                raise Interrupt

        return progress

    with Checkpoint(marker_path, trial=CRITERIA.trial, as_of=AS_OF, atoms=CRITERIA.atoms) as marker, \
            pytest.raises(Interrupt):
        screen(CRITERIA, data, as_of=AS_OF, checkpoint=marker, progress=stop_after(4))
    assert len(marker_path.read_text().splitlines()) == 4

    evaluated: list[str] = []
    real = screen_module.PopulationEvaluator.evaluate

    def spy(self: Any, source: Any, pid: str) -> Any:
        evaluated.append(pid)
        return real(self, source, pid)

    monkeypatch.setattr(screen_module.PopulationEvaluator, "evaluate", spy)
    stats = ScreenStats()
    with Checkpoint(marker_path, trial=CRITERIA.trial, as_of=AS_OF, atoms=CRITERIA.atoms) as marker:
        resumed = screen(CRITERIA, data, as_of=AS_OF, checkpoint=marker, stats=stats)
    assert resumed.contract() == full.contract()
    assert sorted(evaluated) == [f"p{n:02d}" for n in range(5, 11)]
    assert stats.resumed == 4 and stats.evaluated == 6


def test_checkpoint_ignores_other_dates_and_cut_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Checkpoint(path, trial="T", as_of=AS_OF, atoms=CRITERIA.atoms) as marker:
        marker.record(_result("p1", "eligible", "met"))
    with path.open("a") as handle:
        handle.write('{"trial": "T", "as_of": "2024-06-01", "crit')  # interrupted mid-line
    assert set(Checkpoint(path, trial="T", as_of=AS_OF, atoms=CRITERIA.atoms).done()) == {"Patient/p1"}
    assert Checkpoint(path, trial="T", as_of=date(2025, 1, 1), atoms=CRITERIA.atoms).done() == {}
    assert Checkpoint(path, trial="T", as_of=AS_OF, atoms=CRITERIA.atoms[:1]).done() == {}
    with Checkpoint(path, trial="T", as_of=AS_OF, atoms=CRITERIA.atoms) as marker:
        marker.record(_result("p2", "ineligible", "not-met"))
    assert set(Checkpoint(path, trial="T", as_of=AS_OF, atoms=CRITERIA.atoms).done()) == {"Patient/p1", "Patient/p2"}
