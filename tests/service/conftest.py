"""Fixtures of the service tests (the uvicorn helper lives in fhir_adapter.service.testing)."""
