"""The CDS Hooks service: discovery, the ``patient-view`` hook, feedback and metrics, as an ASGI app.

Each call evaluates every active trial for the patient with the project's one evaluator, from the prefetched
data when the EHR sent it, otherwise from the EHR's FHIR server with the access token it gave (sent only to that
server, never logged; one batch request for the patient). A FHIR server that fails or is too slow gives a
card-less answer within the hook's budget. Logs carry counts, never a patient id or a token.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import date
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from fhir_adapter.errors import FhirAdapterError
from fhir_adapter.fhir.auth import BearerAuth
from fhir_adapter.fhir.client import FhirClient
from fhir_adapter.http import RetryPolicy
from fhir_adapter.matching.model import PatientData, PatientResult
from fhir_adapter.matching.retrieval import needed_types
from fhir_adapter.matching.server import ServerData
from fhir_adapter.service.cards import cards
from fhir_adapter.service.catalog import Catalog, Trial, settings
from fhir_adapter.service.cds_models import Discovery, Feedback, HookRequest, HookResponse, Service
from fhir_adapter.service.prefetch import PrefetchData
from fhir_adapter.service.security import TokenVerifier, Unauthorized

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024
"""Largest request body accepted (a full prefetch of a long record fits well within it)."""
FHIR_TIMEOUT = 5.0
"""Seconds for each FHIR call, so a slow EHR server gives an answer without cards, not a hang."""
_NO_RETRY = RetryPolicy(max_attempts=1, total_timeout=FHIR_TIMEOUT)


def _service() -> dict[str, Any]:
    return dict(settings()["service"])


def create_app(catalog: Catalog, *, verifier: TokenVerifier | None) -> FastAPI:
    """The app over ``catalog``; ``verifier=None`` accepts calls without a token (demo on loopback only)."""
    app = FastAPI(title="fhir-adapter CDS Hooks", docs_url=None, redoc_url=None, openapi_url=None)
    config = _service()
    service = Service(
        hook=config["hook"], id=config["id"], title=config["title"], description=config["description"],
        prefetch=catalog.prefetch(),
    )
    metrics: Counter[str] = Counter()
    lock = threading.Lock()

    def count(name: str, n: int = 1) -> None:
        with lock:
            metrics[name] += n

    @app.middleware("http")
    async def limit_size(request: Request, call_next: Any) -> Any:
        """Refuse a body over :data:`MAX_BODY` before it is read (a missing length is refused for POSTs)."""
        size = request.headers.get("content-length")
        if request.method == "POST" and (size is None or not size.isdigit() or int(size) > MAX_BODY):
            status = 411 if size is None else 413
            return JSONResponse(status_code=status, content={"detail": "request body too large or of unknown size"})
        return await call_next(request)

    def authorize(request: Request) -> None:
        if verifier is None:
            return
        audience = str(request.url).split("?", 1)[0]
        try:
            verifier.verify(request.headers.get("authorization"), audience)
        except Unauthorized as exc:
            count("unauthorized")
            raise HTTPException(status_code=401, detail=str(exc)) from None

    @app.get("/cds-services")
    def discovery() -> dict[str, Any]:
        return Discovery(services=[service]).model_dump(exclude_none=True)

    @app.post(f"/cds-services/{service.id}")
    def patient_view(body: HookRequest, request: Request) -> dict[str, Any]:
        authorize(request)
        count("calls")
        patient_id = str(body.context.get("patientId") or "")
        if body.hook != service.hook or not patient_id:
            raise HTTPException(status_code=400, detail="expected a patient-view hook with context.patientId")
        today = date.today()
        found, requests = _evaluate(catalog, body, patient_id, service.prefetch, today)
        count("fhir-requests", requests)
        answer = HookResponse(cards=cards(found, today))
        count("cards", len(answer.cards))
        return answer.model_dump(exclude_none=True)

    @app.post(f"/cds-services/{service.id}/feedback")
    def feedback(body: Feedback, request: Request) -> dict[str, Any]:
        authorize(request)
        for item in body.feedback:
            count(f"feedback-{item.outcome}")
        return {}

    @app.get("/metrics")
    def read_metrics() -> dict[str, int]:
        with lock:
            return dict(metrics)

    @app.exception_handler(FhirAdapterError)
    def _error(_request: Request, exc: FhirAdapterError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"error": exc.one_line()})

    return app


def _evaluate(
    catalog: Catalog, body: HookRequest, patient_id: str, templates: dict[str, str], today: date
) -> tuple[list[tuple[Trial, PatientResult]], int]:
    """Every trial's result for the patient, and the number of requests sent to the EHR's FHIR server."""
    types = needed_types(catalog.atoms)
    prefetched = PrefetchData(patient_id, body.prefetch or {}, templates, types)
    data: PatientData = prefetched
    client: FhirClient | None = None
    server: ServerData | None = None
    try:
        if prefetched.missing and body.fhirServer:
            token = body.fhirAuthorization.access_token if body.fhirAuthorization else None
            client = FhirClient(
                body.fhirServer, auth=BearerAuth(token) if token else None, timeout=FHIR_TIMEOUT, retry=_NO_RETRY
            )
            context = catalog.matchers(today)[catalog.trials[0].id].context
            data = server = ServerData(client, catalog.atoms, context=context, patient_ids=[patient_id])
        if data.patient(patient_id) is None:
            log.info("no Patient resource for the hook's patient: no cards")
            return [], _requests(server)
        matchers = catalog.matchers(today)
        return [(trial, matchers[trial.id].evaluate(data, patient_id)) for trial in catalog.trials], _requests(server)
    except FhirAdapterError as exc:
        log.warning("the EHR's FHIR server did not answer usefully (%s): no cards", type(exc).__name__)
        return [], _requests(server)
    finally:
        if client is not None:
            client.close()


def _requests(server: ServerData | None) -> int:
    return server.requests if server is not None else 0

