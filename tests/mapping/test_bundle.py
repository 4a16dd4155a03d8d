from __future__ import annotations

import json
import re

import pytest
from ctgov_records import seed_trial
from mapping_helpers import drug_lookup, one, resources, unresolved_canonicals, unresolved_references

from fhir_adapter.errors import MappingError
from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping import to_bundle
from fhir_adapter.mapping.identity import business_identifier, if_none_exist
from fhir_adapter.mapping.validation import validate
from fhir_adapter.mapping.versions import flavor
from fhir_adapter.trial import Location, Organization


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_transaction_entries_have_stable_full_urls_and_conditional_creates(version: str) -> None:
    bundle = to_bundle(seed_trial(), version, drug_lookup=drug_lookup)  # type: ignore[arg-type]
    assert list(bundle) == ["resourceType", "type", "entry"] and bundle["type"] == "transaction"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert next(iter(resource)) == "resourceType"
        assert re.match(r"^urn:uuid:[0-9a-f-]{36}$", entry["fullUrl"])
        found = business_identifier(resource)
        assert found is not None
        assert found[1].startswith(("NCT06577194", "org:", "site:", "person:")), found
        assert entry["request"] == {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": if_none_exist(found[1]),
        }
    assert unresolved_references(bundle) == []
    assert unresolved_canonicals(bundle) == []


def test_no_empty_values_anywhere() -> None:
    text = json.dumps(to_bundle(seed_trial(), "R5", drug_lookup=drug_lookup))
    assert "null" not in text and "[]" not in text and "{}" not in text and '""' not in text


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_converting_twice_gives_identical_bytes(version: str) -> None:
    first = json.dumps(to_bundle(seed_trial(), version, drug_lookup=drug_lookup))  # type: ignore[arg-type]
    second = json.dumps(to_bundle(seed_trial(), version, drug_lookup=drug_lookup))  # type: ignore[arg-type]
    assert first == second


def test_seed_sponsor_and_site_resources() -> None:
    bundle = to_bundle(seed_trial(), "R4", drug_lookup=drug_lookup)
    sponsor = one(bundle, "Organization")
    assert sponsor["name"] == "The First Affiliated Hospital with Nanjing Medical University"
    site = one(bundle, "Location")
    assert site["name"] == "Jiangsu Province Hospital"
    assert site["address"] == {
        "text": "Nanjing, Jiangsu, China",
        "city": "Nanjing",
        "state": "Jiangsu",
        "country": "China",
    }
    study = one(bundle, "ResearchStudy")
    full_urls = {e["resource"]["resourceType"]: e["fullUrl"] for e in bundle["entry"]}
    assert study["sponsor"]["reference"] == full_urls["Organization"]
    assert study["site"][0]["reference"] == full_urls["Location"]
    assert study["enrollment"][0]["reference"] == full_urls["Group"]
    assert study["protocol"][0]["reference"] == full_urls["PlanDefinition"]
    contact = one(bundle, "Practitioner")
    assert contact["name"] == [{"text": "Yueming Sun"}]
    # shared identities: the sponsor, the site and the person are keyed by who they are, not by the trial
    assert sponsor["identifier"][0]["value"].startswith("org:the-first-affiliated-hospital-with-nanjing-medi")
    assert site["identifier"][0]["value"] == "site:jiangsu-province-hospital:nanjing:china"
    assert contact["identifier"][0]["value"] == "person:yueming-sun:trial-NCT06577194"


def test_site_geo_and_telecom_r4_vs_r5() -> None:
    site = Location(
        facility="Site",
        city="Town",
        country="Nowhere",
        geo={"lat": 1.5, "lon": -2.25},
        contacts=[{"name": "Pat", "phone": "123", "email": "pat@example.org"}],
    )
    trial = seed_trial().model_copy(update={"locations": [site]})
    r4 = one(to_bundle(trial, "R4", drug_lookup=drug_lookup), "Location")
    r5 = one(to_bundle(trial, "R5", drug_lookup=drug_lookup), "Location")
    assert r4["position"] == {"longitude": -2.25, "latitude": 1.5}
    # the shared Location carries no trial's contact: the telecom is on the contact's PractitionerRole
    assert "telecom" not in r4 and "contact" not in r5
    r4_role = one(to_bundle(trial, "R4", drug_lookup=drug_lookup), "PractitionerRole")
    r5_role = one(to_bundle(trial, "R5", drug_lookup=drug_lookup), "PractitionerRole")
    assert {"system": "email", "value": "pat@example.org", "use": "work"} in r4_role["telecom"]
    assert r5_role["contact"][0]["telecom"] == r4_role["telecom"] and "telecom" not in r5_role


