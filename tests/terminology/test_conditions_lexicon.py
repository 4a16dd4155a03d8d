"""Conditions of the lexicon: the disease groups of mappings/conditions.yaml and the generated
mappings/lexicon/conditions.tsv (Disease Ontology, Mondo, SNOMED CT GPS, VSAC value sets, ICD-10-CM).

Per concept group a sentence that names the concept and one that must not (wording from real criteria:
the Chia benchmark texts in shared/benchmarks/chia/brat and the ClinicalTrials.gov records in
shared/data/ctgov), with the codes a patient's Condition is matched by; every generated coding has a source;
SNOMED CT codes outside the Global Patient Set are identifiers only; rebuilding the generated table from
shared/ gives the committed file.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.generated_lexicon import entries
from fhir_adapter.terminology import lexicon

SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).parents[2].parent / "shared"
SEMANTIC_TAG = re.compile(r"\((disorder|finding|situation|event|morphologic abnormality|body structure)\)$")


def found(text: str) -> list[tuple[str, str]]:
    return [(m.concept.key, m.phrase) for m in lexicon().find(text)]


def keys(text: str) -> list[str]:
    return [key for key, _ in found(text)]


def matches(key: str, system: str, code: str) -> bool:
    lex = lexicon()
    return lex.matches(lex.get(key), system, code)


TABLE = ROOT / "mappings" / "lexicon" / "conditions.tsv"


@cache
def generated() -> dict[str, Any]:
    assert TABLE.exists(), "mappings/lexicon/conditions.tsv is missing: run scripts/build_lexicon.py conditions"
    return entries(TABLE.read_text(encoding="utf-8"))


# (criterion wording, concept found, (system, code) of a patient's Condition that the concept matches)
FOUND = [
    # respiratory
    ("History of asthma requiring hospitalization", "condition.asthma", (SCT, "195967001")),
    ("History of asthma requiring hospitalization", "condition.asthma", (ICD, "J45.909")),
    (
        "severe chronic obstructive pulmonary disease",
        "condition.chronic-obstructive-pulmonary-disease",
        (SCT, "13645005"),
    ),
    ("Subjects with asthma or COPD", "condition.chronic-obstructive-pulmonary-disease", (ICD, "J44.9")),
    (
        "pulmonary fibrosis, pulmonary hypertension, interstitial lung diseases",
        "condition.pulmonary-hypertension",
        (ICD, "I27.20"),
    ),
    ("Significant pulmonary disease", "condition.lung-disease", (ICD, "J84.10")),
    ("concurrent pulmonary infections other than COVID-19", "condition.pneumonia", (SCT, "233604007")),
    # neurological
    ("History of seizure disorder.", "condition.epilepsy", (ICD, "G40.909")),
    ("Uncontrolled seizures", "condition.seizure", (ICD, "R56.9")),
    (
        "a history of dementia, Alzheimer's disease, stroke with residual cognitive",
        "condition.dementia",
        (ICD, "F03.90"),
    ),
    (
        "a history of dementia, Alzheimer's disease, stroke with residual cognitive",
        "condition.alzheimers-disease",
        (ICD, "G30.9"),
    ),
    ("Diagnosis of idiopathic Parkinson disease", "condition.parkinsons-disease", (SCT, "49049000")),
    ("transient ischemic attack (TIA)", "condition.transient-cerebral-ischemia", (SCT, "266257000")),
    ("History of migraine", "condition.migraine", (ICD, "G43.909")),
    ("Other neurological disease", "condition.neurological-disorder", (ICD, "G35")),
    ("History of significant head trauma", "condition.head-injury", (ICD, "S06.0X0A")),
    # cardiovascular
    ("Chronic, stable atrial fibrillation on stable anticoagulation", "condition.atrial-fibrillation", (ICD, "I48.91")),
    ("history of AFib", "condition.atrial-fibrillation", (SCT, "49436004")),
    ("unstable angina pectoris", "condition.intermediate-coronary-syndrome", (ICD, "I20.0")),
    ("angina pectoris, valvular disease", "condition.angina", (SCT, "194828000")),
    ("Clinically and angiographically stable CAD", "condition.coronary-artery-disease", (ICD, "I25.10")),
    ("coronary heart disease", "condition.coronary-artery-disease", (SCT, "53741008")),
    ("history of heart disease", "condition.heart-disease", (SCT, "84114007")),  # heart failure, a member
    ("history of heart disease", "condition.heart-disease", (ICD, "I48.91")),
    ("history of cardiovascular disease", "condition.cardiovascular-disease", (ICD, "I63.9")),
    ("deep venous thrombosis (DVT) within the past 6 months", "condition.deep-vein-thrombosis", (ICD, "I82.401")),
    ("acute PE by multidetector CT angiography", "condition.pulmonary-embolism", (ICD, "I26.99")),
    ("History of venous thromboembolism", "condition.venous-thromboembolism", (ICD, "I26.99")),
    ("Cardiac arrhythmias requiring treatment", "condition.cardiac-arrhythmia", (ICD, "I47.10")),
    # endocrine and metabolic
    ("history of GDM (need specific diet)", "condition.gestational-diabetes", (ICD, "O24.410")),
    ("history of diabetic ketoacidosis", "condition.diabetic-ketoacidosis", (ICD, "E11.10")),
    ("Overweight or obesity (BMI =25 kg/m2)", "condition.obesity", (ICD, "E66.9")),
    ("hypothyroidism", "condition.hypothyroidism", (ICD, "E03.9")),
    ("Hyperthyroidism or hypothyroidism.", "condition.hyperthyroidism", (ICD, "E05.00")),
    ("treatment of osteoporosis", "condition.osteoporosis", (ICD, "M81.0")),
    # kidney and liver
    ("chronic kidney disease, malignancy", "condition.chronic-kidney-disease", (ICD, "N18.4")),
    ("Patients with ESRD", "condition.end-stage-renal-disease", (ICD, "N18.6")),
    ("Severe renal insufficiency", "condition.renal-impairment", (ICD, "N17.9")),
    ("severe kidney- and/or liver disease", "condition.liver-disease", (ICD, "K74.60")),
    ("Has a known diagnosis of liver cirrhosis.", "condition.liver-cirrhosis", (SCT, "19943007")),
    ("chronic liver disease", "condition.chronic-liver-disease", (ICD, "K74.60")),
    # mental health and substance use
    ("preoperative history of schizophrenia, epilepsy", "condition.schizophrenia", (ICD, "F20.9")),
    ("bipolar disorder, delirium, dementia", "condition.bipolar-disorder", (ICD, "F31.9")),
    ("Diagnosis: Major depression, unipolar", "condition.major-depressive-disorder", (ICD, "F33.1")),
    ("mental illness or substance abuse", "condition.mental-disorder", (ICD, "F41.1")),
    ("mental illness or substance abuse", "condition.substance-abuse", (ICD, "F12.10")),
    ("History of alcohol abuse or drug abuse.", "condition.alcohol-use-disorder", (ICD, "F10.10")),
    ("addiction to alcohol", "condition.alcohol-dependence", (ICD, "F10.20")),
    ("DSM-5 substance use disorder", "condition.substance-related-disorder", (SCT, "66214007")),
    ("Any suicidal ideation with intent", "condition.suicidal-ideation", (ICD, "R45.851")),
    # infections (category infection)
    ("infected with COVID-19", "condition.covid-19", (ICD, "U07.1")),
    ("systemic infections like pneumonia or sepsis", "condition.sepsis", (ICD, "A41.9")),
    ("Active infection requiring systemic therapy", "condition.infection", (ICD, "A41.9")),
    ("urinary tract infection", "condition.urinary-tract-infection", (ICD, "N39.0")),
    # blood and immune system
    ("concomitant sickle cell disease", "condition.sickle-cell-disease", (ICD, "D57.1")),
    ("coagulation or bleeding disorders", "condition.bleeding-disorder", (ICD, "D68.9")),
    ("hemophilia", "condition.hemophilia", (ICD, "D66")),
    ("Known history of immunodeficiency", "condition.immunodeficiency", (ICD, "D84.9")),
    ("known history of immunodeficiency", "condition.immunodeficiency", (SCT, "86406008")),  # HIV, a member
    ("thrombocytopenia (platelet count <100,000 / µl)", "condition.thrombocytopenia", (ICD, "D69.6")),
    ("iron deficiency anemia", "condition.iron-deficiency-anemia", (ICD, "D50.9")),
    ("Anemia", "condition.anemia", (ICD, "D50.9")),
    # cancers
    ("Locally advanced malignant breast cancer", "condition.breast-cancer", (ICD, "C50.911")),
    ("localized prostate cancer with a current PSA", "condition.prostate-cancer", (ICD, "C61")),
    ("Advanced or metastatic NSCLC", "condition.lung-non-small-cell-carcinoma", (SCT, "254637007")),
    ("history of CNS lymphoma", "condition.lymphoma", (ICD, "C83.30")),
    ("History of myelogenous leukemia", "condition.myeloid-leukemia", (ICD, "C92.10")),
    ("a new diagnosis of multiple myeloma", "condition.multiple-myeloma", (ICD, "C90.00")),
    ("invasive melanoma", "condition.melanoma", (ICD, "C43.9")),
    ("secondary AML transformed from MDS", "condition.myelodysplastic-syndrome", (ICD, "D46.9")),
    # other specialties
    ("uncontrolled glaucoma with intra-ocular pressures", "condition.glaucoma", (ICD, "H40.9")),
    ("History of peptic ulcer", "condition.peptic-ulcer-disease", (ICD, "K27.9")),
    ("previous pancreatitis", "condition.pancreatitis", (ICD, "K85.90")),
    (
        "uncontrolled gastroesophageal reflux disease [GERD]",
        "condition.gastroesophageal-reflux-disease",
        (SCT, "235595009"),
    ),
    ("Patients who were smokers", "condition.tobacco-use", (SCT, "77176002")),
    # metastatic disease: a group whose members' codes count
    ("known symptomatic bone metastases", "condition.bone-metastases", (ICD, "C79.51")),
    ("Distant metastases", "condition.metastatic-disease", (ICD, "C78.7")),  # liver metastasis is a member
    ("imminent spinal cord compression", "condition.spinal-cord-compression", (ICD, "G95.20")),
    ("severe hypoproteinemia", "condition.hypoproteinemia", (SCT, "8900005")),
    # general findings criteria write bare (gold NCT01503372, NCT04147728, NCT06146257); the GPS disorders whose
    # names hold the word are kinds of it (curation gps_kinds), so a record coded with the narrower kind counts
    ("presence of any non-healing wound, fracture, or ulcer", "condition.bone-fracture", (ICD, "S72.001A")),
    ("unhealed wounds, ulcers or fractures", "condition.bone-fracture", (SCT, "263244000")),
    ("artery or venous thrombotic events within 2 months", "condition.thrombosis", (SCT, "128053003")),
    ("artery or venous thrombotic events within 2 months", "condition.thrombosis", (ICD, "I82.409")),
    ("clinically significant diarrhea or malabsorption", "condition.malabsorption-syndrome", (ICD, "K90.9")),
    ("carcinoma in situ of the cervix", "condition.in-situ-carcinoma", (ICD, "D06.9")),
    ("Cardiac ischemia", "condition.myocardial-ischemia", (ICD, "I25.9")),  # audit round 11: it read "ischemia"
    # a kind's ICD-10-CM category given by hand (corpus NCT05437757: breast implant-associated ALCL is C84.7A)
    (
        "Breast Implant-Associated Anaplastic Large Cell Lymphoma (BIA-ALCL)",
        "condition.anaplastic-large-cell-lymphoma",
        (ICD, "C84.7A"),
    ),
]


@pytest.mark.parametrize(("text", "key", "coding"), FOUND)
def test_found_with_its_codes(text: str, key: str, coding: tuple[str, str]) -> None:
    assert key in keys(text), found(text)
    assert matches(key, *coding), (key, coding)


# (criterion wording, concept that must NOT be found there)
NOT_FOUND = [
    ("history of diabetic ketoacidosis", "condition.diabetes"),  # its own concept, not diabetes
    ("history of GDM", "condition.diabetes"),
    ("bronchial hyperreactivity on methacholine challenge", "condition.asthma"),
    ("received an anti-PD-1, anti-PD-L1, or anti PD L2 agent", "condition.parkinsons-disease"),
    ("Written informed consent according to ICH/GCP regulations", "condition.intracranial-hemorrhage"),
    ("Structured Clinical Interview for DSM-IV (SCID-R)", "condition.severe-combined-immunodeficiency"),
    ("ALL PATIENTS MUST SIGN THE CONSENT", "condition.acute-lymphoblastic-leukemia"),
    ("diagnosed according to ADA criteria", "condition.adenosine-deaminase-deficiency"),
    ("Known hypersensitivity to the study drug", "condition.hypersensitivity-reaction-disease"),
    ("the common cold", "condition.chronic-obstructive-pulmonary-disease"),
    ("Hepatitis B or C carrier status", "condition.hepatitis"),
    ("bleeding event within 3 months", "condition.bleeding-disorder"),
    ("pulmonary embolism", "condition.deep-vein-thrombosis"),
    ("mild cognitive impairment (MCI)", "condition.dementia"),
]


@pytest.mark.parametrize(("text", "key"), NOT_FOUND)
def test_not_found(text: str, key: str) -> None:
    assert key not in keys(text), found(text)


def test_a_mondo_term_named_like_a_do_term_is_that_term() -> None:
    """Mondo's "meningitis", "porphyria" and "hyperprolactinemia" have no DO match although DO has terms of those
    names: the two cancelled each other's name out and neither was found (Chia NCT02525991, NCT02689089,
    NCT02430740). They are one concept, with the codes of both."""
    assert keys("meningitis") == ["condition.meningitis"]
    assert matches("condition.meningitis", SCT, "7180009")  # Mondo's exact match
    assert matches("condition.meningitis", ICD, "G03.9")  # DO's cross-reference
    assert keys("Porphyria reported by patient") == ["condition.porphyria"]
    assert keys("untreated hyperprolactinemia") == ["condition.hyperprolactinemia"]
    assert keys("Known or suspected haemoglobinopathy") == ["condition.hemoglobinopathy"]


# Disorders and findings only the SNOMED CT GPS names (scripts/lexicon/gps_findings.py), from Chia criteria
GPS_FOUND = [
    ("Has clinically apparent ascites on physical examination", "condition.ascites", (SCT, "389026000")),
    ("Has clinically apparent ascites on physical examination", "condition.ascites", (ICD, "R18.8")),
    ("Syncope related to cardiac disease", "condition.syncope", (SCT, "271594007")),
    ("coma of unknown cause", "condition.coma", (SCT, "371632003")),
    ("Thunderclap onset of the headache", "condition.headache", (ICD, "R51.9")),
    ("fever during the preceding 48 hours", "condition.fever", (ICD, "R50.9")),
    ("patients with infected miscarriage", "condition.miscarriage", (SCT, "17369002")),
    ("hyperkalemia", "condition.hyperkalemia", (ICD, "E87.5")),
    ("Leukocytosis or leucopenia", "condition.leukopenia", (ICD, "D72.819")),  # a British spelling
]


@pytest.mark.parametrize(("text", "key", "coding"), GPS_FOUND)
def test_a_disorder_or_finding_only_the_gps_names(text: str, key: str, coding: tuple[str, str]) -> None:
    assert key in keys(text), found(text)
    assert matches(key, *coding), (key, coding)


def test_gps_names_that_stay_out_of_the_lexicon() -> None:
    """A GPS name holding another concept's name stays that concept with its narrower kind to confirm; an allergic
    reaction is an allergy to its allergen; a receptor status is an Observation; ordinary words are no concept."""
    assert keys("severe persistent asthma") == ["condition.asthma"]
    assert keys("History of allergic reactions to loxapine") == ["medication.loxapine"]
    assert "condition.estrogen-receptor-positive-tumor" not in keys("estrogen receptor positive tumor")
    assert keys("a cyst") == [] and keys("chronic disease") == []
    assert generated()["condition.ascites"]["codings"][0]["source"].startswith("GPS name no DO or Mondo term has")


def test_leptomeningeal_metastases_are_not_meningitis() -> None:
    """ "carcinomatous meningitis" is spread of a cancer to the meninges (C79.32), not an infection."""
    for text in ("carcinomatous meningitis", "leptomeningeal disease", "meningeal carcinomatosis"):
        assert keys(text) == ["condition.leptomeningeal-metastases"], text
    assert matches("condition.leptomeningeal-metastases", ICD, "C79.32")
    assert not matches("condition.meningitis", ICD, "C79.32")


def test_drug_abuse_is_no_alcohol_abuse() -> None:
    """Audit round 8 (Chia NCT02509949): "a history of drug abuse" was DO's substance abuse, alcohol abuse included."""
    assert keys("Patients with a history of drug abuse") == ["condition.drug-abuse"]
    assert matches("condition.drug-abuse", ICD, "F14.10") and matches("condition.drug-abuse", SCT, "78267003")
    assert not matches("condition.drug-abuse", ICD, "F10.10") and not matches("condition.drug-abuse", SCT, "15167005")
    assert matches("condition.substance-abuse", ICD, "F10.10")  # "substance abuse" still counts alcohol


