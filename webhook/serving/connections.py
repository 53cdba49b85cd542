"""What one connection may cost, on the webhook port (TLS done here) and on the health port.

With TLS left to uvicorn (`create_server(ssl=...)`), a connection is held in its handshake for
60 s and counted nowhere until the handshake is done: clients that connect and send nothing,
or half a ClientHello, cost about 55 KiB each, and 4,000 of them took a replica past its
256 MiB limit. Here the listening socket is plain TCP, and each accepted connection first
meets a gate that knows its source address, so that:

- a connection is counted from the moment it is accepted, within the port's limits: at
  most `max_connections`, at most `max_per_source` from one address, and at the cap room is
  made for a newcomer (`connection_table.py` says which connection gives way); a refused one
  is closed before any TLS work;
- the handshake has a deadline (`handshake_timeout`, 10 s: a real client needs milliseconds);
- a client that stops reading while an answer waits to be written is cut after
  `write_timeout` (the write buffer passed its high-water mark and did not drain).

uvicorn's `limit_concurrency` is not used: it counts only connections whose handshake is done,
and it answers 503, which the apiserver treats as a failed call (the pod is admitted unplaced)
after the server has paid for the handshake anyway.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import ctypes
import logging
import resource
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from webhook.serving.connection_table import ConnectionTable, Given, Refusal
from webhook.serving.defaults import (
    HANDSHAKE_TIMEOUT_SECONDS,
    HEALTH_MAX_CONNECTIONS,
    HEALTH_MAX_CONNECTIONS_PER_SOURCE,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_SOURCE,
    WRITE_TIMEOUT_SECONDS,
)
from webhook.serving.relay import Relay

log = logging.getLogger("webhook.connections")

SHUTDOWN_TIMEOUT_SECONDS = 5.0  # the TLS close_notify exchange when a connection ends
EVENTS_PER_LOG_LINE = 1000  # one warning for the first refusal (or closing), then every 1000th
TRIM_AFTER_CLOSED = 256  # connections closed before freed memory is handed back
TRIM_DELAY_SECONDS = 1.0  # at most once a second, after the burst has passed

MakeProtocol = Callable[..., asyncio.Protocol]


@dataclass(frozen=True)
class ConnectionLimits:
    handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS
    write_timeout: float = WRITE_TIMEOUT_SECONDS
    max_connections: int = MAX_CONNECTIONS
    max_per_source: int = MAX_CONNECTIONS_PER_SOURCE


HEALTH_LIMITS = ConnectionLimits(
    max_connections=HEALTH_MAX_CONNECTIONS, max_per_source=HEALTH_MAX_CONNECTIONS_PER_SOURCE
)


class PortConnections:
    """The connections of one port: held within its limits, refusals and closings logged, and
    the memory of a burst of closed connections handed back to the system."""

    def __init__(self, name: str, limits: ConnectionLimits) -> None:
        self.name, self.limits = name, limits
        self.table = ConnectionTable(limits.max_connections, limits.max_per_source)
        self.closed_since_trim = 0
        self.trim: asyncio.TimerHandle | None = None

    def admit(self, relay: Relay) -> bool:
        """Whether the new connection may stay (another may have been closed to make room)."""
        closed_before = dict(self.table.closed_for_room)
        refusal = self.table.admit(relay)
        if refusal is not None:
            self._log_refusal(refusal, relay.source)
            return False
        for given, count in self.table.closed_for_room.items():
            if count != closed_before[given]:
                self._log_closing(given, count)
        return True

    def release(self, relay: Relay) -> None:
        self.table.release(relay)
        self.closed_since_trim += 1
        if self.closed_since_trim >= TRIM_AFTER_CLOSED and self.trim is None:
            self.trim = asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._trim)

    def _trim(self) -> None:
        self.trim, self.closed_since_trim = None, 0
        return_free_memory()

    def _log_refusal(self, refusal: Refusal, source: str) -> None:
        count = self.table.refused[refusal]
        if count % EVENTS_PER_LOG_LINE != 1:
            return
        if refusal == "source_limit":
            why = f"{source} holds {self.limits.max_per_source}, the most one address may"
        else:
            why = f"all {self.limits.max_connections}, the cap, are busy answering"
        log.warning("%s connection from %s closed: %s; %d so far", self.name, source, why, count)

    def _log_closing(self, given: Given, count: int) -> None:
        if count % EVENTS_PER_LOG_LINE == 1:
            log.warning(
                "%s connection closed to make room at the cap (%d): the one %s longest; %d so far",
                self.name,
                self.limits.max_connections,
                "waiting for its client" if given == "waiting" else "idle",
                count,
            )


def tls_protocol(
    http_protocol: MakeProtocol, context: ssl.SSLContext, port: PortConnections
) -> type[asyncio.Protocol]:
    """What to give uvicorn as its `http` protocol on the webhook port: uvicorn calls it, with
    the protocol's keyword arguments, for each accepted connection; the connection's gate
    then admits it (or closes it) and hands it to the event loop's own TLS protocol (as
    `create_server(ssl=...)` would make it) serving `http_protocol` within the port's
    limits. uvicorn itself must be given no TLS settings."""

    def accept(**http_arguments: Any) -> asyncio.BaseProtocol:
        return _Gate(port, lambda: http_protocol(**http_arguments), context)

    # uvicorn's type says "a protocol class"; any callable that makes a protocol will do.
    return cast(type[asyncio.Protocol], accept)


def plain_protocol(http_protocol: MakeProtocol, port: PortConnections) -> type[asyncio.Protocol]:
    """The same without TLS: the health port (probes, /metrics)."""

    def accept(**http_arguments: Any) -> asyncio.BaseProtocol:
        return _Gate(port, lambda: http_protocol(**http_arguments), None)

    return cast(type[asyncio.Protocol], accept)


class _Gate(asyncio.Protocol):
    """A connection's first protocol: learns its source address, asks the port to admit it,
    and hands the connection over to TLS (or straight to HTTP), or closes it."""

    def __init__(
        self, port: PortConnections, make_http: Callable[[], asyncio.Protocol], context: Any
    ) -> None:
        self.port, self.make_http, self.context = port, make_http, context

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)
        loop = asyncio.get_running_loop()
        peer = tcp.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        limits = self.port.limits
        relay = Relay(source, loop, self.make_http, limits.write_timeout, self.port, tcp)
        if not self.port.admit(relay):
            tcp.abort()
            return
        if self.context is None:
            tcp.set_protocol(relay)
            relay.connection_made(tcp)
            return
        handshake = loop.create_future()
        handshake.add_done_callback(relay.handshake_done)
        tls = _ssl_protocol_class(loop)(
            loop,
            relay,
            self.context,
            handshake,
            server_side=True,
            ssl_handshake_timeout=limits.handshake_timeout,
            ssl_shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        )
        tcp.set_protocol(tls)
        tls.connection_made(tcp)

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # a refused connection: never counted


def _ssl_protocol_class(loop: asyncio.AbstractEventLoop) -> Callable[..., asyncio.BaseProtocol]:
    """The loop's own TLS protocol, the one its `create_server(ssl=...)` uses: uvloop's when
    the server runs on uvloop, else asyncio's (both take the same arguments)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.sslproto.SSLProtocol
    if isinstance(loop, uvloop.Loop):
        uvloop_protocol: Callable[..., asyncio.BaseProtocol] = uvloop.loop.SSLProtocol  # type: ignore[attr-defined]  # not in uvloop's stubs
        return uvloop_protocol
    return asyncio.sslproto.SSLProtocol


def allow_open_files(*limits: ConnectionLimits) -> None:
    """Raise the soft limit of open files to what the connection caps need (within the hard
    limit): with the 1,024 many shells default to, accept() would fail before the cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sum(limit.max_connections for limit in limits) + 256  # policy files, logs
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def return_free_memory() -> None:
    """glibc's malloc_trim(0). Each TLS connection takes a 256 KiB read buffer and OpenSSL's
    own buffers from the heap; once freed, glibc keeps the pages, and the next burst touches
    other ones: four floods of stalled handshakes left a replica's RSS at 230 MiB with 11 MiB
    in use. A no-op where the C library has no malloc_trim (musl)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()
