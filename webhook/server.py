"""HTTP transport: the TLS webhook app (`POST /mutate`) and the plain-HTTP health app.

Request bytes go straight to `admission.handle` and its bytes come straight back: no JSON
re-encoding by the framework on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

from webhook.admission import NamespaceLabels, Outcome, handle
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.errors import PolicyError, ReviewError
from webhook.policy.load import load_policy_set

log = logging.getLogger("webhook.server")

JSON = "application/json"


class PolicyStore:
    """The policy set in force. A reload that fails keeps the last good set serving."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.current: CompiledPolicySet = compile_policy_set(load_policy_set(self.paths))
        self.last_error: str | None = None

    def reload(self) -> bool:
        try:
            fresh = compile_policy_set(load_policy_set(self.paths))
        except PolicyError as exc:
            self.last_error = str(exc)
            log.error("policy reload refused, keeping %s: %s", self.current.source.digest, exc)
            return False
        except OSError as exc:
            self.last_error = f"cannot read policies: {exc}"
            log.error("policy reload refused: %s", self.last_error)
            return False
        changed = fresh.source.digest != self.current.source.digest
        self.current, self.last_error = fresh, None
        if changed:
            log.info("policies reloaded: %d policies, digest %s",
                     len(fresh.policies), fresh.source.digest)
        return True


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type=JSON)


def log_review(outcome: Outcome, seconds: float) -> None:
    log.info(
        "review",
        extra={
            "uid": outcome.uid,
            "namespace": outcome.namespace,
            "pod": outcome.name,
            "result": outcome.result,
            "policies": outcome.applied,
            "duration_ms": round(seconds * 1000, 3),
        },
    )


def create_webhook_app(
    store: PolicyStore, namespace_labels: NamespaceLabels | None = None
) -> FastAPI:
    app = FastAPI(title="pod-placement-webhook", docs_url=None, redoc_url=None)

    @app.post("/mutate", summary="Answer a Kubernetes AdmissionReview for Pods")
    async def mutate(request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        try:
            answer, outcome = handle(store.current, body, namespace_labels)
        except ReviewError as exc:
            return _error(400, exc.message)
        log_review(outcome, time.perf_counter() - started)
        return Response(answer, media_type=JSON)

    _add_health_routes(app, store)
    return app


def create_health_app(store: PolicyStore) -> FastAPI:
    app = FastAPI(title="pod-placement-webhook health", docs_url=None, redoc_url=None)
    _add_health_routes(app, store)
    return app


def _add_health_routes(app: FastAPI, store: PolicyStore) -> None:
    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        body = {"status": "ok", "policies": len(store.current.policies),
                "digest": store.current.source.digest}
        return Response(orjson.dumps(body), media_type=JSON)


@dataclass
class ServeOptions:
    policies: list[Path]
    cert_file: Path
    key_file: Path
    host: str = "0.0.0.0"
    port: int = 8443
    health_port: int | None = 8080
    log_level: str = "info"
    extra: dict[str, object] = field(default_factory=dict)


def tls_context_hardening(context: ssl.SSLContext) -> None:
    """TLS 1.2 or newer only."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2


async def serve(options: ServeOptions) -> None:
    store = PolicyStore(options.policies)
    log.info("serving %d policies (digest %s) on https://%s:%d/mutate",
             len(store.current.policies), store.current.source.digest, options.host, options.port)
    webhook_config = uvicorn.Config(
        create_webhook_app(store),
        host=options.host,
        port=options.port,
        ssl_certfile=str(options.cert_file),
        ssl_keyfile=str(options.key_file),
        log_level=options.log_level,
        log_config=None,
        access_log=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=20,
    )
    webhook_config.load()
    assert webhook_config.ssl is not None
    tls_context_hardening(webhook_config.ssl)
    servers = [_Server(webhook_config)]
    if options.health_port:
        health_config = uvicorn.Config(
            create_health_app(store), host=options.host, port=options.health_port,
            log_level=options.log_level, log_config=None, access_log=False,
        )
        servers.append(_Server(health_config))
    await run_servers(servers)


async def run_servers(servers: Sequence[uvicorn.Server]) -> None:
    """Run uvicorn servers side by side; SIGTERM or SIGINT stops them all gracefully
    (listeners close first, in-flight requests finish)."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(*(s.serve() for s in servers))
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `run_servers` (one handler for all)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
