"""Shared test helpers: a drug lookup built from verified codes, and Bundle walkers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_adapter.criteria.model import Coding
from fhir_adapter.terminology import Concept

ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# Rows of /work/shared/terminology/codes.csv (verified codes).
_DRUGS = {
    "capecitabine": [(ATC, "L01BC06"), (RXNORM, "194000")],
    "oxaliplatin": [(ATC, "L01XA03"), (RXNORM, "32592")],
    "aldesleukin": [(ATC, "L03AC01"), (RXNORM, "70223")],
}


def drug_lookup(name: str) -> Concept | None:
    codes = _DRUGS.get(name.strip().lower())
    if codes is None:
        return None
    return Concept(
        key=f"medication.{name.lower()}",
        category="medication",
        display=name,
        codings=tuple(Coding(system=s, code=c) for s, c in codes),
    )


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def site_studies(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-site ResearchStudies (``partOf`` the trial's study)."""
    return [r for r in resources(bundle, "ResearchStudy") if r.get("partOf")]


def one(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The one resource of a type; for ResearchStudy the trial's own study (site studies left out)."""
    found = [r for r in resources(bundle, resource_type) if not (resource_type == "ResearchStudy" and r.get("partOf"))]
    assert len(found) == 1, f"expected one {resource_type}, got {len(found)}"
    return found[0]


def walk(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def unresolved_references(bundle: dict[str, Any]) -> list[str]:
    """``reference`` values that are not the fullUrl of an entry (display-only refs have none). An element named
    ``reference`` that holds a Reference (R5 ``outcomeMeasure.reference``) is checked through its own value."""
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    found = walk([e["resource"] for e in bundle["entry"]], "reference")
    return [r for r in found if isinstance(r, str) and r not in full_urls]


def unresolved_canonicals(bundle: dict[str, Any]) -> list[str]:
    urls = {e["resource"].get("url") for e in bundle["entry"]}
    return [c for c in walk(bundle, "definitionCanonical") if c not in urls]


def extension_values(element: dict[str, Any], url: str) -> list[Any]:
    values = []
    for ext in element.get("extension", []):
        if ext["url"] == url:
            values.append(next(v for k, v in ext.items() if k.startswith("value") or k == "extension"))
    return values
