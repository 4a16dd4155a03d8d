"""Screening benchmark: local and server throughput, and HTTP requests per candidate against a naive baseline.

    /tmp/venv/bin/python benchmarks/screen.py [--patients 10000] [--server-subset 600] [--seed 7]

Population: ``carebundle`` (PyPI, Apache-2.0; ``pip install carebundle`` — it is not a project dependency)
generates a seeded base cohort as FHIR Bulk NDJSON; it is expanded to ``--patients`` by seeded clones
(fresh ids, shifted birth dates and lab values) because carebundle makes about 45 patients/s; then
trial-relevant patients (rectal adenocarcinoma with ANC, platelets, bilirubin, creatinine, ECOG, some on
oxaliplatin) are injected. Without carebundle a small seeded generator of our own makes the base cohort.
Everything is written to ``benchmarks/.data/`` (git-ignored) and reused on later runs.

Figures printed: local patients/s (one core; loading reported apart); server patients/s on a subset
loaded into a locally started sekmet-fhir (127.0.0.1 only); HTTP requests per candidate for the
screen and for a naive baseline (one search per atom per patient), side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from _servers import SERVERS, running_server

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / ".data"
AS_OF = date(2026, 2, 1)
KEPT_TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "AllergyIntolerance")
SCT, LOINC, ICD = "http://snomed.info/sct", "http://loinc.org", "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- the trial's atoms ----------------------------------------------------------------------------------------


def trial_atoms() -> Any:
    """Atoms of a rectal-cancer trial (hand-built so the benchmark does not depend on the compiler's coverage)."""
    from fhir_adapter.criteria.model import Atom, Coding, CompiledCriteria

    def lab(aid: str, text: str, codes: list[str], comparator: str, value: float, unit: str, **kw: Any) -> Atom:
        return Atom(id=aid, kind="inclusion", text=text, category="lab", comparator=comparator,  # type: ignore[arg-type]
                    value=value, unit=unit, concepts=[Coding(system=LOINC, code=c) for c in codes],
                    computable=True, resource_types=["Observation"], **kw)

    atoms = [
        Atom(id="age", kind="inclusion", text="Age >= 18 years", category="demographic", comparator="ge", value=18,
             unit="a", computable=True, prefilter=f"Patient?birthdate=le{AS_OF.replace(year=AS_OF.year - 18)}"),
        Atom(id="inc-1", kind="inclusion", text="Histologically confirmed adenocarcinoma of the rectum",
             category="condition", comparator="present", computable=True, resource_types=["Condition"],
             concepts=[Coding(system=SCT, code="363351006"), Coding(system=ICD, code="C20")], index=True,
             prefilter=f"Patient?_has:Condition:patient:code={SCT}|363351006,{ICD}|C20"),
        Atom(id="inc-2", kind="inclusion", text="ECOG performance status 0-1", category="performance-status",
             comparator="le", value=1, computable=True, resource_types=["Observation"],
             concepts=[Coding(system=LOINC, code="89247-1")]),
        lab("inc-3", "ANC >= 1.5 x 10^9/L", ["751-8", "26499-4"], "ge", 1.5, "10*9/L"),
        lab("inc-4", "Platelets >= 100 x 10^9/L", ["777-3", "26515-7"], "ge", 100, "10*9/L"),
        lab("inc-5", "Total bilirubin <= 1.5 x ULN", ["1975-2"], "le", 1.5, "mg/dL", uln_multiple=1.5),
        lab("inc-6", "Creatinine <= 1.5 mg/dL", ["2160-0", "38483-4"], "le", 1.5, "mg/dL"),
        Atom(id="exc-1", kind="exclusion", text="Prior oxaliplatin", category="medication", comparator="present",
             computable=True, resource_types=["MedicationRequest"], concepts=[Coding(system=RXNORM, code="32592")]),
        Atom(id="exc-2", kind="exclusion", text="Pregnancy", category="pregnancy", comparator="present",
             computable=True, resource_types=["Condition", "Observation"],
             concepts=[Coding(system=SCT, code="77386006")]),
    ]
    return CompiledCriteria(trial="NCT99999999", atoms=atoms)


# -- population -----------------------------------------------------------------------------------------------


def _carebundle(out: Path, count: int, seed: int) -> bool:
    exe = Path(sys.executable).parent / "carebundle"
    if not exe.exists():
        return False
    cmd = [str(exe), "generate", "--profile", "mixed", "--count", str(count), "--seed", str(seed), "--sex", "mixed",
           "--age-range", "18-90", "--reference-date", "2026-01-01", "--format", "ndjson", "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def _own_generator(out: Path, count: int, seed: int) -> None:
    """Fallback base cohort: patients with a CBC/metabolic panel and a few common conditions."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    files = {t: (out / f"{t}.ndjson").open("w") for t in KEPT_TYPES}
    labs = [("777-3", "10*9/L", 150, 400), ("751-8", "10*9/L", 1.5, 7), ("2160-0", "mg/dL", 0.6, 1.4),
            ("1975-2", "mg/dL", 0.2, 1.2), ("718-7", "g/dL", 11, 17)]
    for n in range(count):
        pid = str(uuid.UUID(int=rng.getrandbits(128)))
        birth = date(1936, 1, 1) + timedelta(days=rng.randrange(0, 365 * 70))
        files["Patient"].write(json.dumps({"resourceType": "Patient", "id": pid, "birthDate": birth.isoformat(),
                                           "gender": rng.choice(["female", "male"])}) + "\n")
        for i, (code, unit, low, high) in enumerate(labs):
            files["Observation"].write(json.dumps(_obs(f"{pid[:28]}{n % 10000:04d}{i}", pid, code, unit,
                                                       round(rng.uniform(low, high), 2), "2026-01-01")) + "\n")
        if rng.random() < 0.3:
            files["Condition"].write(json.dumps(_cond(str(uuid.UUID(int=rng.getrandbits(128))), pid, ICD, "I10",
                                                      "2020-01-01")) + "\n")
    for handle in files.values():
        handle.close()


def _obs(oid: str, pid: str, code: str, unit: str, value: float, when: str, high: float | None = None,
         integer: bool = False) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "id": oid, "status": "final",
                           "subject": {"reference": f"Patient/{pid}"},
                           "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": when}
    if integer:
        obs["valueInteger"] = int(value)
    else:
        obs["valueQuantity"] = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    if high is not None:
        obs["referenceRange"] = [{"high": {"value": high, "unit": unit, "system": "http://unitsofmeasure.org",
                                           "code": unit}}]
    return obs


def _cond(cid: str, pid: str, system: str, code: str, onset: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": "confirmed"}]},
            "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": onset}


def _rid(pid: str, part: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{pid}-{part}"))


def _trial_patients(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Rectal adenocarcinoma patients with the trial's labs, coded the ways hospitals differ."""
    rng = random.Random(seed * 1000 + 1)
    for n in range(count):
        pid = str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench-trial-{seed}-{n}"))
        rid = functools.partial(_rid, pid)
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
        yield {"resourceType": "Patient", "id": pid, "birthDate": birth.isoformat(),
               "gender": rng.choice(["female", "male"])}
        system, code = (SCT, "363351006") if n % 2 else (ICD, "C20")
        yield _cond(rid("dx"), pid, system, code, "2025-10-01")
        when = (AS_OF - timedelta(days=rng.randrange(1, 60))).isoformat()
        if rng.random() < 0.85:
            yield _obs(rid("ecog"), pid, "89247-1", "", rng.choice([0, 0, 1, 1, 2]), when, integer=True)
        if rng.random() < 0.9:
            yield _obs(rid("anc"), pid, rng.choice(["751-8", "26499-4"]), "10*9/L", round(rng.uniform(0.8, 6), 2),
                       when)
        yield _obs(rid("plt"), pid, rng.choice(["777-3", "26515-7"]), "10*9/L", round(rng.uniform(60, 400)), when)
        yield _obs(rid("bili"), pid, "1975-2", "mg/dL", round(rng.uniform(0.2, 2.5), 2), when,
                   high=1.2 if rng.random() < 0.8 else None)
        yield _obs(rid("crea"), pid, rng.choice(["2160-0", "38483-4"]), "mg/dL", round(rng.uniform(0.5, 2.0), 2),
                   when)
        if rng.random() < 0.15:
            yield {"resourceType": "MedicationRequest", "id": rid("ox"), "status": "completed", "intent": "order",
                   "subject": {"reference": f"Patient/{pid}"}, "authoredOn": "2025-11-01",
                   "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "32592",
                                                             "display": "oxaliplatin"}], "text": "oxaliplatin"}}


