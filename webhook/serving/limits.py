"""Request limits: what a hostile or broken client can cost the server, bounded.

kube-apiserver itself refuses request bodies over 3 MiB (`MaxRequestBodyBytes`), so no genuine
AdmissionReview for a Pod is bigger. Everything here answers before a body is held whole, and a
client that sends slowly is cut off at a deadline instead of holding a connection forever
(uvicorn's own `timeout_keep_alive` only covers the idle time *between* requests).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from webhook.serving.defaults import READ_TIMEOUT_SECONDS

MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_HEAD_BYTES = 64 * 1024  # request line + headers; a real review sends well under 1 KiB
DRAIN_SECONDS = 1.0  # how long an idle kept-alive connection stays open after SIGTERM

# How long an idle kept-alive connection stays open: longer than kube-apiserver's webhook client
# keeps one, so that the apiserver always closes an idle connection first. A server that closed
# first could do it just as a review is sent on the connection: the POST is not retried, the
# call fails, and `failurePolicy: Ignore` creates the pod without placement. The client's limit
# is 90 s: `staging/src/k8s.io/apiserver/pkg/util/webhook/client.go` builds the webhook client
# with `rest.UnversionedRESTClientFor` and forces HTTP/1.1; its transport comes from client-go's
# `transport/cache.go`, which leaves `IdleConnTimeout` unset, and
# `k8s.io/apimachinery/pkg/util/net/http.go` `SetTransportDefaults` then takes Go's
# `http.DefaultTransport` value, 90 s.
APISERVER_IDLE_CONNECTION_SECONDS = 90
KEEP_ALIVE_SECONDS = APISERVER_IDLE_CONNECTION_SECONDS + 10


async def _answer(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # The rest of the body is never read: closing is the only way to stay in sync.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` gets 413, one not received within `timeout`
    seconds gets 408, in both cases before the application sees it.

    A declared Content-Length over the limit is refused before any body byte is read; a chunked
    or understated body is counted while it streams and refused as soon as it passes the limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body exceeds {self.max_bytes} bytes"
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _answer(send, 413, too_big)
            return
        chunks: list[bytes] = []
        size = 0
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(left, 0))
            except TimeoutError:
                await _answer(send, 408, f"request body not received within {self.timeout:g}s")
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _answer(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser has already refused it; count instead
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on the request head, and a
    drain on shutdown.

    Without them a connection that sends nothing, or dribbles header bytes (slowloris), stays
    open for ever, and headers grow without bound. The deadline starts when the connection
    opens or when the first byte of a new request arrives on a kept-alive connection.
    """

    head_timeout: float = READ_TIMEOUT_SECONDS
    max_head_bytes: int = MAX_HEAD_BYTES
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
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
        if self._head_timer is None:
            self._start_timer()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._stop_timer()
        super().on_headers_complete()
        if self._draining:
            self.cycle.keep_alive = False  # answered with `connection: close`

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

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes and not self._refused:
            self._refuse(431, "Request Header Fields Too Large")

    def _start_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._refused and not self.transport.is_closing():
            self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        self._stop_timer()
        self._refused = True
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
        )
        self.transport.close()


def guarded_protocol(
    head_timeout: float = READ_TIMEOUT_SECONDS, max_head_bytes: int = MAX_HEAD_BYTES
) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn makes for each connection, with these limits."""
    limits = {"head_timeout": head_timeout, "max_head_bytes": max_head_bytes}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), limits)
