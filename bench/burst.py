"""Burst: many distinct pod reviews at once, as a workflow fanning out to 1,000 pods.

Sent over keep-alive TLS connections (opened before the clock starts, as the apiserver's pool
would be) by a minimal HTTP/1.1 client on asyncio streams: a general-purpose Python client
(httpx) spends more CPU per request than the server it measures, on the same two cores. Every
answer is checked: HTTP 200, the request's own uid, allowed, no internal-error warning, and a
patch that decodes to JSON Patch operations.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True)
class BurstResult:
    sent: int
    succeeded: int
    failures: list[str]
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def check_review(body: bytes, status: int, answer: bytes) -> str | None:
    """None for a correct answer to the review `body`, else what is wrong with it."""
    if status != 200:
        return f"HTTP {status}"
    response: dict[str, Any] = orjson.loads(answer).get("response") or {}
    uid = orjson.loads(body)["request"]["uid"]
    if response.get("uid") != uid:
        return f"uid {response.get('uid')!r} for {uid!r}"
    if response.get("allowed") is not True:
        return "not allowed"
    if any("internal error" in w for w in response.get("warnings") or []):
        return "internal error"
    if "patch" not in response:  # every burst review is an Argo step the policies place
        return "no patch"
    if not isinstance(orjson.loads(base64.b64decode(response["patch"])), list):
        return "patch is not a JSON Patch"
    return None


def check_status(body: bytes, status: int, answer: bytes) -> str | None:
    return None if status == 200 else f"HTTP {status}"


class Connection:
    """One keep-alive HTTP/1.1 connection; our server always answers with a Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line, *headers = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = 0
        for header in headers:
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)


async def _burst(
    url: str,
    context: ssl.SSLContext,
    bodies: list[bytes],
    concurrency: int,
    path: str,
    check: Callable[[bytes, int, bytes], str | None],
) -> BurstResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 443
    latencies: list[float] = []
    failures: list[str] = []
    correct = 0
    queue = list(reversed(bodies))

    async def connect() -> Connection:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        connection = Connection(reader, writer, f"{host}:{port}")
        await connection.request("GET", "/healthz")  # the TLS handshake, before the clock
        return connection

    connections = await asyncio.gather(*(connect() for _ in range(concurrency)))

    async def worker(connection: Connection) -> None:
        nonlocal correct
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            try:
                status, answer = await connection.request("POST", path, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            latencies.append((time.perf_counter() - started) * 1000)
            problem = check(body, status, answer)
            if problem:
                failures.append(problem)
            else:
                correct += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    seconds = time.perf_counter() - started
    for connection in connections:
        connection.writer.close()
    ordered = sorted(latencies) or [0.0]
    return BurstResult(
        sent=len(bodies),
        succeeded=correct,
        failures=failures[:10],
        seconds=seconds,
        p50_ms=statistics.median(ordered),
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        max_ms=ordered[-1],
        latencies_ms=latencies,
    )


def run_burst(
    url: str, ca_file: str, bodies: list[bytes], concurrency: int, path: str = "/mutate"
) -> BurstResult:
    """Send every body once to `path`; the floor (`/floor`) is checked for HTTP 200 only."""
    context = ssl.create_default_context(cafile=ca_file)
    check = check_review if path == "/mutate" else check_status
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_burst(url, context, bodies, concurrency, path, check))
