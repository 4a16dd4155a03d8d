"""A small lexicon and unit table for compiler tests (the real ones are injected the same way)."""

from __future__ import annotations

import re
from typing import Any

from fhir_adapter.criteria.model import Coding
from fhir_adapter.terminology import CodePrefix, Concept, ConceptMatch

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"


def _concept(key: str, category: str, synonyms: list[str], codes: list[tuple[str, str]], **extra: Any) -> Concept:
    prefixes = tuple(CodePrefix(system=s, prefix=p) for s, p in extra.pop("prefixes", []))
    return Concept(
        key=key,
        category=category,  # type: ignore[arg-type]
        display=synonyms[0],
        synonyms=tuple(synonyms),
        codings=tuple(Coding(system=s, code=c) for s, c in codes),
        code_prefixes=prefixes,
        **extra,
    )


CONCEPTS = [
    _concept(
        "lab.neutrophils",
        "lab",
        ["absolute neutrophil count", "neutrophil count", "neutrophils", "anc"],
        [(LOINC, "751-8"), (LOINC, "26499-4")],
        unit="10*9/L",
        resource_types=("Observation",),
    ),
    _concept(
        "lab.platelets",
        "lab",
        ["platelet count", "platelets", "plt"],
        [(LOINC, "777-3"), (LOINC, "26515-7")],
        unit="10*9/L",
        resource_types=("Observation",),
    ),
    _concept(
        "lab.hemoglobin",
        "lab",
        ["hemoglobin", "haemoglobin", "hb"],
        [(LOINC, "718-7")],
        unit="g/dL",
        resource_types=("Observation",),
    ),
    _concept(
        "lab.bilirubin-total",
        "lab",
        ["total bilirubin", "serum total bilirubin", "bilirubin"],
        [(LOINC, "1975-2")],
        unit="umol/L",
        resource_types=("Observation",),
    ),
    _concept(
        "lab.ast",
        "lab",
        ["aspartate aminotransferase", "ast", "sgot"],
        [(LOINC, "1920-8")],
        unit="U/L",
        resource_types=("Observation",),
    ),
    _concept(
        "lab.alt",
        "lab",
        ["alanine aminotransferase", "alt", "sgpt"],
        [(LOINC, "1742-6")],
        unit="U/L",
        resource_types=("Observation",),
    ),
    _concept(
        "lab.creatinine",
        "lab",
        ["serum creatinine", "creatinine"],
        [(LOINC, "2160-0")],
        unit="umol/L",
        resource_types=("Observation",),
    ),
    _concept(
        "lab.creatinine-clearance",
        "lab",
        ["creatinine clearance"],
        [(LOINC, "2164-2")],
        unit="mL/min",
        resource_types=("Observation",),
    ),
    _concept(
        "performance.ecog",
        "performance-status",
        ["ecog performance status", "eastern cooperative oncology group", "ecog"],
        [(LOINC, "89247-1")],
        answers={
            f"{LOINC}|LA9622-7": 0,
            f"{LOINC}|LA9623-5": 1,
            f"{LOINC}|LA9624-3": 2,
            f"{LOINC}|LA9625-0": 3,
            f"{LOINC}|LA9626-8": 4,
            f"{LOINC}|LA9627-6": 5,
        },
        resource_types=("Observation",),
    ),
    _concept(
        "performance.karnofsky",
        "performance-status",
        ["karnofsky performance status", "karnofsky", "kps"],
        [(LOINC, "89243-0")],
        resource_types=("Observation",),
    ),
    _concept(
        "condition.rectal-adenocarcinoma",
        "condition",
        ["rectal adenocarcinoma", "adenocarcinoma of the rectum"],
        [(SCT, "254582000")],
        prefixes=[(ICD, "C20")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.rectal-cancer",
        "condition",
        ["rectal cancer", "cancer of the rectum"],
        [(SCT, "363351006")],
        prefixes=[(ICD, "C20")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.colorectal-cancer",
        "condition",
        ["colorectal cancer", "colorectal carcinoma"],
        [(SCT, "363406005")],
        prefixes=[(ICD, "C18"), (ICD, "C19"), (ICD, "C20")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.malignancy",
        "condition",
        ["malignancies", "malignancy", "malignant tumor"],
        [(SCT, "363346000")],
        prefixes=[(ICD, "C")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.autoimmune-disease",
        "condition",
        ["autoimmune diseases", "autoimmune disease"],
        [(SCT, "85828009")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.ild",
        "condition",
        ["interstitial lung disease", "ild"],
        [(SCT, "233703007")],
        prefixes=[(ICD, "J84")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.pneumonitis",
        "condition",
        ["non-infectious pneumonia", "non-infectious pneumonitis", "pneumonitis"],
        [(SCT, "205237003")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.diabetes",
        "condition",
        ["diabetes mellitus", "diabetes"],
        [(SCT, "73211009")],
        prefixes=[(ICD, "E11")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.hypertension",
        "condition",
        ["hypertension"],
        [(SCT, "38341003"), (ICD, "I10")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.pulmonary-fibrosis",
        "condition",
        ["pulmonary fibrosis"],
        [(SCT, "51615001")],
        resource_types=("Condition",),
    ),
    _concept("condition.pneumonia", "condition", ["pneumonia"], [(SCT, "233604007")], resource_types=("Condition",)),
    _concept(
        "condition.bleeding",
        "condition",
        ["active bleeding", "bleeding", "hemorrhage"],
        [(SCT, "131148009")],
        resource_types=("Condition",),
    ),
    _concept(
        "condition.perforation", "condition", ["perforation"], [(SCT, "307470002")], resource_types=("Condition",)
    ),
    _concept(
        "condition.pregnancy",
        "pregnancy",
        ["pregnant", "pregnancy"],
        [(SCT, "77386006")],
        resource_types=("Condition", "Observation"),
    ),
    _concept(
        "condition.breastfeeding",
        "pregnancy",
        ["breastfeeding", "breast-feeding", "lactating", "nursing"],
        [(SCT, "169750002")],
        resource_types=("Condition", "Observation"),
    ),
    _concept(
        "condition.hiv",
        "infection",
        ["human immunodeficiency virus", "hiv", "acquired immunodeficiency syndrome", "aids"],
        [(SCT, "86406008")],
        prefixes=[(ICD, "B20")],
        resource_types=("Condition",),
    ),
    _concept(
        "medication.antineoplastics",
        "medication",
        ["systemic anti-cancer treatment", "anti-cancer treatment", "anticancer therapy", "chemotherapy"],
        [],
        prefixes=[(ATC, "L01")],
        resource_types=("MedicationRequest", "MedicationStatement"),
    ),
    _concept(
        "medication.corticosteroids",
        "medication",
        ["corticosteroids", "steroids"],
        [],
        prefixes=[(ATC, "H02")],
        resource_types=("MedicationRequest",),
        systemic_only=True,
    ),
    _concept(
        "medication.immunosuppressants",
        "medication",
        ["immunosuppressive drugs", "immunosuppressants"],
        [],
        prefixes=[(ATC, "L04")],
        resource_types=("MedicationRequest",),
    ),
    _concept(
        "medication.pd1-pdl1-inhibitors",
        "medication",
        ["anti-programmed death receptor-1", "pd-1", "pd-l1", "anti-pd-1"],
        [("http://www.nlm.nih.gov/research/umls/rxnorm", "1597876")],
        prefixes=[(ATC, "L01FF")],
        resource_types=("MedicationRequest",),
    ),
    _concept(
        "medication.ctla4-inhibitors",
        "medication",
        ["anti-cytotoxic t-lymphocyte-associated antigen 4", "ctla-4"],
        [(ATC, "L01FX04")],
        prefixes=[(ATC, "L01FX04")],
        resource_types=("MedicationRequest",),
    ),
]


class FakeLexicon:
    def __init__(self, concepts: list[Concept] | None = None) -> None:
        self.concepts = {c.key: c for c in (concepts if concepts is not None else CONCEPTS)}
        pairs = [(s, c) for c in self.concepts.values() for s in c.synonyms]
        pairs.sort(key=lambda p: -len(p[0]))
        self._patterns = [(re.compile(rf"(?<![\w-]){re.escape(s)}(?![\w-])", re.IGNORECASE), c) for s, c in pairs]

    def find(self, text: str) -> list[ConceptMatch]:
        found: list[ConceptMatch] = []
        taken: list[tuple[int, int]] = []
        for pattern, concept in self._patterns:
            for m in pattern.finditer(text):
                if all(m.end() <= a or m.start() >= b for a, b in taken):
                    taken.append((m.start(), m.end()))
                    found.append(ConceptMatch(concept=concept, start=m.start(), end=m.end(), phrase=m.group(0)))
        return sorted(found, key=lambda m: m.start)

    def get(self, key: str) -> Concept | None:
        return self.concepts.get(key)


_UNITS = {
    "10^9/l": "10*9/L",
    "x10^9/l": "10*9/L",
    "10*9/l": "10*9/L",
    "10e9/l": "10*9/L",
    "10^3/ul": "10*3/uL",
    "10*3/ul": "10*3/uL",
    "/ul": "/uL",
    "/mm3": "/mm3",
    "/mm^3": "/mm3",
    "cells/mm3": "/mm3",
    "g/dl": "g/dL",
    "g/l": "g/L",
    "mg/dl": "mg/dL",
    "umol/l": "umol/L",
    "ml/min": "mL/min",
    "%": "%",
    "u/l": "U/L",
    "years": "a",
    "year": "a",
}
# factor to the canonical unit, per (from, to)
_FACTORS = {
    ("10*3/uL", "10*9/L"): 1.0,
    ("/uL", "10*9/L"): 0.001,
    ("/mm3", "10*9/L"): 0.001,
    ("g/L", "g/dL"): 0.1,
    ("mg/dL", "umol/L"): 88.42,
    ("10*9/L", "10*3/uL"): 1.0,
}


class FakeUnits:
    def normalize_unit(self, text: str) -> str | None:
        return _UNITS.get("".join(text.lower().split()))

    def convert(self, value: float, from_unit: str, to_unit: str, concept_key: str | None = None) -> float | None:
        if from_unit == to_unit:
            return value
        factor = _FACTORS.get((from_unit, to_unit))
        return None if factor is None else value * factor
