"""What one connection to the webhook port may cost: TLS done by the server, bounded three ways.

With TLS left to uvicorn (`create_server(ssl=...)`), a connection is held in its handshake for
60 s and counted nowhere until the handshake is done: clients that connect and send nothing,
or half a ClientHello, cost about 55 KiB each, and 4,000 of them took a replica past its
256 MiB limit. Here the listening socket is plain TCP and the protocol made for each accepted
connection is the loop's own TLS protocol, given a deadline, so that:

- a connection is counted from the moment it is accepted; past `max_connections` a new one is
  closed at once, before any TLS work (kept-alive connections, which the apiserver reuses, are
  never touched; the health port is another server and is not counted);
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

from webhook.serving.coalesced_transport import CoalescedTransport
from webhook.serving.defaults import (
    HANDSHAKE_TIMEOUT_SECONDS,
    MAX_CONNECTIONS,
    WRITE_TIMEOUT_SECONDS,
)

log = logging.getLogger("webhook.connections")

SHUTDOWN_TIMEOUT_SECONDS = 5.0  # the TLS close_notify exchange when a connection ends
REFUSALS_PER_LOG_LINE = 1000  # one warning for the first refusal, then every thousandth
TRIM_AFTER_CLOSED = 256  # connections closed before freed memory is handed back
TRIM_DELAY_SECONDS = 1.0  # at most once a second, after the burst has passed


@dataclass(frozen=True)
class ConnectionLimits:
    handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS
    write_timeout: float = WRITE_TIMEOUT_SECONDS
    max_connections: int = MAX_CONNECTIONS


@dataclass
class ConnectionCount:
    """Connections of one listener: open now, and refused at the cap since start. After a
    burst of closed connections the memory they freed is handed back to the system."""

    open: int = 0
    refused: int = 0
    closed_since_trim: int = 0
    trim: asyncio.TimerHandle | None = None

    def closed(self) -> None:
        self.open -= 1
        self.closed_since_trim += 1
        if self.closed_since_trim >= TRIM_AFTER_CLOSED and self.trim is None:
            self.trim = asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._trim)

    def _trim(self) -> None:
        self.trim, self.closed_since_trim = None, 0
        return_free_memory()


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


def allow_open_files(limits: ConnectionLimits) -> None:
    """Raise the soft limit of open files to what the connection cap needs (within the hard
    limit): with the 1,024 many shells default to, accept() would fail before the cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + 256  # the health port, policy files, logs
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def tls_protocol(
    http_protocol: type[asyncio.Protocol],
    context: ssl.SSLContext,
    limits: ConnectionLimits,
    count: ConnectionCount | None = None,
) -> type[asyncio.Protocol]:
    """What to give uvicorn as its `http` protocol: uvicorn calls it, with the protocol's
    keyword arguments, for each accepted connection, and gets the TLS protocol of that
    connection (the event loop's own, as `create_server(ssl=...)` would make it) serving
    `http_protocol` within `limits`. uvicorn itself must be given no TLS settings."""
    counted = count if count is not None else ConnectionCount()

    def accept(**http_arguments: Any) -> asyncio.BaseProtocol:
        if counted.open >= limits.max_connections:
            counted.refused += 1
            if counted.refused % REFUSALS_PER_LOG_LINE == 1:
                log.warning(
                    "connection closed: %d connections are open (--max-connections); "
                    "%d refused so far",
                    counted.open,
                    counted.refused,
                )
            return _Refused()
        counted.open += 1
        loop = asyncio.get_running_loop()
        relay = _Relay(lambda: http_protocol(**http_arguments), limits.write_timeout, counted)
        handshake = loop.create_future()
        handshake.add_done_callback(relay.handshake_done)
        return _ssl_protocol_class(loop)(
            loop,
            relay,
            context,
            handshake,
            server_side=True,
            ssl_handshake_timeout=limits.handshake_timeout,
            ssl_shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        )

    # uvicorn's type says "a protocol class"; any callable that makes a protocol will do.
    return cast(type[asyncio.Protocol], accept)


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


class _Refused(asyncio.Protocol):
    """A connection past the cap: closed before any TLS work."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()


class _Relay(asyncio.Protocol):
    """The HTTP protocol's stand-in on the TLS transport: makes it once the handshake is done
    (a connection that never completes one costs no HTTP state, whose reference cycles only
    the garbage collector would free), forwards every event to it, counts the connection out
    when it ends, and cuts a client that stops reading."""

    http: asyncio.Protocol

    def __init__(
        self,
        make_http: Callable[[], asyncio.Protocol],
        write_timeout: float,
        count: ConnectionCount,
    ) -> None:
        self.make_http, self.write_timeout, self.count = make_http, write_timeout, count
        self.released = False
        self.transport: asyncio.Transport | None = None
        self.stalled: asyncio.TimerHandle | None = None

    def handshake_done(self, handshake: asyncio.Future[None]) -> None:
        # A handshake that failed or timed out never reaches connection_made/connection_lost.
        if handshake.cancelled() or handshake.exception() is not None:
            self.release()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.count.closed()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.http = self.make_http()
        # Data goes straight to the HTTP protocol: no extra call per received chunk.
        self.data_received = self.http.data_received  # type: ignore[method-assign]
        self.http.connection_made(CoalescedTransport(self.transport, asyncio.get_running_loop()))

    def data_received(self, data: bytes) -> None:
        self.http.data_received(data)

    def eof_received(self) -> bool | None:
        return self.http.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.release()
        self.http.connection_lost(exc)

    def pause_writing(self) -> None:
        # The answer waits in our buffers because the client does not read it.
        if self.stalled is None:
            loop = asyncio.get_running_loop()
            self.stalled = loop.call_later(self.write_timeout, self._cut)
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self._stop_timer()
        self.http.resume_writing()

    def _cut(self) -> None:
        self.stalled = None
        log.info("connection cut: the client read nothing for %gs", self.write_timeout)
        if self.transport is not None:
            self.transport.abort()

    def _stop_timer(self) -> None:
        if self.stalled is not None:
            self.stalled.cancel()
            self.stalled = None
