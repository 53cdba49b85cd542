"""Request body limits: what a hostile or broken client's body can cost the server, bounded.

kube-apiserver itself refuses request bodies over 3 MiB (`MaxRequestBodyBytes`), so no genuine
AdmissionReview for a Pod is bigger. Everything here answers before a body is held whole; the
time a request may take to arrive, and its head, are bounded by the connection's protocol
(`http_protocol.py`).
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 3 * 1024 * 1024

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


async def read_body(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> bytes | None:
    """The request's whole body; None when it was refused here with 413 (over `max_bytes`) or
    the client left. A declared Content-Length over the limit is refused before any body byte
    is read; a chunked or understated body is counted while it streams and refused as soon as
    it passes the limit. The time it may take is the connection's read deadline
    (`http_protocol.py`)."""
    declared = _content_length(scope)
    if declared is not None and declared > max_bytes:
        await _too_big(send, max_bytes)
        return None
    message = await receive()
    if message["type"] != "http.request":
        return None  # http.disconnect
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: the body came in one piece
        if len(body) > max_bytes:
            await _too_big(send, max_bytes)
            return None
        return body
    return await _read_chunks(receive, send, max_bytes, [body])


async def _read_chunks(
    receive: Receive, send: Send, max_bytes: int, chunks: list[bytes]
) -> bytes | None:
    size = len(chunks[0])
    while size <= max_bytes:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False) and size <= max_bytes:
            return b"".join(chunks)
    await _too_big(send, max_bytes)
    return None


async def _too_big(send: Send, max_bytes: int) -> None:
    body = orjson.dumps({"error": f"request body exceeds {max_bytes} bytes"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
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
    """ASGI middleware: a body over `max_bytes` gets 413 before the application sees it
    (`read_body`)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body(scope, receive, send, self.max_bytes)
        if body is not None:
            await self.app(scope, _replay(body, receive), send)


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
