"""`POST /mutate` as a plain ASGI application, answered before FastAPI routes the request.

Every pod creation comes through here, and FastAPI's way to it (its middleware stack, the
router, the Request and Response objects, the dependency machinery) cost more CPU per request
than the webhook's own work on a small pod. The webhook app (`app.py`) dispatches this one
path and method here first; FastAPI still describes the route in the OpenAPI document and
serves everything else (the health routes, a wrong method on /mutate).

What the request may cost is bounded as for every route: the body by `read_body` (413 past
3 MiB), the time to receive it by the connection's read deadline (`limits.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from webhook.serving.handler import Answer
from webhook.serving.limits import MAX_BODY_BYTES, read_body

# Reviews of bodies past this size run off the event loop. Real pods are a few KiB; at 128 KiB
# a review costs about 5 ms, against tens of microseconds for the hand-off.
OFFLOAD_BYTES = 128 * 1024
PATH = "/mutate"
METHOD = "POST"
_CONTENT_TYPE = (b"content-type", b"application/json")


class MutateRoute:
    """The ASGI application of `POST /mutate`: the body in, the handler's answer out."""

    def __init__(self, handler: Callable[[bytes], Answer], max_bytes: int = MAX_BODY_BYTES):
        self.handler, self.max_bytes = handler, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(scope, receive, send, self.max_bytes)
        if body is None:
            return  # refused with 413, or the client left
        if len(body) > OFFLOAD_BYTES:
            # A big pod costs milliseconds to tens of them (linear in its size): reviewed on a
            # thread, the event loop keeps answering other reviews and the probes meanwhile.
            answer = await asyncio.to_thread(self.handler, body)
        else:
            answer = self.handler(body)
        headers = [_CONTENT_TYPE, (b"content-length", b"%d" % len(answer.body))]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
