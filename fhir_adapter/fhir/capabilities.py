"""What a FHIR server says it can do: one object the rest of the code asks.

Built from the CapabilityStatement (``GET /metadata``). A resource type the statement does not
list is *unknown* (:meth:`Capabilities.declares` is False), not *unsupported*: servers store
types they do not declare, so callers choose a fallback rather than refusing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fhir_adapter.errors import FhirServerError

FhirRelease = Literal["R4", "R4B", "R5"]

_RELEASES: dict[str, FhirRelease] = {"4.0": "R4", "4.3": "R4B", "5.0": "R5"}


def release_of(fhir_version: str | None) -> FhirRelease | None:
    """``4.0.1`` → ``R4``, ``4.3.0`` → ``R4B``, ``5.0.0`` → ``R5``; None for anything else."""
    if not fhir_version:
        return None
    major_minor = ".".join(fhir_version.strip().split(".")[:2])
    return _RELEASES.get(major_minor)


def _op_name(name: str) -> str:
    return name.lstrip("$").strip()


@dataclass(frozen=True)
class ResourceCapabilities:
    type: str
    interactions: frozenset[str] = frozenset()
    search_params: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    conditional_create: bool = False
    conditional_update: bool = False
    search_rev_includes: frozenset[str] = frozenset()
    """``searchRevInclude`` values (``Condition:patient``; ``*`` for any)."""


@dataclass(frozen=True)
class Capabilities:
    fhir_version_raw: str | None
    fhir_version: FhirRelease | None
    software: str | None = None
    system_interactions: frozenset[str] = frozenset()
    system_operations: frozenset[str] = frozenset()
    common_search_params: frozenset[str] = frozenset()
    resources: dict[str, ResourceCapabilities] = field(default_factory=dict)

    @classmethod
    def from_statement(cls, statement: dict[str, Any]) -> Capabilities:
        """Parse a CapabilityStatement (only its ``mode: server`` rest entry).

        A statement of the wrong shape (a hostile or broken server) is a FhirServerError, not a crash, and so is
        another resource in its place (a Patient, an OperationOutcome).
        """
        kind = statement.get("resourceType") if isinstance(statement, dict) else type(statement).__name__
        if kind != "CapabilityStatement":
            raise FhirServerError(
                f"the server answered {kind or 'a body without resourceType'} instead of a CapabilityStatement: "
                "is the URL the FHIR base?",
                source="GET /metadata",
                field="resourceType",
            )
        try:
            return cls._parse(statement)
        except (AttributeError, TypeError, KeyError) as exc:
            raise FhirServerError(
                f"malformed CapabilityStatement ({type(exc).__name__}: {exc})",
                source="GET /metadata",
                field="CapabilityStatement.rest",
            ) from exc

    @classmethod
    def _parse(cls, statement: dict[str, Any]) -> Capabilities:
        rests = [r for r in statement.get("rest") or [] if r.get("mode", "server") == "server"]
        rest: dict[str, Any] = rests[0] if rests else {}
        resources = {}
        for res in rest.get("resource") or []:
            if not res.get("type"):
                continue
            resources[res["type"]] = ResourceCapabilities(
                type=res["type"],
                interactions=frozenset(i.get("code", "") for i in res.get("interaction") or []),
                search_params=frozenset(p.get("name", "") for p in res.get("searchParam") or []),
                operations=frozenset(_op_name(o.get("name", "")) for o in res.get("operation") or []),
                conditional_create=bool(res.get("conditionalCreate", False)),
                conditional_update=bool(res.get("conditionalUpdate", False)),
                search_rev_includes=frozenset(str(v) for v in res.get("searchRevInclude") or []),
            )
        raw = statement.get("fhirVersion")
        software = (statement.get("software") or {}).get("name")
        return cls(
            fhir_version_raw=raw,
            fhir_version=release_of(raw),
            software=software,
            system_interactions=frozenset(i.get("code", "") for i in rest.get("interaction") or []),
            system_operations=frozenset(_op_name(o.get("name", "")) for o in rest.get("operation") or []),
            common_search_params=frozenset(p.get("name", "") for p in rest.get("searchParam") or []),
            resources=resources,
        )

    @property
    def supports_transaction(self) -> bool:
        return "transaction" in self.system_interactions

    @property
    def supports_batch(self) -> bool:
        return "batch" in self.system_interactions

    def declares(self, resource_type: str) -> bool:
        """Whether the statement lists the type at all (False means *unknown*, not *unsupported*)."""
        return resource_type in self.resources

    def supports_interaction(self, resource_type: str, interaction: str) -> bool:
        res = self.resources.get(resource_type)
        return res is not None and interaction in res.interactions

    def conditional_create(self, resource_type: str) -> bool:
        res = self.resources.get(resource_type)
        return res is not None and res.conditional_create

    def conditional_update(self, resource_type: str) -> bool:
        res = self.resources.get(resource_type)
        return res is not None and res.conditional_update

    def search_params(self, resource_type: str) -> set[str]:
        """The type's declared search parameters plus those the statement declares for all types."""
        res = self.resources.get(resource_type)
        own = res.search_params if res is not None else frozenset()
        return set(own | self.common_search_params) if res is not None else set()

    def supports_revinclude(self, resource_type: str, value: str) -> bool:
        """Whether ``resource_type`` declares ``_revinclude=value`` (``Condition:patient``) or ``*``."""
        declared = self.resources.get(resource_type)
        return declared is not None and bool({value, "*"} & declared.search_rev_includes)

    def supports_search(self, resource_type: str, param: str) -> bool:
        return param in self.search_params(resource_type)

    def has_operation(self, name: str, resource_type: str | None = None) -> bool:
        """An operation declared at system level, or on ``resource_type`` (any type when None)."""
        op = _op_name(name)
        if op in self.system_operations:
            return True
        if resource_type is not None:
            res = self.resources.get(resource_type)
            return res is not None and op in res.operations
        return any(op in res.operations for res in self.resources.values())
