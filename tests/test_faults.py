"""Faults under load, on loopback, bounded in time: the real server keeps answering.

A load generator sends reviews from several threads, each over its own kept-alive connection as
the apiserver does, plus one thread that opens a new connection per review (so new handshakes
happen while the certificate changes). While it runs, one fault is applied; every request is
counted: sent, answered (200, allowed, its own uid, a patch, no internal error), and each kind
of failure. Faults (a) to (c) and the extra ones must fail no request; for SIGTERM (d),
requests in flight must complete, new connections must be refused, and the process must exit
within the pod's grace period.

Each test prints its counts (`pytest -s tests/test_faults.py`); docs/reliability.md quotes them.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.kubelet import Volume
from tests.reviews import SHIPPED, check_response, gpu_pod, patch_of, review
from tests.servers import RunningServer, running_server
from webhook.tools.certs import KeyPair, make_ca, make_serving_cert

# The pod's terminationGracePeriodSeconds (40) less the preStop pause (10): deploy/base.
GRACE_SECONDS = 30
KEPT_ALIVE_WORKERS = 4


def policy(name: str, key: str) -> bytes:
    return (
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        f"metadata: {{name: {name}}}\nspec:\n  add:\n"
        f"    tolerations: [{{key: {key}, operator: Exists, effect: NoSchedule}}]\n"
    ).encode()


INVALID = b"apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\nmetadata: {name: x}\n"

# --- the load generator ------------------------------------------------------------------


@dataclass
class Load:
    """Reviews from threads until stopped; every outcome counted by kind."""

    port: int
    context: ssl.SSLContext
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    tolerations_seen: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sent(self) -> int:
        return sum(n for kind, n in self.outcomes.items() if kind != "refused")

    def count(self, kind: str, detail: str = "") -> None:
        with self.lock:
            self.outcomes[kind] += 1
            if detail and len(self.failures) < 20:
                self.failures.append(f"{kind}: {detail}")

    def worker(self, fresh_each_time: bool) -> None:
        conn: http.client.HTTPSConnection | None = None
        while not self.stop.is_set():
            if conn is None:
                conn = http.client.HTTPSConnection(
                    "localhost", self.port, context=self.context, timeout=30
                )
                try:
                    conn.connect()
                except OSError as exc:
                    # No request was sent: refused, or reset in the handshake as the listener
                    # closes (SIGTERM). Either is a failure for every other fault.
                    self.count("refused", f"{type(exc).__name__}: {exc}")
                    conn = None
                    time.sleep(0.05)
                    continue
            if not self.send(conn) or fresh_each_time:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def send(self, conn: http.client.HTTPSConnection) -> bool:
        """One review; False when the connection is no longer usable."""
        uid = str(uuid.uuid4())
        body = json.dumps(review(gpu_pod(), uid=uid)).encode()
        try:
            conn.request("POST", "/mutate?timeout=5s", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            self.count("closed", f"{type(exc).__name__}: {exc}")
            return False
        except (OSError, http.client.HTTPException) as exc:
            self.count("error", f"{type(exc).__name__}: {exc}")
            return False
        if response.status != 200:
            self.count("http_error", f"HTTP {response.status}: {data[:200]!r}")
            return False
        answer = json.loads(data)
        if answer["response"]["allowed"] is not True:
            self.count("denied", str(answer)[:200])
            return True
        # Every policy set here places the GPU pod: an answer without a patch, with another
        # review's uid or with an internal error is a failed review, not an answered one.
        problem = answer_problem(answer["response"], uid)
        if problem:
            self.count("wrong", problem)
            return True
        self.count("answered")
        for op in patch_of(answer):
            if op["path"].startswith("/spec/tolerations"):
                values = op["value"] if isinstance(op["value"], list) else [op["value"]]
                with self.lock:
                    self.tolerations_seen.update(str(t.get("key")) for t in values)
        return not response.will_close


def answer_problem(response: dict[str, Any], uid: str) -> str | None:
    try:
        check_response(response, uid, patched=True)
    except AssertionError as exc:
        return str(exc)[:200]
    return None


@contextmanager
def load_on(server: RunningServer) -> Iterator[Load]:
    load = Load(port_of(server), server.ssl_context())
    threads = [
        threading.Thread(target=load.worker, args=(False,), daemon=True)
        for _ in range(KEPT_ALIVE_WORKERS)
    ]
    threads.append(threading.Thread(target=load.worker, args=(True,), daemon=True))
    for thread in threads:
        thread.start()
    try:
        wait_for("load flowing", lambda: load.outcomes["answered"] > 50, server)
        yield load
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def wait_for(what: str, condition: Callable[[], bool], server: RunningServer) -> None:
    """Poll `condition` for up to 60 s: a guard against hanging, not a timing claim."""
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}\n{server.log()[-3000:]}")
        time.sleep(0.05)


def more_traffic(load: Load, server: RunningServer, requests: int = 300) -> None:
    target = load.outcomes["answered"] + requests
    wait_for(
        f"{requests} more reviews answered", lambda: load.outcomes["answered"] >= target, server
    )


def report(fault: str, load: Load) -> None:
    counts = ", ".join(f"{k}={v}" for k, v in sorted(load.outcomes.items()))
    print(f"\nFAULT {fault}: sent={load.sent} {counts}")


def assert_nothing_failed(load: Load) -> None:
    assert load.failures == [], load.failures
    assert load.outcomes["refused"] == 0
    assert load.outcomes["answered"] == load.sent > 0


def readyz(server: RunningServer) -> dict[str, Any]:
    host, port = server.health_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/readyz")
        result: dict[str, Any] = json.loads(conn.getresponse().read())
        return result
    finally:
        conn.close()


FAST_RELOAD = ["--policy-poll-seconds", "0.2", "--cert-poll-seconds", "0.2"]

# --- (a), (b): the policy ConfigMap swapped under load ------------------------------------


@pytest.fixture
def policy_volume(tmp_path: Path) -> Volume:
    return Volume(tmp_path / "policies", {"a.yaml": policy("a", "example.com/first")})


def test_a_policy_swap_to_a_valid_set_under_load_fails_nothing(
    tmp_path: Path, policy_volume: Volume
) -> None:
    with (
        running_server(tmp_path, [policy_volume.root], FAST_RELOAD) as server,
        load_on(server) as load,
    ):
        policy_volume.write({"b.yaml": policy("b", "example.com/second")})
        wait_for(
            "the new set applies", lambda: load.tolerations_seen["example.com/second"] > 0, server
        )
        more_traffic(load, server)
    report("(a) policy swap to a valid set", load)
    assert_nothing_failed(load)
    assert load.tolerations_seen["example.com/first"] > 0


def test_a_policy_swap_to_an_invalid_set_under_load_fails_nothing_and_keeps_the_set(
    tmp_path: Path, policy_volume: Volume
) -> None:
    with (
        running_server(tmp_path, [policy_volume.root], FAST_RELOAD) as server,
        load_on(server) as load,
    ):
        digest = readyz(server)["digest"]
        policy_volume.write({"b.yaml": INVALID})
        wait_for("the invalid set refused", lambda: readyz(server)["reloadFailures"] == 1, server)
        more_traffic(load, server)
        assert readyz(server)["digest"] == digest
    report("(b) policy swap to an invalid set", load)
    assert_nothing_failed(load)
    assert set(load.tolerations_seen) == {"example.com/first"}


def test_the_policy_directory_deleted_under_load_keeps_the_last_good_set(tmp_path: Path) -> None:
    """Unreadable files mean "look again later" (kubelet may be mid-swap): the last good set
    keeps serving, and a set written back later is picked up."""
    volume = Volume(tmp_path / "policies", {"a.yaml": policy("a", "example.com/first")})
    with running_server(tmp_path, [volume.root], FAST_RELOAD) as server, load_on(server) as load:
        digest = readyz(server)["digest"]
        shutil.rmtree(volume.root)
        more_traffic(load, server)  # several polls of the watcher meanwhile
        assert readyz(server)["digest"] == digest
        answered_before = load.tolerations_seen["example.com/first"]
        more_traffic(load, server)
        assert load.tolerations_seen["example.com/first"] > answered_before
        Volume(volume.root, {"b.yaml": policy("b", "example.com/back")})
        wait_for(
            "the restored set applies",
            lambda: load.tolerations_seen["example.com/back"] > 0,
            server,
        )
    report("policy directory deleted, then restored", load)
    assert_nothing_failed(load)


# --- (c): the certificate rotated under load -----------------------------------------------


@dataclass
class Pki:
    ca: KeyPair
    ca_key: Any

    def leaf(self) -> KeyPair:
        return make_serving_cert(["localhost"], ["127.0.0.1"], self.ca, self.ca_key)

    def secret(self, leaf: KeyPair) -> dict[str, bytes]:
        return {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem, "ca.crt": self.ca.cert_pem}


@contextmanager
def server_on_secret(tmp_path: Path) -> Iterator[tuple[RunningServer, Volume, Pki, KeyPair]]:
    ca, ca_key = make_ca("faults CA")
    pki = Pki(ca, ca_key)
    first = pki.leaf()
    secret = Volume(tmp_path / "tls", pki.secret(first))
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    cert = (secret.root / "tls.crt", secret.root / "tls.key", tmp_path / "ca.crt")
    with running_server(tmp_path, [SHIPPED], FAST_RELOAD, cert=cert) as server:
        yield server, secret, pki, first


def serial_of_new_connection(server: RunningServer) -> int:
    raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
    with server.ssl_context().wrap_socket(raw, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def serial(pair: KeyPair) -> int:
    return x509.load_pem_x509_certificate(pair.cert_pem).serial_number


def test_a_certificate_rotation_under_load_fails_nothing(tmp_path: Path) -> None:
    with server_on_secret(tmp_path) as (server, secret, pki, _), load_on(server) as load:
        rotated = pki.leaf()
        secret.write(pki.secret(rotated))
        wait_for(
            "new handshakes get the rotated certificate",
            lambda: serial_of_new_connection(server) == serial(rotated),
            server,
        )
        more_traffic(load, server)
    report("(c) certificate rotated", load)
    assert_nothing_failed(load)


def test_a_broken_certificate_pair_under_load_is_refused_and_fails_nothing(
    tmp_path: Path,
) -> None:
    with server_on_secret(tmp_path) as (server, secret, pki, first), load_on(server) as load:
        other = pki.leaf()
        secret.write({**pki.secret(other), "tls.key": first.key_pem})  # key of the old cert
        wait_for(
            "the bad pair refused", lambda: "certificate reload refused" in server.log(), server
        )
        more_traffic(load, server)
        assert serial_of_new_connection(server) == serial(first)
    report("certificate swapped to a mismatched pair", load)
    assert_nothing_failed(load)


# --- connection-level faults from other clients --------------------------------------------


def test_clients_that_vanish_mid_request_do_not_disturb_the_others(tmp_path: Path) -> None:
    body = json.dumps(review(gpu_pod())).encode()
    head = (
        f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with running_server(tmp_path, [SHIPPED]) as server, load_on(server) as load:
        for i in range(100):
            raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
            tls = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
            tls.sendall(head + body[: len(body) // 2])
            if i % 2:  # half of them reset the connection, the others just close it
                tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.close()
        more_traffic(load, server)
    report("100 clients vanish mid-request", load)
    assert_nothing_failed(load)


def test_a_flood_of_idle_connections_does_not_starve_reviews(tmp_path: Path) -> None:
    with (
        running_server(tmp_path, [SHIPPED], ["--read-timeout", "2"]) as server,
        load_on(server) as load,
    ):
        idle = []
        for _ in range(300):
            raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
            idle.append(server.ssl_context().wrap_socket(raw, server_hostname="localhost"))
        more_traffic(load, server)
        for tls in idle:  # each was cut at the read deadline: a 408, or closed
            tls.settimeout(30)
            try:
                data = tls.recv(100)
            except (ConnectionError, ssl.SSLError):
                data = b""
            assert data in (b"",) or data.startswith(b"HTTP/1.1 408")
            tls.close()
    report("300 idle connections opened", load)
    assert_nothing_failed(load)


# --- (d): SIGTERM under load ----------------------------------------------------------------


class InFlight:
    """A review whose head and half its body are sent now and the rest later: in flight."""

    def __init__(self, server: RunningServer) -> None:
        self.body = json.dumps(review(gpu_pod())).encode()
        raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=30)
        self.tls = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
        head = (
            f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        ).encode()
        self.tls.sendall(head + self.body[: len(self.body) // 2])

    def finish(self) -> tuple[int, bytes]:
        self.tls.sendall(self.body[len(self.body) // 2 :])
        data = b""
        while True:
            chunk = self.tls.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = [
                int(v.split(b":")[1])
                for v in head.split(b"\r\n")
                if v.lower().startswith(b"content-length:")
            ]
            if length and len(rest) >= length[0]:
                break
        self.tls.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), rest


def refused(server: RunningServer) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port_of(server)), timeout=5).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True  # a reset while connecting: queued as the last listener closed
    return False


@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "two worker processes"])
def test_sigterm_under_load_completes_in_flight_reviews_and_refuses_new_ones(
    tmp_path: Path, workers: int
) -> None:
    args = ["--workers", str(workers)]
    with running_server(tmp_path, [SHIPPED], args) as server, load_on(server) as load:
        in_flight = [InFlight(server) for _ in range(5)]
        time.sleep(0.2)  # let the server read the heads: these requests have begun
        server.process.send_signal(signal.SIGTERM)
        wait_for("new connections refused", lambda: refused(server), server)
        answers = [r.finish() for r in in_flight]  # after the listener closed
        load.stop.set()
        # Within the grace period, or kubelet would kill it: raises TimeoutExpired otherwise.
        code = server.process.wait(timeout=GRACE_SECONDS)
    report(f"(d) SIGTERM, {workers} worker(s)", load)
    print(f"in flight at SIGTERM: {len(answers)}, answered: {sum(s == 200 for s, _ in answers)}")
    assert [status for status, _ in answers] == [200] * len(in_flight)
    for _, body in answers:
        check_response(json.loads(body)["response"])
    assert code == 0
    # No review failed: idle kept-alive connections drain (a review arriving on one is still
    # answered, with `connection: close`), and new connections are refused.
    assert load.outcomes["http_error"] == load.outcomes["error"] == load.outcomes["denied"] == 0
    assert load.outcomes["wrong"] == 0, load.failures
    assert load.outcomes["closed"] == 0, load.failures
    assert load.outcomes["refused"] > 0
    assert load.outcomes["answered"] > 0
