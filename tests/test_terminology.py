"""The medical lexicon: tables, text matching, drugs, codes, answers, routes."""

from __future__ import annotations

import pytest

from fhir_adapter.criteria.model import Coding
from fhir_adapter.errors import ConfigError
from fhir_adapter.mappings import load_table, missing_sources
from fhir_adapter.terminology import (
    CONCEPT_TABLES,
    GENERATED_TABLES,
    build_lexicon,
    find_drug,
    lexicon,
    load_generated,
)

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def keys(text: str) -> list[tuple[str, str]]:
    return [(m.concept.key, m.phrase) for m in lexicon().find(text)]


@pytest.mark.parametrize("table", [*CONCEPT_TABLES, "units"])
def test_every_code_has_a_source(table: str) -> None:
    assert missing_sources(load_table(table)) == []


@pytest.mark.parametrize("table", CONCEPT_TABLES)
def test_every_prefix_and_conversion_has_a_source(table: str) -> None:
    for key, entry in load_table(table)["concepts"].items():
        for item in [*entry.get("code_prefixes", []), *entry.get("conversions", [])]:
            assert item.get("source"), (key, item)


def test_concept_counts_and_categories() -> None:
    lex = lexicon()
    assert len(lex.concepts("lab")) >= 20
    assert len(lex.concepts("medication")) >= 40
    assert {"performance.ecog", "performance.karnofsky", "performance.nyha", "performance.child-pugh"} <= {
        c.key for c in lex.concepts("performance-status")
    }
    assert lex.get("condition.hiv").category == "infection"
    assert lex.get("condition.pregnancy").category == "pregnancy"
    assert set(lex.get("condition.pregnancy").resource_types) == {"Condition", "Observation"}
    assert lex.get("lab.neutrophils").resource_types == ("Observation",)
    assert "MedicationStatement" in lex.get("medication.capecitabine").resource_types


def test_unknown_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no\.such"):
        lexicon().get("no.such")


def test_malformed_entry_names_table_and_key() -> None:
    bad = {
        "labs": {
            "concepts": {"lab.broken": {"category": "lab", "display": "x", "codings": [{"system": LOINC, "code": "1"}]}}
        }
    }
    with pytest.raises(ConfigError) as err:
        build_lexicon(bad)
    assert "lab.broken" in str(err.value) and "labs.yaml" in str(err.value)


def test_unknown_member_is_a_config_error() -> None:
    bad = {
        "conditions": {
            "concepts": {"condition.x": {"category": "condition", "display": "x", "members": ["condition.nope"]}}
        }
    }
    with pytest.raises(ConfigError, match=r"condition\.nope"):
        build_lexicon(bad)


def test_lab_codes_include_alternates() -> None:
    lex = lexicon()
    assert lex.get("lab.neutrophils").matches(LOINC, "751-8")
    assert lex.get("lab.neutrophils").matches(LOINC, "26499-4")
    assert lex.get("lab.platelets").matches(LOINC, "26515-7")
    assert lex.get("lab.total-bilirubin").matches(LOINC, "14631-6")
    assert lex.get("lab.creatinine").matches(LOINC, "14682-9")
    assert lex.get("lab.hemoglobin").matches(LOINC, "718-7")
    assert lex.get("lab.egfr").matches(LOINC, "98979-8")
    assert lex.get("lab.neutrophils").unit == "10*9/L"
    assert lex.get("lab.total-bilirubin").unit == "mg/dL"
    assert not lex.get("lab.ast").matches(LOINC, "1742-6")


