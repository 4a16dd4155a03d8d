"""Criteria compiler accuracy against the hand-written gold atoms of ``tests/criteria/gold/``.

Run: ``python benchmarks/criteria_accuracy.py [--corpus DIR] [--gold DIR] [--misses FILE]``
(``--corpus`` defaults to ``<repo>/../shared/data/ctgov``, ``--gold`` to ``<repo>/tests/criteria/gold``).

Every gold trial is loaded with ``load_trial`` and compiled in-process with ``compile_criteria``. Scoring:

* Locating. A gold atom's ``text`` is an exact substring of the registry's criteria string; a predicted
  atom's is one of the text the compiler read (``trial.eligibility.criteria``: markdown escapes removed),
  whose positions are mapped back onto the registry string. Atoms are taken in
  order; each goes to the first occurrence inside a section of its own kind at or after the previous atom
  of that kind, else the first in such a section, else (same order) anywhere. Sections: the text before the
  first heading is inclusion; each "... inclusion/exclusion criteria" heading line opens a section of its
  kind. Predicted atoms whose text is not in the criteria (structured ``age``/``sex``) are left out.
* A predicted atom *matches* a gold atom when it is computable, of the same kind, its span overlaps the gold
  span, and it *covers* a gold code: the code is among its concepts or the codes of a narrower kind it
  carries (a residue's ``codes``: a record with such a code decides the atom, see ``matching/evaluate.py``);
  or an ICD-10-CM / ATC prefix of its lexicon concept (``lexicon().get(concept_key).code_prefixes``) starts
  the gold code; or the gold code is
  an ICD-10-CM category that starts one of its ICD-10-CM codes. Gold ``demographic`` atoms (ages: no code)
  are covered by any predicted ``demographic`` atom.
* It matches *strictly* when, in addition, comparator, value, high and unit agree (the predicted value
  converted to the gold unit with ``units.convert`` when units differ; numbers within 1e-6 relative) and
  the ULN/LLN multiples agree. ``between 0 and n`` is the same as ``le n`` (ECOG 0-2). For presence atoms
  the comparators must agree; a predicted presence atom with no comparator counts as ``present``.
* Recall: share of gold atoms (an ``any_of`` group counts once, found when any member is found) matched by
  some predicted atom. Precision: share of located computable predicted atoms that match some gold atom.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "ctgov"
DEFAULT_GOLD = REPO / "tests" / "criteria" / "gold"

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
PRESENCE = ("present", "absent")
STRUCTURED_IDS = ("age", "sex")
HEADING = re.compile(r"^[^\S\n]*[*#\-\\]*[^\S\n]*(?:[A-Za-z]+[^\S\n]+)?(inclusion|exclusion)[^\S\n]+criteria\b.*$",
                     re.IGNORECASE | re.MULTILINE)

Code = tuple[str, str]
Span = tuple[int, int]


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class GoldAtom:
    kind: str
    text: str
    category: str
    codes: tuple[Code, ...]
    comparator: str
    value: float | None = None
    high: float | None = None
    unit: str | None = None
    uln_multiple: float | None = None
    lln_multiple: float | None = None
    any_of: str | None = None


@dataclass(frozen=True)
class PredAtom:
    id: str
    kind: str
    text: str
    category: str
    computable: bool
    codes: frozenset[Code] = frozenset()
    prefixes: tuple[Code, ...] = ()
    comparator: str | None = None
    value: float | str | None = None
    high: float | None = None
    unit: str | None = None
    uln_multiple: float | None = None
    lln_multiple: float | None = None
    concept_key: str | None = None
    reason: str | None = None


@dataclass
class TrialCase:
    trial: str
    criteria: str
    gold: list[GoldAtom]
    predicted: list[PredAtom]
    specialty: str = ""
    compiled_text: str | None = None
    """The text the predicted atoms quote when it is not ``criteria`` (the compiler removes markdown escapes)."""


def ratio(n: int, d: int) -> float:
    return n / d if d else 0.0


@dataclass
class Counts:
    """Gold atoms found and predictions matched, for one trial or summed over all of them."""

    groups: int = 0
    found: int = 0
    strict: int = 0
    predicted: int = 0
    matched: int = 0
    strict_matched: int = 0

    def add(self, other: Counts) -> None:
        for name in (f.name for f in fields(Counts)):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def recall(self) -> float:
        return ratio(self.found, self.groups)

    @property
    def strict_recall(self) -> float:
        return ratio(self.strict, self.groups)

    @property
    def precision(self) -> float:
        return ratio(self.matched, self.predicted)

    @property
    def strict_precision(self) -> float:
        return ratio(self.strict_matched, self.predicted)


@dataclass(kw_only=True)
class TrialScore(Counts):
    trial: str
    specialty: str


@dataclass
class Report(Counts):
    gold_by_category: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    pred_by_category: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    trials: list[TrialScore] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- loading


def gold_atom(raw: dict[str, Any]) -> GoldAtom:
    return GoldAtom(
        kind=raw["kind"], text=raw["text"], category=raw["category"],
        codes=tuple((c["system"], c["code"]) for c in raw["codes"]), comparator=raw["comparator"],
        value=raw.get("value"), high=raw.get("high"), unit=raw.get("unit"),
        uln_multiple=raw.get("uln_multiple"), lln_multiple=raw.get("lln_multiple"), any_of=raw.get("any_of"),
    )


def load_gold(path: Path) -> tuple[str, str, list[GoldAtom]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc["trial"], doc.get("specialty", ""), [gold_atom(a) for a in doc["atoms"]]


def concept_prefixes(concept_key: str | None) -> tuple[Code, ...]:
    if not concept_key:
        return ()
    try:
        from fhir_adapter.terminology import lexicon

        return tuple((p.system, p.prefix) for p in lexicon().get(concept_key).code_prefixes)
    except Exception:  # the key may be unknown to the lexicon, or the lexicon may be mid-edit
        return ()


def pred_atom(atom: Any) -> PredAtom:
    """A plain PredAtom from a compiled ``fhir_adapter`` Atom."""
    return PredAtom(
        id=atom.id, kind=atom.kind, text=atom.text, category=atom.category, computable=atom.computable,
        codes=frozenset((c.system, c.code) for c in [*atom.concepts, *(c for r in atom.residues for c in r.codes)]),
        prefixes=concept_prefixes(atom.concept_key),
        comparator=atom.comparator, value=atom.value, high=atom.high, unit=atom.unit,
        uln_multiple=atom.uln_multiple, lln_multiple=atom.lln_multiple, concept_key=atom.concept_key,
        reason=atom.reason,
    )


def compile_case(record: Path, trial: str, specialty: str, gold: list[GoldAtom]) -> TrialCase:
    from fhir_adapter import compile_criteria, load_trial

    record_trial = load_trial(record)
    compiled = compile_criteria(record_trial)
    criteria = json.loads(record.read_text(encoding="utf-8"))["protocolSection"]["eligibilityModule"].get(
        "eligibilityCriteria", "")
    predicted = [pred_atom(a) for a in compiled.atoms]
    return TrialCase(trial, criteria, gold, predicted, specialty, record_trial.eligibility.criteria)


# ---------------------------------------------------------------- locating


def sections(criteria: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) blocks: before the first heading is inclusion; each heading opens its kind."""
    heads = [(m.start(), m.group(1).lower()) for m in HEADING.finditer(criteria)]
    starts = [(0, "inclusion"), *heads]
    return [(s, starts[i + 1][0] if i + 1 < len(starts) else len(criteria), k) for i, (s, k) in enumerate(starts)]


