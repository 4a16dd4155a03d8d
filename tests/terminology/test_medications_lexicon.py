"""Drugs and drug classes of the lexicon: mappings/medications.yaml (classes) and the generated
mappings/lexicon/medications.json (ingredients with their RxNorm ingredient and product codes).

Per class a sentence that names it and one that must not (wording from real criteria: the Chia benchmark
texts in shared/benchmarks/chia/brat and the ClinicalTrials.gov records in shared/data/ctgov); a patient's
RxNorm product code (SCD) counts for the class of its ingredient; every generated coding has a source;
rebuilding the generated table from shared/ gives the committed file.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from fhir_adapter.terminology import lexicon, load_generated

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def keys(text: str) -> list[str]:
    return [m.concept.key for m in lexicon().find(text)]


# (sentence, class that must be found)
FOUND = [
    ("Currently receiving chemotherapy", "medication.antineoplastic-agents"),
    ("Chemotherapy, immunotherapy and/or anticancer therapy", "medication.antineoplastic-agents"),
    (
        "long-term treatment with a low molecular weight heparin, vitamin K antagonists or NOAC",
        "medication.vitamin-k-antagonists",
    ),
    ("long-term treatment with a low molecular weight heparin, vitamin K antagonists or NOAC", "medication.doacs"),
    (
        "therapeutic anticoagulation (such as low-molecular-weight heparin or warfarin)",
        "medication.low-molecular-weight-heparins",
    ),
    ("Current use of anticoagulants", "medication.anticoagulants"),
    ("oral anti-coagulant medication", "medication.oral-anticoagulants"),
    ("planned discontinuation of dual antiplatelet therapy within 1 year", "medication.antiplatelet-agents"),
    ("Treatment with NSAIDS like ketorolac,ibuprofen.", "medication.nsaids"),
    ("cardiovascular risk treated by lipidlowering therapy with statin", "medication.statins"),
    ("History of angioedema to treatment with ACE inhibitors or ARBs", "medication.ace-inhibitors"),
    ("History of angioedema to treatment with ACE inhibitors or ARBs", "medication.arbs"),
    ("Under beta-blocker treatment for the last 2 weeks.", "medication.beta-blockers"),
    (
        "Initiation or change of dosage of bosentan, sildenafil or calcium channel blockers",
        "medication.calcium-channel-blockers",
    ),
    ("Non-dihydropyridine calcium channel blockers (NDHP-CCBs) or ivabradine", "medication.non-dihydropyridine-ccbs"),
    ("anti-inflammatory agents, diuretics, angiotensin II receptor blockers (ARB", "medication.diuretics"),
    (
        "Replacement therapy (e.g., thyroxine, insulin, or physiologic corticosteroid replacement)",
        "medication.insulins",
    ),
    ("treatment with oral anti-diabetic agents", "medication.oral-antidiabetics"),
    ("use of SGLT2 inhibitors or GLP-1 receptor agonists", "medication.sglt2-inhibitors"),
    ("use of SGLT2 inhibitors or GLP-1 receptor agonists", "medication.glp1-receptor-agonists"),
    ("dipeptidyl peptidase-4 inhibitors or sulfonylureas", "medication.dpp4-inhibitors"),
    ("dipeptidyl peptidase-4 inhibitors or sulfonylureas", "medication.sulfonylureas"),
    ("requiring enzyme-inducing anti-epileptic agents", "medication.enzyme-inducing-antiepileptics"),
    ("on anticonvulsant therapy", "medication.antiepileptics"),
    ("maximum maintenance dose of oral antipsychotics at screening", "medication.antipsychotics"),
    ("including but not limited to SSRIs, SNRIs, and standard dose benzodiazepines", "medication.ssris"),
    ("including but not limited to SSRIs, SNRIs, and standard dose benzodiazepines", "medication.snris"),
    ("including but not limited to SSRIs, SNRIs, and standard dose benzodiazepines", "medication.benzodiazepines"),
    ("Current use of Monoamine Oxidase Inhibitors (MAOIs)", "medication.mao-inhibitors"),
    ("prior antidepressant trial (e.g. SSRI, SNRI, or TCA)", "medication.tricyclic-antidepressants"),
    ("Complicating health factors precluding the use of opioids or acetaminophen", "medication.opioids"),
    ("stimulant medications (eg, Ritalin, Concerta)", "medication.stimulants"),
    ("Current use of medication that may affect voiding (ie- anticholinergics)", "medication.anticholinergics"),
    ("HIV-positive patients on combination antiretroviral therapy are ineligible", "medication.antiretrovirals"),
    (
        "antiretrovirals (protease inhibitors) (e.g.Indinavir, Nelfinavir, Ritonavir",
        "medication.hiv-protease-inhibitors",
    ),
    ("Use of HIV protease inhibitors", "medication.hiv-protease-inhibitors"),
    ("infection requiring intravenous (IV) antibiotics, antivirals, or antifungals.", "medication.antibiotics"),
    ("infection requiring intravenous (IV) antibiotics, antivirals, or antifungals.", "medication.antivirals"),
    ("infection requiring intravenous (IV) antibiotics, antivirals, or antifungals.", "medication.antifungals"),
    ("anti-tumor necrosis factor [anti-TNF] alpha agents", "medication.tnf-inhibitors"),
    ("prior treatment with a JAK inhibitor", "medication.jak-inhibitors"),
    ("hormone therapy, biological therapy (cytokines or growth factors)", "medication.biologics"),
    ("MEDI4736 or checkpoint inhibitors, such as anti-CTLA4 and anti-PD1", "medication.immune-checkpoint-inhibitors"),
    ("Use of systemic corticosteroids or other immunosuppressive therapy", "medication.systemic-corticosteroids"),
    ("Use of systemic corticosteroids or other immunosuppressive therapy", "medication.immunosuppressants"),
    ("requires use of strong CYP3A4 inhibitors", "medication.strong-cyp3a4-inhibitors"),
    ("strong CYP3A4 inducers (e.g., rifampin, St. John's wort)", "medication.strong-cyp3a4-inducers"),
    ("strong CYP3A4 inducers (e.g., rifampin, St. John's wort)", "medication.st-john-s-wort"),
    ("Has received a live vaccine within 30 days prior to the first dose", "medication.live-vaccines"),
    ("intranasal influenza vaccines (e.g., FluMist®) are live attenuated vaccines", "medication.live-vaccines"),
    ("Oral contraceptives (either combined or progestogen only).", "medication.oral-contraceptives"),
    ("hormonal contraceptives, androgens, prednisone, thyroid hormones, insulin", "medication.hormonal-contraceptives"),
    ("hormonal contraceptives, androgens, prednisone, thyroid hormones, insulin", "medication.androgens"),
    ("hormonal contraceptives, androgens, prednisone, thyroid hormones, insulin", "medication.thyroid-hormones"),
    ("prior endocrine therapy for metastatic disease", "medication.hormonal-therapy"),
    ("current use of estrogens or hormone replacement therapy", "medication.estrogens"),
    ("treatment with proton pump inhibitors (PPIs)", "medication.proton-pump-inhibitors"),
    ("including G-CSF or recombinant erythropoietin", "medication.colony-stimulating-factors"),
    ("transfusion or erythropoiesis-stimulating agents within 4 weeks", "medication.esas"),
    ("treatment with IVIG within 3 months", "medication.immunoglobulins"),
    ("concomitant use of strong P-gp inhibitors or inducers", "medication.pgp-inhibitors"),
    ("receiving warfarin or other vitamin K antagonists", "medication.warfarin"),
]

# (sentence, class that must NOT be found)
NOT_FOUND = [
    ("Known HIV infection", "medication.antiretrovirals"),
    ("Known HIV infection", "medication.hiv-protease-inhibitors"),
    ("received an investigational agent within 30 days", "medication.antineoplastic-agents"),
    ("topical steroids are allowed", "medication.systemic-corticosteroids"),
    ("inhaled steroids are allowed", "medication.systemic-corticosteroids"),
    ("antiplatelet therapy", "medication.anticoagulants"),
    ("Low dose aspirin (≤ 100 mg daily).", "medication.nsaids"),
    ("estrogen receptor [ER], progesterone receptor", "medication.estrogens"),
    ("serum testosterone < 50 ng/dL", "medication.androgens"),
    ("Non-dihydropyridine calcium channel blockers", "medication.dihydropyridines"),
    ("Patients on Sandostatin Lar (long acting somatostatin analogue)", "medication.statins"),
    ("interferon gamma release assay", "medication.interferons"),
    ("mismatch repair (MMR) deficient tumours", "medication.mmr-vaccine"),
    ("zoster vaccine (recombinant) is allowed", "medication.live-vaccines"),
    ("strong CYP3A4 inducers", "medication.strong-cyp3a4-inhibitors"),
    ("oral anticoagulants", "medication.heparins"),
]


@pytest.mark.parametrize(("text", "key"), FOUND)
def test_class_is_found(text: str, key: str) -> None:
    assert key in keys(text)


@pytest.mark.parametrize(("text", "key"), NOT_FOUND)
def test_class_is_not_found(text: str, key: str) -> None:
    assert key not in keys(text)


def test_chemotherapy_is_the_antineoplastic_class() -> None:
    [match] = lexicon().find("chemotherapy")
    concept = match.concept
    assert concept.key == "medication.antineoplastic-agents" and concept.is_class
    assert any(p.system == ATC and p.prefix == "L01" for p in concept.code_prefixes)
    # any L01 drug counts, not a list of colorectal-cancer drugs
    assert lexicon().matches(concept, ATC, "L01XC18")
    assert lexicon().matches(concept, RXNORM, "1734917")  # cyclophosphamide 500 MG Injection


def test_hiv_protease_inhibitors_is_a_drug_class() -> None:
    [match] = lexicon().find("HIV protease inhibitors")
    assert match.concept.category == "medication" and match.concept.is_class
    assert lexicon().matches(match.concept, ATC, "J05AE10")  # darunavir
    assert not lexicon().matches(match.concept, ATC, "J05AE30")  # not every J05AE code (nirmatrelvir)


# (class, system, code of a patient's record that must count / must not count)
MATCHES = [
    ("medication.vitamin-k-antagonists", RXNORM, "855332", True),  # warfarin sodium 5 MG Oral Tablet
    ("medication.anticoagulants", RXNORM, "1364445", True),  # apixaban 5 MG Oral Tablet
    ("medication.anticoagulants", ATC, "B01AC06", False),  # aspirin is an antiplatelet agent
    ("medication.antiplatelet-agents", RXNORM, "309362", True),  # clopidogrel 75 MG Oral Tablet
    ("medication.statins", RXNORM, "259255", True),  # atorvastatin 80 MG Oral Tablet
    ("medication.ace-inhibitors", RXNORM, "197884", True),  # lisinopril 40 MG Oral Tablet
    ("medication.ace-inhibitors", RXNORM, "197361", False),  # amlodipine 5 MG Oral Tablet
    ("medication.calcium-channel-blockers", RXNORM, "197361", True),
    ("medication.beta-blockers", RXNORM, "866412", True),  # 24 HR metoprolol succinate 100 MG
    ("medication.oral-antidiabetics", RXNORM, "860975", True),  # 24 HR metformin hydrochloride 500 MG
    ("medication.sglt2-inhibitors", RXNORM, "1545658", True),  # empagliflozin 10 MG Oral Tablet
    ("medication.ssris", RXNORM, "251201", True),  # sertraline 200 MG Oral Capsule
    ("medication.antipsychotics", RXNORM, "312743", True),  # quetiapine 100 MG Oral Tablet
    ("medication.benzodiazepines", RXNORM, "197321", True),  # alprazolam 1 MG Oral Tablet
    ("medication.antiepileptics", RXNORM, "311288", True),  # levetiracetam 250 MG Oral Tablet
    ("medication.mao-inhibitors", RXNORM, "312347", True),  # phenelzine 15 MG Oral Tablet
    ("medication.tnf-inhibitors", RXNORM, "727703", True),  # 0.8 ML adalimumab 50 MG/ML Prefilled Syringe
    ("medication.jak-inhibitors", RXNORM, "1741046", True),  # 24 HR tofacitinib 11 MG
    ("medication.systemic-corticosteroids", RXNORM, "198144", True),  # prednisone 1 MG Oral Tablet
    ("medication.immunosuppressants", ATC, "L04AD02", True),  # tacrolimus
    ("medication.loop-diuretics", RXNORM, "197730", True),  # furosemide 10 MG/ML Oral Solution
    ("medication.strong-cyp3a4-inhibitors", ATC, "J02AB02", True),  # ketoconazole
    ("medication.strong-cyp3a4-inducers", ATC, "J04AB02", True),  # rifampicin
    ("medication.live-vaccines", CVX, "03", True),  # MMR
    ("medication.live-vaccines", CVX, "187", False),  # recombinant zoster vaccine is not live
    ("medication.antiretrovirals", ATC, "J05AF10", False),  # entecavir (hepatitis B)
]


@pytest.mark.parametrize(("key", "system", "code", "expected"), MATCHES)
def test_patient_codes_count_for_their_class(key: str, system: str, code: str, expected: bool) -> None:
    lex = lexicon()
    assert lex.matches(lex.get(key), system, code) is expected


def test_combination_product_counts_for_each_ingredient() -> None:
    lex = lexicon()
    combo = "214223"  # amlodipine / benazepril (US Core substance)
    assert lex.matches(lex.get("medication.amlodipine"), RXNORM, combo)
    assert lex.matches(lex.get("medication.benazepril"), RXNORM, combo)


def test_salt_free_names_and_brands() -> None:
    lex = lexicon()
    assert lex.find_drug("metformin hydrochloride").key == "medication.metformin"  # type: ignore[union-attr]
    assert lex.find_drug("Glucophage").key == "medication.metformin"  # type: ignore[union-attr]
    assert lex.find_drug("paracetamol").key == "medication.acetaminophen"  # type: ignore[union-attr]
    assert lex.find_drug("infliximab-dyyb").key == "medication.infliximab"  # type: ignore[union-attr]


def test_investigational_agents_stay_uncoded() -> None:
    for text in ("investigational agents", "investigational drug", "study drug", "any investigational product"):
        assert not any(m.concept.codings or m.concept.code_prefixes for m in lexicon().find(text))


def test_vaccines_are_immunizations() -> None:
    for concept in lexicon().members(lexicon().get("medication.live-vaccines")):
        assert concept.resource_types == ("Immunization",)
        assert all(c.system == CVX for c in concept.codings)


def _generated() -> dict[str, dict[str, Any]]:
    table = load_generated("medications")
    assert table is not None, "mappings/lexicon/medications is not built (python scripts/build_lexicon.py medications)"
    return {key: json.loads(raw) for key, raw in table.entries.items()}


def test_every_generated_coding_has_a_source() -> None:
    for key, concept in _generated().items():
        for coding in concept.get("codings", []):
            assert coding.get("source"), f"{key} {coding['code']}"
            assert coding["system"] in (RXNORM, ATC), key


def test_no_atc_names_are_copied() -> None:
    """ATC codes are identifiers only: the display is the ingredient's own name (WHO terms forbid the names)."""
    for concept in _generated().values():
        for coding in concept.get("codings", []):
            if coding["system"] == ATC:
                assert coding["display"] == concept["display"]


