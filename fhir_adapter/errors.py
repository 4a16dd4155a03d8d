"""One exception hierarchy for the whole adapter.

Every error the CLI may show is a :class:`FhirAdapterError`: it knows its exit code and
renders itself as one line that names the file or resource (``source``) and the field.
"""

from __future__ import annotations

from typing import Any

from fhir_adapter.redact import redact


class FhirAdapterError(Exception):
    """Base of every error this project raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.field = field

    def one_line(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        prefix = ": ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        return redact(" ".join(text.split()))

    def __str__(self) -> str:
        return self.one_line()


class InputError(FhirAdapterError):
    """A file or text that cannot be read as a trial record (malformed, not a study, too big...)."""

    exit_code = 2


class UsageError(FhirAdapterError):
    """Options that do not fit together or name something that does not exist."""

    exit_code = 2


class RegistryError(FhirAdapterError):
    """The ClinicalTrials.gov API failed or answered something unusable."""

    exit_code = 3


class NotFoundError(RegistryError):
    """An NCT id the registry does not know."""


class MappingError(FhirAdapterError):
    """A mapped resource does not validate: a bug in our mapping, reported with the element path."""

    exit_code = 4


class FhirServerError(FhirAdapterError):
    """A FHIR server answered with an error (carries the OperationOutcome issues when there are any)."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        status_code: int | None = None,
        method: str | None = None,
        url: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, source=source, field=field)
        self.status_code = status_code
        self.method = method
        self.url = url
        self.outcome = outcome


class AuthError(FhirAdapterError):
    """Authentication or token acquisition failed."""

    exit_code = 6


class ConfigError(FhirAdapterError):
    """A mapping table in mappings/ is missing or malformed."""

    exit_code = 7
