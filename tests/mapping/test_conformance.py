"""The fast pre-check of validation: what it accepts, fhir.resources accepts (mutated corpus resources); what
fhir.resources rejects, validate() still rejects with the models' element path."""

from __future__ import annotations

import copy
import random
from functools import cache
from typing import Any

import pytest
from ctgov_records import corpus_files, load, seed_trial
from mapping_helpers import drug_lookup
from pydantic import ValidationError

from fhir_adapter.criteria import compile_criteria
from fhir_adapter.errors import MappingError
from fhir_adapter.mapping import to_bundle
from fhir_adapter.mapping import validation as V
from fhir_adapter.mapping.conformance import conforms
from fhir_adapter.mapping.versions import flavor

VERSIONS = ("R4", "R5")


@cache
def mapped(version: str) -> list[dict[str, Any]]:
    """Resources of the seed trial and three corpus trials, criteria included (Group atoms, EvidenceVariable)."""
    trials = [seed_trial(), *(load(path) for path in corpus_files()[:3])]
    found = []
    for trial in trials:
        bundle = to_bundle(trial, version, compile_criteria(trial), drug_lookup=drug_lookup)  # type: ignore[arg-type]
        found += [entry["resource"] for entry in bundle["entry"]]
    return found


def model(version: str, resource: dict[str, Any]) -> Any:
    return V.model_class(flavor(version).model_package, str(resource["resourceType"]))


def models_verdict(models: Any, resource: dict[str, Any]) -> type[Exception] | None:
    """None when the models accept the resource, else what validate() raises: a MappingError for a
    ValidationError, any other exception (fhir_core's url check raises AttributeError on a non-string) as it is."""
    try:
        models.model_validate(resource)
    except ValidationError:
        return MappingError
    except Exception as exc:
        return type(exc)
    return None


@pytest.mark.parametrize("version", VERSIONS)
def test_every_mapped_resource_passes_the_fast_check(version: str) -> None:
    """Else the conversion falls back to the slow models for that resource type (correct, but 20 times slower)."""
    resources = mapped(version)
    assert {r["resourceType"] for r in resources} >= {"ResearchStudy", "Group", "PlanDefinition", "Location"}
    slow = sorted({r["resourceType"] for r in resources if not conforms(model(version, r), r)})
    assert slow == []


# Values and keys a mapping bug could produce: wrong JSON types, empty or padded strings, bad codes and dates,
# unknown elements, choice elements of another type, primitive-extension and resourceType keys.
VALUES: list[Any] = [
    "", " ", "a  b", " lead", "x\ny", "x\u0000y", "2024-13-45", "2024-01", "2024-01-01T10:00", "http://a b",
    "urn:uuid:x", "é", "-", 0, -1, 1.5, 2**31, True, False, None, [], {}, [None], ["x"], {"text": "x"},
    {"url": "http://x"}, {"bogus": 1}, "true", "18", "active", "person",
]
KEYS = [
    "bogus", "_status", "_name", "resourceType", "resource_type", "fhir_comments", "id", "text", "extension",
    "valueString", "valueCode", "valueBoolean", "valueInteger", "valueDecimal", "valueCodeableConcept",
    "valueQuantity", "valueRange", "valueReference", "valueDateTime", "valueUri", "url", "system", "code",
]


def positions(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in the tree."""
    found: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        found.append((node, key))
        found += positions(value)
    return found


def mutate(resource: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The resource with one random change."""
    changed = copy.deepcopy(resource)
    container, key = rng.choice(positions(changed))
    operation = rng.randrange(6)
    if operation == 0:
        container[key] = copy.deepcopy(rng.choice(VALUES))
    elif operation == 1:
        del container[key]
    elif operation == 2:
        target = container if isinstance(container, dict) else container[key]
        if isinstance(target, dict):
            target[rng.choice(KEYS)] = copy.deepcopy(rng.choice(VALUES))
    elif operation == 3:
        value = container[key]
        container[key] = value[0] if isinstance(value, list) and value else [value]
    elif operation == 4 and isinstance(container, dict):
        container[rng.choice(KEYS)] = container.pop(key)  # renamed: another choice type, an unknown element
    elif isinstance(container, list):
        container.insert(key, None)
    return changed


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("version", VERSIONS)
def test_what_the_fast_check_accepts_the_models_accept(version: str, seed: int) -> None:
    rng = random.Random(seed)
    resources = mapped(version)
    accepted = rejected = 0
    for _ in range(60):
        original = rng.choice(resources)
        models = model(version, original)
        mutated = mutate(original, rng)
        verdict = models_verdict(models, mutated)
        if conforms(models, mutated):
            assert verdict is None, mutated
            accepted += 1
        if verdict is not None and mutated.get("resourceType") == original["resourceType"]:
            rejected += 1
            with pytest.raises(verdict):
                V.validate(mutated, flavor(version), "mutated")
    assert accepted and rejected  # both sides exercised


BAD = [
    ({"name": "x", "bogus": 1}, "Organization.bogus"),
    ({"name": "x", "active": "maybe"}, "Organization.active"),
    ({"name": "x", "identifier": [None]}, "Organization.identifier"),
    ({"name": ""}, "Organization.name"),
    ({"name": "x", "language": "en  US"}, "Organization.language"),
    ({"name": "x", "extension": [{"valueString": "v"}]}, "Organization.extension.0.url"),
    ({"name": "x", "extension": [{"url": "http://x", "valueString": "v", "valueCode": "c"}]}, "Organization.extension"),
    ({"name": "x", "type": {"coding": [{"code": 12}]}}, "Organization.type"),
]


@pytest.mark.parametrize(("body", "field"), BAD, ids=[field for _, field in BAD])
def test_a_wrong_element_fails_with_the_models_path(body: dict[str, Any], field: str) -> None:
    resource = {"resourceType": "Organization", **body}
    assert not conforms(model("R4", resource), resource)
    with pytest.raises(ValidationError) as models:
        model("R4", resource).model_validate(resource)
    loc = ".".join(str(part) for part in models.value.errors()[0]["loc"])
    with pytest.raises(MappingError) as caught:
        V.validate(resource, flavor("R4"), "Organization example")
    assert caught.value.field == (f"Organization.{loc}" if loc else "Organization")
    assert caught.value.field.startswith(field)


def test_primitive_extensions_and_contained_resources_go_to_the_models() -> None:
    """Outside the fast check (it says "not sure"), still valid."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "name": "x", "_name": {"extension": [{"url": "http://x", "valueCode": "c"}]}},
        {"resourceType": "Group", "type": "person", "actual": False,
         "contained": [{"resourceType": "Organization", "name": "x"}]},
    ]
    for resource in resources:
        assert not conforms(model("R4", resource), resource)
        V.validate(resource, flavor("R4"), "example")
