"""What one connection may cost the real server (webhook/connections.py), on loopback over TLS.

A TLS handshake has a deadline, the webhook port holds a bounded number of connections (who
gives way at the cap: test_fair_connections.py), a client that stops reading an answer is cut,
and a 4xx body never echoes more than a short prefix of its input. The flood test prints its
figures (`pytest -s`); docs/reliability.md quotes them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import resource
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.flooding import (
    MiB,
    closed_by_server,
    memory_limit_bytes,
    open_files,
    stalled_handshakes,
    status_kib,
    wait_for,
)
from tests.reviews import SHIPPED, app_client, gpu_pod, review
from tests.servers import RunningServer, port_of, running_server

FLOOD = 4000
# The flood comes from four addresses: one source may hold only half the cap.
FLOODERS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")


@pytest.fixture(autouse=True)
def enough_file_descriptors() -> Iterator[None]:
    """The flood holds thousands of sockets in this process; the server (a child) inherits
    the same limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3 * FLOOD if hard == resource.RLIM_INFINITY else min(3 * FLOOD, hard)
    if wanted < FLOOD + 500:
        pytest.skip(f"the hard limit of open files ({hard}) is too low for the flood")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@dataclass
class Traffic:
    """Reviews on kept-alive connections (as the apiserver sends them) and /healthz probes,
    from threads, until stopped; every outcome counted."""

    server: RunningServer
    reviews: int = 0
    probes: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def reviewer(self) -> None:
        conn = http.client.HTTPSConnection(
            "localhost", port_of(self.server), context=self.server.ssl_context(), timeout=30
        )
        body = json.dumps(review(gpu_pod())).encode()
        while not self.stop.is_set():
            try:
                conn.request("POST", "/mutate", body, {"Content-Type": "application/json"})
                answer = conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"review: {type(exc).__name__}: {exc}")
                return
            if answer.status != 200 or not json.loads(data)["response"]["allowed"]:
                self.failures.append(f"review: HTTP {answer.status}")
            self.reviews += 1
            time.sleep(0.02)
        conn.close()

    def prober(self) -> None:
        host, port = self.server.health_url.removeprefix("http://").split(":")
        while not self.stop.is_set():
            conn = http.client.HTTPConnection(host, int(port), timeout=10)  # as kubelet: new
            try:
                conn.request("GET", "/healthz")
                status = conn.getresponse().status
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"probe: {type(exc).__name__}: {exc}")
                status = 0
            finally:
                conn.close()
            if status != 200:
                self.failures.append(f"probe: HTTP {status}")
            self.probes += 1
            time.sleep(0.1)


@contextlib.contextmanager
def traffic_on(server: RunningServer) -> Iterator[Traffic]:
    traffic = Traffic(server)
    threads = [threading.Thread(target=traffic.reviewer) for _ in range(2)]
    threads.append(threading.Thread(target=traffic.prober))
    for thread in threads:
        thread.start()
    wait_for("traffic flowing", lambda: traffic.reviews > 10 and traffic.probes > 2)
    try:
        yield traffic
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=60)


def test_a_flood_of_4000_stalled_handshakes_stays_under_the_memory_limit_and_is_cut(
    tmp_path: Path,
) -> None:
    limit = memory_limit_bytes()
    with running_server(tmp_path, [SHIPPED]) as server, traffic_on(server) as traffic:
        pid = server.process.pid
        idle_rss, idle_files = status_kib(pid, "VmRSS"), open_files(pid)
        reviews_before = traffic.reviews
        flood = stalled_handshakes(port_of(server), FLOOD, FLOODERS)
        peak_files = open_files(pid)
        # Every stalled connection ends: cut at the handshake deadline, closed to make room for
        # a newer one at the cap, or refused at its source's limit. Reviews and probes keep
        # flowing meanwhile.
        assert all(closed_by_server(sock) for sock in flood)
        reviews_during = traffic.reviews - reviews_before
        for sock in flood:
            sock.close()
        wait_for("the server's sockets closed", lambda: open_files(pid) <= idle_files + 10)
        first_peak = status_kib(pid, "VmHWM")
        # The memory of the closed connections goes back to the system.
        wait_for("RSS back near idle", lambda: status_kib(pid, "VmRSS") < idle_rss + 16 * 1024)
        after_first = status_kib(pid, "VmRSS")
        # A second flood reuses the memory of the first: it does not keep growing.
        second = stalled_handshakes(port_of(server), FLOOD, FLOODERS)
        assert all(closed_by_server(sock) for sock in second)
        for sock in second:
            sock.close()
        second_peak, after = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
    print(
        f"\nFLOOD {FLOOD} stalled handshakes: RSS idle {idle_rss / 1024:.1f} MiB, peak "
        f"{first_peak / 1024:.1f} MiB, after it {after_first / 1024:.1f} MiB; after a second "
        f"flood peak {second_peak / 1024:.1f} MiB, RSS {after / 1024:.1f} MiB; server sockets "
        f"{idle_files} -> {peak_files}; reviews answered during the flood {reviews_during}, "
        f"in all {traffic.reviews}, probes {traffic.probes}, failures {len(traffic.failures)}"
    )
    assert first_peak * 1024 < limit
    assert second_peak < first_peak * 1.1
    assert traffic.failures == []
    assert reviews_during > 0


def test_a_client_that_stops_reading_is_cut_at_the_write_deadline(tmp_path: Path) -> None:
    """Pipelined reviews whose answers the client never reads: once the server's buffers
    are full it waits for the client at most --write-timeout, then cuts the connection."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "mirror.yaml").write_text(
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        "metadata: {name: mirror}\nspec:\n  add: {mirrorNodeSelector: true}\n"
    )
    pod = gpu_pod()
    pod["spec"]["nodeSelector"] = {f"example.com/k{i}": "v" * 60 for i in range(2000)}
    body = json.dumps(review(pod)).encode()
    with app_client([policies]) as client:
        answer_size = len(client.post("/mutate", content=body).content)  # about 300 KB
    request = (
        f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with running_server(tmp_path, [policies], ["--write-timeout", "2"]) as server:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
        raw.connect(("127.0.0.1", port_of(server)))
        tls = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
        tls.settimeout(5)
        sent = 0
        with contextlib.suppress(TimeoutError, OSError):  # the server stops reading: full
            for _ in range(200):
                tls.sendall(request)
                sent += 1
        wait_for("the cut logged", lambda: "connection cut" in server.log())
        received = 0
        tls.settimeout(30)
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while chunk := tls.recv(65536):
                received += len(chunk)
        tls.close()
    print(
        f"\nWRITE {sent} pipelined reviews of {answer_size}-byte answers, {received} bytes "
        "read after the cut"
    )
    assert sent > 0
    assert received < sent * answer_size  # not every answer was delivered: the server cut


def test_a_3_mib_junk_api_version_gets_a_short_400() -> None:
    # What repr() and JSON escaping blow up most: a control character and a non-ASCII letter,
    # 8 bytes a pair in the body, just under the 3 MiB a body may have.
    junk = "\x01\u00e9" * ((3 * MiB - 100) // 8)
    body = json.dumps({"apiVersion": junk}, ensure_ascii=False).encode()
    assert 3 * MiB - 200 < len(body) <= 3 * MiB
    with app_client() as client:
        answer = client.post("/mutate", content=body)
    assert answer.status_code == 400
    assert len(answer.content) < 512  # it was 15.7 MB
    assert answer.json()["error"].startswith(
        "apiVersion must be one of admission.k8s.io/v1, admission.k8s.io/v1beta1, got '"
    )
    assert f"({len(junk)} characters)" in answer.json()["error"]
