"""The connection bounds at their documented values (docs/reliability.md): a TLS handshake is cut
10 s after the connection opens, and a client that stops reading a waiting answer 10 s after
the server's buffers filled, but never once it reads again.

The server is built as `serve` builds it with no flag (the command line's defaults, through
`serve_options` and `webhook_protocol`), on an event loop whose clock moves only when the test
says: a deadline is reached by moving the clock, so nothing here depends on how fast the
machine is. The values are written out here, not imported from the code they check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from uvicorn.server import ServerState

from tests.reviews import gpu_pod, review
from webhook.serving.app import create_webhook_app
from webhook.serving.connections import PortConnections, plain_protocol
from webhook.serving.http_protocol import guarded_protocol
from webhook.serving.limits import KEEP_ALIVE_SECONDS
from webhook.serving.mutate_route import OFFLOAD_BYTES
from webhook.serving.serve import ServeOptions, load_store, webhook_protocol
from webhook.tools.certs import ensure_dev_certificate
from webhook.tools.cli import build_parser, serve_options

HANDSHAKE_DEADLINE = 10.0
WRITE_DEADLINE = 10.0
JUST = 0.01  # how far short of, or past, a deadline the clock is moved


class ManualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock stands still until `advance`; its I/O is real."""

    now = 1000.0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.settle()

    def settle(self) -> None:
        """Run what is ready (I/O, due timers, the tasks they wake) a few turns over."""
        for _ in range(50):
            self.run_until_complete(asyncio.sleep(0))


@pytest.fixture
def loop() -> Iterator[ManualClockLoop]:
    loop = ManualClockLoop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def shipped(tmp_path: Path) -> ServeOptions:
    """`serve` with no flag but its certificate: what a Deployment runs."""
    cert, key, _ = ensure_dev_certificate(tmp_path / "certs")
    return serve_options(build_parser().parse_args(["serve"]), cert, key)


def accepted(loop: ManualClockLoop, factory: type[asyncio.Protocol]) -> socket.socket:
    """A client connected over loopback TCP, its server side served by `factory` on `loop`;
    the client's socket, small buffers, non-blocking."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(listening.getsockname())
        server_side, _ = listening.accept()
    server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.setblocking(False)
    loop.run_until_complete(loop.connect_accepted_socket(factory, server_side))
    loop.settle()
    return client


def open_from_client(client: socket.socket) -> bool:
    """The connection is still open: no EOF, no reset (whatever waits to be read)."""
    try:
        data = client.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except ConnectionError:
        return False
    return bool(data)


def read_answer(loop: ManualClockLoop, client: socket.socket) -> bytes | None:
    """Read one whole HTTP answer (its Content-Length says how much), the loop turning while
    the clock stands still; None when the connection ends before it is whole."""
    data = b""
    for _ in range(10_000):
        head, _, body = data.partition(b"\r\n\r\n")
        if b"\r\n\r\n" in data and len(body) == content_length(head):
            return data
        loop.settle()
        try:
            chunk = client.recv(1 << 20)
        except BlockingIOError:
            continue
        except ConnectionError:
            return None
        if not chunk:
            return None
        data += chunk
    raise AssertionError(f"no whole answer: {len(data)} bytes")


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    raise AssertionError(f"no content-length in {head[:200]!r}")


def test_a_stalled_tls_handshake_is_cut_at_10_s_and_not_before(
    loop: ManualClockLoop, shipped: ServeOptions
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(shipped.cert_file, shipped.key_file)
    port = PortConnections("webhook", shipped.connections)
    client = accepted(loop, webhook_protocol(shipped, context, port))  # it never says hello

    loop.advance(HANDSHAKE_DEADLINE - JUST)
    assert open_from_client(client) and port.table.open == 1
    loop.advance(2 * JUST)
    assert not open_from_client(client) and port.table.open == 0
    client.close()


@contextlib.contextmanager
def webhook_over_plain_tcp(
    loop: ManualClockLoop, shipped: ServeOptions, tmp_path: Path
) -> Iterator[tuple[socket.socket, bytes]]:
    """The webhook app behind the port's connection layer as `serve` sets it up, without TLS
    (the write deadline is the connection layer's, the same on either port); a client, and a
    request whose answer (about 150 KB) overfills the server's buffers. The request is
    reviewed on the event loop (under OFFLOAD_BYTES), so the answer is written as the loop
    turns, with no thread to wait for."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "mirror.yaml").write_text(
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        "metadata: {name: mirror}\nspec:\n  add: {mirrorNodeSelector: true}\n"
    )
    pod = gpu_pod()
    pod["spec"]["nodeSelector"] = {f"example.com/k{i}": "v" * 60 for i in range(1000)}
    body = json.dumps(review(pod)).encode()
    assert len(body) < OFFLOAD_BYTES
    request = (
        f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    app = create_webhook_app(load_store([policies]))
    config = uvicorn.Config(app, log_config=None, timeout_keep_alive=KEEP_ALIVE_SECONDS)
    config.load()
    state = ServerState()
    http = guarded_protocol(shipped.read_timeout)
    port = PortConnections("webhook", shipped.connections)
    factory = plain_protocol(
        lambda: http(config=config, server_state=state, app_state={}, _loop=loop), port
    )
    client = accepted(loop, factory)
    try:
        yield client, request
    finally:
        client.close()
        loop.settle()


def send(loop: ManualClockLoop, client: socket.socket, request: bytes) -> None:
    client.setblocking(True)
    client.sendall(request)
    client.setblocking(False)
    loop.settle()  # the server reads it, answers, and its buffers fill: the client reads none


def test_a_client_that_reads_nothing_of_an_answer_is_cut_at_10_s_and_not_before(
    loop: ManualClockLoop, shipped: ServeOptions, tmp_path: Path
) -> None:
    with webhook_over_plain_tcp(loop, shipped, tmp_path) as (client, request):
        send(loop, client, request)
        loop.advance(WRITE_DEADLINE - JUST)
        assert open_from_client(client)
        loop.advance(2 * JUST)
        assert read_answer(loop, client) is None  # cut: the rest of the answer never came


def test_a_client_that_reads_again_is_not_cut_later(
    loop: ManualClockLoop, shipped: ServeOptions, tmp_path: Path
) -> None:
    """Once the client reads, the stall is over: the connection that once filled its buffers
    serves on, however long afterwards, and a second stall gets a deadline of its own."""
    with webhook_over_plain_tcp(loop, shipped, tmp_path) as (client, request):
        send(loop, client, request)
        loop.advance(WRITE_DEADLINE - JUST)
        first = read_answer(loop, client)  # the client reads again: the whole answer
        loop.advance(3 * WRITE_DEADLINE)
        send(loop, client, request)  # the same answer again: the buffers fill again
        loop.advance(WRITE_DEADLINE - JUST)
        second = read_answer(loop, client)
        assert first is not None and len(first) > 100_000
        assert second is not None and len(second) == len(first)
