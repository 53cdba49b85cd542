"""The real server for the benchmark: `placement-webhook serve` in a subprocess on loopback.

Started with the hidden `--floor-route`, so the no-op endpoint (the floor) runs in the same
processes, behind the same TLS, HTTP parser, middleware and router as `/mutate`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from webhook.tools.certs import ensure_dev_certificate

BIN = Path(sys.executable).parent / "placement-webhook"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc/<pid>/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    health_url: str
    ca_file: Path
    log_file: Path
    workers: int

    def worker_pids(self) -> list[int]:
        """The processes that answer requests: the server itself, or its forked workers."""
        return children(self.process.pid) if self.workers > 1 else [self.process.pid]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the processes that answer requests."""
        return sum(cpu_seconds(pid) for pid in self.worker_pids())

    def rss(self) -> tuple[int, int]:
        """(sum over all processes, largest worker) in KiB; the sum includes the parent that
        supervises the workers."""
        workers = [rss_kib(p) for p in self.worker_pids()]
        total = sum(workers) + (rss_kib(self.process.pid) if self.workers > 1 else 0)
        return total, max(workers, default=0)


@contextlib.contextmanager
def running_server(
    out: Path, policies: Path, workers: int = 1, log_level: str = "info"
) -> Iterator[Server]:
    """Start the server, wait until every worker is up, stop it with SIGTERM afterwards."""
    cert, key, ca = ensure_dev_certificate(out / "certs")
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
        str(cert),
        "--key-file",
        str(key),
        "--policies",
        str(policies),
        "--workers",
        str(workers),
        "--log-level",
        log_level,
        "--floor-route",
    ]
    log_file = out / f"server-{workers}w-{policies.name}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    server = Server(
        process,
        f"https://localhost:{port}",
        f"http://127.0.0.1:{health_port}",
        ca,
        log_file,
        workers,
    )
    try:
        wait_ready(server, log_level)
        yield server
    finally:
        _stop(process)


@contextlib.contextmanager
def running_raw_floor(out: Path, workers: int = 1) -> Iterator[Server]:
    """The raw ASGI floor (`bench/raw_floor.py`) in a subprocess, with `workers` processes, on
    the same certificate as the webhook; stopped with SIGTERM afterwards."""
    cert, key, ca = ensure_dev_certificate(out / "certs")
    port = free_port()
    args = [sys.executable, "-m", "bench.raw_floor", "--port", str(port)]
    args += ["--cert-file", str(cert), "--key-file", str(key), "--workers", str(workers)]
    log_file = out / f"server-raw-floor-{workers}w.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    server = Server(process, f"https://localhost:{port}", "", ca, log_file, workers)
    try:
        _wait_listening(server, port)
        yield server
    finally:
        _stop(process)


def _wait_listening(server: Server, port: int, seconds: float = 60.0) -> None:
    """Until every worker has started and the port accepts connections."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log_file.read_text(errors="replace")
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{log}")
        log = server.log_file.read_text(errors="replace")
        if log.count("Started server process") >= server.workers and "running on" in log:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not listening after {seconds:g}s; see {server.log_file}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: Server, log_level: str, seconds: float = 120.0) -> None:
    """Until /readyz answers and every worker has started its servers: at info level each
    worker logs uvicorn's "Application startup complete" once, for its webhook server (the
    health port's answers /readyz); quieter, a second's grace after the workers exist stands in
    for it."""
    deadline = time.monotonic() + seconds
    logged = log_level in ("info", "debug")
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log_file.read_text(errors="replace")
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{log}")
        started = len(server.worker_pids()) == server.workers
        if logged:
            log = server.log_file.read_text(errors="replace")
            started = log.count("Application startup complete") >= server.workers
        if started and _ready(server):
            if not logged:
                time.sleep(1.0)
            return
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {seconds:g}s; see {server.log_file}")


def _ready(server: Server) -> bool:
    try:
        with urllib.request.urlopen(server.health_url + "/readyz", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False