def occurrences(criteria: str, text: str) -> list[int]:
    out, i = [], criteria.find(text) if text else -1
    while i >= 0:
        out.append(i)
        i = criteria.find(text, i + 1)
    return out


def locate(criteria: str, items: Sequence[tuple[str, str]]) -> list[Span | None]:
    """Span of each (kind, text), in order, as score_chia.py places atoms."""
    blocks = sections(criteria)
    cursor: dict[str, int] = defaultdict(int)
    spans: list[Span | None] = []
    for kind, text in items:
        occ = occurrences(criteria, text)
        own = [o for o in occ if any(s <= o and o + len(text) <= e and k == kind for s, e, k in blocks)]
        other = [o for o in occ if o not in own]
        c = cursor[kind]
        ranked = [o for o in own if o >= c] + own + [o for o in other if o >= c] + other
        if not ranked:
            spans.append(None)
            continue
        cursor[kind] = ranked[0]
        spans.append((ranked[0], ranked[0] + len(text)))
    return spans


def alignment(raw: str, clean: str) -> list[int] | None:
    """Position in ``raw`` of each character of ``clean`` (``raw`` with characters such as markdown escapes
    removed), or None when ``clean`` is not such a subsequence."""
    out, i = [], 0
    for ch in clean:
        while i < len(raw) and raw[i] != ch:
            i += 1
        if i == len(raw):
            return None
        out.append(i)
        i += 1
    return out


