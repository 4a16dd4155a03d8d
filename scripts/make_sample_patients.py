#!/usr/bin/env python3
"""Generate the project-authored synthetic patients of samples/patients/ (reproducible; do not hand-edit).

Seed trial NCT06577194 (rectal adenocarcinoma, phase 2). One baseline patient meets every computable
inclusion and has no exclusion; each other patient changes one thing (a failing criterion, a boundary,
a unit or coding variant, missing or stale data). Output:

* ``samples/patients/data/<Type>.ndjson`` — FHIR Bulk Data NDJSON, one file per resource type;
* ``samples/patients/expected/<patient id>.json`` — the expected result per criterion *tag* and the verdict.

Tags name criteria by their source text (``kind`` + a regex on the atom text, see ``TAGS``) because atom
ids are the compiler's business; the test maps tags to atoms at test time. Every date is relative to
``AS_OF``. Codes come from /work/shared/terminology/codes.csv (or real Synthea data for RxNorm 106258).

Usage: python scripts/make_sample_patients.py [OUT_DIR]
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

AS_OF = date(2025, 1, 1)
LOINC, SCT, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
ICD10CM, ATC = "http://hl7.org/fhir/sid/icd-10-cm", "http://www.whocc.no/atc"
RXNORM, ICDO3 = "http://www.nlm.nih.gov/research/umls/rxnorm", "http://terminology.hl7.org/CodeSystem/icd-o-3"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
HISTOLOGY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"

# Criterion tags: kind + regex on the atom's source text (or the structured atom id).
TAGS: dict[str, dict[str, str]] = {
    "ecog": {"kind": "inclusion", "text": r"ECOG"},
    "histology": {"kind": "inclusion", "text": r"adenocarcinoma"},
    "neutrophils": {"kind": "inclusion", "text": r"neutrophil"},
    "platelets": {"kind": "inclusion", "text": r"platelet"},
    "bilirubin": {"kind": "inclusion", "text": r"bilirubin"},
    "ast": {"kind": "inclusion", "text": r"aspartate"},
    "alt": {"kind": "inclusion", "text": r"alanine"},
    "creatinine": {"kind": "inclusion", "text": r"creatinine"},
    "age": {"kind": "inclusion", "id": "age"},
    "recurrent": {"kind": "exclusion", "text": r"(?i)recurrent rectal"},
    "hiv": {"kind": "exclusion", "text": r"HIV|(?i:human immunodeficiency)"},
    "pregnancy": {"kind": "exclusion", "text": r"(?i)pregnan"},
    "breastfeeding": {"kind": "exclusion", "text": r"(?i)breastfeeding"},
    "pd1": {"kind": "exclusion", "text": r"PD-1|PD-L1|(?i:programmed death)"},
    "autoimmune": {"kind": "exclusion", "text": r"(?i)autoimmune"},
    "steroids": {"kind": "exclusion", "text": r"(?i)steroid|immunosuppress"},
    "ild": {"kind": "exclusion", "text": r"(?i)interstitial lung"},
    "prior-therapy": {"kind": "exclusion", "text": r"(?i)systemic anti-cancer"},
}
BASELINE = {
    "ecog": "met",
    "histology": "met",
    "neutrophils": "met",
    "platelets": "met",
    "bilirubin": "met",
    "ast": "met",
    "alt": "met",
    "creatinine": "met",
    "age": "met",
    "recurrent": "not-met",
    "hiv": "not-met",
    "pregnancy": "not-met",
    "breastfeeding": "not-met",
    "pd1": "not-met",
    "autoimmune": "not-met",
    "steroids": "not-met",
    "ild": "not-met",
    "prior-therapy": "not-met",
}


def day(days_before: int) -> str:
    return (AS_OF - timedelta(days=days_before)).isoformat()


def cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


class Patient:
    def __init__(self, pid: str, *, birth: str = "1968-05-10", gender: str = "female") -> None:
        self.id = pid
        self.resources: list[dict[str, Any]] = [
            {
                "resourceType": "Patient",
                "id": pid,
                "gender": gender,
                "birthDate": birth,
                "meta": {"tag": [{"system": "https://fhir-adapter.example/tags", "code": "synthetic"}]},
            }
        ]
        self._n = 0

    def _rid(self, prefix: str) -> str:
        self._n += 1
        return f"{self.id}-{prefix}{self._n}"

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        resource["subject" if resource["resourceType"] != "AllergyIntolerance" else "patient"] = {
            "reference": f"Patient/{self.id}"
        }
        self.resources.append(resource)
        return resource

    def condition(
        self, system: str, code: str, display: str, *, status: str = "active", onset: int = 60, **extra: Any
    ) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "Condition",
                "id": self._rid("c"),
                "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
                "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
                "code": cc(system, code, display),
                "onsetDateTime": day(onset),
                **extra,
            }
        )

    def lab(
        self,
        code: str,
        display: str,
        value: float,
        unit: str,
        *,
        high: float | None = None,
        days: int = 10,
        range_unit: str | None = None,
    ) -> dict[str, Any]:
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._rid("o"),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}
                    ]
                }
            ],
            "code": cc(LOINC, code, display),
            "effectiveDateTime": day(days),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        }
        if high is not None:
            ru = range_unit or unit
            obs["referenceRange"] = [{"high": {"value": high, "unit": ru, "system": UCUM, "code": ru}}]
        return self.add(obs)

    def ecog(self, value: int | None = None, *, answer: tuple[str, str] | None = None, days: int = 7) -> None:
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._rid("o"),
            "status": "final",
            "code": cc(LOINC, "89247-1", "ECOG Performance Status score"),
            "effectiveDateTime": day(days),
        }
        if answer is not None:
            obs["valueCodeableConcept"] = cc(LOINC, answer[0], answer[1])
        else:
            obs["valueInteger"] = value
        self.add(obs)

    def medication(
        self,
        text: str,
        *,
        coding: tuple[str, str] | None = None,
        days: int = 400,
        route: tuple[str, str, str] | None = None,
        status: str = "completed",
    ) -> None:
        concept: dict[str, Any] = {"text": text}
        if coding:
            concept["coding"] = [{"system": coding[0], "code": coding[1], "display": text}]
        request: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self._rid("m"),
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": concept,
            "authoredOn": day(days),
        }
        if route:
            request["dosageInstruction"] = [{"route": cc(*route)}]
        self.add(request)


# -- the baseline and its variants ----------------------------------------------------------------------------


def diagnosis(p: Patient) -> None:
    p.condition(SCT, "254582000", "Adenocarcinoma of rectum")


def labs(p: Patient, **override: Callable[[Patient], None] | None) -> None:
    defaults: dict[str, Callable[[Patient], None]] = {
        "neutrophils": lambda q: q.lab("751-8", "Neutrophils [#/volume] in Blood by Automated count", 3.2, "10*9/L"),
        "platelets": lambda q: q.lab("777-3", "Platelets [#/volume] in Blood by Automated count", 210, "10*9/L"),
        "bilirubin": lambda q: q.lab(
            "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", 0.6, "mg/dL", high=1.2
        ),
        "ast": lambda q: q.lab("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume]", 25, "U/L", high=40),
        "alt": lambda q: q.lab("1742-6", "Alanine aminotransferase [Enzymatic activity/volume]", 22, "U/L", high=40),
        "creatinine": lambda q: q.lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", 0.8, "mg/dL", high=1.2),
    }
    for name, make in defaults.items():
        chosen = override.get(name, make)
        if chosen is not None:
            chosen(p)


def baseline(
    pid: str,
    *,
    birth: str = "1968-05-10",
    dx: bool = True,
    ecog: bool = True,
    **lab_override: Callable[[Patient], None] | None,
) -> Patient:
    p = Patient(pid, birth=birth)
    if dx:
        diagnosis(p)
    if ecog:
        p.ecog(0)
    labs(p, **lab_override)
    return p


Scenario = tuple[Patient, dict[str, str], str, str, str]
"""(patient, criteria that differ from the baseline, verdict, scenario, reason code)."""


def reason_code(changes: dict[str, str], verdict: str) -> str:
    """The expected reason code: the first changed criterion decides an ineligible verdict."""
    if verdict != "ineligible":
        return verdict
    if not changes:
        return "deceased"
    first = next(iter(changes))
    return "exclusion-met" if TAGS[first]["kind"] == "exclusion" else "inclusion-not-met"


def scenarios() -> list[Scenario]:
    out: list[Scenario] = []

    def case(p: Patient, changes: dict[str, str], verdict: str, why: str, code: str | None = None) -> None:
        out.append((p, changes, verdict, why, code or reason_code(changes, verdict)))

    case(baseline("smp-eligible"), {}, "eligible", "all computable inclusions met, no exclusion documented")

    p = Patient("smp-icd10-histology", birth="1970-02-02")
    p.condition(
        ICD10CM,
        "C20",
        "Malignant neoplasm of rectum",
        extension=[{"url": HISTOLOGY, "valueCodeableConcept": cc(ICDO3, "8140/3", "Adenocarcinoma, NOS")}],
    )
    p.ecog(answer=("LA9623-5", "Restricted in physically strenuous activity"))
    labs(p)
    case(p, {}, "eligible", "ICD-10-CM C20 + mCODE histology extension; ECOG as LA answer code")

    p = Patient("smp-icd10-no-histology")
    p.condition(ICD10CM, "C20", "Malignant neoplasm of rectum")
    p.ecog(1)
    labs(p)
    case(p, {"histology": "unknown"}, "needs-review", "C20 without histology: never met on a guess")

    case(
        baseline(
            "smp-low-neutrophils",
            neutrophils=lambda q: q.lab("751-8", "Neutrophils [#/volume] in Blood by Automated count", 1.2, "10*9/L"),
        ),
        {"neutrophils": "not-met"},
        "ineligible",
        "neutrophils 1.2 < 1.5",
    )

    case(
        baseline(
            "smp-boundaries",
            neutrophils=lambda q: q.lab("751-8", "Neutrophils [#/volume] in Blood by Automated count", 1.5, "10*9/L"),
            platelets=lambda q: q.lab("777-3", "Platelets [#/volume] in Blood by Automated count", 75, "10*9/L"),
            bilirubin=lambda q: q.lab(
                "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", 1.8, "mg/dL", high=1.2
            ),
            ast=lambda q: q.lab(
                "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume]", 100, "U/L", high=40
            ),
        ),
        {},
        "eligible",
        "exactly the thresholds: 1.5, 75, 1.5×ULN, 2.5×ULN",
    )

    case(
        baseline(
            "smp-unit-variants",
            neutrophils=lambda q: q.lab("26499-4", "Neutrophils [#/volume] in Blood", 2.0, "10*3/uL"),
            platelets=lambda q: q.lab("26515-7", "Platelets [#/volume] in Blood", 150, "10*3/uL"),
            bilirubin=lambda q: q.lab(
                "14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma", 15, "umol/L", high=21
            ),
            creatinine=lambda q: q.lab(
                "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", 80, "umol/L", high=110
            ),
        ),
        {},
        "eligible",
        "10*3/uL counts, bilirubin and creatinine in umol/L with ranges in umol/L",
    )

    case(
        baseline(
            "smp-no-reference-range",
            ast=lambda q: q.lab("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume]", 25, "U/L"),
            alt=lambda q: q.lab("1742-6", "Alanine aminotransferase [Enzymatic activity/volume]", 22, "U/L"),
        ),
        {"ast": "unknown", "alt": "unknown"},
        "needs-review",
        "ULN multiple without a reference range",
    )

    case(
        baseline("smp-missing-neutrophils", neutrophils=None),
        {"neutrophils": "unknown"},
        "needs-review",
        "no neutrophil count recorded",
    )

    p = Patient("smp-stale-labs")
    diagnosis(p)
    p.ecog(0)
    p.lab("751-8", "Neutrophils [#/volume] in Blood by Automated count", 3.0, "10*9/L", days=200)
    labs(p, neutrophils=None)
    case(p, {"neutrophils": "unknown"}, "needs-review", "neutrophils 200 days old (window 90)")

    p = baseline("smp-ecog-2", ecog=False)
    p.ecog(2)
    case(p, {"ecog": "not-met"}, "ineligible", "ECOG 2")

    case(baseline("smp-age-80", birth="1944-06-01"), {"age": "not-met"}, "ineligible", "80 years old")

    p = baseline("smp-hiv")
    p.condition(SCT, "86406008", "Human immunodeficiency virus infection", onset=3000)
    case(p, {"hiv": "met"}, "ineligible", "HIV infection (SNOMED)")

    p = baseline("smp-pregnant")
    p.condition(ICD10CM, "Z33.1", "Pregnant state, incidental", onset=60)
    case(p, {"pregnancy": "met"}, "ineligible", "pregnancy (ICD-10-CM only)")

    p = baseline("smp-breastfeeding")
    p.condition(SCT, "866041003", "Mother currently breastfeeding", onset=90)
    case(p, {"breastfeeding": "met"}, "ineligible", "breastfeeding")

    p = baseline("smp-pd1-history")
    p.medication("pembrolizumab 25 MG/ML Injectable Solution", coding=(RXNORM, "1547545"), days=700)
    case(
        p,
        {"pd1": "met", "prior-therapy": "met"},
        "ineligible",
        "prior pembrolizumab (RxNorm ingredient): an anti-PD-1 and a systemic anticancer drug",
    )

    p = baseline("smp-active-ra")
    p.condition(SCT, "69896004", "Rheumatoid arthritis", onset=2000)
    case(p, {"autoimmune": "met"}, "ineligible", "active rheumatoid arthritis")

    p = baseline("smp-resolved-ra")
    p.condition(SCT, "69896004", "Rheumatoid arthritis", status="resolved", onset=4000)
    case(p, {}, "eligible", "rheumatoid arthritis recorded as resolved: not active")

    p = baseline("smp-ild")
    p.condition(ICD10CM, "J84.9", "Interstitial pulmonary disease, unspecified", onset=500)
    case(p, {"ild": "met"}, "ineligible", "interstitial lung disease (ICD-10-CM)")

    p = baseline("smp-topical-steroid")
    p.medication("Hydrocortisone 10 MG/ML Topical Cream", coding=(RXNORM, "106258"), days=100)
    case(p, {}, "eligible", "topical hydrocortisone is not a systemic steroid")

    p = baseline("smp-systemic-steroid")
    p.medication("prednisone 20 MG Oral Tablet", coding=(RXNORM, "8640"), days=300)
    case(p, {"steroids": "met"}, "ineligible", "oral prednisone")

    p = baseline("smp-recurrent")
    p.condition(SCT, "314966008", "Local recurrence of malignant tumor of rectum", onset=30)
    case(p, {"recurrent": "met"}, "ineligible", "recurrent rectal cancer")

    p = baseline("smp-prior-chemo")
    p.medication("oxaliplatin", coding=(ATC, "L01XA03"), days=500)
    case(p, {"prior-therapy": "met"}, "ineligible", "prior oxaliplatin (ATC)")

    p = baseline("smp-deceased")
    p.resources[0]["deceasedDateTime"] = day(20) + "T10:00:00Z"
    case(p, {}, "ineligible", "deceased before the as-of date")

    # The trial's index condition (adenocarcinoma of rectum) decided closed-world on a complete export.
    case(
        baseline("smp-no-diagnosis", dx=False),
        {"histology": "not-met"},
        "ineligible",
        "no record of the trial's condition: not a candidate",
        "not-a-candidate",
    )
    p = baseline("smp-sigmoid-colon-cancer", dx=False)
    p.condition(ICD10CM, "C18.7", "Malignant neoplasm of sigmoid colon", onset=120)
    case(
        p,
        {"histology": "not-met"},
        "ineligible",
        "cancer of another site (sigmoid colon, not rectum): not a candidate",
        "not-a-candidate",
    )
    return out


def write(out_dir: Path) -> int:
    data_dir, expected_dir = out_dir / "data", out_dir / "expected"
    for folder in (data_dir, expected_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    by_type: dict[str, list[dict[str, Any]]] = {}
    cases = scenarios()
    for patient, changes, verdict, why, code in cases:
        for resource in patient.resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
        expected = {
            "patient": patient.id,
            "as_of": AS_OF.isoformat(),
            "scenario": why,
            "verdict": verdict,
            "reason_code": code,
            "decisive": sorted(changes) if verdict != "eligible" else sorted(BASELINE),
            "criteria": {**BASELINE, **changes},
        }
        (expected_dir / f"{patient.id}.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    for rtype, resources in sorted(by_type.items()):
        lines = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in resources)
        (data_dir / f"{rtype}.ndjson").write_text(lines, encoding="utf-8")
    (out_dir / "tags.json").write_text(json.dumps(TAGS, indent=2) + "\n", encoding="utf-8")
    return len(cases)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "samples" / "patients"
    print(f"{write(target)} patients written to {target}")
