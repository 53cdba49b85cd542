"""Clients that hold a server's connections without being served, from chosen source addresses.

Every address of 127.0.0.0/8 is loopback on Linux: a client bound to 127.0.0.2 is another
source, to the server, than one on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def memory_limit_bytes() -> int:
    """resources.limits.memory of the shipped Deployment (deploy/base/deployment.yaml)."""
    deployment = yaml.safe_load((REPO / "deploy/base/deployment.yaml").read_text())
    (webhook,) = deployment["spec"]["template"]["spec"]["containers"]
    limit = webhook["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    return int(limit.removesuffix("Mi")) * MiB


def status_kib(pid: int, name: str) -> int:
    """A field of /proc/<pid>/status in KiB: VmRSS (resident now), VmHWM (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {name} for {pid}")


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def client_hello() -> bytes:
    """The first flight of a real TLS client, to send half of."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def connect_from(source: str, port: int, timeout: float = 30) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0))


def stalled_handshakes(
    port: int, count: int, sources: Sequence[str] = ("127.0.0.1",)
) -> list[socket.socket]:
    """Connections that never finish a handshake, from `sources` in turn: half send nothing,
    half a partial ClientHello."""
    half = client_hello()[:100]
    sockets = []
    for i in range(count):
        sock = connect_from(sources[i % len(sources)], port)
        if i % 2:
            with contextlib.suppress(OSError):  # closed already: refused, or made room
                sock.sendall(half)
        sockets.append(sock)
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server has closed the connection: EOF or reset, never an answer."""
    sock.settimeout(30)  # a guard against hanging, not a timing claim
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 60) -> None:
    """Poll `condition`: a guard against hanging, not a timing claim."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)
