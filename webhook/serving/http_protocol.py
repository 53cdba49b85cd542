"""The HTTP protocol of the webhook port: uvicorn's httptools protocol with a deadline on each
request, a size cap on its head, and a drain on shutdown.

Without them a connection that sends nothing, or dribbles bytes (slowloris), stays open for
ever, and headers grow without bound; uvicorn's own `timeout_keep_alive` only covers the idle
time *between* requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from webhook.serving.defaults import READ_TIMEOUT_SECONDS

MAX_HEAD_BYTES = 64 * 1024  # request line + headers; a real review sends well under 1 KiB
DRAIN_SECONDS = 1.0  # how long an idle kept-alive connection stays open after SIGTERM


class RequestWatcher(NamedTuple):
    """Told when a request begins to arrive and when it has arrived whole (the connection
    layer: a connection waiting for its client may give way to a newcomer)."""

    request_started: Callable[[], None]
    request_arrived: Callable[[], None]


def _nothing() -> None:
    pass


def guarded_protocol(
    read_timeout: float = READ_TIMEOUT_SECONDS, max_head_bytes: int = MAX_HEAD_BYTES
) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn makes for each connection, with these limits."""
    limits = {"read_timeout": read_timeout, "max_head_bytes": max_head_bytes}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), limits)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """A request must arrive whole, head and body, within `read_timeout` of its first byte (or
    of the connection's opening, for the first one), else it gets 408 and the connection is
    closed. Its head (the request target and every header's name and value) may hold at most
    `max_head_bytes`, else 431.

    One timer per request, started when it begins and stopped when its last body byte has
    arrived: the application never waits for a body with a timer of its own.
    """

    read_timeout: float = READ_TIMEOUT_SECONDS
    max_head_bytes: int = MAX_HEAD_BYTES
    watcher = RequestWatcher(_nothing, _nothing)
    _read_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _in_body = False  # the head of the current request is parsed, its body is not whole yet
    _refused = False
    _draining = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._start_timer()  # a connection that never sends a byte is cut too

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return  # whatever follows a refusal is dropped, never parsed
        super().data_received(data)

    # Parser callbacks: the head is the URL and the headers, counted as parsed.
    def on_message_begin(self) -> None:
        self._head_bytes = 0
        if self._read_timer is None:
            self._start_timer()
        self.watcher.request_started()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > self.max_head_bytes:
            self._head_too_big()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)  # counted here: one call less per header
        if self._head_bytes > self.max_head_bytes:
            self._head_too_big()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_body = True
        super().on_headers_complete()
        if self._draining:
            self.cycle.keep_alive = False  # answered with `connection: close`

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            self._in_body = False
            self._stop_timer()
            self.watcher.request_arrived()
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def idle_since(self) -> float | None:
        """When the connection became idle (every answer written, no request begun), on the
        loop's clock; None while it is not."""
        keep_alive = self.timeout_keep_alive_task  # armed by uvicorn exactly while idle
        if keep_alive is None or self._read_timer is not None:
            return None
        return keep_alive.when() - self.timeout_keep_alive

    def shutdown(self) -> None:
        """Graceful stop (SIGTERM). uvicorn closes a kept-alive connection with no request
        in progress at once; a review already on its way on it would then be dropped
        unread (the client only sees the connection close). Instead it gets
        DRAIN_SECONDS to arrive, and is answered with `connection: close`."""
        if self.cycle is None or self.cycle.response_complete:
            self._draining = True
            self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)
        else:
            super().shutdown()

    def _close_if_idle(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not (
            self.transport.is_closing()
        ):
            self.transport.close()

    def _head_too_big(self) -> None:
        if not self._refused:
            self._refuse(431, "Request Header Fields Too Large")

    def _start_timer(self) -> None:
        self._read_timer = self.loop.call_later(self.read_timeout, self._timed_out)

    def _stop_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self) -> None:
        self._read_timer = None
        if self._refused or self.transport.is_closing():
            return
        if self._answer_owed():
            # Only a client that pipelines gets here (kube-apiserver never does): a 408 now
            # would land inside or before an answer it is owed.
            self._refused = True
            self.transport.close()
            return
        message = f"request not received within {self.read_timeout:g}s"
        self._refuse(408, "Request Timeout", orjson.dumps({"error": message}))

    def _answer_owed(self) -> bool:
        """Whether an answer to an earlier request (or one being written) is still due."""
        cycle = self.cycle
        if self.pipeline or cycle is None or cycle.response_complete:
            return bool(self.pipeline)
        # The current request's own answer is not due yet while its body is still awaited.
        return cycle.response_started or not self._in_body

    def _refuse(self, status: int, reason: str, body: bytes = b"") -> None:
        self._stop_timer()
        self._refused = True
        kind = "content-type: application/json\r\n" if body else ""
        head = (
            f"HTTP/1.1 {status} {reason}\r\n{kind}content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