def locate_predicted(case: TrialCase) -> list[Span | None]:
    """Spans (in ``case.criteria``) of the predicted atoms, found in the text they quote."""
    items = [(p.kind, p.text) for p in case.predicted]
    if not case.compiled_text or case.compiled_text == case.criteria:
        return locate(case.criteria, items)
    pos = alignment(case.criteria, case.compiled_text)
    if pos is None:
        return locate(case.criteria, items)
    spans = locate(case.compiled_text, items)
    return [None if s is None or s[0] == s[1] else (pos[s[0]], pos[s[1] - 1] + 1) for s in spans]


def overlaps(a: Span | None, b: Span | None) -> bool:
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1]


# ---------------------------------------------------------------- matching


def _system(system: str) -> str:
    return ICD10CM if system == ICD10 else system


def covers(pred: PredAtom, gold: GoldAtom) -> bool:
    if gold.category == "demographic" and pred.category == "demographic":
        return True
    codes = {(_system(s), c) for s, c in pred.codes}
    prefixes = [(_system(s), p) for s, p in pred.prefixes if p]
    for system, code in ((_system(s), c) for s, c in gold.codes):
        if (system, code) in codes:
            return True
        if any(s == system and code.startswith(p) for s, p in prefixes if s in (ICD10CM, ATC)):
            return True
        if system == ICD10CM and any(s == ICD10CM and c.startswith(code) for s, c in codes):
            return True
    return False


def matches(pred: PredAtom, pred_span: Span | None, gold: GoldAtom, gold_span: Span | None) -> bool:
    return pred.computable and pred.kind == gold.kind and overlaps(pred_span, gold_span) and covers(pred, gold)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)


def _number(x: float | str | None) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _in_unit(value: float | None, unit: str | None, target: str | None, concept_key: str | None) -> float | None:
    """``value`` in the gold unit; a gold atom without a unit (a score) takes the number as it is."""
    if value is None or target is None or unit == target:
        return value
    if unit is None:
        return None
    try:
        from fhir_adapter.units import convert

        return convert(value, unit, target, concept_key)
    except Exception:  # unknown unit spelling
        return None


def _normal(cmp: str | None, value: float | None, high: float | None) -> tuple[str | None, float | None, float | None]:
    if cmp == "between" and value is not None and value == 0:
        return "le", high, None
    return cmp, value, high


