"""The population engines give exactly the in-memory engine's results and skipped-record report.

Equality is asserted on whole result contracts (every verdict, reason and criterion), on the sample patients,
on the 13 real patient bundles exported as Bulk NDJSON, and on files with bad lines. An engine that dropped a
resource type, a patient or a line would fail them.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.criteria.model import CompiledCriteria
from fhir_adapter.engines import AUTO_DUCKDB_BYTES, resolve_engine, screen_files, spark_engine
from fhir_adapter.engines.duckdb_engine import DuckDbSource
from fhir_adapter.errors import InputError, UsageError
from fhir_adapter.matching.evaluate import Matcher
from fhir_adapter.matching.retrieval import Retrieval, retrieval_for
from fhir_adapter.matching.screen import RetrievalError, screen_stream
from fhir_adapter.pipeline import load_compiled

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "patients" / "data"
REAL = [ROOT / "tests" / "matching" / "data" / name for name in ("synthea-smart-r4", "mii-kds-testdata")]
AS_OF = date(2025, 1, 1)
TRIALS = [ROOT / "samples" / "NCT06577194.txt", *sorted((ROOT / "samples" / "ctgov").glob("*.json"))]


@pytest.fixture(scope="module")
def seed() -> CompiledCriteria:
    return load_compiled(TRIALS[0])[1]


def _references(value: Any, urls: dict[str, str]) -> Any:
    """Bundle-local references (``urn:uuid:...``, full URLs) rewritten as a Bulk export writes them (Type/id)."""
    if isinstance(value, dict):
        return {
            k: (urls.get(v, v) if k == "reference" and isinstance(v, str) else _references(v, urls))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_references(v, urls) for v in value]
    return value


def export_as_ndjson(bundle_dirs: list[Path], out: Path) -> Path:
    """The bundles' resources as Bulk export files (``<Type>.ndjson``), in bundle order."""
    out.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for folder in bundle_dirs:
        for path in sorted(folder.glob("*.json")):
            bundle = json.loads(path.read_text(encoding="utf-8"))
            entries = [e for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
            urls: dict[str, str] = {}
            for entry in entries:
                resource = entry["resource"]
                full_url = str(entry.get("fullUrl", ""))
                resource.setdefault("id", full_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1])
                if full_url:
                    urls[full_url] = f"{resource['resourceType']}/{resource['id']}"
            for entry in entries:
                resource = _references(entry["resource"], urls)
                by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    for rtype, lines in by_type.items():
        (out / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def real_ndjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_as_ndjson(REAL, tmp_path_factory.mktemp("real-ndjson"))


def bad_lines_folder(folder: Path) -> Path:
    """The sample patients plus a file of every kind of bad line, at known line numbers."""
    shutil.copytree(SAMPLES, folder)
    patient = json.loads((SAMPLES / "Patient.ndjson").read_text(encoding="utf-8").splitlines()[0])
    lines = [
        json.dumps({**patient, "id": "extra-1"}),  # 1
        "",  # 2: blank, ignored
        '{"resourceType": "Observation", "status": ',  # 3: truncated
        "[1, 2]",  # 4: not an object
        '{"resourceType": 5}',  # 5: resourceType not a string
        json.dumps({"resourceType": "Patient", "gender": "female"}),  # 6: a Patient without id
        '{"resourceType": "Observation", "id": "nan", "subject": {"reference": "Patient/extra-1"}, '
        '"status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}, '
        '"valueQuantity": {"value": NaN, "unit": "g/dL"}}',  # 7: only Python's JSON reads it
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {**patient, "id": "extra-2"}}]}),  # 8: a Bundle line
    ]
    (folder / "mixed.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def contract(found: Any) -> dict[str, Any]:
    return dict(found.result.contract())


def errors(found: Any) -> list[str]:
    return [str(e) for e in found.errors]


# -- DuckDB ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("trial", TRIALS, ids=lambda p: p.stem)
def test_duckdb_equals_memory_on_samples_and_real_bundles(trial: Path, real_ndjson: Path) -> None:
    compiled = load_compiled(trial)[1]
    for paths in ([SAMPLES], [real_ndjson], REAL):
        memory = screen_files(compiled, paths, as_of=AS_OF, engine="memory")
        duck = screen_files(compiled, paths, as_of=AS_OF, engine="duckdb")
        assert duck.engine == "duckdb" and memory.engine == "memory"
        assert len(memory.result.patients) >= 3
        assert contract(duck) == contract(memory)


def test_real_bundles_as_ndjson_keep_their_verdicts(seed: CompiledCriteria, real_ndjson: Path) -> None:
    """The export is faithful: the NDJSON copy of the real bundles screens like the bundles themselves."""
    from_bundles = screen_files(seed, REAL, as_of=AS_OF, engine="memory").result
    from_ndjson = screen_files(seed, [real_ndjson], as_of=AS_OF, engine="duckdb").result
    assert [(p.patient, p.verdict, p.reason_code) for p in from_ndjson.patients] == [
        (p.patient, p.verdict, p.reason_code) for p in from_bundles.patients
    ]
    assert {p.reason_code for p in from_ndjson.patients} >= {"not-a-candidate"}


def test_gzipped_ndjson_reads_like_plain(seed: CompiledCriteria, tmp_path: Path) -> None:
    for path in SAMPLES.glob("*.ndjson"):
        (tmp_path / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    plain = screen_files(seed, [SAMPLES], as_of=AS_OF, engine="duckdb")
    zipped = screen_files(seed, [tmp_path], as_of=AS_OF, engine="duckdb")
    assert contract(zipped) == contract(plain)
    assert len(zipped.result.patients) == 25


def test_bad_lines_reported_as_memory_reports_them(seed: CompiledCriteria, tmp_path: Path) -> None:
    folder = bad_lines_folder(tmp_path / "data")
    memory = screen_files(seed, [folder], as_of=AS_OF, engine="memory")
    duck = screen_files(seed, [folder], as_of=AS_OF, engine="duckdb")
    mixed = folder / "mixed.ndjson"
    assert errors(memory) == [
        f"{mixed}:3: malformed JSON: Expecting value",
        f"{mixed}:4: not a FHIR resource (no resourceType)",
        f"{mixed}:5: not a FHIR resource (no resourceType)",
        f"{mixed}:6: Patient resource has no id",
    ]
    assert errors(duck) == errors(memory)
    assert contract(duck) == contract(memory)
    ids = {p.patient for p in duck.result.patients}
    assert {"Patient/extra-1", "Patient/extra-2"} <= ids and len(ids) == 27
    with pytest.raises(InputError) as from_memory:
        screen_files(seed, [folder], as_of=AS_OF, engine="memory", strict=True)
    with pytest.raises(InputError) as from_duckdb:
        screen_files(seed, [folder], as_of=AS_OF, engine="duckdb", strict=True)
    assert str(from_duckdb.value) == str(from_memory.value) == f"{mixed}:3: malformed JSON: Expecting value"


def test_line_numbers_follow_the_file_in_a_large_parallel_scan(tmp_path: Path) -> None:
    """DuckDB numbers lines with row_number() over a parallel scan: it must follow the file, or reports lie."""
    path = tmp_path / "Observation.ndjson"
    bad = {50_001, 123_457, 199_999}
    with path.open("w", encoding="utf-8") as out:
        for number in range(1, 200_001):
            if number in bad:
                out.write('{"broken": \n')
            else:
                out.write(json.dumps({"resourceType": "Observation", "id": str(number), "pad": "x" * 40}) + "\n")
    (tmp_path / "Patient.ndjson").write_text(json.dumps({"resourceType": "Patient", "id": "p"}) + "\n")
    retrieval = Retrieval(types=("Observation",), observation_codes=None, shared_types=())
    with DuckDbSource(tmp_path, retrieval=retrieval, strict=False, threads=2) as source:
        assert [e.source for e in source.errors] == [f"{path}:{n}" for n in sorted(bad)]


def test_an_engine_that_does_not_fetch_a_type_fails_loudly(seed: CompiledCriteria) -> None:
    context = Matcher(seed.atoms, as_of=AS_OF).context
    full = retrieval_for(seed.atoms, context)
    assert "Condition" in full.types and "Observation" in full.types
    without = Retrieval(tuple(t for t in full.types if t != "Condition"), full.observation_codes, full.shared_types)
    with DuckDbSource(SAMPLES, retrieval=without) as source, pytest.raises(RetrievalError, match="Condition"):
        screen_stream(seed, source, as_of=AS_OF)


def test_observation_codes_select_only_the_atoms_observations(seed: CompiledCriteria, real_ndjson: Path) -> None:
    retrieval = retrieval_for(seed.atoms, Matcher(seed.atoms, as_of=AS_OF).context)
    assert retrieval.observation_codes and "777-3" in retrieval.observation_codes  # platelets
    with DuckDbSource(real_ndjson, retrieval=retrieval) as source:
        kept = source.resource_count
    with DuckDbSource(real_ndjson, retrieval=Retrieval(retrieval.types, None, retrieval.shared_types)) as source:
        assert source.resource_count > 2 * kept


def test_auto_picks_duckdb_for_large_data(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_engine("auto", [SAMPLES]) == "memory"
    monkeypatch.setattr("fhir_adapter.engines.AUTO_DUCKDB_BYTES", 0)
    assert resolve_engine("auto", [SAMPLES]) == "duckdb"
    assert AUTO_DUCKDB_BYTES >= 1 << 20
    with pytest.raises(UsageError, match="--engine must be one of"):
        resolve_engine("postgres", [SAMPLES])


def test_checkpoint_resumes_a_duckdb_screen(seed: CompiledCriteria, tmp_path: Path) -> None:
    from fhir_adapter.matching.checkpoint import Checkpoint
    from fhir_adapter.matching.screen import ScreenStats

    marker = tmp_path / "screen.checkpoint"
    first = Checkpoint(marker, trial=seed.trial, as_of=AS_OF, atoms=seed.atoms)
    partial = screen_files(seed, [SAMPLES], as_of=AS_OF, engine="duckdb", limit=10, checkpoint=first)
    first.close()
    assert len(partial.result.patients) == 10
    stats = ScreenStats()
    second = Checkpoint(marker, trial=seed.trial, as_of=AS_OF, atoms=seed.atoms)
    whole = screen_files(seed, [SAMPLES], as_of=AS_OF, engine="duckdb", checkpoint=second, stats=stats)
    second.close()
    assert stats.resumed == 10 and stats.evaluated == 15
    assert contract(whole) == contract(screen_files(seed, [SAMPLES], as_of=AS_OF, engine="memory"))


def test_a_duckdb_screen_spilled_to_disk_equals_memory(
    seed: CompiledCriteria, real_ndjson: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results spilled to disk (a threshold of 3 patients), resumed from a checkpoint or not: the same report,
    byte for byte, as the in-memory engine keeping every result."""
    from fhir_adapter.matching import spill
    from fhir_adapter.matching.checkpoint import Checkpoint

    memory = screen_files(seed, [SAMPLES, real_ndjson], as_of=AS_OF, engine="memory").result
    monkeypatch.setattr(spill, "SPILL_AFTER", 3)
    marker = tmp_path / "screen.checkpoint"
    with Checkpoint(marker, trial=seed.trial, as_of=AS_OF, atoms=seed.atoms) as first:
        screen_files(seed, [SAMPLES, real_ndjson], as_of=AS_OF, engine="duckdb", limit=5, checkpoint=first)
    for checkpoint in (None, Checkpoint(marker, trial=seed.trial, as_of=AS_OF, atoms=seed.atoms)):
        duck = screen_files(seed, [SAMPLES, real_ndjson], as_of=AS_OF, engine="duckdb", checkpoint=checkpoint).result
        assert isinstance(duck.patients, spill.SpilledPatients) and len(duck.patients) == len(memory.patients) > 3
        assert "".join(duck.contract_json()) == "".join(memory.contract_json())
        if checkpoint is not None:
            checkpoint.close()


# -- Spark (local[2]: a real Spark, as a cluster would run it) ----------------------------------------------------


def test_spark_equals_memory(
    seed: CompiledCriteria, real_ndjson: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Spark run (a session costs seconds) over the samples, the real bundles as NDJSON and every kind of
    bad line, in files split into many partitions: the same results and skipped-record report as in memory."""
    monkeypatch.setitem(spark_engine.SPARK_DEFAULTS, "spark.sql.files.maxPartitionBytes", str(64 * 1024))
    folder = bad_lines_folder(tmp_path / "data")
    shutil.copytree(real_ndjson, folder / "real")
    with (folder / "Observation.extra.ndjson").open("w", encoding="utf-8") as out:  # about 20 partitions
        for number in range(1, 20_001):
            out.write('{"broken": \n' if number in (4_321, 17_777) else json.dumps(
                {"resourceType": "Observation", "id": f"x{number}", "status": "final"}) + "\n")
    memory = screen_files(seed, [folder], as_of=AS_OF, engine="memory")
    spark = screen_files(seed, [folder], as_of=AS_OF, engine="spark")
    assert spark.engine == "spark"
    assert errors(spark) == errors(memory) and len(errors(memory)) == 6
    assert f"{folder / 'Observation.extra.ndjson'}:17777: malformed JSON: Expecting value" in errors(spark)
    assert contract(spark) == contract(memory)
    assert len(spark.result.patients) == 27 + 14  # 14 patients in the 13 real bundles
    from_parquet = screen_files(seed, [parquet_copy(SAMPLES, tmp_path / "parquet")], as_of=AS_OF, engine="spark")
    assert contract(from_parquet) == contract(screen_files(seed, [SAMPLES], as_of=AS_OF, engine="memory"))




def test_duckdb_never_draws_on_stdout() -> None:
    """DuckDB draws a progress bar on stdout for queries over 2 s: stdout carries the report, so it is off."""
    retrieval = Retrieval(types=("Condition",), observation_codes=None, shared_types=())
    with DuckDbSource(SAMPLES, retrieval=retrieval) as source:
        setting = source._con.execute("SELECT current_setting('enable_progress_bar')").fetchone()
    assert setting == (False,)


def parquet_copy(source: Path, target: Path) -> Path:
    """The NDJSON files of ``source`` as Parquet tables with one resource per row (JSON text in ``resource``)."""
    import duckdb

    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for path in sorted(source.glob("*.ndjson")):
        con.execute(
            f"COPY (SELECT line AS resource FROM read_csv('{path}', columns = {{'line': 'VARCHAR'}}, delim = '\\x01', "
            f"quote = '', escape = '', header = false, auto_detect = false) WHERE trim(line) <> '') "
            f"TO '{target / (path.stem + '.parquet')}' (FORMAT parquet)"
        )
    return target


def test_parquet_reads_like_ndjson(seed: CompiledCriteria, tmp_path: Path) -> None:
    folder = parquet_copy(SAMPLES, tmp_path / "parquet")
    import duckdb

    rows = [json.dumps({"resourceType": "Patient", "id": "pq"}), "{broken"]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (resource VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[row] for row in rows])
    con.execute(f"COPY t TO '{folder / 'Broken.parquet'}' (FORMAT parquet)")
    assert resolve_engine("auto", [folder]) == "duckdb"
    found = screen_files(seed, [folder], as_of=AS_OF, engine="duckdb")
    expected = screen_files(seed, [SAMPLES], as_of=AS_OF, engine="memory")
    assert errors(found) == [f"{folder / 'Broken.parquet'}:2: malformed JSON: Expecting property name enclosed in "
                             "double quotes"]
    ours = contract(found)
    ours["patients"] = [p for p in ours["patients"] if p["patient"] != "Patient/pq"]
    assert ours == contract(expected)
    with pytest.raises(UsageError, match="the memory engine reads NDJSON and Bundles, not Parquet"):
        screen_files(seed, [folder], as_of=AS_OF, engine="memory")


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_no_patient_left_names_the_unreadable_file(seed: CompiledCriteria, tmp_path: Path, engine: str) -> None:
    """When every file was skipped as unreadable, the error says so and names the file (nothing goes unsaid)."""
    (tmp_path / "Patient.ndjson.gz").write_bytes(b"not gzip")
    with pytest.raises(InputError) as raised:
        screen_files(seed, [tmp_path], as_of=AS_OF, engine=engine)
    message = str(raised.value)
    assert "no Patient resource in the 1 --data file(s) (1 skipped as malformed or unreadable; first: " in message
    assert f"{tmp_path / 'Patient.ndjson.gz'}: cannot read" in message


# -- DuckDB with worker processes -----------------------------------------------------------------------------


def test_duckdb_in_worker_processes_equals_memory(
    seed: CompiledCriteria, real_ndjson: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers, chunks of 4 patients, results spilled after 3 (worker-encoded lines written as they are),
    Bundle lines and NaN lines indexed in the screen's process: the memory engine's report, byte for byte; a
    screen resumed from a checkpoint too."""
    from fhir_adapter.engines import parallel
    from fhir_adapter.matching import spill
    from fhir_adapter.matching.checkpoint import Checkpoint

    folder = bad_lines_folder(tmp_path / "bad")
    paths = [folder, real_ndjson]
    memory = screen_files(seed, paths, as_of=AS_OF, engine="memory")
    monkeypatch.setattr(parallel, "MIN_PATIENTS", 0)
    monkeypatch.setattr(parallel, "CHUNK_PATIENTS", 4)
    monkeypatch.setattr(spill, "SPILL_AFTER", 3)
    calls: list[int] = []
    real = parallel.evaluate_in_workers

    def spy(setup: Any, rows: Any, workers: int) -> Any:
        calls.append(workers)
        return real(setup, rows, workers)

    monkeypatch.setattr("fhir_adapter.engines.evaluate_in_workers", spy)
    duck = screen_files(seed, paths, as_of=AS_OF, engine="duckdb", workers=2)
    assert calls == [2]
    assert errors(duck) == errors(memory)
    assert isinstance(duck.result.patients, spill.SpilledPatients)
    assert "".join(duck.result.contract_json()) == "".join(memory.result.contract_json())
    marker = tmp_path / "screen.checkpoint"
    with Checkpoint(marker, trial=seed.trial, as_of=AS_OF, atoms=seed.atoms) as first:
        screen_files(seed, paths, as_of=AS_OF, engine="duckdb", workers=2, limit=9, checkpoint=first)
    with Checkpoint(marker, trial=seed.trial, as_of=AS_OF, atoms=seed.atoms) as second:
        assert len(second) == 9
        resumed = screen_files(seed, paths, as_of=AS_OF, engine="duckdb", workers=2, checkpoint=second)
    assert "".join(resumed.result.contract_json()) == "".join(memory.result.contract_json())


def test_workers_only_for_a_population_worth_starting_them() -> None:
    from fhir_adapter.engines.parallel import MIN_PATIENTS, default_workers, use_workers

    assert use_workers(4, MIN_PATIENTS) == 4
    assert use_workers(4, MIN_PATIENTS - 1) == 1
    assert use_workers(1, 10 * MIN_PATIENTS) == 1
    assert use_workers(None, MIN_PATIENTS) == default_workers()


def test_a_worker_that_reads_a_type_not_fetched_fails_loudly(seed: CompiledCriteria) -> None:
    from fhir_adapter.engines.parallel import WorkerSetup, evaluate_in_workers

    context = Matcher(seed.atoms, as_of=AS_OF).context
    full = retrieval_for(seed.atoms, context)
    without = Retrieval(tuple(t for t in full.types if t != "Condition"), full.observation_codes, full.shared_types)
    with DuckDbSource(SAMPLES, retrieval=without) as source, pytest.raises(RetrievalError, match="Condition") as err:
        setup = WorkerSetup(seed, AS_OF, None, source.snapshot_context())
        list(evaluate_in_workers(setup, source.patient_rows(), 2))
    assert err.value.types == ["Condition"]  # the exception crossed the process boundary intact
