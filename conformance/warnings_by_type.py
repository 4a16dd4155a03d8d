"""Count the HAPI validator's issues per resource type for the sample trial and the shared corpus.

Usage: ``python conformance/warnings_by_type.py [--out DIR] [--no-definitions]``. Converts the seed trial and
``../shared/data/ctgov`` to R4 and R5 with the CLI, validates each version once with the jar of
``conformance/hapi`` (build it first: ``cd conformance/hapi && mvn -q -B package -DskipTests``), loading the
shipped extension definitions (``mappings/definitions/<version>``) unless ``--no-definitions``, and prints one
table per version: resource type, errors, warnings, information. The figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JAR = REPO / "conformance" / "hapi" / "target" / "fhir-adapter-hapi-validator.jar"
SAMPLE = REPO / "samples" / "NCT06577194.txt"
CORPUS = REPO.parent / "shared" / "data" / "ctgov"
DEFINITIONS = REPO / "mappings" / "definitions"
_TYPE = re.compile(r"Bundle\.entry\[(\d+)\]\.resource")


def convert(version: str, out: Path) -> None:
    runner = "import sys; from fhir_adapter.cli import main; main(sys.argv[1:])"
    for inputs, target in (([SAMPLE], out / "sample.json"), ([CORPUS], out / "corpus")):
        if target.suffix != ".json":
            target.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-c", runner, "convert", *map(str, inputs), "--fhir-version", version, "-o", str(target)]
        subprocess.run(cmd, check=True, cwd=REPO)


def resource_type(bundle: dict[str, object], location: str) -> str:
    found = _TYPE.search(location)
    if not found:
        return "Bundle"
    entries = bundle.get("entry")
    assert isinstance(entries, list)
    return str(entries[int(found.group(1))]["resource"]["resourceType"])


def count(version: str, root: Path, with_definitions: bool) -> dict[str, Counter[str]]:
    out = root / version
    convert(version, out)
    cmd = ["java", "-jar", str(JAR), "--version", version]
    if with_definitions and (DEFINITIONS / version).is_dir():
        cmd += ["--definitions", str(DEFINITIONS / version)]
    cmd += [str(out / "sample.json"), str(out / "corpus")]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    report = json.loads(proc.stdout)
    (root / f"report-{version}.json").write_text(proc.stdout, encoding="utf-8")
    table: dict[str, Counter[str]] = {}
    for entry in report["files"]:
        bundle = json.loads(Path(entry["file"]).read_text(encoding="utf-8"))
        for issue in entry["issues"]:
            kind = resource_type(bundle, issue.get("location") or "")
            severity = "error" if issue["severity"] == "fatal" else issue["severity"]
            table.setdefault(kind, Counter())[severity] += 1
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-definitions", action="store_true")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="hapi-counts-"))
    for version in ("R4", "R5"):
        table = count(version, root, not args.no_definitions)
        print(f"{version}  (reports in {root})")
        print("| resource type | errors | warnings | information |\n|---|---|---|---|")
        for kind in sorted(table):
            c = table[kind]
            print(f"| {kind} | {c['error']} | {c['warning']} | {c['information']} |")
        total = sum((c for c in table.values()), Counter())
        print(f"| **all** | {total['error']} | {total['warning']} | {total['information']} |\n")


if __name__ == "__main__":
    main()