def _clone_line(line: str, k: int, seed: int) -> str:
    """The resource with every UUID replaced by a clone-specific one (references stay consistent)."""
    text = UUID_RE.sub(lambda m: str(uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}-{k}-{m.group()}")), line)
    resource = json.loads(text)
    if resource["resourceType"] == "Patient" and resource.get("birthDate"):
        born = date.fromisoformat(resource["birthDate"][:10]) - timedelta(days=53 * k)
        resource["birthDate"] = born.isoformat()
        resource.pop("name", None)
        resource.pop("text", None)
    elif resource["resourceType"] == "Observation" and "valueQuantity" in resource:
        value = resource["valueQuantity"].get("value")
        if isinstance(value, int | float):
            resource["valueQuantity"]["value"] = round(value * (0.9 + 0.02 * (k % 10)), 3)
    return json.dumps(resource, separators=(",", ":")) + "\n"


def build_population(patients: int, seed: int, trial_patients: int) -> tuple[Path, str]:
    target = DATA / f"screen-{patients}-{seed}"
    if (target / "done").exists():
        return target, (target / "done").read_text().strip()
    shutil.rmtree(target, ignore_errors=True)
    base = DATA / f"base-{seed}"
    base_count = min(1000, patients)
    if not (base / "Patient.ndjson").exists():
        shutil.rmtree(base, ignore_errors=True)
        generator = f"carebundle {base_count} patients, seed {seed}"
        if not _carebundle(base, base_count, seed):
            _own_generator(base, base_count, seed)
            generator = f"own seeded generator {base_count} patients, seed {seed}"
        (base / "generator").write_text(generator)
    generator = (base / "generator").read_text()
    target.mkdir(parents=True)
    clones = max(1, -(-(patients - trial_patients) // base_count))
    written = 0
    for rtype in KEPT_TYPES:
        source = base / f"{rtype}.ndjson"
        with (target / f"{rtype}.ndjson").open("w") as out:
            lines = source.read_text().splitlines() if source.exists() else []
            for k in range(clones):
                for line in lines:
                    if rtype == "Patient" and written >= patients - trial_patients:
                        break
                    out.write(line + "\n" if k == 0 else _clone_line(line, k, seed))
                    written += rtype == "Patient"
    with (target / "trial-patients.ndjson").open("w") as out:
        for resource in _trial_patients(trial_patients, seed):
            out.write(json.dumps(resource, separators=(",", ":")) + "\n")
    info = f"{generator}, expanded by {clones - 1} seeded clones, plus {trial_patients} injected trial patients"
    (target / "done").write_text(info)
    return target, info


# -- server ---------------------------------------------------------------------------------------------------


class Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _without_dangling_references(value: Any) -> Any:
    """Drop references to types the subset does not load (HAPI checks referential integrity on write)."""
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and "/" in ref and ref.split("/")[-2] not in KEPT_TYPES:
            return None
        kept = {k: _without_dangling_references(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != []}
    if isinstance(value, list):
        return [x for x in map(_without_dangling_references, value) if x is not None]
    return value


def load_subset(base_url: str, local: Any, ids: list[str]) -> float:
    from fhir_adapter.fhir import FhirClient

    started = time.perf_counter()
    entries: list[dict[str, Any]] = []
    with FhirClient(base_url, timeout=300) as client:
        def flush() -> None:
            if entries:
                client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": list(entries)})
                entries.clear()

        for pid in ids:
            resources = [local.patient(pid)]
            for rtype in KEPT_TYPES[1:]:
                resources += list(local.resources(pid, rtype))
            for r in map(_without_dangling_references, resources):
                entries.append({"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}})
            if len(entries) >= 400:
                flush()
        flush()
    return time.perf_counter() - started


async def naive_baseline(base_url: str, criteria: Any, ids: list[str], concurrency: int) -> tuple[int, float, int]:
    """One search per atom per patient (plus the Patient read), then the same evaluation."""
    from fhir_adapter.fhir import AsyncFhirClient
    from fhir_adapter.fhir.search import token_value
    from fhir_adapter.matching.evaluate import Matcher
    from fhir_adapter.matching.retrieval import TYPES_BY_CATEGORY
    from fhir_adapter.matching.server import PatientSnapshot

    matcher = Matcher(criteria.atoms, as_of=AS_OF)
    transport = Counting()
    semaphore = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    eligible = 0
    async with AsyncFhirClient(base_url, transport=transport) as client:
        async def one(pid: str) -> None:
            nonlocal eligible
            by_type: dict[str, list[dict[str, Any]]] = {}
            async with semaphore:
                patient = await client.read("Patient", pid)
            for atom in criteria.atoms:
                if not atom.computable or atom.category == "demographic":
                    continue
                codes = ",".join(token_value(c.system, c.code) for c in atom.concepts)
                for rtype in TYPES_BY_CATEGORY[atom.category]:
                    async with semaphore:
                        found = await client.search(rtype, {"patient": pid, "code": codes})
                    by_type.setdefault(rtype, []).extend(found)
            types = frozenset(t for a in criteria.atoms for t in TYPES_BY_CATEGORY[a.category])
            snapshot = PatientSnapshot(pid, patient, by_type, types)
            eligible += matcher.evaluate(snapshot, pid).verdict == "eligible"

        await asyncio.gather(*(one(pid) for pid in ids))
    return transport.count, time.perf_counter() - started, eligible


async def screen_on_server(base_url: str, criteria: Any, prefilter: bool, concurrency: int) -> tuple[Any, Any, int]:
    from fhir_adapter.fhir import AsyncFhirClient
    from fhir_adapter.matching.screen import ScreenStats, ascreen_server

    transport = Counting()
    stats = ScreenStats()
    async with AsyncFhirClient(base_url, transport=transport) as client:
        result = await ascreen_server(criteria, client, as_of=AS_OF, prefilter=prefilter, concurrency=concurrency,
                                      stats=stats)
    return result, stats, transport.count


async def bulk_on_server(base_url: str, criteria: Any, engine: str) -> tuple[Any, int, float]:
    """``screen --server URL --bulk``: export what the trial reads, then screen the files (requests counted)."""
    import tempfile

    from fhir_adapter.engines import screen_files
    from fhir_adapter.engines.bulk_source import bulk_request
    from fhir_adapter.fhir import AsyncFhirClient
    from fhir_adapter.fhir.bulk import BulkSettings, run_export
    from fhir_adapter.matching.evaluate import Matcher

    api, files = Counting(), Counting()
    request = bulk_request(criteria.atoms, Matcher(criteria.atoms, as_of=AS_OF).context)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        async with AsyncFhirClient(base_url, transport=api) as client:
            await run_export(client, types=list(request.types), type_filters=list(request.type_filters),
                             out_dir=Path(folder), settings=BulkSettings(min_poll_interval=0.2, max_poll_interval=1.0,
                                                                         download_transport=files))
        found = screen_files(criteria, [Path(folder)], as_of=AS_OF, engine=engine)
    return found.result, api.count + files.count, time.perf_counter() - started


# -- main -----------------------------------------------------------------------------------------------------


def print_split(result: Any, with_disease: set[str]) -> None:
    """Verdicts of the patients with and without the trial's disease (acceptance of issue 12)."""
    groups: dict[str, list[Any]] = {"with the disease": [], "without it": []}
    for p in result.patients:
        groups["with the disease" if p.patient.removeprefix("Patient/") in with_disease else "without it"].append(p)
    for name, members in groups.items():
        verdicts = {v: sum(p.verdict == v for p in members) for v in ("eligible", "needs-review", "ineligible")}
        share = verdicts["needs-review"] / max(1, len(members))
        codes: dict[str, int] = {}
        for p in members:
            codes[p.reason_code] = codes.get(p.reason_code, 0) + 1
        print(f"  {name}: {len(members)} patients, {verdicts}; needs-review share {share:.1%}; reason codes {codes}")
        items: dict[str, int] = {}
        for p in members:
            for item in p.open_items:
                items[item] = items.get(item, 0) + 1
        if items:
            top = ", ".join(f"{k} ({n})" for k, n in sorted(items.items(), key=lambda kv: -kv[1])[:4])
            print(f"    open items of the needs-review patients: {top}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--trial-patients", type=int, default=200)
    parser.add_argument("--server-subset", type=int, default=600)
    parser.add_argument("--baseline-patients", type=int, default=200, help="naive baseline on this many candidates")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--server", choices=SERVERS, default="sekmet")
    args = parser.parse_args()

    from fhir_adapter.matching.local import LocalData
    from fhir_adapter.matching.screen import screen

    criteria = trial_atoms()
    t0 = time.perf_counter()
    folder, info = build_population(args.patients, args.seed, args.trial_patients)
    print(f"population: {info} ({time.perf_counter() - t0:.1f} s; {folder.relative_to(REPO)})")
    print(f"criteria: {len(criteria.atoms)} hand-built atoms of a rectal-cancer trial; vocabulary: the project lexicon")

    t0 = time.perf_counter()
    local = LocalData(folder, freeze_gc=True)  # as the CLI does
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = screen(criteria, local, as_of=AS_OF)
    screen_s = time.perf_counter() - t0
    counts = {v: sum(p.verdict == v for p in result.patients) for v in ("eligible", "needs-review", "ineligible")}
    print(f"local: {len(local)} patients, {local.resource_count} resources loaded in {load_s:.1f} s; "
          f"screened in {screen_s:.2f} s = {len(result.patients) / screen_s:,.0f} patients/s (one core); {counts}")

    rng = random.Random(args.seed)
    ids = sorted(local.patient_ids())
    trial_ids = [p for p in ids if local.resources(p, "Condition") and any(
        c["code"]["coding"][0]["code"] in ("C20", "363351006") for c in local.resources(p, "Condition"))]
    print_split(result, set(trial_ids))
    others = rng.sample([p for p in ids if p not in set(trial_ids)], max(0, args.server_subset - len(trial_ids)))
    subset = sorted(set(trial_ids[: args.server_subset]) | set(others))
    with running_server(args.server) as server:
        load_s = load_subset(server.base_url, local, subset)
        print(f"server: {args.server} on 127.0.0.1 (up in {server.startup_seconds:.1f} s), "
              f"{len(subset)} patients loaded in {load_s:.1f} s")
        rows = []
        for prefilter in (True, False):
            res, stats, http = asyncio.run(screen_on_server(server.base_url, criteria, prefilter, args.concurrency))
            rows.append((f"screen ({'pre-filter' if prefilter else 'no pre-filter'})", stats.population, http,
                         stats.seconds, sum(p.verdict == "eligible" for p in res.patients)))
            if prefilter:
                print(f"  pre-filter applied: {', '.join(stats.prefilter_applied) or 'none'}; "
                      f"dropped: {', '.join(stats.prefilter_dropped) or 'none'}")
        for engine in ("memory", "duckdb"):
            res, http, seconds = asyncio.run(bulk_on_server(server.base_url, criteria, engine))
            rows.append((f"bulk export + {engine}", len(res.patients), http, seconds,
                         sum(p.verdict == "eligible" for p in res.patients)))
        sample = sorted(trial_ids)[: args.baseline_patients]  # the pre-filtered candidates, for comparable verdicts
        http, seconds, eligible = asyncio.run(naive_baseline(server.base_url, criteria, sample, args.concurrency))
        rows.append(("naive (1 search per atom)", len(sample), http, seconds, eligible))
    print(f"  {'method':<28}{'candidates':>11}{'HTTP requests':>15}{'req/candidate':>15}{'patients/s':>12}"
          f"{'eligible':>10}")
    for name, n, http, seconds, eligible in rows:
        print(f"  {name:<28}{n:>11}{http:>15}{http / max(n, 1):>15.2f}{n / seconds:>12.1f}{eligible:>10}")
    ours = rows[1][2] / max(rows[1][1], 1)
    naive = rows[-1][2] / max(rows[-1][1], 1)
    print(f"  naive / screen requests per candidate (same population, no pre-filter): {naive / ours:.1f}x")
    print("targets: <= 2 requests per candidate; >= 10x fewer than naive; >= 2,000 patients/s locally")


if __name__ == "__main__":
    main()