def test_find_lab_sentence_with_spans() -> None:
    text = "neutrophil count ≥ 1.5×10^9/L; platelet count ≥ 75×10^9/L"
    found = lexicon().find(text)
    assert [(m.concept.key, m.start, m.end) for m in found] == [
        ("lab.neutrophils", 0, 16),
        ("lab.platelets", text.index("platelet"), text.index("platelet") + len("platelet count")),
    ]
    assert all(text[m.start : m.end] == m.phrase for m in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AST and ALT <= 2.5x ULN", [("lab.ast", "AST"), ("lab.alt", "ALT")]),
        ("SGOT/SGPT ≤ 3 × ULN", [("lab.ast", "SGOT"), ("lab.alt", "SGPT")]),
        (
            "ANC ≥ 1500/mm3, Platelets ≥ 100,000/mm3, Hb ≥ 9 g/dL",
            [("lab.neutrophils", "ANC"), ("lab.platelets", "Platelets"), ("lab.hemoglobin", "Hb")],
        ),
        (
            "Serum creatinine ≤ 1.5 x ULN or creatinine clearance ≥ 60 mL/min",
            [("lab.creatinine", "Serum creatinine"), ("lab.creatinine-clearance", "creatinine clearance")],
        ),
        (
            "total bilirubin ≤ 1.5 × ULN; haemoglobin ≥ 90 g/L; INR ≤ 1.5",
            [("lab.total-bilirubin", "total bilirubin"), ("lab.hemoglobin", "haemoglobin"), ("lab.inr", "INR")],
        ),
        ("WBC ≥ 3.0 x 10^9/L and eGFR > 45", [("lab.wbc", "WBC"), ("lab.egfr", "eGFR")]),
        ("Known HIV infection", [("condition.hiv", "HIV infection")]),
        (
            "history of interstitial lung disease or non-infectious pneumonitis",
            [
                ("condition.interstitial-lung-disease", "interstitial lung disease"),
                ("condition.pneumonitis", "non-infectious pneumonitis"),
            ],
        ),
        ("active autoimmune disease requiring treatment", [("condition.autoimmune-disease", "autoimmune disease")]),
        (
            "systemic corticosteroids within 14 days",
            [("medication.systemic-corticosteroids", "systemic corticosteroids")],
        ),
        ("ECOG performance status 0-1", [("performance.ecog", "ECOG performance status")]),
        ("Karnofsky performance status ≥ 70", [("performance.karnofsky", "Karnofsky performance status")]),
        (
            "hepatitis B or hepatitis C infection",
            [("condition.hepatitis-b", "hepatitis B"), ("condition.hepatitis-c", "hepatitis C infection")],
        ),
        (
            "Pregnant or breastfeeding women",
            [("condition.pregnancy", "Pregnant"), ("condition.breastfeeding", "breastfeeding")],
        ),
        ("locally advanced rectal adenocarcinoma", [("condition.rectal-adenocarcinoma", "rectal adenocarcinoma")]),
        ("PD1 inhibitor", [("medication.pd1-pdl1-inhibitors", "PD1 inhibitor")]),
        (
            "Crohns disease or ulcerative colitis",
            [("condition.crohns-disease", "Crohns disease"), ("condition.ulcerative-colitis", "ulcerative colitis")],
        ),
    ],
)
def test_find_realistic_criteria(text: str, expected: list[tuple[str, str]]) -> None:
    assert keys(text) == expected


def test_find_prior_anti_pd1() -> None:
    found = keys("prior anti-PD-1 or anti-PD-L1 antibody")
    assert found and {k for k, _ in found} == {"medication.pd1-pdl1-inhibitors"}
    assert keys("previous anti-PD-L1 antibody therapy") == [("medication.pd1-pdl1-inhibitors", "anti-PD-L1 antibody")]


@pytest.mark.parametrize(
    "text",
    [
        "at least 4 weeks",
        "since the last dose",
        "alternative treatment",
        "a fast and salt-free diet",
        "hearing aids",
        "ucla",
    ],
)
def test_find_precision(text: str) -> None:
    assert keys(text) == []


def test_case_sensitive_abbreviations() -> None:
    assert keys("MS or RA") == [("condition.multiple-sclerosis", "MS"), ("condition.rheumatoid-arthritis", "RA")]
    assert keys("history of AIDS") == [("condition.hiv", "AIDS")]


def test_longest_match_wins() -> None:
    assert keys("hemoglobin A1c < 8%") == [("lab.hba1c", "hemoglobin A1c")]
    assert keys("serum creatinine clearance") == [("lab.creatinine-clearance", "creatinine clearance")]


def test_find_drug() -> None:
    assert find_drug("Capecitabine") is not None and find_drug("Capecitabine").key == "medication.capecitabine"  # type: ignore[union-attr]
    lex = lexicon()
    assert lex.find_drug("IL-2").key == "medication.aldesleukin"  # type: ignore[union-attr]
    assert lex.find_drug("interleukin-2").key == "medication.aldesleukin"  # type: ignore[union-attr]
    assert lex.find_drug("IBI308").key == "medication.sintilimab"  # type: ignore[union-attr]
    assert lex.find_drug("Sintilimab (IBI308)").key == "medication.sintilimab"  # type: ignore[union-attr]
    assert lex.find_drug("Keytruda").key == "medication.pembrolizumab"  # type: ignore[union-attr]
    assert lex.find_drug("5-FU").key == "medication.fluorouracil"  # type: ignore[union-attr]
    assert lex.find_drug("PD-1 inhibitors") is None
    assert lex.find_drug("systemic corticosteroids") is None
    assert lex.find_drug("placebo") is None


def test_drug_codings() -> None:
    cape = lexicon().get("medication.capecitabine")
    assert cape.matches(ATC, "L01BC06") and cape.matches(RXNORM, "194000")


