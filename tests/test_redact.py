"""The redaction layer: secrets, Authorization-looking text and URL credentials never reach an output."""

from __future__ import annotations

from fhir_adapter.errors import FhirServerError
from fhir_adapter.redact import redact, register_secret


def test_registered_secrets_and_authorization_text_are_masked() -> None:
    register_secret("tok-4f9a0c7e-canary")
    echoed = (
        'server said: headers {"Authorization": "Bearer tok-4f9a0c7e-canary"}; '
        "Basic YWxpY2U6UzNjcmV0UFc= and access_token=xyz123abc password: hunter22 at http://alice:pw@host/fhir"
    )
    text = redact(echoed)
    for leak in ("tok-4f9a0c7e-canary", "YWxpY2U6UzNjcmV0UFc=", "xyz123abc", "hunter22", "alice:pw"):
        assert leak not in text
    assert "***" in text
    assert "http://***@host/fhir" in text


def test_ordinary_words_survive() -> None:
    text = "Basic metabolic panel; password reset is not a credential; tokens"
    assert redact(text) == text
    register_secret("ab")  # too short to be masked safely
    assert redact("about abdomen") == "about abdomen"


def test_every_error_line_goes_through_it() -> None:
    register_secret("s3cr3t-canary-value")
    error = FhirServerError("OperationOutcome: Authorization: Bearer s3cr3t-canary-value", source="POST /fhir")
    assert "s3cr3t-canary-value" not in error.one_line()
    assert "s3cr3t-canary-value" not in str(error)
