"""One admitted connection, between its transport (TLS, or plain TCP) and its HTTP protocol.

The relay makes the HTTP protocol once the handshake is done (a connection that never completes
one costs no HTTP state, whose reference cycles only the garbage collector would free),
forwards every event to it, tells the port's table when the connection waits for its
client and when it ends, cuts a client that stops reading, and closes the connection when the
table gives its place to a newcomer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Protocol, cast

from webhook.serving.coalesced_transport import CoalescedTransport
from webhook.serving.connection_table import ConnectionTable
from webhook.serving.http_protocol import GuardedHttpToolsProtocol, RequestWatcher

log = logging.getLogger("webhook.connections")


class Owner(Protocol):
    """The port the connection belongs to (connections.PortConnections)."""

    table: ConnectionTable

    def release(self, relay: Relay) -> None: ...


class Relay(asyncio.Protocol):
    http: asyncio.Protocol | None = None
    transport: asyncio.Transport | None = None  # TLS (TCP on the health port), once made

    def __init__(
        self,
        source: str,
        loop: asyncio.AbstractEventLoop,
        make_http: Callable[[], asyncio.Protocol],
        write_timeout: float,
        owner: Owner,
        tcp: asyncio.Transport,
    ) -> None:
        self.source, self.loop, self.make_http = source, loop, make_http
        self.write_timeout, self.owner = write_timeout, owner
        self.tcp: asyncio.Transport | None = tcp
        self.released = False
        self.stalled: asyncio.TimerHandle | None = None

    # --- the table's view (connection_table.Held) ---

    def idle_since(self) -> float | None:
        http = self.http
        return http.idle_since() if isinstance(http, GuardedHttpToolsProtocol) else None

    def close_for_room(self) -> None:
        transport = self.transport or self.tcp
        if transport is not None:
            transport.abort()

    # --- the transport's view ---

    def handshake_done(self, handshake: asyncio.Future[None]) -> None:
        # A handshake that failed or timed out never reaches connection_made/connection_lost.
        if handshake.cancelled() or handshake.exception() is not None:
            self.release()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.tcp = None  # it refers back to this relay through the TLS protocol
            self.owner.release(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        http = self.http = self.make_http()
        if isinstance(http, GuardedHttpToolsProtocol):
            # Called on every request: the table's own methods, bound to this connection.
            table = self.owner.table
            http.watcher = RequestWatcher(partial(table.waits, self), partial(table.arrived, self))
        # Data goes straight to the HTTP protocol: no extra call per received chunk.
        self.data_received = http.data_received  # type: ignore[method-assign]
        http.connection_made(CoalescedTransport(self.transport, self.loop))

    def data_received(self, data: bytes) -> None:
        if self.http is not None:
            self.http.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.http is None else self.http.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.release()
        http, self.http, self.transport = self.http, None, None
        # The HTTP protocol, its transport and this relay refer to each other: let go of them
        # now, so that reference counting frees the connection's buffers (a TLS connection's
        # read buffer alone is 256 KiB) at once, not at the garbage collector's next full pass.
        vars(self).pop("data_received", None)
        if http is not None:
            http.connection_lost(exc)

    def pause_writing(self) -> None:
        # The answer waits in our buffers because the client does not read it.
        if self.stalled is None:
            self.stalled = self.loop.call_later(self.write_timeout, self._cut)
        if self.http is not None:
            self.http.pause_writing()

    def resume_writing(self) -> None:
        self._stop_timer()
        if self.http is not None:
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
