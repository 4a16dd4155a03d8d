"""FHIR literal references read one way everywhere: ``Type/id``, relative or absolute, a version dropped."""

from __future__ import annotations


def reference_key(reference: str) -> tuple[str, str] | None:
    """``("Patient", "123")`` for ``Patient/123``, ``https://x/fhir/Patient/123`` or ``Patient/123/_history/2``."""
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-1]:
        return parts[-2], parts[-1]
    return None


def local_reference(reference: str | None) -> str | None:
    """``Type/id`` of a literal reference (relative or absolute, history dropped); None for others (``urn:uuid:``,
    ``#contained``)."""
    key = reference_key(reference) if reference else None
    return f"{key[0]}/{key[1]}" if key else None
