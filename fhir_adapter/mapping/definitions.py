"""The conformance resources behind the mapping's extensions: StructureDefinitions and CodeSystems.

Built from data (``mappings/extensions.yaml`` for the extensions, ``mappings/registry_facts.yaml`` for the
project code systems) for one FHIR version, so that servers and validators can read what the Bundles carry.
``scripts/write_definitions.py`` writes them to ``mappings/definitions/<version>/`` (shipped with the
package); the HAPI conformance test loads that folder.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_adapter.mapping import canonical as C
from fhir_adapter.mapping.datatypes import JSON
from fhir_adapter.mapping.narrative import with_narrative
from fhir_adapter.mapping.tables import section

FHIR_VERSIONS = {"R4": "4.0.1", "R5": "5.0.0"}
PUBLISHER = "fhir-adapter"
_EXTENSION = "http://hl7.org/fhir/StructureDefinition/Extension"


def _name(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", key) if part)


def _types(values: list[str]) -> list[JSON]:
    return [{"code": v} for v in values]


def _value_elements(path: str, element_id: str, spec: JSON) -> list[JSON]:
    return [
        {"id": f"{element_id}.extension", "path": f"{path}.extension", "max": "0"},
        {"id": f"{element_id}.value[x]", "path": f"{path}.value[x]", "min": 1, "type": _types(spec["value"])},
    ]


def _differential(url: str, spec: JSON) -> list[JSON]:
    root = {"id": "Extension", "path": "Extension", "short": spec["title"], "definition": spec["description"]}
    if "parts" not in spec:
        return [
            root,
            {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
            {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
            {"id": "Extension.value[x]", "path": "Extension.value[x]", "type": _types(spec["value"])},
        ]
    elements = [
        root,
        {"id": "Extension.extension", "path": "Extension.extension",
         "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}},
    ]
    for part, part_spec in spec["parts"].items():
        slice_id = f"Extension.extension:{part}"
        elements += [
            {"id": slice_id, "path": "Extension.extension", "sliceName": part, "short": part_spec["description"],
             "definition": part_spec["description"], "min": part_spec.get("min", 0),
             "max": str(part_spec.get("max", "1"))},
            *_value_elements("Extension.extension", slice_id, part_spec)[:1],
            {"id": f"{slice_id}.url", "path": "Extension.extension.url", "fixedUri": part},
            {"id": f"{slice_id}.value[x]", "path": "Extension.extension.value[x]", "min": 1,
             "type": _types(part_spec["value"])},
        ]
    return [
        *elements,
        {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
        {"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"},
    ]


def _contexts(spec: JSON, version: str) -> list[str]:
    context = spec["context"]
    found: list[str] = context[version] if isinstance(context, dict) else context
    return found


def extension_definition(key: str, spec: JSON, version: str) -> JSON:
    url = str(spec.get("url") or C.extension_url(key))
    sd_id = url.rsplit("/", 1)[-1]
    return with_narrative({
        "resourceType": "StructureDefinition",
        "id": sd_id,
        "url": url,
        "name": _name(sd_id),
        "title": spec["title"],
        "status": "active",
        "publisher": PUBLISHER,
        "description": spec["description"],
        "fhirVersion": FHIR_VERSIONS[version],
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": c} for c in _contexts(spec, version)],
        "type": "Extension",
        "baseDefinition": _EXTENSION,
        "derivation": "constraint",
        "differential": {"element": _differential(url, spec)},
    })


def _code_system(url: str, title: str, description: str, concepts: list[JSON]) -> JSON:
    sd_id = url.rsplit("/", 1)[-1]
    return with_narrative({
        "resourceType": "CodeSystem",
        "id": sd_id,
        "url": url,
        "name": _name(sd_id),
        "title": title,
        "status": "active",
        "publisher": PUBLISHER,
        "description": description,
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    })


def code_systems() -> list[JSON]:
    milestones = section("registry_facts", "milestones")
    references = section("registry_facts", "reference_types")
    return [
        _code_system(
            section("registry_facts", "milestone_system"),
            "Registry milestone",
            "Which registry date a registry-date extension holds.",
            [{"code": e["code"], "display": e["display"], "definition": e["source"]} for e in milestones.values()],
        ),
        _code_system(
            section("registry_facts", "reference_type_system"),
            "Registry reference type",
            "The registry's role of a reference (referencesModule.references[].type).",
            [{"code": e["code"], "display": e["display"], "definition": e["source"]} for e in references.values()],
        ),
    ]


def definition_resources(version: str) -> list[JSON]:
    """Every StructureDefinition and CodeSystem the ``version`` Bundles rely on, in a fixed order."""
    specs: dict[str, Any] = section("extensions", "extensions")
    found = [extension_definition(key, spec, version) for key, spec in specs.items()
             if version in spec.get("versions", FHIR_VERSIONS)]
    return found + code_systems()


def extension_urls(version: str) -> set[str]:
    return {str(r["url"]) for r in definition_resources(version) if r["resourceType"] == "StructureDefinition"}
