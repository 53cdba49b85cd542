"""The real server in a subprocess: `placement-webhook serve` on loopback, real TLS."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from webhook.tools.certs import ensure_dev_certificate

BIN = Path(sys.executable).parent / "placement-webhook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    url: str
    health_url: str
    ca_file: Path
    log_file: Path

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


@contextlib.contextmanager
def running_server(
    tmp: Path,
    policies: Sequence[Path] = (),
    extra_args: Sequence[str] = (),
    cert: tuple[Path, Path, Path] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[RunningServer]:
    """Start the server, wait until /readyz answers, stop it with SIGTERM afterwards."""
    cert_file, key_file, ca_file = cert or ensure_dev_certificate(tmp / "certs")
    port, health_port = free_port(), free_port()
    args = [
        str(BIN),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--health-port",
        str(health_port),
        "--cert-file",
        str(cert_file),
        "--key-file",
        str(key_file),
    ]
    for p in policies:
        args += ["--policies", str(p)]
    args += list(extra_args)
    log_file = tmp / f"server-{port}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, **(env or {})}
        )
    server = RunningServer(
        process, f"https://localhost:{port}", f"http://127.0.0.1:{health_port}", ca_file, log_file
    )
    try:
        wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(server: RunningServer, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.health_url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not ready after {seconds}s:\n{server.log()}")


# --- raw HTTP/1.1 over the server's TLS, for what an HTTP client library would hide ---------


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def connect(server: RunningServer, timeout: float = 30.0) -> ssl.SSLSocket:
    """A TLS connection to the webhook port, handshake done."""
    raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=timeout)
    return server.ssl_context().wrap_socket(raw, server_hostname="localhost")


def read_status(sock: ssl.SSLSocket) -> int | None:
    """The status of the response on `sock`, or None if it closed without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except (ConnectionError, ssl.SSLError):
        return None
    return int(data.split(b" ", 2)[1])


def read_response(sock: ssl.SSLSocket) -> tuple[int, bytes]:
    """(status, body) of one response with a Content-Length, read from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data[:100]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return int(head.split(b" ", 2)[1]), body
