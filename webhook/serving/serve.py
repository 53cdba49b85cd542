"""`placement-webhook serve`: the webhook and health servers, their watchers, and signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn

from webhook.engine import CompiledPolicySet
from webhook.policy import PolicySet, PolicyStore
from webhook.proof import compile_proven
from webhook.serving import defaults
from webhook.serving.app import create_health_app, create_webhook_app
from webhook.serving.audit import whole_set_audited
from webhook.serving.connections import (
    HEALTH_LIMITS,
    ConnectionLimits,
    PortConnections,
    allow_open_files,
    plain_protocol,
    tls_protocol,
)
from webhook.serving.defaults import POLL_SECONDS, READ_TIMEOUT_SECONDS
from webhook.serving.http_protocol import guarded_protocol
from webhook.serving.limits import KEEP_ALIVE_SECONDS
from webhook.serving.logs import HEALTH, SERVER
from webhook.serving.metrics import Metrics
from webhook.serving.reload import PolicyWatcher
from webhook.serving.tls import CertificateReloader

log = logging.getLogger("webhook.server")


@dataclass
class ServeOptions:
    policies: list[Path]
    cert_file: Path
    key_file: Path
    host: str = defaults.HOST
    port: int = defaults.PORT
    health_port: int | None = defaults.HEALTH_PORT
    log_level: str = "info"
    read_timeout: float = READ_TIMEOUT_SECONDS
    floor_route: bool = False
    policy_poll_seconds: float = POLL_SECONDS  # 0: never reload policies
    cert_poll_seconds: float = POLL_SECONDS  # 0: never reload the certificate
    namespace_labels_from_cluster: bool = False  # list+watch Namespaces for namespaceSelector
    # Pod classes the placement proof tries at each load.
    proof_classes: int = defaults.PROOF_CLASSES
    audit: bool = False  # the whole set in audit mode, whatever its PolicySettings say
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    health_connections: ConnectionLimits = HEALTH_LIMITS
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Listeners:
    """Sockets bound by a parent process and shared by its workers (`serve --workers`)."""

    webhook: socket.socket
    health: socket.socket | None


def tls_context_hardening(context: ssl.SSLContext) -> None:
    """TLS 1.2 or newer only."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2


def load_store(
    paths: Sequence[Path], audit: bool = False, proof_classes: int = defaults.PROOF_CLASSES
) -> PolicyStore[CompiledPolicySet]:
    """The policy store: a set is compiled and its placements proven (on `proof_classes` pod
    classes) before it serves. With `audit`, every set it loads is served as if its
    PolicySettings said `mode: audit`."""
    compile_set = compile_audited if audit else compile_proven
    return PolicyStore(paths, partial(compile_set, limit=proof_classes))


def compile_audited(policy_set: PolicySet, limit: int | None = None) -> CompiledPolicySet:
    """`serve --audit`: the set in audit mode. The flag and the settings combine: the set is
    audited when either says so, enforced only when both allow it."""
    settings = policy_set.settings.model_copy(update={"mode": "audit"})
    return compile_proven(replace(policy_set, settings=settings), limit)


async def serve(options: ServeOptions, listeners: Listeners | None = None) -> None:
    store = load_store(options.policies, options.audit, options.proof_classes)
    log.info(
        "serving %d policies (digest %s) on https://%s:%d/mutate",
        len(store.source.policies),
        store.digest,
        options.host,
        options.port,
    )
    if whole_set_audited(store.current):
        why = "serve --audit" if options.audit else "PolicySettings mode: audit"
        log.warning("whole set in audit mode (%s): reviews are answered without a patch", why)
    namespace_view, namespace_watcher = None, None
    if options.namespace_labels_from_cluster:
        # Imported here: the kubernetes client costs ~25 MiB and a second of start-up.
        from webhook.serving.namespaces import start_namespace_view

        namespace_view, namespace_watcher = start_namespace_view()
    webhook_port = PortConnections("webhook", options.connections)
    health_port = PortConnections("health", options.health_connections)
    metrics = Metrics(store, namespace_view, [webhook_port, health_port])
    allow_open_files(options.connections, options.health_connections)
    lookup = namespace_view.lookup if namespace_view is not None else None
    webhook, certificates = _webhook_server(
        options, store, lookup, metrics, listeners, webhook_port
    )
    servers = [webhook]
    if options.health_port:
        servers.append(_health_server(options, store, metrics, listeners, health_port))
    watchers: list[Coroutine[Any, Any, None]] = []
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


def _webhook_server(
    options: ServeOptions,
    store: PolicyStore[CompiledPolicySet],
    namespace_labels: Any,
    metrics: Metrics,
    listeners: Listeners | None,
    port: PortConnections,
) -> tuple[uvicorn.Server, CertificateReloader]:
    certificates = CertificateReloader(options.cert_file, options.key_file, tls_context_hardening)
    # Every handshake starts on this context; its SNI callback hands over the newest one.
    listening = certificates.current.context
    certificates.install(listening)
    metrics.watch_certificates(certificates)
    config = uvicorn.Config(
        create_webhook_app(
            store,
            namespace_labels,
            floor_route=options.floor_route,
            metrics=metrics,
        ),
        host=options.host,
        port=options.port,
        # TLS is done by the protocol (webhook/serving/connections.py), not by uvicorn.
        http=webhook_protocol(options, listening, port),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=20,
        **_uvicorn_settings(options),
    )
    return _Server(config, listeners.webhook if listeners else None), certificates


def webhook_protocol(
    options: ServeOptions, context: ssl.SSLContext, port: PortConnections
) -> type[asyncio.Protocol]:
    """What uvicorn makes for each connection to the webhook port: the connection's gate,
    then TLS, then HTTP, within the port's limits."""
    return tls_protocol(guarded_protocol(options.read_timeout), context, port)


def _health_server(
    options: ServeOptions,
    store: PolicyStore[CompiledPolicySet],
    metrics: Metrics,
    listeners: Listeners | None,
    port: PortConnections,
) -> uvicorn.Server:
    config = uvicorn.Config(
        create_health_app(store, metrics),
        host=options.host,
        port=options.health_port or 0,
        # Bounded as the webhook port is: a flood of probes or scrapes shares the worker.
        http=plain_protocol(guarded_protocol(options.read_timeout), port),
        **_uvicorn_settings(options),
    )
    return _Server(config, listeners.health if listeners else None, name=HEALTH)


def _uvicorn_settings(options: ServeOptions) -> dict[str, Any]:
    return {
        "log_level": options.log_level,
        "log_config": None,
        "access_log": False,
        # kube-apiserver, kubelet and Prometheus call the server directly, never through a
        # proxy whose X-Forwarded-* headers would need reading on every request.
        "proxy_headers": False,
        "server_header": False,
        # No WebSocket: an upgrade would hand the connection to another protocol, out of
        # the port's count.
        "ws": "none",
    }


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

    def __init__(
        self, config: uvicorn.Config, sock: socket.socket | None = None, name: str = "webhook"
    ) -> None:
        super().__init__(config)
        self.sock = sock
        self.name = name

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None and self.sock is not None:
            sockets = [self.sock]
        SERVER.set(self.name)  # this task's, and its lifespan task's, log records (logs.py)
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def _log_started_message(self, listeners: Sequence[socket.SocketType]) -> None:
        """Not logged: uvicorn would say http:// for the webhook port, whose TLS it does not
        see (webhook/serving/connections.py does it); `serve` logs the https:// address."""
