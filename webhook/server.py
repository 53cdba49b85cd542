"""HTTP transport: the TLS webhook app (`POST /mutate`) and the plain-HTTP health app.

Request bytes go straight to `admission.handle` and its bytes come straight back: no JSON
re-encoding by the framework on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

from webhook.admission import NamespaceLabels, Outcome, handle
from webhook.connections import (
    ConnectionCount,
    ConnectionLimits,
    allow_open_files,
    tls_protocol,
)
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.errors import PolicyError, ReviewError
from webhook.limits import READ_TIMEOUT_SECONDS, BodyLimit, guarded_protocol
from webhook.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from webhook.metrics import Metrics
from webhook.mounts import load_policies
from webhook.openapi import MUTATE_REQUEST_BODY, MUTATE_RESPONSES
from webhook.reload import DEFAULT_POLL_SECONDS, PolicyWatcher
from webhook.tls import CertificateReloader

log = logging.getLogger("webhook.server")

JSON = "application/json"


class PolicyStore:
    """The policy set in force. A reload that fails keeps the last good set serving."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.current: CompiledPolicySet = compile_policy_set(load_policies(self.paths))
        self.last_error: str | None = None
        self.reloads = {"success": 0, "failure": 0}  # read by the metrics at scrape time

    def reload(self) -> bool:
        try:
            fresh = compile_policy_set(load_policies(self.paths))
        except PolicyError as exc:
            self.last_error = str(exc)
            self.reloads["failure"] += 1
            log.error("policy reload refused, keeping %s: %s", self.current.source.digest, exc)
            return False
        except OSError as exc:
            self.last_error = f"cannot read policies: {exc}"
            self.reloads["failure"] += 1
            log.error("policy reload refused: %s", self.last_error)
            return False
        except Exception as exc:
            # A bug in loading or compiling must not fail silently: it is a refused reload
            # like any other, counted and shown in /readyz (the alerts read both).
            detail = str(exc)[:300]
            self.last_error = f"unexpected error loading policies: {type(exc).__name__}: {detail}"
            self.reloads["failure"] += 1
            log.exception("policy reload refused, keeping %s", self.current.source.digest)
            return False
        changed = fresh.source.digest != self.current.source.digest
        self.current, self.last_error = fresh, None
        self.reloads["success"] += 1
        if changed:
            log.info(
                "policies reloaded: %d policies, digest %s",
                len(fresh.policies),
                fresh.source.digest,
            )
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
            "audited": outcome.audited,
            "failed": outcome.failed,
            "patch_ops": outcome.patch_ops,
            "warnings": len(outcome.warnings),
            "duration_ms": round(seconds * 1000, 3),
        },
    )