def test_codes_that_do_not_count() -> None:
    assert not matches("condition.obesity", ICD, "E66.3")  # overweight
    assert not matches("condition.sickle-cell-disease", ICD, "D57.3")  # sickle-cell trait
    assert not matches("condition.anemia", ICD, "D57.3")
    assert not matches("condition.bleeding-disorder", ICD, "D68.51")  # thrombophilia clots, it does not bleed
    assert not matches("condition.mental-disorder", ICD, "F10.20")  # substance use is named separately
    assert not matches("condition.metastatic-disease", ICD, "C77.2")  # regional nodes are not distant metastases
    assert not matches("condition.atrial-fibrillation", ICD, "I48.92")  # flutter
    assert not matches("condition.diabetic-ketoacidosis", ICD, "E11.9")
    assert not matches("condition.lung-small-cell-carcinoma", ICD, "C34.90")  # a site code names no histology
    # DO's "peripheral vascular disease" class brought retinal vein occlusion, priapism and telangiectasia
    assert not matches("condition.peripheral-vascular-disease", ICD, "H34.81")
    assert not matches("condition.peripheral-vascular-disease", ICD, "N48.3")
    assert not matches("condition.peripheral-vascular-disease", SCT, "2929001")  # any occlusion of an artery


def test_peripheral_vascular_disease_and_dcis_carry_the_codes_records_use() -> None:
    """Chia audits: "peripheral vascular disease" matched retinal occlusions, "DCIS" only its comedo subtype."""
    assert matches("condition.peripheral-vascular-disease", ICD, "I73.9")
    assert matches("condition.peripheral-vascular-disease", ICD, "I70.213")
    assert matches("condition.peripheral-artery-disease", ICD, "I70.203")
    assert matches("condition.ductal-carcinoma-in-situ", ICD, "D05.11")
    assert matches("condition.ductal-carcinoma-in-situ", SCT, "109889007")
    assert keys("No previous DCIS of the breast") == ["condition.ductal-carcinoma-in-situ"]


