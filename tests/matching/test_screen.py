"""Local population screening: ranking, limit, checkpoint resume, results spilled to disk."""

from __future__ import annotations

import importlib
import json
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.cli._common import patient_lines
from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria
from fhir_adapter.matching import spill
from fhir_adapter.matching.checkpoint import Checkpoint
from fhir_adapter.matching.emit import candidates_bundle
from fhir_adapter.matching.local import LocalData
from fhir_adapter.matching.model import AtomResult, Evidence, PatientResult, ScreenResult
from fhir_adapter.matching.report import render_html, table_text, verdict_counts
from fhir_adapter.matching.screen import ScreenStats, rank, screen
from fhir_adapter.matching.spill import SpilledPatients, count_by, with_verdicts

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


# -- results spilled to disk ---------------------------------------------------------------------------------


def _outputs(result: ScreenResult) -> dict[str, Any]:
    """Everything a report writer makes of a screen: JSON, NDJSON lines, table, HTML, FHIR candidates, counts."""
    return {
        "json": "".join(result.contract_json()),
        "ndjson": list(patient_lines(result)),
        "table": table_text(result, CRITERIA.atoms),
        "html": render_html(result, CRITERIA.atoms, considered="10 patients"),
        "fhir": candidates_bundle(result),
        "counts": verdict_counts(result),
        "reasons": dict(count_by(result.patients, "reason_code")),
    }


