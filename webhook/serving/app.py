"""HTTP routes: the TLS webhook app (`POST /mutate`) and the plain-HTTP health app.

Request bytes go straight to the handler and its bytes come straight back: no JSON re-encoding
by the framework on the hot path, which is a plain ASGI route dispatched before FastAPI's own
routing (`mutate_route.py`). Everything but routing lives in `handler.py`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from webhook.engine import CompiledPolicySet
from webhook.policy import PolicyStore
from webhook.serving.admission import NamespaceLabels
from webhook.serving.handler import MutateHandler, readiness
from webhook.serving.limits import BodyLimit
from webhook.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from webhook.serving.metrics import Metrics
from webhook.serving.mutate_route import METHOD, PATH, MutateRoute
from webhook.serving.openapi import MUTATE_REQUEST_BODY, MUTATE_RESPONSES

JSON = "application/json"


class WebhookApp(FastAPI):
    """FastAPI, with `POST /mutate` answered by its plain ASGI route before FastAPI's routing."""

    mutate_route: MutateRoute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == METHOD:
            await self.mutate_route(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_webhook_app(
    store: PolicyStore[CompiledPolicySet],
    namespace_labels: NamespaceLabels | None = None,
    floor_route: bool = False,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = WebhookApp(title="pod-placement-webhook", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    app.mutate_route = MutateRoute(MutateHandler(store, namespace_labels, metrics))

    @app.post(
        PATH,
        summary="Answer a Kubernetes AdmissionReview for Pods",
        openapi_extra=MUTATE_REQUEST_BODY,
        responses=MUTATE_RESPONSES,
    )
    async def mutate(request: Request) -> Response:
        """The OpenAPI description of the route: requests are answered by `app.mutate_route`
        before FastAPI routes them, so this body never runs."""
        raise AssertionError("POST /mutate is answered by WebhookApp.mutate_route")

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
