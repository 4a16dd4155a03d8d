"""The ``serve`` command: the CDS Hooks service for the EHR.

``fhir-adapter serve --trials DIR_OR_FILE... [--host 127.0.0.1] [--port 8090]
(--trusted-issuer ISS=JWKS_FILE ... | --demo)``

``--demo`` serves the bundled sample trial without token checks (loopback only) and prints how to call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fhir_adapter.cli._common import err_console, warn, with_output_options
from fhir_adapter.errors import UsageError

_PACKAGE = Path(__file__).resolve().parents[1]
_SAMPLES = (_PACKAGE / "_samples" / "NCT06577194.txt", _PACKAGE.parent / "samples" / "NCT06577194.txt")
"""The demo trial: packaged in a wheel, or the repository's sample in a checkout."""
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _issuers(values: list[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for value in values:
        issuer, sep, path = value.rpartition("=")
        if not sep or not issuer or not path:
            raise UsageError(f"--trusted-issuer must be ISSUER=JWKS_FILE, got {value!r}")
        found[issuer] = Path(path)
    return found


def serve(
    trials: Annotated[
        list[Path] | None, typer.Option("--trials", help="Trial record files or directories (the active trials).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8090,
    trusted_issuer: Annotated[
        list[str] | None, typer.Option("--trusted-issuer", help="ISSUER=JWKS_FILE of an EHR allowed to call.")
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Serve the bundled sample trial, no token check.")] = False,
) -> None:
    """Serve CDS Hooks (patient-view): the trials the patient in front of the clinician may be eligible for."""
    import uvicorn

    from fhir_adapter.service.app import create_app
    from fhir_adapter.service.catalog import load_catalog
    from fhir_adapter.service.security import TokenVerifier, load_keyset

    issuers = _issuers(trusted_issuer or [])
    if not demo and not issuers:
        raise UsageError("give --trusted-issuer ISSUER=JWKS_FILE (the EHRs allowed to call), or --demo")
    if demo and host not in _LOOPBACK:
        raise UsageError("--demo accepts calls without a token, so it listens on loopback only", field="--host")
    sample = next((p for p in _SAMPLES if p.exists()), None)
    sources = list(trials or []) or ([sample] if demo and sample else [])
    if not sources:
        raise UsageError("give --trials DIR_OR_FILE")
    catalog = load_catalog(sources)
    for line in catalog.skipped:
        warn(f"not served: {line}")
    verifier = None if demo else TokenVerifier({iss: load_keyset(path) for iss, path in issuers.items()})
    app = create_app(catalog, verifier=verifier)
    base = f"http://{host}:{port}/cds-services"
    err_console.print(f"serving {len(catalog.trials)} trial(s) at {escape(base)}", highlight=False)
    if demo:
        err_console.print(
            "demo: no token check. Try: curl -s " + escape(base) + " ; then POST a patient-view hook with "
            "context.patientId and a prefetch to " + escape(base + "/trial-matching"),
            highlight=False,
        )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("serve")(with_output_options(serve))