def test_prefix_matching() -> None:
    lex = lexicon()
    crc = lex.get("condition.colorectal-cancer")
    assert crc.matches(ICD, "C20") and crc.matches(ICD, "C18.7") and crc.matches(ICD, "C19")
    assert not crc.matches(ICD, "C21.0")
    assert lex.get("condition.rectal-cancer").matches(ICD, "C20")
    assert lex.get("condition.malignancy").matches(ICD, "C50.911")
    assert not lex.get("condition.malignancy").matches(ICD, "D05.10")
    pd1 = lex.get("medication.pd1-pdl1-inhibitors")
    assert pd1.matches(ATC, "L01FF02") and not pd1.matches(ATC, "L01FX04")
    assert lex.get("medication.systemic-corticosteroids").matches(ATC, "H02AB06")
    assert lex.get("medication.immunosuppressants").matches(ATC, "L04AD02")


def test_class_matches_members() -> None:
    lex = lexicon()
    autoimmune = lex.get("condition.autoimmune-disease")
    # a class carries its members' codes (recursively), so its value set is searchable by code
    assert autoimmune.matches(ICD, "K50.90")  # Crohn's, via inflammatory bowel disease
    assert lex.matches(autoimmune, ICD, "K50.90")
    # a member does not take its siblings' codes
    assert not lex.get("condition.crohns-disease").matches(SCT, "69896004")
    assert lex.matches(autoimmune, SCT, "69896004")
    ctla4 = lex.get("medication.ctla4-inhibitors")
    assert lex.matches(ctla4, RXNORM, "1094833")
    assert "medication.sintilimab" in lex.get("medication.pd1-pdl1-inhibitors").members
    assert "medication.prednisone" in {m.key for m in lex.members(lex.get("medication.systemic-corticosteroids"))}


def test_rectal_adenocarcinoma_site_and_morphology() -> None:
    concept = lexicon().get("condition.rectal-adenocarcinoma")
    assert concept.matches(SCT, "254582000")
    assert Coding(system=ICD, code="C20", display="Malignant neoplasm of rectum") in concept.site_codings
    assert any(
        c.code == "8140/3" and c.system == "http://terminology.hl7.org/CodeSystem/icd-o-3"
        for c in concept.morphology_codings
    )


def test_answer_values() -> None:
    lex = lexicon()
    ecog = lex.get("performance.ecog")
    assert lex.answer_value(ecog, LOINC, "LA9623-5") == 1
    assert lex.answer_value(ecog, LOINC, "LA9622-7") == 0
    assert lex.answer_value(ecog, LOINC, "LA9627-6") == 5
    assert lex.answer_value(ecog, SCT, "422894000") == 2
    assert lex.answer_value(ecog, LOINC, "LA0000-0") is None
    assert ecog.matches(LOINC, "89247-1")
    kps = lex.get("performance.karnofsky")
    assert lex.answer_value(kps, LOINC, "LA29177-5") == 80
    assert lex.answer_value(lex.get("condition.pregnancy"), LOINC, "LA15173-0") == 1


def test_non_systemic() -> None:
    lex = lexicon()
    assert lex.non_systemic([], "hydrocortisone 10 MG/ML Topical Cream")
    assert lex.non_systemic([], "budesonide 0.18 MG/ACTUAT Inhalation Powder")
    assert lex.non_systemic([], "fluticasone nasal spray")
    assert lex.non_systemic([], "dexamethasone eye drops")
    assert lex.non_systemic([Coding(system=SCT, code="6064005")], "betamethasone")
    assert not lex.non_systemic([], "prednisone 5 MG Oral Tablet")
    assert not lex.non_systemic([Coding(system=SCT, code="26643006")], "dexamethasone 4 MG")
    assert not lex.non_systemic([], "methylprednisolone 125 MG Injection")


def test_lexicon_is_cached_and_builds_from_loaded_tables() -> None:
    """Load time is measured in benchmarks/criteria.py, not here; this checks the cache and the build."""
    assert lexicon() is lexicon()
    tables = {name: load_table(name) for name in CONCEPT_TABLES}
    generated = {name: t for name in GENERATED_TABLES if (t := load_generated(name)) is not None}
    rebuilt = build_lexicon(tables, dict(generated))
    text = "neutrophil count ≥ 1.5×10^9/L; QTc > 470 ms; anti-HBs positive"
    assert [m.concept.key for m in rebuilt.find(text)] == [m.concept.key for m in lexicon().find(text)]
    assert {"lab.neutrophils", "lab.qtc", "lab.anti-hbs"} <= {m.concept.key for m in rebuilt.find(text)}
