"""Matching inside the EHR: a CDS Hooks 2.0 service (``fhir-adapter serve``).

:func:`~fhir_adapter.service.catalog.load_catalog` loads and compiles the active trials;
:func:`~fhir_adapter.service.app.create_app` is the ASGI app (discovery with prefetch templates, ``patient-view``
cards, feedback, metrics); :class:`~fhir_adapter.service.security.TokenVerifier` checks the EHR's JWT.
"""