def test_groups_are_classes_with_members() -> None:
    lex = lexicon()
    assert keys("active autoimmune disease requiring treatment") == ["condition.autoimmune-disease"]
    assert "condition.heart-failure" in lex.get("condition.heart-disease").members
    assert "condition.heart-disease" in lex.get("condition.cardiovascular-disease").members
    # a group also counts its members' members
    assert matches("condition.cardiovascular-disease", SCT, "22298006")  # myocardial infarction
    assert lex.get("condition.infection").category == "infection"
    assert lex.get("condition.covid-19").category == "infection"
    assert lex.get("condition.sepsis").category == "infection"
    assert lex.get("condition.asthma").category == "condition"


def test_spelling_variants_and_abbreviations() -> None:
    assert keys("acute myeloid leukaemia") == ["condition.acute-myeloid-leukemia"]
    assert keys("haemophilia") == ["condition.hemophilia"]
    assert keys("ischaemic heart disease") == ["condition.coronary-artery-disease"]
    assert keys("Alzheimer disease") == keys("Alzheimer's disease") == ["condition.alzheimers-disease"]
    assert keys("History of CKD") == ["condition.chronic-kidney-disease"]
    assert keys("history of ckd") == []  # abbreviations match with their exact case only
    assert keys("COPD") == ["condition.chronic-obstructive-pulmonary-disease"]


