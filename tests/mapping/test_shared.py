"""Shared identities: the normalisation rules, the keys, office detection, and the corpus counts."""

from __future__ import annotations

import pytest
from ctgov_records import corpus_files, load
from mapping_helpers import drug_lookup, resources

from fhir_adapter.mapping import business_identifier, to_bundle
from fhir_adapter.mapping.shared import is_office, normalise_name, org_key, person_key, site_key


@pytest.mark.parametrize(("raw", "kind", "expected"), [
    ("Pfizer Inc.", "organization", "pfizer"),
    ("PFIZER", "organization", "pfizer"),
    ("Hôpital  Saint-Louis", "site", "hopital saint louis"),
    ("Merck KGaA", "organization", "merck kgaa"),
    ("Merck Sharp & Dohme LLC", "organization", "merck sharp and dohme"),
    ("Jiangsu HengRui Medicine Co., Ltd.", "organization", "jiangsu hengrui medicine co"),
    ("Limited", "organization", "limited"),  # never emptied
    ("Jane Doe, MD, PhD", "person", "jane doe"),
    ("Roland Reitsamer, Prof. Dr. med.", "person", "roland reitsamer"),
    ("Prof. Jane Doe", "person", "jane doe"),
    ("Sahar kamal Hegazy professor", "person", "sahar kamal hegazy"),
    ("Doe, Jane", "person", "doe jane"),  # a tail that is not a degree stays
    ("Roisin E. O'Cearbhaill", "person", "roisin e ocearbhaill"),
    ("Jianyong Li, M.D.", "person", "jianyong li"),
    (None, "person", ""),
])
def test_normalise_name(raw: str | None, kind: str, expected: str) -> None:
    assert normalise_name(raw, kind) == expected


def test_keys_are_deterministic_readable_and_bounded() -> None:
    assert org_key("National Cancer Institute (NCI)") == "org:national-cancer-institute-nci"
    assert org_key("Pfizer Inc.") == org_key("PFIZER") == "org:pfizer"
    assert org_key("Merck KGaA") != org_key("Merck & Co., Inc.")
    assert org_key("Acme", "France") == "org:acme:france"
    assert site_key("Hôpital Saint-Louis", "Paris", "France", None) == "site:hopital-saint-louis:paris:france"
    assert site_key("Mayo Clinic", "Rochester", "United States", "55905") == (
        "site:mayo-clinic:rochester:united-states:55905")
    assert site_key(None, "Paris", "France", None) is None
    long_a, long_b = site_key("X" * 80 + "a", "c", "d", None), site_key("X" * 80 + "b", "c", "d", None)
    assert long_a and long_b and long_a != long_b and len(long_a) <= 64 and long_a.startswith("site:xxx")
    # namesakes at different places stay apart; no affiliation = one person within one trial only
    assert person_key("Jane Doe, MD", "Mayo Clinic", "NCT1") == "person:jane-doe:mayo-clinic"
    assert person_key("Jane Doe", "Mayo Clinic", "NCT2") == "person:jane-doe:mayo-clinic"
    assert person_key("Jane Doe", "Duke University", "NCT1") != person_key("Jane Doe", "Mayo Clinic", "NCT1")
    assert person_key("Jane Doe", None, "NCT1") == "person:jane-doe:trial-NCT1"
    assert person_key("Site Public Contact", None, "NCT1") is None


@pytest.mark.parametrize(("name", "office"), [
    ("Site Public Contact", True), ("Principal Investigator", True), ("Pfizer CT.gov Call Center", True),
    ("AstraZeneca Clinical Study Information Center", True), ("Shasqi Clinical Operations", True),
    ("National Cancer Institute Referral Office", True), ("Study Director", True),
    ("Jay W. Carlson", False), ("Pan XingFang, Study Principal Investigator", False), ("Jane Callcenter", False),
])
def test_is_office(name: str, office: bool) -> None:
    assert is_office(name) is office


def test_office_contact_is_a_practitioner_role_with_telecom_not_a_practitioner() -> None:
    files = [f for f in corpus_files() if f.stem == "NCT03997370"]
    if not files:
        pytest.skip("shared corpus not present")
    record = load(files[0])
    bundle = to_bundle(record, "R4", drug_lookup=drug_lookup)
    names = [p["name"][0]["text"] for p in resources(bundle, "Practitioner")]
    assert "Site Public Contact" not in names
    assert names.count("Jay W. Carlson") == 1  # 25 sites, one person
    office_roles = [r for r in resources(bundle, "PractitionerRole")
                    if any(c.get("text") == "Site Public Contact" for c in r.get("code", []))]
    assert len(office_roles) == 146
    assert all("practitioner" not in r and r["telecom"] and r["location"] for r in office_roles)


def test_corpus_one_resource_per_real_party() -> None:
    files = corpus_files()
    if not files:
        pytest.skip("shared corpus not present")
    keys: dict[str, set[str]] = {"Organization": set(), "Location": set(), "Practitioner": set()}
    mentions = dict.fromkeys(keys, 0)
    for path in files:
        for entry in to_bundle(load(path), "R4", drug_lookup=drug_lookup)["entry"]:
            kind = entry["resource"]["resourceType"]
            ident = business_identifier(entry["resource"])
            if kind in keys and ident is not None:
                keys[kind].add(ident[1])
                mentions[kind] += 1
    counts = {k: len(v) for k, v in keys.items()}
    # measured on the 81 records: per-trial identity gave 142 Organizations, 2,504 Locations, 661 Practitioners
    assert counts == {"Organization": 119, "Location": 1984, "Practitioner": 271}, counts
    assert mentions["Location"] == 2504  # no record lists one site twice: sharing is across trials
    assert sum(1 for k in keys["Organization"] if k.startswith("org:national-cancer-institute-nci")) == 1
    assert not any("site-public-contact" in k or "principal-investigator:" in k for k in keys["Practitioner"])