def test_collaborators_r4_extension_r5_associated_party() -> None:
    trial = seed_trial().model_copy(update={"collaborators": [Organization(name="Partner", agency_class="INDUSTRY")]})
    r4 = to_bundle(trial, "R4", drug_lookup=drug_lookup)
    assert [o["name"] for o in resources(r4, "Organization")] == [
        "The First Affiliated Hospital with Nanjing Medical University",
        "Partner",
    ]
    r4_study = one(r4, "ResearchStudy")
    assert any(e["url"] == C.EXT_COLLABORATOR for e in r4_study["extension"])
    r5_study = one(to_bundle(trial, "R5", drug_lookup=drug_lookup), "ResearchStudy")
    collaborator = r5_study["associatedParty"][1]
    assert collaborator["role"]["coding"][0]["code"] == "collaborator"
    assert collaborator["classifier"] == [{"text": "Industry (INDUSTRY)"}]


def test_validation_failure_names_resource_and_element() -> None:
    bad = {"resourceType": "ResearchStudy", "status": "active", "phase": {"coding": [{"code": 12}]}}
    with pytest.raises(MappingError) as caught:
        validate(bad, flavor("R4"), "NCT1: ResearchStudy NCT1")
    assert caught.value.source == "NCT1: ResearchStudy NCT1"
    assert caught.value.field == "ResearchStudy.phase.coding.0.code"


def test_trial_without_any_identifier_is_a_mapping_error() -> None:
    trial = seed_trial().model_copy(update={"nct_id": None, "org_study_id": None})
    with pytest.raises(MappingError, match="neither an NCT id"):
        to_bundle(trial, "R4", drug_lookup=drug_lookup)


def test_org_study_id_is_the_key_when_there_is_no_nct_id() -> None:
    trial = seed_trial().model_copy(update={"nct_id": None})
    study = one(to_bundle(trial, "R4", drug_lookup=drug_lookup), "ResearchStudy")
    assert business_identifier(study) == ("http://fhir-adapter.org/fhir/identifier", "PRSYM20240827")


def test_a_resource_found_valid_is_not_validated_again_and_an_invalid_one_always_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resource the fast check accepts never reaches the models; one outside it is validated by the models once
    per content (a primitive extension, ``_name``, is outside the check); an invalid one fails every time."""
    from fhir_adapter.errors import MappingError
    from fhir_adapter.mapping import validation
    from fhir_adapter.mapping.versions import flavor

    r4 = flavor("R4")
    validation.forget_validated()
    model = validation.model_class(r4.model_package, "Organization")
    calls: list[object] = []
    original = model.model_validate

    def counted(resource: object) -> object:
        calls.append(resource)
        return original(resource)

    monkeypatch.setattr(model, "model_validate", counted)
    plain = {"resourceType": "Organization", "name": "Example Hospital"}
    validation.validate(plain, r4, "Organization example")
    assert len(validation._VALIDATED) == 0 and len(calls) == 0  # the fast check: certainly valid
    good = {**plain, "_name": {"extension": [{"url": "http://example.org/x", "valueCode": "c"}]}}
    validation.validate(good, r4, "Organization example")
    assert len(validation._VALIDATED) == 1 and len(calls) == 1
    validation.validate(dict(good), r4, "Organization example")
    assert len(validation._VALIDATED) == 1 and len(calls) == 1  # the same content: not validated again
    bad = {"resourceType": "Organization", "name": "Example Hospital", "active": "maybe"}
    for _ in range(2):
        with pytest.raises(MappingError):
            validation.validate(bad, r4, "Organization example")
    assert len(validation._VALIDATED) == 1 and len(calls) == 3  # a failure is never remembered
