"""HTTP routes: the TLS webhook app (`POST /mutate`) and the plain-HTTP health app.

Request bytes go straight to the handler and its bytes come straight back: no JSON re-encoding
by the framework on the hot path. Everything but routing lives in `handler.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request, Response

from webhook.engine import CompiledPolicySet
from webhook.policy import PolicyStore
from webhook.serving.admission import NamespaceLabels
from webhook.serving.defaults import READ_TIMEOUT_SECONDS
from webhook.serving.handler import MutateHandler, readiness
from webhook.serving.limits import BodyLimit
from webhook.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from webhook.serving.metrics import Metrics
from webhook.serving.openapi import MUTATE_REQUEST_BODY, MUTATE_RESPONSES

JSON = "application/json"
# Reviews of bodies past this size run off the event loop. Real pods are a few KiB; at 128 KiB
# a review costs about 5 ms, against tens of microseconds for the hand-off.
OFFLOAD_BYTES = 128 * 1024


def create_webhook_app(
    store: PolicyStore[CompiledPolicySet],
    namespace_labels: NamespaceLabels | None = None,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    floor_route: bool = False,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = FastAPI(title="pod-placement-webhook", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, timeout=read_timeout)
    handler = MutateHandler(store, namespace_labels, metrics)

    @app.post(
        "/mutate",
        summary="Answer a Kubernetes AdmissionReview for Pods",
        openapi_extra=MUTATE_REQUEST_BODY,
        responses=MUTATE_RESPONSES,
    )
    async def mutate(request: Request) -> Response:
        body = await request.body()
        if len(body) > OFFLOAD_BYTES:
            # A big pod costs milliseconds to tens of them (linear in its size): reviewed on a
            # thread, the event loop keeps answering other reviews and the probes meanwhile.
            answer = await asyncio.to_thread(handler, body)
        else:
            answer = handler(body)
        return Response(answer.body, status_code=answer.status, media_type=JSON)

    if floor_route:
        _add_floor_route(app)
    _add_health_routes(app, store)
    return app


def _add_floor_route(app: FastAPI) -> None:
    """`POST /floor`: read the body, answer a fixed review. The benchmark's floor: the same
    stack as /mutate (TLS, HTTP, middleware, routing) without the webhook's own work. Only
    with `serve --floor-route`."""
    answer = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{}}'

    @app.post("/floor", include_in_schema=False)
    async def floor(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type=JSON)


def create_health_app(store: PolicyStore[Any], metrics: Metrics | None = None) -> FastAPI:
    app = FastAPI(title="pod-placement-webhook health", docs_url=None, redoc_url=None)
    _add_health_routes(app, store)
    if metrics is not None:
        scrape = metrics.render

        @app.get("/metrics")
        async def metrics_route() -> Response:
            return Response(scrape(), media_type=METRICS_CONTENT_TYPE)

    return app


def _add_health_routes(app: FastAPI, store: PolicyStore[Any]) -> None:
    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response(readiness(store), media_type=JSON)