def create_webhook_app(
    store: PolicyStore,
    namespace_labels: NamespaceLabels | None = None,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    floor_route: bool = False,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = FastAPI(title="pod-placement-webhook", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, timeout=read_timeout)

    @app.post(
        "/mutate",
        summary="Answer a Kubernetes AdmissionReview for Pods",
        openapi_extra=MUTATE_REQUEST_BODY,
        responses=MUTATE_RESPONSES,
    )
    async def mutate(request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        try:
            answer, outcome = handle(store.current, body, namespace_labels)
        except ReviewError as exc:
            if metrics is not None:
                metrics.observe_invalid(time.perf_counter() - started)
            return _error(400, exc.message)
        seconds = time.perf_counter() - started
        log_review(outcome, seconds)
        if metrics is not None:
            metrics.observe_review(outcome, seconds)
        return Response(answer, media_type=JSON)

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


def create_health_app(store: PolicyStore, metrics: Metrics | None = None) -> FastAPI:
    app = FastAPI(title="pod-placement-webhook health", docs_url=None, redoc_url=None)
    _add_health_routes(app, store)
    if metrics is not None:
        scrape = metrics.render

        @app.get("/metrics")
        async def metrics_route() -> Response:
            return Response(scrape(), media_type=METRICS_CONTENT_TYPE)

    return app


def _add_health_routes(app: FastAPI, store: PolicyStore) -> None:
    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        body = {
            "status": "ok",
            "policies": len(store.current.policies),
            "digest": store.current.source.digest,
            # Ready even after a refused reload: the last good set serves, and failing the
            # probe on every replica would take the whole webhook out of the Service.
            "reloadFailures": store.reloads["failure"],
            "lastReloadError": store.last_error,
        }
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
    read_timeout: float = READ_TIMEOUT_SECONDS
    floor_route: bool = False
    policy_poll_seconds: float = DEFAULT_POLL_SECONDS  # 0: never reload policies
    cert_poll_seconds: float = DEFAULT_POLL_SECONDS  # 0: never reload the certificate
    namespace_labels_from_cluster: bool = False  # list+watch Namespaces for namespaceSelector
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Listeners:
    """Sockets bound by a parent process and shared by its workers (`serve --workers`)."""

    webhook: socket.socket
    health: socket.socket | None


def tls_context_hardening(context: ssl.SSLContext) -> None:
    """TLS 1.2 or newer only."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2


async def serve(options: ServeOptions, listeners: Listeners | None = None) -> None:
    store = PolicyStore(options.policies)
    log.info(
        "serving %d policies (digest %s) on https://%s:%d/mutate",
        len(store.current.policies),
        store.current.source.digest,
        options.host,
        options.port,
    )
    namespace_view, namespace_watcher = None, None
    if options.namespace_labels_from_cluster:
        # Imported here: the kubernetes client costs ~25 MiB and a second of start-up.
        from webhook.namespaces import start_namespace_view

        namespace_view, namespace_watcher = start_namespace_view()
    connection_count = ConnectionCount()
    metrics = Metrics(store, namespace_view, connection_count)
    allow_open_files(options.connections)
    certificates = CertificateReloader(options.cert_file, options.key_file, tls_context_hardening)
    # Every handshake starts on this context; its SNI callback hands over the newest one.
    listening = certificates.current.context
    certificates.install(listening)
    webhook_config = uvicorn.Config(
        create_webhook_app(
            store,
            namespace_view.lookup if namespace_view is not None else None,
            read_timeout=options.read_timeout,
            floor_route=options.floor_route,
            metrics=metrics,
        ),
        host=options.host,
        port=options.port,
        # TLS is done by the protocol (webhook/connections.py), not by uvicorn.
        http=tls_protocol(
            guarded_protocol(options.read_timeout), listening, options.connections, connection_count
        ),
        log_level=options.log_level,
        log_config=None,
        access_log=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=20,
    )
    servers = [_Server(webhook_config, listeners.webhook if listeners else None)]
    if options.health_port:
        health_config = uvicorn.Config(
            create_health_app(store, metrics),
            host=options.host,
            port=options.health_port,
            log_level=options.log_level,
            log_config=None,
            access_log=False,
        )
        servers.append(_Server(health_config, listeners.health if listeners else None))
    watchers = []
    if options.policy_poll_seconds > 0:
        watchers.append(PolicyWatcher(store, options.policy_poll_seconds).run())
    if options.cert_poll_seconds > 0:
        watchers.append(certificates.watch(options.cert_poll_seconds))
    tasks = [asyncio.create_task(w) for w in watchers]
    try:
        await run_servers(servers)
    finally:
        for task in tasks:
            task.cancel()
        if namespace_watcher is not None:
            namespace_watcher.stop()


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


def run(options: ServeOptions, listeners: Listeners | None = None) -> None:
    """Serve until stopped, on uvloop when installed, as `uvicorn.run` would choose: a plain
    `asyncio.run` would use the slower default event loop."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(options, listeners))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `run_servers` (one handler for all),
    on its own socket or on one bound by a parent process."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket | None = None) -> None:
        super().__init__(config)
        self.sock = sock

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None and self.sock is not None:
            sockets = [self.sock]
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def _log_started_message(self, listeners: Sequence[socket.SocketType]) -> None:
        """Not logged: uvicorn would say http:// for the webhook port, whose TLS it does not
        see (webhook/connections.py does it); `serve` logs the https:// address itself."""