def test_a_spilled_screen_writes_what_an_in_memory_screen_writes(
    population: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = screen(CRITERIA, LocalData(population), as_of=AS_OF)
    monkeypatch.setattr(spill, "SPILL_AFTER", 2)
    spilled = screen(CRITERIA, LocalData(population), as_of=AS_OF)
    assert isinstance(held.patients, list)
    assert isinstance(spilled.patients, SpilledPatients)
    assert _outputs(spilled) == _outputs(held)
    assert len(spilled.patients) == 10
    assert spilled.patients[0] == held.patients[0] and spilled.patients[-1] == held.patients[-1]
    assert spilled.patients[2:5] == held.patients[2:5]
    assert [p.patient for p in with_verdicts(spilled.patients, ["needs-review"])] == [
        "Patient/p03", "Patient/p06", "Patient/p09"
    ]
    with pytest.raises(IndexError):
        spilled.patients[10]


def test_a_spill_ranks_as_the_in_memory_sort_and_keeps_the_last_result_of_a_patient() -> None:
    results = [
        _result("z", "ineligible", "not-met"),
        _result("b", "needs-review", "unknown", "unknown"),
        _result("c", "needs-review", "unknown"),
        _result("a", "needs-review", "unknown", "unknown"),
        _result("Zé", "needs-review", "unknown"),  # non-ASCII ids: SQLite's byte order is Python's code-point order
        _result("é", "needs-review", "unknown"),
        _result("y", "eligible", "met"),
        _result("x", "eligible", "met"),
        _result("\U0001f600", "eligible", "met"),
        _result("\uffff", "eligible", "met"),
    ]
    store = spill.SpilledPatients()
    for result in [*results, _result("z", "eligible", "met")]:  # z again: the later result replaces it
        store.add(result)
    expected = rank([*results[1:], _result("z", "eligible", "met")])
    assert [p.patient for p in store.freeze()] == [p.patient for p in expected]
    assert list(store) == expected
    assert store.counts("verdict") == {"eligible": 5, "needs-review": 5}
    with pytest.raises(RuntimeError, match="frozen"):
        store.add(results[0])
    store.close()


def _bulky(n: int) -> PatientResult:
    """A result about as large as a real one: 44 criteria, a quarter with evidence of the patient's own."""
    criteria = [
        AtomResult(id=f"atom-{i}", result="met", reason=f"value {n}.{i} within the limit of the criterion",
                   evidence=[Evidence(reference=f"Observation/{n}-{i}", value=float(i), unit="g/L")])
        if i % 4 == 0 else
        AtomResult(id=f"atom-{i}", result="unknown", reason="not evaluated: not a candidate for the trial")
        for i in range(44)
    ]
    return PatientResult(patient=f"Patient/{n:07d}", verdict="eligible", reason="all criteria met", criteria=criteria)


def _growth(store: spill.ResultStore, patients: int) -> int:
    """Bytes of Python memory still held after adding ``patients`` results one at a time."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(patients):
            store.add(f"{n:07d}", _bulky(n))
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_spilling_store_does_not_hold_the_results_in_memory() -> None:
    held = spill.ResultStore(spill_after=10_000)
    spilled = spill.ResultStore(spill_after=50)
    in_memory = _growth(held, 1_000)
    on_disk = _growth(spilled, 1_000)
    assert not held.spilled and spilled.spilled
    assert in_memory > 1_000 * 20_000  # each result holds tens of KB of Python objects...
    assert on_disk < in_memory / 50  # ...which the spill does not keep (a few bytes per patient)
    ranked = spilled.ranked()
    assert len(ranked) == 1_000 and ranked[999] == _bulky(999)
    assert list(ranked) == list(held.ranked())


def test_a_checkpoint_holds_offsets_and_streams_results(
    population: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resuming reads each finished result from the file when it is needed (never ``done()``, all at once); a
    reason with a line separator (U+2028, which ``str.splitlines`` splits on) survives the round trip."""
    path = tmp_path / "run.jsonl"
    odd = _result("p2", "ineligible", "not-met").model_copy(update={"reason": "a\u2028b"})
    with Checkpoint(path, trial="T", as_of=AS_OF, atoms=CRITERIA.atoms) as marker:
        marker.record(_result("p1", "eligible", "met"))
        marker.record(odd)
        assert marker.result("Patient/p2") == odd  # readable while being written
        marker.record(_result("p1", "ineligible", "not-met"))  # a later line of the same patient wins
    again = Checkpoint(path, trial="T", as_of=AS_OF, atoms=CRITERIA.atoms)
    assert len(again) == 2 and again.is_done("Patient/p1") and not again.is_done("Patient/p3")
    assert again.result("Patient/p2") == odd
    assert [r.verdict for r in again.results()] == ["ineligible", "ineligible"]
    assert again.result("Patient/p3") is None
    again.close()
    data = LocalData(population)
    full = screen(CRITERIA, data, as_of=AS_OF)
    marker_path = tmp_path / "resume.jsonl"
    with Checkpoint(marker_path, trial=CRITERIA.trial, as_of=AS_OF, atoms=CRITERIA.atoms) as marker:
        screen(CRITERIA, data, as_of=AS_OF, checkpoint=marker, limit=6)
    monkeypatch.setattr(Checkpoint, "done", lambda self: pytest.fail("loaded every result at once"))
    stats = ScreenStats()
    with Checkpoint(marker_path, trial=CRITERIA.trial, as_of=AS_OF, atoms=CRITERIA.atoms) as marker:
        resumed = screen(CRITERIA, data, as_of=AS_OF, checkpoint=marker, stats=stats)
    assert stats.resumed == 6 and stats.evaluated == 4
    assert resumed.contract() == full.contract()


def test_worker_codecs_encode_what_the_screens_codec_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two worker codecs (bases 1 << 16 and 2 << 16) number their shared results apart; the screen's store learns
    them with the lines and decodes every result equal, in memory and spilled."""
    monkeypatch.setattr(spill, "SPILL_AFTER", 2)
    workers = [spill.Codec(base=1 << 16), spill.Codec(base=2 << 16)]
    results = [_bulky(n) for n in range(6)]
    encoded = [workers[n % 2].encoded(r) for n, r in enumerate(results)]
    assert encoded[0].shared and min(encoded[0].shared) == 1 << 16 and encoded[1].shared
    assert min(encoded[1].shared) == 2 << 16 and encoded[2].shared is None  # taught once per worker
    assert len(encoded[0].body) < len(spill.Codec(limit=0).encode(results[0])) / 2
    store = spill.ResultStore()
    for item in encoded:
        store.add_encoded(item.patient.removeprefix("Patient/"), item)
    assert store.spilled
    assert list(store.ranked()) == rank(results)
