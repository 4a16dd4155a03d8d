"""Fakes shared by the FHIR client unit tests: capability statements, a recording sleep."""

from __future__ import annotations

from typing import Any

BASE = "http://fhir.test/fhir"


def capability_statement(
    *,
    version: str = "4.0.1",
    transaction: bool = True,
    batch: bool = True,
    types: dict[str, list[str]] | None = None,
    operations: list[str] | None = None,
) -> dict[str, Any]:
    types = {"Organization": ["identifier", "name"], "Location": ["identifier"], "Group": ["identifier"],
             "Patient": ["identifier", "birthdate"]} if types is None else types
    interactions = [{"code": c} for c, on in (("transaction", transaction), ("batch", batch)) if on]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": version,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "interaction": interactions,
            "operation": [{"name": o, "definition": f"http://hl7.org/fhir/OperationDefinition/{o}"}
                          for o in operations or []],
            "resource": [
                {"type": t, "interaction": [{"code": "read"}, {"code": "create"}, {"code": "update"}],
                 "conditionalCreate": True, "conditionalUpdate": True,
                 "searchParam": [{"name": p, "type": "token"} for p in params]}
                for t, params in types.items()
            ],
        }],
    }


class Sleeps(list[float]):
    """A fake ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


