"""The CDS Hooks service: discovery, the ``patient-view`` and ``order-select`` hooks, feedback and metrics, as
an ASGI app.

Each call evaluates every active trial for the patient with the project's one evaluator, from the prefetched
data when the EHR sent it, otherwise from the EHR's FHIR server with the access token it gave (sent only to that
server, never logged; one batch request for the patient). A FHIR server that fails or is too slow gives a
card-less answer within the hook's budget. Which possible trials get a card is
:mod:`fhir_adapter.service.policy`; ``order-select`` also weighs the selected draft orders
(:mod:`fhir_adapter.service.orders`). Logs carry counts, never a patient id or a token.
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
from fhir_adapter.matching.model import PatientData
from fhir_adapter.matching.retrieval import needed_types
from fhir_adapter.matching.server import ServerData
from fhir_adapter.service.cards import Candidate, cards
from fhir_adapter.service.catalog import Catalog, settings
from fhir_adapter.service.cds_models import Discovery, Feedback, HookRequest, HookResponse, Service
from fhir_adapter.service.orders import WithDrafts, excluded_by, selected_drafts
from fhir_adapter.service.policy import POSSIBLE, CardPolicy, anchor_labels
from fhir_adapter.service.prefetch import PrefetchData
from fhir_adapter.service.security import TokenVerifier, Unauthorized

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024
"""Largest request body accepted (a full prefetch of a long record fits well within it)."""
FHIR_TIMEOUT = 5.0
"""Seconds for each FHIR call, so a slow EHR server gives an answer without cards, not a hang."""
_NO_RETRY = RetryPolicy(max_attempts=1, total_timeout=FHIR_TIMEOUT)
ORDER_SERVICE = {
    "hook": "order-select",
    "id": "trial-matching-order",
    "title": "Clinical trials to consider before this order",
    "description": "When an order is selected: the trials the patient may be eligible for, first those the "
    "order would make the patient ineligible for.",
}


def _services(catalog: Catalog) -> tuple[Service, Service]:
    prefetch = catalog.prefetch()
    config = dict(settings()["service"])
    fields = ("hook", "id", "title", "description")
    view = Service(**{k: str(config[k]) for k in fields}, prefetch=prefetch)
    return view, Service(**ORDER_SERVICE, prefetch=prefetch)


def create_app(catalog: Catalog, *, verifier: TokenVerifier | None, policy: CardPolicy | None = None) -> FastAPI:
    """The app over ``catalog``; ``verifier=None`` accepts calls without a token (demo on loopback only);
    ``policy`` is the card selection (:class:`~fhir_adapter.service.policy.CardPolicy`, default: trials without an
    index condition only when the record documents one of their conditions)."""
    app = FastAPI(title="fhir-adapter CDS Hooks", docs_url=None, redoc_url=None, openapi_url=None)
    service, order_service = _services(catalog)
    chosen = policy or CardPolicy()
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

    def answer(body: HookRequest, request: Request, hook: Service) -> dict[str, Any]:
        authorize(request)
        count("calls")
        patient_id = str(body.context.get("patientId") or "")
        if body.hook != hook.hook or not patient_id:
            raise HTTPException(status_code=400, detail=f"expected a {hook.hook} hook with context.patientId")
        drafts = selected_drafts(body.context) if hook.hook == "order-select" else None
        today = date.today()
        found, requests = _evaluate(catalog, body, patient_id, hook.prefetch, today, drafts)
        count("fhir-requests", requests)
        shown, withheld = cards(found, today, chosen)
        count("cards", len(shown))
        count("cards-withheld", withheld)
        return HookResponse(cards=shown).model_dump(exclude_none=True)

    @app.get("/cds-services")
    def discovery() -> dict[str, Any]:
        return Discovery(services=[service, order_service]).model_dump(exclude_none=True)

    @app.post(f"/cds-services/{service.id}")
    def patient_view(body: HookRequest, request: Request) -> dict[str, Any]:
        return answer(body, request, service)

    @app.post(f"/cds-services/{order_service.id}")
    def order_select(body: HookRequest, request: Request) -> dict[str, Any]:
        return answer(body, request, order_service)

    @app.post("/cds-services/{service_id}/feedback")
    def feedback(service_id: str, body: Feedback, request: Request) -> dict[str, Any]:
        if service_id not in (service.id, order_service.id):
            raise HTTPException(status_code=404, detail="no such service")
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
    catalog: Catalog,
    body: HookRequest,
    patient_id: str,
    templates: dict[str, str],
    today: date,
    drafts: list[dict[str, Any]] | None = None,
) -> tuple[list[Candidate], int]:
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
        return _candidates(catalog, data, patient_id, today, drafts), _requests(server)
    except FhirAdapterError as exc:
        log.warning("the EHR's FHIR server did not answer usefully (%s): no cards", type(exc).__name__)
        return [], _requests(server)
    finally:
        if client is not None:
            client.close()


def _candidates(
    catalog: Catalog, data: PatientData, patient_id: str, today: date, drafts: list[dict[str, Any]] | None
) -> list[Candidate]:
    """Each trial's result, with the anchors the card policy needs and, on order-select, what the draft orders
    would make fail."""
    matchers = catalog.matchers(today)
    anchors = catalog.anchor_matchers(today)
    ordered = WithDrafts(data, patient_id, drafts) if drafts else None
    found: list[Candidate] = []
    for trial in catalog.trials:
        result = matchers[trial.id].evaluate(data, patient_id)
        candidate = Candidate(trial, result)
        if result.verdict in POSSIBLE and not trial.index:
            candidate.anchors = anchor_labels(trial.criteria.atoms, result)
            if not candidate.anchors and trial.id in anchors:
                candidate.anchors = anchor_labels(trial.registry, anchors[trial.id].evaluate(data, patient_id))
            candidate.confirmed = bool(candidate.anchors)
        if ordered is not None and result.verdict in POSSIBLE and candidate.confirmed:
            after = matchers[trial.id].evaluate(ordered, patient_id)
            candidate.excluded_by = excluded_by(trial.criteria.atoms, result, after)
        found.append(candidate)
    return found


def _requests(server: ServerData | None) -> int:
    return server.requests if server is not None else 0

