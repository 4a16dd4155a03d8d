from __future__ import annotations

import re

from fhir_adapter.mapping import business_identifier, entry_business_identifier, stable_id
from fhir_adapter.mapping.canonical import IDENTIFIER_SYSTEM
from fhir_adapter.mapping.identity import escape_search_value, full_url, if_none_exist

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def test_stable_id_keeps_short_safe_values() -> None:
    assert stable_id("ResearchStudy", "NCT06577194") == "NCT06577194"
    assert stable_id("Location", "NCT06577194-site-1") == "NCT06577194-site-1"


def test_stable_id_is_valid_and_deterministic_for_awkward_values() -> None:
    values = ["ORG/ID 2024#1", "x" * 200, "é|,$", "", "--"]
    ids = [stable_id("ResearchStudy", v) for v in values]
    assert all(FHIR_ID.match(i) for i in ids), ids
    assert ids == [stable_id("ResearchStudy", v) for v in values]
    assert len(set(ids)) == len(ids)


def test_stable_id_long_values_differing_at_the_end_stay_distinct() -> None:
    a, b = "A" * 100 + "1", "A" * 100 + "2"
    assert stable_id("Group", a) != stable_id("Group", b)


def test_full_url_is_uuid5_urn_and_depends_on_type() -> None:
    url = full_url("Location", "NCT1-site-1")
    assert re.match(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-", url)
    assert url == full_url("Location", "NCT1-site-1")
    assert url != full_url("Organization", "NCT1-site-1")


def test_if_none_exist_escapes_search_special_characters() -> None:
    assert escape_search_value(r"a|b,c$d\e") == r"a\|b\,c\$d\\e"
    assert if_none_exist("NCT1-x|y") == f"identifier={IDENTIFIER_SYSTEM}|NCT1-x\\|y"


def test_business_identifier_reads_the_project_identifier() -> None:
    resource = {
        "resourceType": "ResearchStudy",
        "identifier": [
            {"system": "https://clinicaltrials.gov", "value": "NCT1"},
            {"system": IDENTIFIER_SYSTEM, "value": "NCT1"},
        ],
    }
    assert business_identifier(resource) == (IDENTIFIER_SYSTEM, "NCT1")
    assert entry_business_identifier({"resource": resource}) == ("ResearchStudy", IDENTIFIER_SYSTEM, "NCT1")
    assert business_identifier({"resourceType": "Group"}) is None


def test_full_urls_are_uuid5_of_the_type_system_and_value() -> None:
    import random
    import uuid

    from fhir_adapter.mapping import identity

    rng = random.Random(1)
    for _ in range(2000):
        value = "".join(rng.choice("abcXYZ019|:-_ é日\u2028") for _ in range(rng.randint(0, 30)))
        name = f"Location|{identity.IDENTIFIER_SYSTEM}|{value}"
        assert identity.full_url("Location", value) == f"urn:uuid:{uuid.uuid5(identity._URN_NAMESPACE, name)}"