def thresholds_agree(pred: PredAtom, gold: GoldAtom) -> bool:
    if not (close(pred.uln_multiple, gold.uln_multiple) and close(pred.lln_multiple, gold.lln_multiple)):
        return False
    value = _in_unit(_number(pred.value), pred.unit, gold.unit, pred.concept_key)
    high = _in_unit(_number(pred.high), pred.unit, gold.unit, pred.concept_key)
    p_cmp, p_val, p_high = _normal(pred.comparator, value, high)
    g_cmp, g_val, g_high = _normal(gold.comparator, _number(gold.value), _number(gold.high))
    return p_cmp == g_cmp and close(p_val, g_val) and close(p_high, g_high)


def strict_matches(pred: PredAtom, gold: GoldAtom) -> bool:
    if gold.comparator in PRESENCE:
        return (pred.comparator or "present") == gold.comparator
    return thresholds_agree(pred, gold)


# ---------------------------------------------------------------- scoring


def groups_of(gold: Sequence[GoldAtom]) -> list[list[int]]:
    """Indices of gold atoms grouped by ``any_of`` label (an atom without one is its own group)."""
    by_label: dict[str, list[int]] = {}
    out: list[list[int]] = []
    for i, g in enumerate(gold):
        if g.any_of is None:
            out.append([i])
        elif g.any_of in by_label:
            by_label[g.any_of].append(i)
        else:
            by_label[g.any_of] = [i]
            out.append(by_label[g.any_of])
    return out


def brief(pred: PredAtom) -> dict[str, Any]:
    return {"id": pred.id, "kind": pred.kind, "text": pred.text, "category": pred.category,
            "computable": pred.computable, "reason": pred.reason, "concept_key": pred.concept_key,
            "concepts": sorted(f"{s.rsplit('/', 1)[-1]}|{c}" for s, c in pred.codes)[:8],
            "comparator": pred.comparator, "value": pred.value, "high": pred.high, "unit": pred.unit,
            "uln_multiple": pred.uln_multiple, "lln_multiple": pred.lln_multiple}


def gold_brief(g: GoldAtom) -> dict[str, Any]:
    return {"kind": g.kind, "text": g.text, "category": g.category,
            "codes": [f"{s.rsplit('/', 1)[-1]}|{c}" for s, c in g.codes], "comparator": g.comparator,
            "value": g.value, "high": g.high, "unit": g.unit, "uln_multiple": g.uln_multiple,
            "lln_multiple": g.lln_multiple, "any_of": g.any_of}


def miss_stage(
    g: GoldAtom, span: Span | None, preds: Sequence[tuple[PredAtom, Span | None]]
) -> tuple[str, list[PredAtom]]:
    near = [p for p, s in preds if overlaps(s, span)]
    if not near:
        return "no predicted atom overlaps the span", []
    comp = [p for p in near if p.computable]
    if not comp:
        return "overlapping atoms are not computable", near
    same = [p for p in comp if p.kind == g.kind]
    if not same:
        return "overlapping computable atoms are of the other kind", comp
    return "no overlapping computable atom covers a gold code", same


