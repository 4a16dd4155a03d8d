"""The lab, vital-sign and measurement concepts of mappings/labs.yaml.

Per group a sentence that names the concept and one that must not (wording taken from real criteria:
the Chia benchmark texts in shared/benchmarks/chia/brat and the ClinicalTrials.gov records in
shared/data/ctgov); every coding has a source; every lab unit is a unit fhir_adapter.units knows.
"""

from __future__ import annotations

import pytest

from fhir_adapter.mappings import load_table
from fhir_adapter.terminology import lexicon
from fhir_adapter.units import convert, normalize_unit

LOINC = "http://loinc.org"


def keys(text: str) -> list[str]:
    return [m.concept.key for m in lexicon().find(text)]


# (group, sentence, concept that must be found)
FOUND = [
    ("glycaemia", "Hemoglobin A1c (HbA1c) 7.0-10.5%", "lab.hba1c"),
    ("glycaemia", "a glycated hemoglobin (HbA1c) level > 6.5 %", "lab.hba1c"),
    ("glycaemia", "a fasting glucose value above 126 mg/dl on at least 2 occasions", "lab.fasting-glucose"),
    ("glycaemia", "Serum glucose over 140 mg/dl", "lab.glucose"),
    ("blood count", "Absolute neutrophil count (ANC) greater than or equal to 1.5 x 10^9/L", "lab.neutrophils"),
    ("blood count", "Hemoglobin < 10 Gms/dL.", "lab.hemoglobin"),
    ("blood count", "thrombocytosis (platelet count > 600,000 / µl)", "lab.platelets"),
    ("blood count", "Acute infection/inflammation (Temperature > 101.5 F, and/or WBC> 15, 000)", "lab.wbc"),
    ("blood count", "hematocrit < 30%", "lab.hematocrit"),
    ("blood count", "CD4 cell counts >150 cells/μL", "lab.cd4"),
    ("coagulation", "significant coagulopathy( prothrombin time >15 seconds, INR>1.5", "lab.pt"),
    ("coagulation", "INR (International Normalized Ratio) < 1.5", "lab.inr"),
    ("coagulation", "aPTT ≤ 1.5 x ULN", "lab.aptt"),
    ("renal", "Serum creatinine =1.5 mg/dl or eGFR=60(ml/min/1.73 m2)", "lab.egfr"),
    ("renal", "Estimated GFR (eGFR) < 60 mL/min/1.73 m2", "lab.egfr"),
    ("renal", "a 24-hour urinary creatinine clearance greater than or equal to 50 mL/min", "lab.creatinine-clearance"),
    ("renal", "Proteinuria >1 gram/day at time of possible conversion", "lab.urine-protein-24h"),
    ("renal", "Urinary albumin/creatinine ratio higher than 3000 mg/g", "lab.uacr"),
    ("electrolytes", "Serum potassium < 3.5 or > 5.1 mEq/L", "lab.potassium"),
    ("electrolytes", "corrected calcium > 12 mg/dL", "lab.corrected-calcium"),
    ("lipids", "a high cardiovascular risk and LDL-cholesterol> 2.5 mmol / l", "lab.ldl"),
    ("lipids", "Current triglyceride level > 400 mg/dl", "lab.triglycerides"),
    ("liver", "total bilirubin <1.5 X ULN; AST, ALT<2.5X ULN", "lab.total-bilirubin"),
    ("liver", "total bilirubin, AST, ALT, alfa-GT and alkaline phosphatase less than 3 times", "lab.ggt"),
    ("endocrine", "secondary amenorrhea for more than three months with LH and FSH> 30mUI/ml", "lab.fsh"),
    ("endocrine", "Abnormal thyroid stimulating hormone (TSH) or thyroxine (T4) levels on screening", "lab.tsh"),
    ("tumour markers", "baseline PSA < 4.0ng/mL (no prostate biopsy required)", "lab.psa"),
    (
        "cardiac",
        "elevation myocardial infarction confirmed by ECG, as well as troponin I and CK-MB levels",
        "lab.troponin-i",
    ),
    ("cardiac", "Signs of myocardial injury as indicated by elevated troponin levels", "lab.troponin"),
    ("infection", "HCV RNA viral load of ≥ 100,000 IU/mL at screening", "lab.hcv-rna"),
    ("infection", "HIV infection with plasma and CSF HIV RNA concentrations > 1,000 copies/mL", "lab.hiv-viral-load"),
    ("infection", "History of a positive Hepatitis B surface antigen (HBsAg) or Hepatitis C test result.", "lab.hbsag"),
    ("infection", "the presence of hepatitis B core antibody (anti-HBc) and absence of HBsAg", "lab.anti-hbc"),
    ("infection", "positive hepatitis C antibody or positive HIV test at screening", "lab.anti-hcv"),
    ("infection", "positive hepatitis C antibody or positive HIV test at screening", "lab.hiv-antibody"),
    ("vital signs", "Body mass index (BMI) less than or equal to 32", "lab.bmi"),
    ("vital signs", "BMI >18 and <35 kg/m2", "lab.bmi"),
    ("vital signs", "9. Body weight > 30 kg", "lab.body-weight"),
    (
        "vital signs",
        "Systolic blood pressure >=160 mm Hg OR a diastolic blood pressure of >=110 mm Hg",
        "lab.systolic-bp",
    ),
    (
        "vital signs",
        "Systolic blood pressure >=160 mm Hg OR a diastolic blood pressure of >=110 mm Hg",
        "lab.diastolic-bp",
    ),
    ("vital signs", "resting SBP less than (<) 90mmHg, or resting DBP<50mmHg", "lab.systolic-bp"),
    ("vital signs", "Hypertension (BP>140/90 mmHg);", "lab.blood-pressure"),
    ("vital signs", "Resting heart rate <45 bpm or >90 bpm at screening.", "lab.heart-rate"),
    ("vital signs", "Oral body temperature within the range 35.0-37.5 °C", "lab.body-temperature"),
    ("vital signs", "preoperative SpO2 less than 93%", "lab.spo2"),
    ("ECG", "QTcF (Fridericia formula) male > 450ms, female > 470ms", "lab.qtcf"),
    ("ECG", "QT interval with Fridericia correction method >450 milliseconds (men)", "lab.qtcf"),
    ("ECG", "QTc - interval < 440 ms", "lab.qtc"),
    ("echo", "Left Ventricular Ejection Fraction (LVEF) >= 45 % (by multigated acquisition scan [MUGA]", "lab.lvef"),
    ("echo", "an ejection fraction <50%", "lab.lvef"),
    (
        "lung function",
        "forced expiratory volume in 1 second (FEV1)/(forced vital capacity)FVC ratio of <=0.70",
        "lab.fev1",
    ),
    ("lung function", "The FEV1/FVC ratio and FEV1 percent predicted values will be calculated", "lab.fev1-fvc"),
    (
        "lung function",
        "The FEV1/FVC ratio and FEV1 percent predicted values will be calculated",
        "lab.fev1-percent-predicted",
    ),
    ("lung function", "an ejection fraction and diffusing capacity [DLCO] of 40-50%", "lab.dlco"),
]