# ---------------------------------------------------------------- the generated table


def test_generated_keys_and_phrases_are_clean() -> None:
    from fhir_adapter.mappings import load_table

    concepts = generated()
    curated = load_table("conditions")["concepts"]
    assert len(concepts) > 5000
    assert not set(concepts) & set(curated)
    seen: dict[str, str] = {}
    for key, concept in concepts.items():
        assert key.startswith("condition.") and concept["category"] in {"condition", "infection"}
        assert concept["codings"] or concept.get("code_prefixes"), key
        for phrase in [concept["display"].lower(), *concept["synonyms"]]:
            folded = re.sub(r"[^\w]+", "", phrase.lower())
            assert seen.setdefault(folded, key) == key, (phrase, key, seen[folded])
        for abbreviation in concept.get("abbreviations", []):
            assert abbreviation != abbreviation.lower() and len(abbreviation) >= 2, (key, abbreviation)


def test_every_generated_code_has_a_source() -> None:
    for key, concept in generated().items():
        for coding in [*concept["codings"], *concept.get("site_codings", [])]:
            assert coding.get("source"), (key, coding)
        for prefix in concept.get("code_prefixes", []):
            assert prefix.get("source") and len(prefix["prefix"]) >= 3, (key, prefix)


def test_snomed_outside_the_gps_is_an_identifier_only() -> None:
    for key, concept in generated().items():
        for coding in concept["codings"]:
            if coding["system"] != SCT:
                continue
            assert "outside_free_set" in coding, (key, coding)
            if coding["outside_free_set"]:
                # no SNOMED CT name copied: none, or the Disease Ontology / Mondo label
                assert not SEMANTIC_TAG.search(coding.get("display") or ""), (key, coding)
                assert "outside SNOMED CT GPS" in coding["source"]
            else:
                assert SEMANTIC_TAG.search(coding["display"]) and "SNOMED CT GPS" in coding["source"], (key, coding)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared terminology sources not available")
