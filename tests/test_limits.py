"""Request limits: oversized, deeply nested, non-object and slow requests are refused with the
right status, without holding the body whole or a connection for ever, while good reviews keep
being answered. ASGI-level cases call the middleware with a receive channel that counts what
was read; the rest run against the real server over real TLS.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from tests.reviews import app_client, check_response, gpu_pod, patch_of, review
from tests.servers import RunningServer, connect, read_status, running_server
from webhook.serving.limits import BodyLimit

MiB = 1024 * 1024
# The documented limits (docs/reliability.md), written out here rather than imported from the
# code they check: a limit changed in the code must fail these tests.
BODY_LIMIT = 3 * 1024 * 1024  # kube-apiserver's own limit on a request body
HEAD_LIMIT = 64 * 1024

# --- the middleware on its own: what it reads before answering -----------------------------


class Stream:
    """An ASGI receive channel: `chunks` bodies of `size` bytes, then (if finite) the end."""

    def __init__(self, size: int, chunks: int | None) -> None:
        self.size, self.chunks, self.read = size, chunks, 0

    async def __call__(self) -> Message:
        self.read += 1
        more = self.chunks is None or self.read < self.chunks
        return {"type": "http.request", "body": b" " * self.size, "more_body": more}


def call_middleware(
    headers: list[tuple[bytes, bytes]], receive: Receive
) -> tuple[int, dict[str, Any], bool]:
    """(status, JSON body, whether the wrapped app ran)."""
    reached: list[bool] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/mutate", "headers": headers}
    asyncio.run(BodyLimit(app)(scope, receive, send))
    start, body = sent[0], sent[1]
    return start["status"], json.loads(body["body"] or b"{}"), bool(reached)


def test_a_declared_length_over_3_mib_is_refused_before_any_body_byte_is_read() -> None:
    stream = Stream(MiB, None)
    status, body, reached = call_middleware(
        [(b"content-length", str(BODY_LIMIT + 1).encode())], stream
    )
    assert (status, reached, stream.read) == (413, False, 0)
    assert "exceeds" in body["error"]


def test_an_endless_chunked_body_is_refused_once_it_passes_3_mib() -> None:
    stream = Stream(MiB // 4, None)  # never ends: only the limit stops the reading
    status, _, reached = call_middleware([(b"transfer-encoding", b"chunked")], stream)
    assert (status, reached) == (413, False)
    assert stream.read == BODY_LIMIT // (MiB // 4) + 1


def test_an_understated_content_length_does_not_get_past_the_count() -> None:
    stream = Stream(MiB, None)
    status, _, reached = call_middleware([(b"content-length", b"10")], stream)
    assert (status, reached) == (413, False)


def test_a_body_of_exactly_3_mib_reaches_the_app() -> None:
    status, _, reached = call_middleware([], Stream(BODY_LIMIT // 4, 4))
    assert (status, reached) == (200, True)


# --- through the app: bodies at the limit, nesting, non-objects -----------------------------


def padded(body: bytes, size: int) -> bytes:
    """`body` followed by JSON whitespace up to `size` bytes: still the same document."""
    return body + b" " * (size - len(body))


def test_a_review_of_exactly_3_mib_is_answered() -> None:
    body = padded(json.dumps(review(gpu_pod())).encode(), BODY_LIMIT)
    with app_client() as client:
        r = client.post("/mutate", content=body)
    assert r.status_code == 200
    check_response(r.json()["response"])


def test_a_review_one_byte_over_3_mib_gets_413() -> None:
    body = padded(json.dumps(review(gpu_pod())).encode(), BODY_LIMIT + 1)
    with app_client() as client:
        r = client.post("/mutate", content=body)
    assert r.status_code == 413
    assert r.headers["connection"] == "close"
    assert r.json()["error"] == f"request body exceeds {BODY_LIMIT} bytes"


def with_deep_field(depth: int) -> bytes:
    """A GPU pod review whose pod has an unknown field nested `depth` objects deep (built as
    text: the JSON encoders here refuse such depth themselves)."""
    doc = review(gpu_pod())
    doc["request"]["object"]["spec"]["x"] = "DEEP"
    deep = '{"a":' * depth + '"bottom"' + "}" * depth
    return json.dumps(doc).replace('"DEEP"', deep).encode()


def test_a_body_nested_past_the_json_depth_limit_gets_400_that_says_so() -> None:
    with app_client() as client:
        r = client.post("/mutate", content=with_deep_field(1100))
    assert r.status_code == 400
    assert r.json()["error"].startswith("body is nested more than 1024 levels deep")


# The review, its request, the pod and its spec are 4 levels; each `{"a":` of the field adds one.
REVIEW_LEVELS = 4


def test_a_body_nested_exactly_1024_levels_is_patched_and_one_more_gets_400() -> None:
    with app_client() as client:
        at_limit = client.post("/mutate", content=with_deep_field(1024 - REVIEW_LEVELS))
        over = client.post("/mutate", content=with_deep_field(1025 - REVIEW_LEVELS))
    assert at_limit.status_code == 200
    check_response(at_limit.json()["response"])
    assert over.status_code == 400
    assert over.json()["error"].startswith("body is nested more than 1024 levels deep")


def test_a_pod_with_a_deep_but_legal_unknown_field_is_admitted_and_patched() -> None:
    with app_client() as client:
        r = client.post("/mutate", content=with_deep_field(1000))
    assert r.status_code == 200
    check_response(r.json()["response"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b"   ", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'"AdmissionReview"', "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"true", "must be a JSON object"),
        (b'{"apiVersion": "admission.k8s.io/v1"} trailing', "not valid JSON"),
        (b'{"a": 1, "a": \xff}', "not valid JSON"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": []}',
            "request must be an object",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", '
            b'"request": {"uid": 7}}',
            "request.uid must be a string",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": '
            b'{"uid": "u", "operation": "CREATE", "resource": "pods", "kind": {}}}',
            "request.resource must be an object",
        ),
        (json.dumps(review("a pod")).encode(), "request.object must be an object or null"),
        (json.dumps(review([gpu_pod()])).encode(), "request.object must be an object or null"),
    ],
    ids=[
        "an empty body",
        "only whitespace",
        "a JSON array",
        "a JSON string",
        "a JSON number",
        "JSON null",
        "JSON true",
        "trailing garbage after the object",
        "invalid UTF-8",
        "a byte order mark",
        "request is a list",
        "uid is a number",
        "resource is a string",
        "object is a string",
        "object is a list",
    ],
)
def test_a_body_that_is_not_an_admission_review_gets_400_with_a_readable_message(
    body: bytes, message: str
) -> None:
    with app_client() as client:
        r = client.post("/mutate", content=body)
    assert r.status_code == 400
    assert message in r.json()["error"]


# --- the real server: what reaches the socket -----------------------------------------------

READ_TIMEOUT = 2.0  # short, so the slow-client cases stay short


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("limits")
    with running_server(tmp, extra_args=["--read-timeout", str(READ_TIMEOUT)]) as running:
        yield running


HEAD = "POST /mutate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"


def test_a_declared_4_mib_body_is_refused_without_sending_it(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(f"{HEAD}Content-Length: {4 * MiB}\r\n\r\n".encode())
        assert read_status(sock) == 413


def test_a_chunked_body_is_refused_as_it_streams_past_3_mib(server: RunningServer) -> None:
    """The body never ends (no last chunk): only counting can answer it. The client stops
    just past the limit, so the answer is read before any reset."""
    chunk = b" " * (64 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with connect(server) as sock:
        sock.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
        for _ in range(BODY_LIMIT // len(chunk) + 1):
            sock.sendall(framed)
        assert read_status(sock) == 413


def test_headers_over_64_kib_get_431(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(HEAD.encode())
        filler = f"X-Filler: {'a' * 1000}\r\n".encode()
        try:
            for _ in range(HEAD_LIMIT // len(filler) + 2):
                sock.sendall(filler)
        except (ConnectionError, ssl.SSLError):
            pass
        assert read_status(sock) == 431


class SlowClient(threading.Thread):
    """Opens a connection and sends `prefix`, then one byte every 0.2 s for at most `cap`
    seconds. Records whether the server cut it off (a 408, or a close) before the cap."""

    def __init__(self, server: RunningServer, prefix: bytes, drip: bytes, cap: float) -> None:
        super().__init__(daemon=True)
        self.server, self.prefix, self.drip, self.cap = server, prefix, drip, cap
        self.outcome = "not run"

    def run(self) -> None:
        with connect(self.server) as sock:
            sock.settimeout(0.2)
            if self.prefix:
                sock.sendall(self.prefix)
            deadline = time.monotonic() + self.cap
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    data = None
                except (ConnectionError, ssl.SSLError):
                    self.outcome = "closed"
                    return
                if data is not None:
                    self.outcome = (
                        "408"
                        if data.startswith(b"HTTP/1.1 408")
                        else ("closed" if not data else f"answered {data[:20]!r}")
                    )
                    return
                if self.drip:
                    try:
                        sock.sendall(self.drip)
                    except (ConnectionError, ssl.SSLError):
                        self.outcome = "closed"
                        return
            self.outcome = "still open at the cap"


def test_slow_clients_are_cut_off_while_good_reviews_keep_being_answered(
    server: RunningServer,
) -> None:
    cap = 20.0  # far beyond the 2 s read deadline: reaching it means nobody cut the client
    slow = [
        SlowClient(server, b"", b"", cap),  # connects, then says nothing
        SlowClient(server, b"POST /mutate?pad=", b"a", cap),  # dribbles the request line
        SlowClient(server, HEAD.encode(), b"X", cap),  # dribbles a header for ever
        SlowClient(server, f"{HEAD}Content-Length: 100000\r\n\r\n".encode(), b" ", cap),
        SlowClient(server, f"{HEAD}Content-Length: 100000\r\n\r\n".encode(), b" ", cap),
    ]
    for client in slow:
        client.start()
    answered, sent = 0, 0
    body = json.dumps(review(gpu_pod())).encode()
    with httpx.Client(base_url=server.url, verify=server.ssl_context(), timeout=10) as good:
        while any(c.is_alive() for c in slow):
            sent += 1
            r = good.post("/mutate", content=body)
            answered += r.status_code == 200 and bool(patch_of(r.json()))
            time.sleep(0.05)
    for client in slow:
        client.join()
    print(
        f"\nFAULT 5 slow clients: sent={sent} answered={answered}, slow clients cut: "
        f"{[c.outcome for c in slow]}"
    )
    assert [c.outcome for c in slow] == ["408"] * 5
    assert answered == sent > 0