@pytest.mark.parametrize(("group", "text", "key"), FOUND)
def test_criteria_name_the_concept(group: str, text: str, key: str) -> None:
    assert key in keys(text), (group, [(m.concept.key, m.phrase) for m in lexicon().find(text)])


# (group, sentence, concept that must NOT be found: a neighbour, a homonym or a drug)
NOT_FOUND = [
    ("glycaemia", "Fasting glucose > 7.0 or have diabetes medication", "lab.glucose"),  # fasting, not any glucose
    (
        "glycaemia",
        "patients with controlled type 1 diabetes mellitus who are on an insulin regimen",
        "lab.insulin",
    ),  # drug
    ("blood count", "CD4+ / CD25+ cells", "lab.cd4-percent"),
    ("coagulation", "PT/INR ≤ 1.5", "lab.pt"),  # the ratio, not the time
    ("renal", "Serum creatinine =1.5 mg/dl", "lab.creatinine-clearance"),
    ("renal", "a 24-hour urinary creatinine clearance greater than or equal to 50 mL/min", "lab.creatinine"),
    ("renal", "EGFR mutation-positive non-small cell lung cancer", "lab.egfr"),  # the gene, not the filtration rate
    ("electrolytes", "Non-dihydropyridine calcium channel blockers (NDHP-CCBs) or ivabradine", "lab.calcium"),
    ("lipids", "LDL-cholesterol> 1.8 mmol / l", "lab.hdl"),
    ("lipids", "HDL cholesterol < 40 mg/dL", "lab.ldl"),
    ("liver", "direct bilirubin > 1.5 x ULN", "lab.total-bilirubin"),
    (
        "endocrine",
        "Replacement therapy (e.g., thyroxine, insulin, or physiologic corticosteroid replacement therapy",
        "lab.total-t4",
    ),
    ("cardiac", "troponin I and CK-MB levels", "lab.troponin"),  # the specific troponin wins
    ("infection", "Known HIV infection", "lab.hiv-antibody"),  # the condition, not the serology
    ("infection", "hepatitis B or hepatitis C infection", "lab.hbsag"),
    ("vital signs", "blood pressure ≥ 135/85 mm Hg but lower than 170/105 mm Hg", "lab.systolic-bp"),  # generic BP
    ("vital signs", "Systolic blood pressure <85", "lab.blood-pressure"),
    ("vital signs", "bp deletion on chromosome 17", "lab.blood-pressure"),  # base pairs, lower case
    ("ECG", "QTc - interval < 440 ms", "lab.qtcf"),
    ("ECG", "QTcF < 450 msec", "lab.qtc"),
    ("lung function", "FEV1/FVC < 0.70", "lab.fev1"),
    ("responses", "CR or PR after induction", "lab.creatinine"),
    ("tumour stage", "T4 N2 M0 disease", "lab.total-t4"),
]