def score_trial(case: TrialCase, report: Report) -> TrialScore:
    ts = TrialScore(trial=case.trial, specialty=case.specialty)
    gold_spans = locate(case.criteria, [(g.kind, g.text) for g in case.gold])
    pred_spans = locate_predicted(case)
    preds = [(p, s) for p, s in zip(case.predicted, pred_spans, strict=True)
             if s is not None and p.id not in STRUCTURED_IDS]
    hits = {i: [p for p, s in preds if matches(p, s, g, gold_spans[i])] for i, g in enumerate(case.gold)}
    for members in groups_of(case.gold):
        cat = case.gold[members[0]].category
        found = any(hits[i] for i in members)
        strict = any(strict_matches(p, case.gold[i]) for i in members for p in hits[i])
        ts.groups += 1
        ts.found += found
        ts.strict += strict
        report.gold_by_category[cat].update(n=1, found=int(found), strict=int(strict))
        for i in members:
            g = case.gold[i]
            if not hits[i] and not found:
                stage, near = miss_stage(g, gold_spans[i], preds)
                report.misses.append({"type": "missed-gold", "trial": case.trial, "gold": gold_brief(g),
                                      "stage": stage, "near": [brief(p) for p in near[:4]]})
            elif hits[i] and not strict:
                report.misses.append({"type": "threshold-differs", "trial": case.trial, "gold": gold_brief(g),
                                      "predicted": [brief(p) for p in hits[i][:4]]})
    for p, s in preds:
        if not p.computable:
            continue
        ok = [g for i, g in enumerate(case.gold) if matches(p, s, g, gold_spans[i])]
        strict = any(strict_matches(p, g) for g in ok)
        ts.predicted += 1
        ts.matched += bool(ok)
        ts.strict_matched += strict
        report.pred_by_category[p.category].update(n=1, matched=int(bool(ok)), strict=int(strict))
        if not ok:
            report.misses.append({"type": "unmatched-prediction", "trial": case.trial, "predicted": brief(p)})
    return ts


def score(cases: Iterable[TrialCase]) -> Report:
    report = Report()
    for case in cases:
        ts = score_trial(case, report)
        report.trials.append(ts)
        report.add(ts)
    return report


# ---------------------------------------------------------------- output


def pct(n: int, d: int) -> str:
    return f"{n / d:.3f} ({n}/{d})" if d else "n/a (0/0)"


def print_report(report: Report) -> None:
    print(f"trials {len(report.trials)}; gold atoms (any-of groups counted once) {report.groups}; "
          f"located computable predictions {report.predicted}")
    print(f"recall           {pct(report.found, report.groups)}")
    print(f"strict recall    {pct(report.strict, report.groups)}")
    print(f"precision        {pct(report.matched, report.predicted)}")
    print(f"strict precision {pct(report.strict_matched, report.predicted)}")
    demo = report.pred_by_category.get("demographic", Counter())
    print(f"(precision without predicted demographic atoms, which the gold leaves out when they restate the "
          f"structured ages: {pct(report.matched - demo['matched'], report.predicted - demo['n'])})")
    print("\nby gold category: recall / strict recall")
    for cat, c in sorted(report.gold_by_category.items(), key=lambda kv: -kv[1]["n"]):
        print(f"  {cat:20} {pct(c['found'], c['n']):>18}  {pct(c['strict'], c['n']):>18}")
    print("by predicted category: precision / strict precision")
    for cat, c in sorted(report.pred_by_category.items(), key=lambda kv: -kv[1]["n"]):
        print(f"  {cat:20} {pct(c['matched'], c['n']):>18}  {pct(c['strict'], c['n']):>18}")
    print("\nby trial: recall / strict recall / precision")
    for t in report.trials:
        print(f"  {t.trial} {pct(t.found, t.groups):>16} {pct(t.strict, t.groups):>16} "
              f"{pct(t.matched, t.predicted):>16}  {t.specialty}")


def write_misses(report: Report, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for m in report.misses:
            fh.write(json.dumps(m, ensure_ascii=False) + "\n")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of NCT….json records")
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="folder of gold NCT….json files")
    parser.add_argument("--misses", type=Path, help="write one JSON line per miss / unmatched prediction")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    gold_files = sorted(args.gold.glob("NCT*.json"))
    if not gold_files or not args.corpus.is_dir():
        print(f"no gold files under {args.gold} or no corpus at {args.corpus}")
        return 1
    cases = []
    for path in gold_files:
        trial, specialty, gold = load_gold(path)
        record = args.corpus / f"{trial}.json"
        if not record.exists():
            print(f"warning: {record} missing; {trial} skipped")
            continue
        cases.append(compile_case(record, trial, specialty, gold))
    report = score(cases)
    print_report(report)
    if args.misses:
        write_misses(report, args.misses)
        print(f"\n{len(report.misses)} lines written to {args.misses}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
