"""What every resource builder needs: the trial, its key, the FHIR flavor and the reference maker."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_adapter.mapping import identity
from fhir_adapter.mapping.datatypes import JSON, finish, reference
from fhir_adapter.mapping.interventions import DrugLookup
from fhir_adapter.mapping.narrative import with_narrative
from fhir_adapter.mapping.versions import FhirFlavor
from fhir_adapter.trial import TrialRecord


@dataclass(frozen=True)
class Entry:
    """One mapped resource with its business identifier value (see :mod:`identity`)."""

    resource_type: str
    identifier_value: str
    resource: JSON

    @property
    def full_url(self) -> str:
        return identity.full_url(self.resource_type, self.identifier_value)

    @property
    def label(self) -> str:
        return f"{self.resource_type} {self.identifier_value}"


@dataclass(frozen=True)
class MappingContext:
    trial: TrialRecord
    version: FhirFlavor
    drug_lookup: DrugLookup

    @property
    def key(self) -> str:
        return identity.trial_key(self.trial)

    def value(self, role: str | None = None) -> str:
        """Business identifier value for a role (``plan``, ``site-1``); the trial key itself for None."""
        return f"{self.key}-{role}" if role else self.key

    def ref(self, resource_type: str, role: str | None = None, display: str | None = None) -> JSON:
        return reference(identity.full_url(resource_type, self.value(role)), display)

    def canonical(self, resource_type: str, role: str | None = None) -> str:
        return identity.canonical_url(resource_type, self.value(role))

    def shared_ref(self, resource_type: str, value: str, display: str | None = None) -> JSON:
        """Reference to a shared resource (see :mod:`fhir_adapter.mapping.shared`) by its full value."""
        return reference(identity.full_url(resource_type, value), display)

    def entry(self, resource_type: str, role: str | None, body: JSON) -> Entry:
        """A finished resource with its project identifier first among identifiers."""
        return self.shared_entry(resource_type, self.value(role), body)

    def shared_entry(self, resource_type: str, value: str, body: JSON) -> Entry:
        """A finished resource whose identifier value is given whole (shared across trials), with its narrative."""
        extra = body.pop("identifier", [])
        resource = with_narrative(finish(resource_type, {"identifier": [identity.identifier(value), *extra], **body}))
        return Entry(resource_type, value, resource)