@pytest.mark.parametrize(("group", "text", "key"), NOT_FOUND)
def test_neighbours_and_homonyms_are_not_the_concept(group: str, text: str, key: str) -> None:
    assert key not in keys(text), (group, [(m.concept.key, m.phrase) for m in lexicon().find(text)])


def test_blood_pressure_components_are_codings() -> None:
    lex = lexicon()
    assert lex.get("lab.systolic-bp").matches(LOINC, "8480-6")
    assert lex.get("lab.diastolic-bp").matches(LOINC, "8462-4")
    assert lex.get("lab.blood-pressure").matches(LOINC, "85354-9")
    assert lex.get("lab.blood-pressure").matches(LOINC, "55284-4")
    entry = load_table("labs")["concepts"]["lab.systolic-bp"]
    assert "component" in entry["note"]


def test_mass_and_molar_codes_both_count() -> None:
    lex = lexicon()
    for key, mass, molar in [
        ("lab.creatinine", "2160-0", "14682-9"),
        ("lab.total-bilirubin", "1975-2", "14631-6"),
        ("lab.glucose", "2345-7", "14749-6"),
        ("lab.hemoglobin", "718-7", "59260-0"),
        ("lab.calcium", "17861-6", "2000-8"),
        ("lab.total-cholesterol", "2093-3", "14647-2"),
        ("lab.ldl", "2089-1", "22748-8"),
        ("lab.triglycerides", "2571-8", "14927-8"),
        ("lab.uric-acid", "3084-1", "14933-6"),
        ("lab.vitamin-d", "1989-3", "14635-7"),
    ]:
        concept = lex.get(key)
        assert concept.matches(LOINC, mass) and concept.matches(LOINC, molar), key


def test_record_codes_of_the_shared_patients_are_known() -> None:
    """Codes the Synthea/MII test patients record (blood-level variants, vitals) belong to a concept."""
    lex = lexicon()
    for key, code in [
        ("lab.creatinine", "38483-4"),
        ("lab.glucose", "2339-0"),
        ("lab.bun", "6299-2"),
        ("lab.calcium", "49765-1"),
        ("lab.sodium", "2947-0"),
        ("lab.potassium", "6298-4"),
        ("lab.chloride", "2069-3"),
        ("lab.bicarbonate", "20565-8"),
        ("lab.ldl", "18262-6"),
        ("lab.bmi", "39156-5"),
        ("lab.body-height", "8302-2"),
        ("lab.body-weight", "29463-7"),
        ("lab.body-temperature", "8331-1"),
        ("lab.fev1-fvc", "19926-5"),
        ("lab.ldh", "14804-9"),
        ("lab.mcv", "787-2"),
    ]:
        assert lex.get(key).matches(LOINC, code), (key, code)