def test_gps_names_are_the_gps_names() -> None:
    gps_file = SHARED / "terminology/sources/snomed-gps/ValueSet-snomed-intl-gps.json"
    gps = {c["code"]: c["display"] for c in json.loads(gps_file.read_text())["compose"]["include"][0]["concept"]}
    for concept in generated().values():
        for coding in concept["codings"]:
            if coding["system"] == SCT:
                assert coding["outside_free_set"] == (coding["code"] not in gps)
                if not coding["outside_free_set"]:
                    assert coding["display"] == gps[coding["code"]]


def test_icd10cm_codes_are_valid() -> None:
    cm = pytest.importorskip("simple_icd_10_cm")
    for key, concept in generated().items():
        for coding in [*concept["codings"], *concept.get("site_codings", [])]:
            if coding["system"] == ICD:
                assert cm.is_valid_item(coding["code"]), (key, coding["code"])
        for prefix in concept.get("code_prefixes", []):
            assert cm.is_valid_item(prefix["prefix"]), (key, prefix["prefix"])


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared terminology sources not available")
def test_rebuilding_gives_the_committed_file() -> None:
    pytest.importorskip("simple_icd_10_cm")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        build_lexicon = importlib.import_module("build_lexicon")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert build_lexicon.build_area("conditions", SHARED) == TABLE.read_text(encoding="utf-8")


