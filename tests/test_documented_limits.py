"""The real server, as shipped (no limit changed by a flag), against the limits the docs state,
from both sides: 3 MiB of body, 64 KiB of request head, 10 s to receive a request, 100 s of
keep-alive (docs/reliability.md, "Limits the server enforces").

The values are written out here, not imported from the code they check. The waits run at
once, each on its own connection, started together by one fixture: the module takes as long as
its longest wait (the keep-alive, just over 100 s), not the sum.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from tests.reviews import UID, check_response, gpu_pod, review
from tests.servers import RunningServer, connect, read_response, read_status, running_server

BODY_LIMIT = 3 * 1024 * 1024
HEAD_LIMIT = 64 * 1024
READ_DEADLINE = 10.0
KEEP_ALIVE = 100.0
UNDER, OVER = 1.0, 1.0  # seconds either side of a deadline

URL = "/mutate?timeout=5s"
BODY = json.dumps(review(gpu_pod())).encode()


def request(body: bytes = BODY, filler: str = "") -> bytes:
    extra = f"X-Filler: {filler}\r\n" if filler else ""
    return (
        f"POST {URL} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def counted_head(filler: str) -> int:
    """What the head limit counts: the request target, and each header's name and value."""
    headers = {
        "Host": "localhost",
        "Content-Type": "application/json",
        "Content-Length": str(len(BODY)),
        "X-Filler": filler,
    }
    return len(URL) + sum(len(k) + len(v) for k, v in headers.items())


def patched(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    check_response(json.loads(body)["response"], UID)
    return True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("documented-limits")) as running:
        yield running


# --- sizes: no waiting ---------------------------------------------------------------------


def send_body_of(server: RunningServer, size: int) -> tuple[int, bytes]:
    body = BODY + b" " * (size - len(BODY))  # JSON whitespace: the same review
    with connect(server) as sock:
        sock.sendall(request(body))
        return read_response(sock)


def test_a_body_of_exactly_3_mib_is_answered_and_one_byte_more_gets_413(
    server: RunningServer,
) -> None:
    assert patched(*send_body_of(server, BODY_LIMIT))
    status, body = send_body_of(server, BODY_LIMIT + 1)
    assert status == 413
    assert json.loads(body) == {"error": "request body exceeds 3145728 bytes"}


def send_head_of(server: RunningServer, size: int) -> int | None:
    filler = "f" * (size - counted_head(""))
    assert counted_head(filler) == size
    with connect(server) as sock:
        # Refused and closed while the rest was being sent: the status is written all the same.
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            sock.sendall(request(filler=filler))
        if size > HEAD_LIMIT:
            return read_status(sock)
        status, body = read_response(sock)
        return status if patched(status, body) else None


def test_a_head_of_exactly_64_kib_is_answered_and_one_byte_more_gets_431(
    server: RunningServer,
) -> None:
    assert send_head_of(server, HEAD_LIMIT) == 200
    assert send_head_of(server, HEAD_LIMIT + 1) == 431


# --- deadlines: every wait started at once --------------------------------------------------


def stall_in_head(server: RunningServer, seconds: float) -> int | None:
    """Send half the request line, say nothing for `seconds`, then the rest: the status."""
    whole = request()
    with connect(server, timeout=seconds + 30) as sock:
        sock.sendall(whole[:10])
        return finish_after(sock, seconds, whole[10:])


def stall_in_body(server: RunningServer, seconds: float) -> int | None:
    """Send the head and half the body, say nothing for `seconds`, then the rest."""
    whole = request()
    cut = len(whole) - len(BODY) // 2
    with connect(server, timeout=seconds + 30) as sock:
        sock.sendall(whole[:cut])
        return finish_after(sock, seconds, whole[cut:])


def finish_after(sock: ssl.SSLSocket, seconds: float, rest: bytes) -> int | None:
    """Wait `seconds` for an answer; if none came, send `rest` and read the answer."""
    sock.settimeout(seconds)
    try:
        early = read_status(sock)  # the server gave up first: 408, or a close (None)
    except TimeoutError:
        sock.settimeout(30)
        sock.sendall(rest)
        status, body = read_response(sock)
        return status if patched(status, body) else None
    return early


def idle_between_reviews(server: RunningServer, seconds: float) -> str:
    """One review, `seconds` of silence, then whether the same connection is still there."""
    with connect(server) as sock:
        sock.sendall(request())
        assert patched(*read_response(sock))
        time.sleep(seconds)
        sock.settimeout(5)
        try:
            sock.sendall(request())
            status, body = read_response(sock)
        except (ConnectionError, ssl.SSLError, TimeoutError) as exc:
            return f"closed ({type(exc).__name__})"
        return "reused" if patched(status, body) else f"answered {status}"


WAITS: dict[str, tuple[Callable[[RunningServer, float], Any], float]] = {
    "head stalled under the deadline": (stall_in_head, READ_DEADLINE - UNDER),
    "head stalled over the deadline": (stall_in_head, READ_DEADLINE + OVER),
    "body stalled under the deadline": (stall_in_body, READ_DEADLINE - UNDER),
    "body stalled over the deadline": (stall_in_body, READ_DEADLINE + OVER),
    "idle just under the keep-alive": (idle_between_reviews, KEEP_ALIVE - UNDER),
    "idle just over the keep-alive": (idle_between_reviews, KEEP_ALIVE + OVER),
}


@pytest.fixture(scope="module")
def waits(server: RunningServer) -> Iterator[dict[str, Future[Any]]]:
    with ThreadPoolExecutor(max_workers=len(WAITS)) as pool:
        yield {name: pool.submit(call, server, seconds) for name, (call, seconds) in WAITS.items()}


def outcome(waits: dict[str, Future[Any]], name: str) -> Any:
    return waits[name].result(timeout=KEEP_ALIVE + 60)


def test_a_request_head_stalled_9_s_is_answered_and_11_s_gets_408(
    waits: dict[str, Future[Any]],
) -> None:
    assert outcome(waits, "head stalled under the deadline") == 200
    assert outcome(waits, "head stalled over the deadline") == 408


def test_a_request_body_stalled_9_s_is_answered_and_11_s_gets_408(
    waits: dict[str, Future[Any]],
) -> None:
    assert outcome(waits, "body stalled under the deadline") == 200
    assert outcome(waits, "body stalled over the deadline") == 408


def test_a_kept_alive_connection_idle_99_s_is_reused_and_101_s_is_closed(
    waits: dict[str, Future[Any]],
) -> None:
    """Longer than kube-apiserver's webhook client keeps an idle connection (90 s): the
    apiserver closes first, so it never sends a review on a connection the server is closing."""
    assert outcome(waits, "idle just under the keep-alive") == "reused"
    assert outcome(waits, "idle just over the keep-alive").startswith("closed")