def test_counts_and_categories() -> None:
    lex = lexicon()
    labs = [c for c in lex.concepts("lab") if c.key.startswith("lab.")]
    assert len(labs) >= 150
    assert all(c.resource_types == ("Observation",) for c in labs)
    serologies = ["lab.hbsag", "lab.anti-hbc", "lab.hbeag", "lab.anti-hbe", "lab.anti-hcv", "lab.hiv-antibody"]
    for key in serologies:
        concept = lex.get(key)
        assert concept.category == "infection" and concept.unit is None, key
        assert concept.answers["http://snomed.info/sct|10828004"] == 1.0  # Positive
        assert concept.answers["http://snomed.info/sct|260385009"] == 0.0  # Negative
    assert lex.get("lab.anti-hbs").category == "lab"  # a titre: threshold semantics
    assert lex.get("lab.pregnancy-test").category == "pregnancy"


def test_every_coding_has_a_source_and_a_loinc_form() -> None:
    for key, entry in load_table("labs")["concepts"].items():
        for item in [*entry.get("codings", []), *entry.get("answers", []), *entry.get("conversions", [])]:
            assert item.get("source"), (key, item)
        for coding in entry.get("codings", []):
            if coding["system"] == LOINC:
                number, _, check = coding["code"].partition("-")
                assert number.isdigit() and check.isdigit() and len(check) == 1, (key, coding["code"])


def _loinc_check_digit(number: str) -> str:
    """LOINC's mod-10 check digit (Luhn variant: double every other digit from the right)."""
    digits = [int(d) for d in number]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit *= 2
            total += digit // 10 + digit % 10
        else:
            total += digit
    return str((10 - total % 10) % 10)


def test_loinc_check_digits() -> None:
    """No mistyped LOINC code: every check digit is right."""
    for key, entry in load_table("labs")["concepts"].items():
        for coding in entry.get("codings", []):
            if coding["system"] == LOINC:
                number, _, check = coding["code"].partition("-")
                assert _loinc_check_digit(number) == check, (key, coding["code"])


def test_every_lab_has_a_known_unit_and_plausible_range() -> None:
    for concept in lexicon().concepts("lab"):
        if not concept.key.startswith("lab.") or concept.scale is not None:
            continue
        assert concept.unit is not None and normalize_unit(concept.unit) == concept.unit, concept.key
        assert concept.plausible is not None, concept.key
        low, high = concept.plausible
        assert low < high, concept.key


def test_plausible_ranges_separate_unit_typos() -> None:
    """A threshold in the wrong unit lands outside the plausible range once converted."""
    lex = lexicon()
    hemoglobin = lex.get("lab.hemoglobin")
    assert hemoglobin.plausible is not None
    low, high = hemoglobin.plausible
    assert low <= 9 <= high  # 9 g/dL
    typo = convert(9, "mg/dL", "g/dL", "lab.hemoglobin")  # "hemoglobin >= 9 mg/dL"
    assert typo is not None and not low <= typo <= high
    temperature = lex.get("lab.body-temperature")
    assert temperature.plausible is not None
    fahrenheit = convert(100.4, "°F", "Cel")
    assert fahrenheit is not None and temperature.plausible[0] <= fahrenheit <= temperature.plausible[1]


def test_abbreviations_keep_their_case() -> None:
    assert "lab.egfr" in keys("eGFR > 45")
    assert "lab.egfr" not in keys("EGFR > 45")
    assert "lab.pt" in keys("PT > 1.5 x ULN")
    assert "lab.pt" not in keys("pt with prior surgery")
    assert "lab.blood-pressure" in keys("BP > 160/100")
