"""The ``serve`` command: the CDS Hooks service for the EHR.

``fhir-adapter serve --trials (DIR_OR_FILE | FHIR_BASE_URL)... [--auth ...] [--host 127.0.0.1] [--port 8090]
[--show-unconfirmed N] (--trusted-issuer ISS=JWKS_FILE ... | --demo)``

A ``--trials`` value that is an ``http(s)://`` URL is a FHIR server: the active trials ``push`` wrote there are
loaded (:func:`~fhir_adapter.service.catalog.load_server_catalog`), with the same auth options as the other server
commands. ``--demo`` serves the bundled sample trial without token checks (loopback only) and prints how to call it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape

from fhir_adapter.cli._common import (
    check_http_url,
    current_config,
    err_console,
    warn,
    with_output_options,
    with_parameters,
)
from fhir_adapter.cli._fhir_options import _OPTIONS, FhirOptions, flag_beats_profile
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


_AUTH_OPTIONS = {name: option for name, option in _OPTIONS.items() if name not in ("server", "verbose")}
"""``--auth``, ``--token-env`` ... for a ``--trials`` FHIR server (``--verbose`` is the output option)."""


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _split_sources(values: list[str]) -> tuple[list[Path], str | None]:
    """(files and directories, the one FHIR server URL or None)."""
    urls = [v for v in values if _is_url(v)]
    if len(urls) > 1:
        raise UsageError("give at most one FHIR server in --trials", field="--trials")
    return [Path(v) for v in values if not _is_url(v)], check_http_url(urls[0], "--trials") if urls else None


def _load(files: list[Path], server: FhirOptions | None) -> Any:
    """The catalog of the files and the server's pushed trials (both when both are given)."""
    from fhir_adapter.service.catalog import Catalog, load_catalog, load_server_catalog

    parts: list[Catalog] = []
    if server is not None:
        with server.client() as client:
            parts.append(load_server_catalog(client))
    if files:
        parts.append(load_catalog(files))
    return Catalog([t for c in parts for t in c.trials], [line for c in parts for line in c.skipped])


def serve(
    trials: Annotated[
        list[str] | None,
        typer.Option("--trials", help="Trial record files or directories, or a FHIR base URL the trials were "
                                      "pushed to (its active ResearchStudies)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8090,
    trusted_issuer: Annotated[
        list[str] | None, typer.Option("--trusted-issuer", help="ISSUER=JWKS_FILE of an EHR allowed to call.")
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Serve the bundled sample trial, no token check.")] = False,
    show_unconfirmed: Annotated[
        int, typer.Option("--show-unconfirmed", min=0, help="Also show up to N trials without an index condition "
                          "whose conditions the record does not document (labelled).")
    ] = 0,
    *,
    fhir: dict[str, Any],
) -> None:
    """Serve CDS Hooks (patient-view, order-select): the trials the patient in front of the clinician may be
    eligible for."""
    import uvicorn

    from fhir_adapter.service.app import create_app
    from fhir_adapter.service.policy import CardPolicy
    from fhir_adapter.service.security import TokenVerifier, load_keyset

    issuers = _issuers(trusted_issuer or [])
    if not demo and not issuers:
        raise UsageError("give --trusted-issuer ISSUER=JWKS_FILE (the EHRs allowed to call), or --demo")
    if demo and host not in _LOOPBACK:
        raise UsageError("--demo accepts calls without a token, so it listens on loopback only", field="--host")
    sample = next((p for p in _SAMPLES if p.exists()), None)
    files, url = _split_sources(list(trials or []))
    server = FhirOptions(server=url, **fhir) if url else None
    if server is not None:
        server.check()
    if not files and server is None:
        files = [sample] if demo and sample else []
    if not files and server is None:
        raise UsageError("give --trials DIR_OR_FILE or --trials FHIR_BASE_URL")
    verifier = None if demo else TokenVerifier({iss: load_keyset(path) for iss, path in issuers.items()})
    catalog = _load(files, server)
    for line in catalog.skipped:
        warn(f"not served: {line}")
    app = create_app(catalog, verifier=verifier, policy=CardPolicy(unconfirmed=show_unconfirmed))
    base = f"http://{host}:{port}/cds-services"
    err_console.print(f"serving {len(catalog.trials)} trial(s) at {escape(base)}", highlight=False)
    if demo:
        err_console.print(
            "demo: no token check. Try: curl -s " + escape(base) + " ; then POST a patient-view hook with "
            "context.patientId and a prefetch to " + escape(base + "/trial-matching"),
            highlight=False,
        )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


F = Callable[..., Any]


def with_trials_server_options(func: F) -> F:
    """Add the FHIR auth options (not ``--server``: the server is a ``--trials`` URL) as one ``fhir`` dict."""
    signature, annotations = with_parameters(func, _AUTH_OPTIONS, drop="fhir")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _AUTH_OPTIONS}
        values = flag_beats_profile({**values, "server": None}, current_config().defaults)
        values.pop("server")
        return func(*args, fhir=values, **kwargs)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = annotations
    return cast(F, wrapper)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("serve")(with_output_options(with_trials_server_options(serve)))
