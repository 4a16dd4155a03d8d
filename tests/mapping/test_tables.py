from __future__ import annotations

import pytest

from fhir_adapter.mappings import load_table, missing_sources

OWN_TABLES = [
    "study_status",
    "study_phase",
    "study_design",
    "arm_types",
    "intervention_types",
    "agency_class",
    "contact_roles",
    "regimens",
    "procedures",
]


@pytest.mark.parametrize("name", OWN_TABLES)
def test_every_code_has_a_source(name: str) -> None:
    assert missing_sources(load_table(name)) == []


def test_every_regimen_and_drug_alias_has_a_source() -> None:
    table = load_table("regimens")
    assert all(entry.get("source") for entry in table["regimens"].values())
    assert all(entry.get("source") for entry in table["drug_aliases"].values())


def test_every_intervention_kind_has_a_source() -> None:
    assert all(entry.get("source") for entry in load_table("intervention_types")["kinds"].values())
