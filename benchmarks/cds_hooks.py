"""CDS Hooks benchmark: latency of a patient-view call with 50 compiled trials, with prefetch and without it
(the patient read from a loopback FHIR server), FHIR requests per call, and cards per call under the card policy
(trials without an index condition only when the record documents one of their conditions) and without it
(every trial the verdict leaves possible: ``--show-unconfirmed`` unlimited, the service before the policy).

    python benchmarks/cds_hooks.py [--trials 50] [--calls 200] [--server sekmet|hapi]

Trials: the first ``--trials`` records of ``../shared/data/ctgov`` (the development corpus, status ignored), plus the
seed trial. Patients: the sample patients (``samples/patients``), loaded into the server for the calls without
prefetch. The app runs in a real uvicorn server on 127.0.0.1; calls go through httpx from this process, one at a
time. Targets: p95 under 200 ms with prefetch, under 1 s without; at most one FHIR request per resource type.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import SERVERS, running_server

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "ctgov"
SAMPLES = REPO / "samples" / "patients" / "data"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--server", choices=SERVERS, default="sekmet")
    args = parser.parse_args()

    from fhir_adapter.fhir.client import FhirClient
    from fhir_adapter.matching import LocalData
    from fhir_adapter.service.app import create_app
    from fhir_adapter.service.catalog import load_catalog
    from fhir_adapter.service.policy import CardPolicy
    from fhir_adapter.service.testing import running

    files = [*sorted(CORPUS.glob("*.json"))[: args.trials - 1], REPO / "samples" / "NCT06577194.txt"]
    started = time.perf_counter()
    catalog = load_catalog(files, active_only=False)
    print(f"catalog: {len(catalog.trials)} trials compiled in {time.perf_counter() - started:.1f} s; "
          f"{len(catalog.prefetch())} prefetch templates; {sum(not t.index for t in catalog.trials)} trials "
          "without an index condition")
    data = LocalData(SAMPLES)
    patients = sorted(data.patient_ids())
    templates = catalog.prefetch()

    def prefetch(pid: str) -> dict[str, Any]:
        out: dict[str, Any] = {"patient": data.patient(pid)}
        for key in templates:
            if key != "patient":
                out[key] = searchset(list(data.resources(pid, key[:1].upper() + key[1:-1])))
        return out

    unlimited = create_app(catalog, verifier=None, policy=CardPolicy(unconfirmed=len(catalog.trials)))
    with (running_server(args.server) as fhir, running(create_app(catalog, verifier=None)) as base,
          running(unlimited) as base_unlimited):
        items = [json.loads(line) for p in sorted(SAMPLES.glob("*.ndjson")) for line in p.read_text().splitlines()]
        items.sort(key=lambda r: r["resourceType"] != "Patient")
        with FhirClient(fhir.base_url) as client:
            client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in items]})
        url = f"{base}/cds-services/trial-matching"
        rows = []
        with httpx.Client(timeout=60) as http:
            for name, extra in (("with prefetch", "prefetch"), ("without prefetch", "server")):
                timings: list[float] = []
                cards = 0
                requests_before = http.get(f"{base}/metrics").json().get("fhir-requests", 0)
                for i in range(args.calls):
                    pid = patients[i % len(patients)]
                    body: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                                            "context": {"patientId": pid}}
                    if extra == "prefetch":
                        body["prefetch"] = prefetch(pid)
                    else:
                        body["fhirServer"] = fhir.base_url
                    t0 = time.perf_counter()
                    answer = http.post(url, json=body)
                    timings.append(time.perf_counter() - t0)
                    cards += len(answer.json()["cards"])
                requests = http.get(f"{base}/metrics").json().get("fhir-requests", 0) - requests_before
                rows.append((name, statistics.median(timings), percentile(timings, 0.95), cards / args.calls,
                             requests / args.calls))
            every = [len(http.post(f"{base_unlimited}/cds-services/trial-matching", json={
                "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"patientId": pid},
                "prefetch": prefetch(pid)}).json()["cards"]) for pid in patients]
    print(f"  {'call':<20}{'p50 ms':>9}{'p95 ms':>9}{'cards/call':>12}{'FHIR requests/call':>20}")
    for name, p50, p95, per_call, requests in rows:
        print(f"  {name:<20}{p50 * 1000:>9.1f}{p95 * 1000:>9.1f}{per_call:>12.2f}{requests:>20.2f}")
    print(f"cards per call over the {len(patients)} patients: {sum(every) / len(every):.2f} without the card policy "
          f"(every possible trial), {rows[0][3]:.2f} with it")
    print("targets: p95 < 200 ms with prefetch, < 1 s without; at most one FHIR request per resource type")


if __name__ == "__main__":
    main()
