"""Push the shared 81-trial corpus to a fresh local FHIR server and report throughput.

    python benchmarks/push.py [--server sekmet|hapi] [--corpus DIR] [--rounds 2]

Round 1 writes everything (created); later rounds are the idempotent re-push. Conversion
(ingest + mapping + criteria) is timed separately from the HTTP part. Requests per trial are
counted with an httpx event hook on the client (GET /metadata included once).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _servers import SERVERS, running_server

from fhir_adapter.fhir import FhirClient
from fhir_adapter.fhir.push import bundle_for_input, push_bundle, summary

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ctgov"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--server", choices=SERVERS, default="sekmet")
    args = parser.parse_args()
    paths = sorted(args.corpus.glob("*.json"))
    if not paths:
        print(f"no trials in {args.corpus}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    bundles = [(p.name, bundle_for_input(p, "R4")[0]) for p in paths]
    convert_s = time.perf_counter() - started
    resources = sum(len(b["entry"]) for _, b in bundles)
    print(f"converted {len(bundles)} trials ({resources} resources) in {convert_s:.2f} s")
    with running_server(args.server) as server:
        print(f"{args.server} up at {server.base_url} in {server.startup_seconds:.1f} s")
        for round_no in range(1, args.rounds + 1):
            requests = 0

            def count(_: httpx.Request) -> None:
                nonlocal requests
                requests += 1

            with FhirClient(server.base_url) as fhir:
                fhir._http.event_hooks["request"].append(count)  # benchmark-only peek at the transport
                t0 = time.perf_counter()
                reports = [push_bundle(fhir, bundle, source=name) for name, bundle in bundles]
                elapsed = time.perf_counter() - t0
            totals: dict[str, Any] = summary(reports)
            failed = sum(1 for r in reports if not r.ok)
            print(
                f"round {round_no}: {len(reports)} trials in {elapsed:.2f} s = {len(reports) / elapsed:.1f} trials/s, "
                f"{resources / elapsed:.0f} resources/s, {requests} requests = {requests / len(reports):.2f}/trial, "
                f"failed trials {failed}, outcomes {totals}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
