"""The hand-written gold atoms (tests/criteria/gold/) and the scorer of benchmarks/criteria_accuracy.py."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLD = Path(__file__).resolve().parent / "gold"
SHARED = Path(__file__).parents[2].parent / "shared"
CORPUS = SHARED / "data" / "ctgov"
TERMINOLOGY = SHARED / "terminology"
GOLD_FILES = sorted(GOLD.glob("NCT*.json"))

KINDS = {"inclusion", "exclusion"}
CATEGORIES = {"lab", "condition", "infection", "medication", "procedure", "performance-status", "pregnancy",
              "allergy", "demographic"}
NUMERIC = {"ge", "gt", "le", "lt", "between", "eq"}
PRESENCE = {"present", "absent"}
KEYS = {"kind", "text", "category", "codes", "comparator", "value", "high", "unit", "uln_multiple", "lln_multiple",
        "any_of", "note"}
LOINC, SNOMED, ICD10CM = "http://loinc.org", "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM, ATC, ICD10PCS = ("http://www.nlm.nih.gov/research/umls/rxnorm", "http://www.whocc.no/atc",
                         "http://www.cms.gov/Medicare/Coding/ICD10")
SHAPES = {
    LOINC: re.compile(r"\d{1,7}-\d"),
    SNOMED: re.compile(r"[1-9]\d{5,17}"),
    ICD10CM: re.compile(r"[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?"),
    RXNORM: re.compile(r"[1-9]\d{0,8}"),
    ATC: re.compile(r"[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?"),
    ICD10PCS: re.compile(r"[0-9A-HJ-NP-Z]{7}"),
}
# Codes not in the shared terminology sources, each checked elsewhere (see gold/README.md).
OUTSIDE_SOURCES = {
    (LOINC, "39156-5"): "BMI; carried by every BMI Observation of shared/data/patients/synthea-smart-r4",
    (LOINC, "89243-0"): "Karnofsky Performance Status score; HL7 mCODE KarnofskyPerformanceStatus profile",
    ("http://www.whocc.no/atc", "J05AB16"): "remdesivir; WHO ATC/DDD index (the lexicon's source for its ATC codes)",
    ("http://www.whocc.no/atc", "L03AA02"): "filgrastim; WHO ATC/DDD index (the lexicon's source for its ATC codes)",
    ("http://www.whocc.no/atc", "L03AA13"): "pegfilgrastim; WHO ATC/DDD index (the lexicon's source for its ATC codes)",
}


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def criteria_of(trial: str) -> str:
    record = json.loads((CORPUS / f"{trial}.json").read_text(encoding="utf-8"))
    text: str = record["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    return text


@cache
def scorer() -> ModuleType:
    path = REPO / "benchmarks" / "criteria_accuracy.py"
    spec = importlib.util.spec_from_file_location("criteria_accuracy", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


def verhoeff_ok(number: str) -> bool:
    """SNOMED CT identifiers end with a Verhoeff check digit."""
    d = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
         [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
         [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
         [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
    p = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
         [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
         [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = d[c][p[i % 8][int(ch)]]
    return c == 0


def loinc_check_ok(code: str) -> bool:
    """LOINC codes end with a mod-10 check digit."""
    body, check = code.split("-")
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return (10 - total % 10) % 10 == int(check)


# ---------------------------------------------------------------- the gold files


def test_enough_trials_spread_over_specialties() -> None:
    assert len(GOLD_FILES) >= 25
    specialties = [load(p)["specialty"] for p in GOLD_FILES]
    # oncology is 60 of the 81 corpus records: it may be at most a quarter of the set (not oncology only)
    assert sum(s.startswith("oncology") for s in specialties) <= len(specialties) // 4
    assert len(set(specialties)) >= 20


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_gold_file_fields(path: Path) -> None:
    doc = load(path)
    assert set(doc) == {"trial", "specialty", "atoms"}
    assert doc["trial"] == path.stem and doc["specialty"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for atom in doc["atoms"]:
        assert set(atom) <= KEYS and KEYS - {"any_of", "note"} <= set(atom), atom
        assert atom["kind"] in KINDS and atom["category"] in CATEGORIES, atom
        assert atom["text"] and atom["text"] == atom["text"].strip(), atom
        assert 1 <= len(atom["codes"]) <= 4, atom
        assert len({(c["system"], c["code"]) for c in atom["codes"]}) == len(atom["codes"]), atom
        check_threshold(atom)
        if "any_of" in atom:
            groups.setdefault(atom["any_of"], []).append(atom)
    for label, members in groups.items():
        assert len(members) >= 2, f"any_of group {label} has a single member"
        assert len({m["kind"] for m in members}) == 1, label


def check_threshold(atom: dict[str, Any]) -> None:
    cmp, value, high = atom["comparator"], atom["value"], atom["high"]
    multiples = [m for m in (atom["uln_multiple"], atom["lln_multiple"]) if m is not None]
    if cmp in PRESENCE:
        assert value is None and high is None and not multiples and atom["unit"] is None, atom
        return
    assert cmp in NUMERIC, atom
    if multiples:
        assert len(multiples) == 1 and value is None and atom["unit"] is None and multiples[0] > 0, atom
        return
    assert isinstance(value, int | float), atom
    if cmp == "between":
        assert isinstance(high, int | float) and high > value, atom
    else:
        assert high is None, atom
    if atom["category"] in ("lab", "demographic"):
        assert atom["unit"], atom


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_code_shapes(path: Path) -> None:
    for atom in load(path)["atoms"]:
        for coding in atom["codes"]:
            system, code = coding["system"], coding["code"]
            assert set(coding) == {"system", "code"}, coding
            assert system in SHAPES, coding
            assert SHAPES[system].fullmatch(code), coding
            if system == SNOMED:
                assert verhoeff_ok(code), coding
            if system == LOINC:
                assert loinc_check_ok(code), coding


needs_shared = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared ClinicalTrials.gov corpus absent")


@needs_shared
@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_texts_are_substrings_of_the_criteria(path: Path) -> None:
    doc = load(path)
    criteria = criteria_of(doc["trial"])
    for atom in doc["atoms"]:
        assert atom["text"] in criteria, atom["text"]


@cache
def source_codes() -> frozenset[tuple[str, str]]:
    """Every (system, code) of the LOINC top 2000, the VSAC value sets, SNOMED GPS, codes.csv and MONDO."""
    out: set[tuple[str, str]] = set()
    src = TERMINOLOGY / "sources"
    for f in (src / "loinc-top2000").glob("*.csv"):
        with f.open(encoding="utf-8-sig") as fh:
            out.update((LOINC, r["LOINC #"]) for r in csv.DictReader(fh))
    for f in (src / "ecqm-valuesets" / "external").glob("*.json"):
        vs = json.loads(f.read_text(encoding="utf-8"))
        for inc in vs.get("compose", {}).get("include", []):
            out.update((inc["system"], c["code"]) for c in inc.get("concept", []))
        out.update((c["system"], c["code"]) for c in (vs.get("expansion") or {}).get("contains", []))
    gps = json.loads((src / "snomed-gps" / "ValueSet-snomed-intl-gps.json").read_text(encoding="utf-8"))
    for inc in gps["compose"]["include"]:
        out.update((SNOMED, c["code"]) for c in inc.get("concept", []))
    with (TERMINOLOGY / "codes.csv").open(encoding="utf-8") as fh:
        out.update((r["system"], r["code"]) for r in csv.DictReader(fh) if r["code"])
    for name, system, prefix in (("sctid", SNOMED, "SCTID:"), ("icd10cm", ICD10CM, "ICD10CM:")):
        with (src / "mondo" / f"mondo_exactmatch_{name}.sssom.tsv").open(encoding="utf-8") as fh:
            rows = (line.split("\t") for line in fh if line.startswith("MONDO:"))
            out.update((system, r[3].removeprefix(prefix)) for r in rows if len(r) > 3)
    return frozenset(out)


@pytest.mark.skipif(not TERMINOLOGY.is_dir(), reason="shared terminology sources absent")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_code_comes_from_a_source() -> None:
    known = source_codes()
    try:
        import simple_icd_10_cm as icd  # type: ignore[import-untyped]
    except ImportError:  # not a project dependency: ICD-10-CM codes are then checked against VSAC/MONDO only
        icd = None
    unknown = []
    for path in GOLD_FILES:
        for atom in load(path)["atoms"]:
            for c in atom["codes"]:
                key = (c["system"], c["code"])
                if key in known or key in OUTSIDE_SOURCES:
                    continue
                if c["system"] == ICD10CM and (icd is None or icd.is_valid_item(c["code"])):
                    continue
                unknown.append((path.stem, key))
    assert not unknown


# ---------------------------------------------------------------- the scorer


def gold_cases(predict: Any = None) -> list[Any]:
    """TrialCases of every gold file; predictions made by ``predict(gold_atoms)`` (none by default)."""
    ca = scorer()
    cases = []
    for path in GOLD_FILES:
        trial, specialty, gold = ca.load_gold(path)
        criteria = criteria_of(trial) if CORPUS.is_dir() else "\n".join(g.text for g in gold)
        cases.append(ca.TrialCase(trial, criteria, gold, predict(gold) if predict else [], specialty))
    return cases


def as_predictions(gold: list[Any]) -> list[Any]:
    ca = scorer()
    return [
        ca.PredAtom(id=f"p{i}", kind=g.kind, text=g.text, category=g.category, computable=True,
                    codes=frozenset(g.codes), comparator=g.comparator, value=g.value, high=g.high, unit=g.unit,
                    uln_multiple=g.uln_multiple, lln_multiple=g.lln_multiple)
        for i, g in enumerate(gold)
    ]


def test_gold_as_prediction_scores_one() -> None:
    report = scorer().score(gold_cases(as_predictions))
    assert report.groups > 150
    assert (report.recall, report.strict_recall, report.precision, report.strict_precision) == (1.0, 1.0, 1.0, 1.0)
    assert not report.misses


def test_empty_prediction_scores_zero() -> None:
    report = scorer().score(gold_cases())
    assert (report.recall, report.strict_recall, report.precision) == (0.0, 0.0, 0.0)
    assert len([m for m in report.misses if m["type"] == "missed-gold"]) >= report.groups


def test_degraded_prediction_scores_in_between() -> None:
    def degrade(gold: list[Any]) -> list[Any]:
        out = []
        for i, p in enumerate(as_predictions(gold)):
            if i % 3 == 0:
                continue  # dropped
            if isinstance(p.value, int | float):
                p = dataclasses.replace(p, value=p.value * 3)  # wrong threshold: found, not strictly
            if i % 3 == 1:
                p = dataclasses.replace(p, computable=False)  # not computable: not found, not counted
            out.append(p)
            out.append(dataclasses.replace(p, id=p.id + "x", codes=frozenset({(LOINC, "0000-0")}), computable=True))
        return out

    report = scorer().score(gold_cases(degrade))
    assert 0.0 < report.strict_recall < report.recall < 1.0
    assert 0.0 < report.strict_precision < report.precision < 1.0


def test_kind_span_and_code_must_agree() -> None:
    ca = scorer()
    criteria = "Inclusion Criteria:\n\n* Diabetes\n\nExclusion Criteria:\n\n* Diabetes\n* HIV"
    gold = [ca.GoldAtom("exclusion", "Diabetes", "condition", ((ICD10CM, "E11"),), "present")]
    spans = ca.locate(criteria, [("exclusion", "Diabetes")])
    assert spans == [(criteria.rindex("Diabetes"), criteria.rindex("Diabetes") + 8)]

    def pred(**kw: Any) -> Any:
        base = dict(id="exc-1", kind="exclusion", text="Diabetes", category="condition", computable=True,
                    codes=frozenset({(ICD10CM, "E11.9")}), comparator="present")
        return ca.PredAtom(**(base | kw))

    def found(*preds: Any) -> float:
        return float(ca.score([ca.TrialCase("T", criteria, gold, list(preds))]).recall)

    assert found(pred()) == 1.0  # gold category E11 is a prefix of the predicted E11.9
    assert found(pred(codes=frozenset(), prefixes=((ICD10CM, "E1"),))) == 1.0  # lexicon prefix
    assert found(pred(kind="inclusion")) == 0.0
    assert found(pred(text="HIV")) == 0.0
    assert found(pred(codes=frozenset({(ICD10CM, "E10.9")}))) == 0.0
    assert found(pred(computable=False)) == 0.0


def test_strict_agreement_converts_units_and_reads_ranges() -> None:
    ca = scorer()
    anc = ca.GoldAtom("inclusion", "ANC", "lab", ((LOINC, "751-8"),), "ge", 1.5, unit="10*9/L")
    ecog = ca.GoldAtom("inclusion", "ECOG", "performance-status", ((LOINC, "89247-1"),), "le", 2)
    uln = ca.GoldAtom("inclusion", "AST", "lab", ((LOINC, "1920-8"),), "le", uln_multiple=2.5)

    def pred(**kw: Any) -> Any:
        return ca.PredAtom(id="i", kind="inclusion", text="x", category="lab", computable=True, **kw)

    assert ca.strict_matches(pred(comparator="ge", value=1500, unit="/uL"), anc)
    assert not ca.strict_matches(pred(comparator="gt", value=1.5, unit="10*9/L"), anc)
    assert not ca.strict_matches(pred(comparator="ge", value=1.5), anc)
    assert ca.strict_matches(pred(comparator="between", value=0, high=2), ecog)
    assert ca.strict_matches(pred(comparator="le", uln_multiple=2.5), uln)
    assert not ca.strict_matches(pred(comparator="le", uln_multiple=3), uln)