def test_every_class_member_exists() -> None:
    lex = lexicon()
    for concept in lex.concepts("medication"):
        for member in concept.members:
            assert member in lex


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ (the terminology sources) is not beside the project")
def test_rebuild_gives_the_committed_file() -> None:
    spec = importlib.util.spec_from_file_location("build_lexicon", ROOT / "scripts" / "build_lexicon.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build_area("medications", SHARED)
    # the committed table, in whichever format the build script writes (.tsv, formerly .json)
    committed = [p for p in (ROOT / "mappings" / "lexicon").glob("medications.*") if p.suffix in (".tsv", ".json")]
    assert any(p.read_text(encoding="utf-8") == built for p in committed)


def test_targeted_drugs_carry_rxnorm_ingredient_codes_read_in_public_files() -> None:
    """Curated extra drugs had no code at all ("concept has no codes: medication.pazopanib" left every mention for
    review): RxNorm ingredient codes read next to the drug's name in a public file, with that file as source."""
    lex = lexicon()
    for key, code in (("medication.imatinib", "282388"), ("medication.olaparib", "1597582")):
        concept = lex.get(key)
        rxnorm = [c for c in concept.codings if c.system == "http://www.nlm.nih.gov/research/umls/rxnorm"]
        assert [c.code for c in rxnorm] == [code]
    pazopanib = lex.get("medication.pazopanib")
    assert [c.code for c in pazopanib.codings] == ["L01EX03"]  # ATC only: a record still matches by its name


def test_platinum_based_chemotherapy_is_the_platinum_class() -> None:
    """Audit round 11: "platinum-based chemotherapy" counted every antineoplastic drug (capecitabine, nivolumab ...)."""
    assert keys("prior platinum-based chemotherapy") == ["medication.platinum-compounds"]
    members = {m.key for m in lexicon().members(lexicon().get("medication.platinum-compounds"))}
    assert {"medication.cisplatin", "medication.carboplatin", "medication.oxaliplatin"} <= members
