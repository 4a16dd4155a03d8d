"""The DuckDB engine's first pass: the decisive atoms (age, sex, index condition) on only the lines that carry
one of their codes. A patient it settles must get exactly the result the whole record gives."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.engines.duckdb_engine import DuckDbSource
from fhir_adapter.matching.evaluate import Matcher
from fhir_adapter.matching.record import CodeSet, FilteredOut, PatientRecord
from fhir_adapter.matching.retrieval import code_set_pattern, narrowed_evidence, retrieval_for
from fhir_adapter.matching.screen import PopulationEvaluator, decisive_atoms
from fhir_adapter.matching.server import PatientSnapshot
from fhir_adapter.pipeline import load_compiled

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "patients" / "data"
AS_OF = date(2025, 1, 1)
TRIALS = [ROOT / "samples" / "NCT06577194.txt", *sorted((ROOT / "samples" / "ctgov").glob("*.json"))]
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def _coded(code: str) -> str:
    return f'{{"resourceType": "Condition", "code": {{"coding": [{{"system": "{ICD}", "code": "{code}"}}]}}}}'


def test_the_pattern_finds_exact_dotted_and_prefixed_codes() -> None:
    sets = [
        CodeSet(frozenset({(ICD, "C20")})),
        CodeSet(frozenset({(ICD, "C19")}), dotted=True),
        CodeSet(prefixes=((ICD, "C18"),)),
    ]
    pattern = code_set_pattern(sets)
    assert pattern is not None
    found = {code: bool(re.search(pattern, _coded(code))) for code in ("C20", "C19.1", "C18.7", "C189", "C19")}
    assert found == {"C20": True, "C19.1": True, "C18.7": True, "C189": True, "C19": True}
    missed = {code: bool(re.search(pattern, _coded(code))) for code in ("C200", "C20.1", "C21", "X20")}
    assert missed == {"C200": False, "C20.1": False, "C21": False, "X20": False}
    assert code_set_pattern([CodeSet(frozenset({(ICD, 'C20"x')}))]) is None  # not plain: keep every line
    assert code_set_pattern([]) is None


def test_a_narrowed_type_is_read_only_by_its_code_sets() -> None:
    kept = CodeSet(frozenset({(ICD, "C20")}))
    snapshot = PatientSnapshot("p", {"resourceType": "Patient", "id": "p"}, {"Condition": []}, frozenset({"Condition"}))
    snapshot.narrowed = {"Condition": frozenset({kept})}  # type: ignore[attr-defined]
    record = PatientRecord(snapshot, "p")
    assert record.find("Condition", CodeSet(frozenset({(ICD, "C20")})), {}) == []  # equal by value
    with pytest.raises(FilteredOut):
        record.find("Condition", CodeSet(frozenset({(ICD, "I10")})), {})
    with pytest.raises(FilteredOut):
        record.get("Condition")


def _with_index(trial: Path) -> bool:
    return any(a.index for a in decisive_atoms(load_compiled(trial)[1].atoms))


# a trial without an index condition settles nothing early (CI fails on a skip, so those are not collected)
INDEXED = [t for t in TRIALS if _with_index(t)]


def test_some_sample_trials_have_an_index_condition() -> None:
    assert len(INDEXED) >= 2


@pytest.mark.parametrize("trial", INDEXED, ids=lambda p: p.stem)
def test_patients_settled_early_get_the_whole_records_result(trial: Path) -> None:
    criteria: CompiledCriteria = load_compiled(trial)[1]
    context = Matcher(criteria.atoms, as_of=AS_OF).context
    decisive = decisive_atoms(criteria.atoms)
    narrowed = narrowed_evidence(decisive, context)
    evaluator = PopulationEvaluator(criteria, as_of=AS_OF)
    with DuckDbSource(SAMPLES, retrieval=retrieval_for(criteria.atoms, context), narrowed=narrowed) as source:
        whole = {s.patient_id: evaluator.evaluate_fetched(s) for s in source.snapshots()}
        early = {s.patient_id: evaluator.settled_early(s) for s in source.narrowed_snapshots(set(whole))}
    assert set(early) == set(whole)
    settled = {pid: found for pid, found in early.items() if found is not None}
    assert settled, "the sample patients include some who are not candidates"
    for pid, found in settled.items():
        expected = whole[pid]
        assert expected is not None and found.contract() == expected.contract()
    assert all(whole[pid] is None or whole[pid].reason_code != "not-a-candidate"  # type: ignore[union-attr]
               for pid, found in early.items() if found is None)


def test_patients_settled_early_with_alike_fields_keep_their_own_results(tmp_path: Path) -> None:
    """Copies of the sample patients (new ids, a changed deceased flag or birth date, odd ids): the DuckDB engine's
    first pass gives each exactly what the memory engine gives."""
    import json
    import shutil

    from fhir_adapter.engines import screen_files

    criteria = load_compiled(TRIALS[0])[1]
    folder = tmp_path / "data"
    shutil.copytree(SAMPLES, folder)
    patients = [json.loads(line) for line in (SAMPLES / "Patient.ndjson").read_text(encoding="utf-8").splitlines()]
    copies = []
    for n, patient in enumerate(patients):
        copies.append({**patient, "id": f"copy-{n}"})
        copies.append({**patient, "id": f"third-{n}"})
        copies.append({**patient, "id": f"again-{n}", "deceasedBoolean": n % 2 == 0})
        copies.append({k: v for k, v in patient.items() if k != "birthDate"} | {"id": f"unborn-{n}"})
    copies.append({**patients[0], "id": "with space"})
    copies.append({**patients[0], "id": "nul\u0000id"})
    copies.append({**patients[0], "id": "odd-date", "birthDate": "19\u00007-01-01"})
    with (folder / "Patient.ndjson").open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(c) + "\n" for c in copies)
    memory = screen_files(criteria, [folder], as_of=AS_OF, engine="memory")
    duck = screen_files(criteria, [folder], as_of=AS_OF, engine="duckdb")
    assert duck.result.contract() == memory.result.contract()
    codes = {p.patient: p.reason_code for p in duck.result.patients}
    assert codes["Patient/copy-0"] == "not-a-candidate" and codes["Patient/again-0"] == "deceased"


def _split_first_pass_folder(folder: Path) -> Path:
    """The sample patients plus copies of a non-candidate whose first-pass lines are not all in the files named
    after their types: an index diagnosis in a file of any name, or among the Observations, a second Patient line."""
    import json
    import shutil

    shutil.copytree(SAMPLES, folder)
    patients = [json.loads(line) for line in (SAMPLES / "Patient.ndjson").read_text(encoding="utf-8").splitlines()]
    model = next(p for p in patients if p["id"] == "smp-no-diagnosis")
    ids = ("late-condition", "late-patient", "late-among-observations", "stays")
    with (folder / "Patient.ndjson").open("a", encoding="utf-8") as out:
        out.writelines(json.dumps({**model, "id": pid}) + "\n" for pid in ids)
    lines = (SAMPLES / "Condition.ndjson").read_text(encoding="utf-8").splitlines()
    index = json.loads(next(line for line in lines if '"C20"' in line or "363351006" in line))

    def diagnosis(pid: str) -> str:
        return json.dumps({**index, "id": f"dx-{pid}", "subject": {"reference": f"Patient/{pid}"}})

    more = [diagnosis("late-condition"), json.dumps({**model, "id": "late-patient", "deceasedBoolean": True})]
    (folder / "more.ndjson").write_text("\n".join(more) + "\n", encoding="utf-8")
    with (folder / "Observation.ndjson").open("a", encoding="utf-8") as out:
        out.write(diagnosis("late-among-observations") + "\n")
    return folder


def test_a_first_pass_run_while_other_files_are_read_stands_only_where_it_saw_everything(tmp_path: Path) -> None:
    """The first pass runs on the files named after its types while DuckDB reads the others: a patient with a
    first-pass line in another file, or a bad line that might have been a Condition, makes its result not stand."""
    criteria = load_compiled(TRIALS[0])[1]
    context = Matcher(criteria.atoms, as_of=AS_OF).context
    narrowed = narrowed_evidence(decisive_atoms(criteria.atoms), context)
    retrieval = retrieval_for(criteria.atoms, context)
    folder = _split_first_pass_folder(tmp_path / "data")
    seen: list[str] = []

    def meanwhile(snapshots: object) -> None:
        seen.extend(s.patient_id for s in snapshots)  # type: ignore[attr-defined]

    with DuckDbSource(folder, retrieval=retrieval, narrowed=narrowed, meanwhile=meanwhile) as source:
        assert source.unconfirmed == {"late-condition", "late-patient", "late-among-observations"}
        assert {"stays", "late-condition", "late-patient", "late-among-observations"} <= set(seen)
    (folder / "other.ndjson").write_text('{"resourceType": "Condition", "id": \n', encoding="utf-8")
    with DuckDbSource(folder, retrieval=retrieval, narrowed=narrowed, meanwhile=meanwhile, strict=False) as source:
        assert source.unconfirmed is None  # the bad line may have been anyone's Condition: no problem list is whole


def test_the_screen_with_a_first_pass_during_the_scan_equals_memory(tmp_path: Path) -> None:
    from fhir_adapter.engines import screen_files

    criteria = load_compiled(TRIALS[0])[1]
    folder = _split_first_pass_folder(tmp_path / "data")
    memory = screen_files(criteria, [folder], as_of=AS_OF, engine="memory")
    duck = screen_files(criteria, [folder], as_of=AS_OF, engine="duckdb")
    assert duck.result.contract() == memory.result.contract()
    codes = {p.patient: p.reason_code for p in duck.result.patients}
    assert codes["Patient/stays"] == "not-a-candidate" and codes["Patient/late-patient"] == "deceased"
    assert codes["Patient/late-condition"] != "not-a-candidate" != codes["Patient/late-among-observations"]


def test_unreadable_files_are_reported_in_file_order_whichever_is_read_first(tmp_path: Path) -> None:
    """The files of the first pass are read first; an unreadable file is still reported in file order."""
    from fhir_adapter.engines import screen_files
    from fhir_adapter.errors import InputError

    criteria = load_compiled(TRIALS[0])[1]
    folder = tmp_path / "data"
    import shutil

    shutil.copytree(SAMPLES, folder)
    for name in ("AllergyIntolerance.ndjson.gz", "Patient.ndjson.gz"):  # not gzip: DuckDB cannot read them
        (folder / name).write_text("not gzipped\n", encoding="utf-8")
    found = screen_files(criteria, [folder], as_of=AS_OF, engine="duckdb")
    assert [e.source for e in found.errors] == [str(folder / n) for n in ("AllergyIntolerance.ndjson.gz",
                                                                        "Patient.ndjson.gz")]
    with pytest.raises(InputError) as first:
        screen_files(criteria, [folder], as_of=AS_OF, engine="duckdb", strict=True)
    assert first.value.source == str(folder / "AllergyIntolerance.ndjson.gz")
