"""CapabilityStatement parsing and search-value escaping / URL masking."""

from __future__ import annotations

import pytest
from fhir_fakes import capability_statement

from fhir_adapter.fhir import Capabilities, escape_search_value, mask_url, release_of, token_value
from fhir_adapter.fhir.search import query_items


@pytest.mark.parametrize(
    ("raw", "release"),
    [("4.0.1", "R4"), ("4.0.0", "R4"), ("4.3.0", "R4B"), ("5.0.0", "R5"), ("3.0.2", None), ("", None), (None, None)],
)
def test_release_of(raw: str | None, release: str | None) -> None:
    assert release_of(raw) == release


def test_capabilities_parsing() -> None:
    statement = capability_statement(
        version="4.3.0", transaction=False, batch=True, operations=["validate"],
        types={"Organization": ["identifier"], "Patient": ["birthdate"]},
    )
    statement["rest"][0]["searchParam"] = [{"name": "_id", "type": "token"}]
    statement["rest"][0]["resource"][1]["operation"] = [{"name": "$everything", "definition": "x"}]
    statement["rest"][0]["resource"][1]["conditionalCreate"] = False
    caps = Capabilities.from_statement(statement)
    assert (caps.fhir_version, caps.fhir_version_raw) == ("R4B", "4.3.0")
    assert not caps.supports_transaction and caps.supports_batch
    assert caps.search_params("Organization") == {"identifier", "_id"}
    assert caps.supports_search("Organization", "identifier") and not caps.supports_search("Patient", "identifier")
    assert caps.conditional_create("Organization") and not caps.conditional_create("Patient")
    assert caps.declares("Organization") and not caps.declares("ResearchStudy")
    assert caps.search_params("ResearchStudy") == set()  # unknown type: nothing declared, not "refused"
    assert caps.has_operation("validate") and caps.has_operation("$validate", "Organization")
    assert caps.has_operation("everything") and caps.has_operation("everything", "Patient")
    assert not caps.has_operation("everything", "Organization")


def test_capabilities_ignores_client_rest_and_type_level_validate() -> None:
    statement = capability_statement(operations=[])
    statement["rest"].insert(0, {"mode": "client", "interaction": [{"code": "transaction"}]})
    statement["rest"][1]["resource"][0]["operation"] = [{"name": "validate", "definition": "x"}]
    caps = Capabilities.from_statement(statement)
    assert caps.supports_transaction  # from the server entry
    assert caps.has_operation("validate", "Organization") and not caps.has_operation("validate", "Location")
    assert caps.has_operation("validate")  # offered by some type


def test_escape_search_value() -> None:
    assert escape_search_value(r"a,b|c$d\e") == r"a\,b\|c\$d\\e"
    assert escape_search_value("plain") == "plain"
    assert token_value("http://x.org|v", "A,1") == r"http://x.org\|v|A\,1"
    assert token_value("", "A") == "|A" and token_value(None, "A$") == r"A\$"


def test_query_items_repeats_sequences() -> None:
    assert query_items({"date": ["ge2020", "lt2021"], "code": "a"}) == [
        ("date", "ge2020"), ("date", "lt2021"), ("code", "a")
    ]
    assert query_items(None) == []


def test_mask_url() -> None:
    assert mask_url("https://h/fhir/Patient/123/_history/2") == "https://h/fhir/Patient/***/_history/2"
    assert mask_url("https://h/fhir/Observation?patient=123&code=x") == "https://h/fhir/Observation?patient=***&code=x"
    assert mask_url("https://h/fhir/Condition?subject:Patient=1") == "https://h/fhir/Condition?subject:Patient=***"
    assert mask_url("https://h/fhir/Patient?name=Doe&_count=5") == "https://h/fhir/Patient?name=***&_count=5"
    assert mask_url("https://h/fhir/Encounter?foo=Patient/9") == "https://h/fhir/Encounter?foo=***"
    assert mask_url("https://h/fhir/ResearchStudy/NCT1") == "https://h/fhir/ResearchStudy/NCT1"


def test_another_resource_in_place_of_the_capability_statement_is_one_clear_line() -> None:
    """A server answering /metadata with a Patient (issue 17: it read "fhirVersion None is neither R4 ...")."""
    from fhir_adapter.errors import FhirServerError

    with pytest.raises(FhirServerError) as err:
        Capabilities.from_statement({"resourceType": "Patient", "id": "p1"})
    assert err.value.one_line().startswith("GET /metadata")
    assert "the server answered Patient instead of a CapabilityStatement: is the URL the FHIR base?" in (
        err.value.one_line()
    )