def test_allergens_carry_the_codes_us_core_records_allergies_with() -> None:
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert matches("allergen.nickel", rxnorm, "1311629")  # US Core allergy substance: nickel
    assert matches("allergen.nickel", SCT, "33396006")  # SNOMED CT GPS: Nickel (substance)
    assert matches("allergen.latex", rxnorm, "1314891")
    assert not matches("allergen.nickel", rxnorm, "1314891")


def test_a_phrase_runs_across_an_abbreviation_defined_in_parentheses() -> None:
    found_here = [(m.concept.key, m.phrase) for m in lexicon().find("reactions to computed tomography (CT) contrast")]
    assert found_here == [("medication.iodinated-contrast", "computed tomography (CT) contrast")]
    # the abbreviation alone still names its concept; a phrase that starts with it ends at the parenthesis
    text = "human immunodeficiency virus (HIV) seropositivity"
    found_here = [(m.concept.key, m.phrase) for m in lexicon().find(text)]
    assert found_here == [("condition.hiv", "human immunodeficiency virus"), ("condition.hiv", "HIV")]
    # letters that are not the initials of the words before are not a definition
    assert [m.phrase for m in lexicon().find("iodinated (XY) contrast")] != ["iodinated (XY) contrast"]


def test_contrast_media_carry_their_snomed_substance_codes() -> None:
    # the codes an AllergyIntolerance to contrast is recorded with (SNOMED CT GPS, US Core allergy substances)
    assert matches("medication.iodinated-contrast", SCT, "426722004")
    assert matches("medication.contrast-media", SCT, "385420005")
    assert matches("medication.contrast-media", SCT, "426722004")  # iodinated contrast is a member


def test_a_cancer_histology_takes_its_sites_icd10cm_codes_as_site_codes() -> None:
    """ICD-10-CM codes a malignant neoplasm by site: a record of "esophageal adenocarcinoma" is often C15.5 only.
    The histology at a site carries its site's codes as site codes (met as unknown: the histology to confirm);
    a cancer coded by type (lymphoma, leukemia) or an organ system's class takes none."""
    esophagus = lexicon().get("condition.esophagus-adenocarcinoma")
    assert [c.code for c in esophagus.site_codings][:1] == ["C15"]
    assert not any(c.system == ICD for c in esophagus.codings)
    assert [c.code for c in lexicon().get("condition.prostate-adenocarcinoma").site_codings] == ["C61"]
    for key, concept in generated().items():
        codes = [c["code"] for c in concept.get("site_codings", [])]
        assert all(c.startswith("C") and not c.startswith(("C77", "C78", "C79", "C80")) for c in codes), key
        assert len({c[:3] for c in codes}) <= 4, key
        if "lymphoma" in key or "leukemia" in key:
            assert not codes, key


def test_a_histology_takes_its_site_although_a_subclass_has_an_icd_code() -> None:
    """ "adenocarcinoma of the breast" had only the codes of three subtypes (C50.A from inflammatory carcinoma):
    a record coded "malignant neoplasm of breast" did not match. The site is C50, and the histology is to confirm."""
    from fhir_adapter.terminology import lexicon

    concept = next(c for c in lexicon().concepts() if c.key == "condition.breast-adenocarcinoma")
    assert [c.code for c in concept.site_codings] == ["C50"]


def test_a_fractured_tooth_is_no_bone_fracture() -> None:
    """Curation gps_kinds_except: SNOMED CT files tooth fractures under injuries of teeth."""
    concept = lexicon().get("condition.bone-fracture")
    assert concept is not None
    assert not any("tooth" in (c.display or "").lower() for c in concept.codings)
    assert len(concept.codings) > 100  # the GPS fracture disorders
