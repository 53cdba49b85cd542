"""Reloading from kubelet-mounted volumes: policies (ConfigMap) and the certificate (Secret).

The pure parts first (mounts, the policy watcher, the certificate reloader), then the running
server with reviews in flight while its certificate rotates and its policy directory is
swapped to a valid and to an invalid set.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.kubelet import Volume
from tests.reviews import check_response, gpu_pod, patch_of, review
from tests.servers import RunningServer, running_server
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.kube.mounts import MountChanging, read_stable
from webhook.policy import PolicyStore, read_sources
from webhook.policy.load import load_policy_set
from webhook.serving.reload import PolicyWatcher
from webhook.serving.serve import load_store, tls_context_hardening
from webhook.serving.tls import CertificateReloader
from webhook.tools.certs import KeyPair, make_ca, make_serving_cert

REPO = Path(__file__).resolve().parent.parent


def toleration_policy(name: str, key: str) -> bytes:
    """A policy that gives every pod a toleration named after `key`: easy to see in a patch."""
    return f"""
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: {name}
spec:
  add:
    tolerations:
      - {{key: {key}, operator: Exists, effect: NoSchedule}}
""".encode()


INVALID = (
    b"apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\nmetadata: {name: x}\n"
    b"spec: {add: {tolerations: [{operator: Sometimes}]}}\n"
)


# --- reading one version of a mounted directory ---------------------------------------------


def test_policies_are_read_through_data_link_under_their_visible_names(tmp_path: Path) -> None:
    volume = Volume(tmp_path / "policies", {"a.yaml": toleration_policy("a", "one")})
    sources = read_sources([volume.root])
    assert [(s.name, s.data) for s in sources] == [
        (str(volume.root / "a.yaml"), toleration_policy("a", "one"))
    ]
    plain = load_policy_set(volume.root)
    volume.write({"a.yaml": toleration_policy("a", "one")})
    # The same content in a new version directory: the same digest as a plain load.
    assert load_policy_set(volume.root).digest == plain.digest


def test_a_swap_during_a_read_is_retried_on_the_new_version(tmp_path: Path) -> None:
    volume = Volume(tmp_path / "v", {"a.yaml": b"old"})
    link = volume.root / "..data"
    seen: list[bytes] = []

    def read(resolved: tuple[Path, ...]) -> bytes:
        data = (resolved[0] / "a.yaml").read_bytes()
        seen.append(data)
        if len(seen) == 1:
            volume.write({"a.yaml": b"new"})  # kubelet swaps after our first read
        return data

    assert read_stable([link], read) == b"new"
    assert seen == [b"old", b"new"]


def test_a_volume_that_never_settles_is_reported(tmp_path: Path) -> None:
    volume = Volume(tmp_path / "v", {"a.yaml": b"0"})

    def read(resolved: tuple[Path, ...]) -> None:
        volume.write({"a.yaml": b"again"})

    with pytest.raises(MountChanging):
        read_stable([volume.root / "..data"], read)


# --- the policy watcher -----------------------------------------------------------------------


@pytest.fixture
def store_on_volume(tmp_path: Path) -> tuple[Volume, PolicyStore[CompiledPolicySet], PolicyWatcher]:
    volume = Volume(tmp_path / "policies", {"a.yaml": toleration_policy("a", "first")})
    store = load_store([volume.root])
    return volume, store, PolicyWatcher(store, interval=0.1)


def test_unchanged_files_are_not_reloaded(store_on_volume: Any) -> None:
    volume, store, watcher = store_on_volume
    assert watcher.poll() is None
    volume.write(volume.files())  # same content, new version directory
    assert watcher.poll() is None
    assert store.reloads == {"success": 0, "failure": 0}


def test_a_valid_swap_replaces_the_set(store_on_volume: Any) -> None:
    volume, store, watcher = store_on_volume
    before = store.current.source.digest
    volume.write({"b.yaml": toleration_policy("b", "second")})
    assert watcher.poll() is True
    assert [p.policy.name for p in store.current.policies] == ["b"]
    assert store.current.source.digest != before
    assert store.reloads["success"] == 1


def test_an_invalid_swap_is_refused_counted_once_and_the_last_good_set_serves(
    store_on_volume: Any, caplog: pytest.LogCaptureFixture
) -> None:
    volume, store, watcher = store_on_volume
    good = store.current
    volume.write({"a.yaml": INVALID})
    assert watcher.poll() is False
    assert store.current is good
    assert store.reloads["failure"] == 1
    assert store.last_error is not None and "a.yaml" in store.last_error
    assert "policy reload refused" in caplog.text
    assert watcher.poll() is None  # the same bad content is not retried every poll
    assert store.reloads["failure"] == 1
    volume.write({"a.yaml": toleration_policy("a", "fixed")})
    assert watcher.poll() is True
    assert store.last_error is None


def test_the_watch_outlives_a_bug_in_one_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    volume = Volume(tmp_path / "policies", {"a.yaml": toleration_policy("a", "first")})

    class FailingOnce(PolicyStore[CompiledPolicySet]):
        """A store whose first reload hits a bug (nothing in the real store can be made to)."""

        calls = 0

        def reload(self) -> bool:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("a bug")
            return True

    store = FailingOnce([volume.root], compile_policy_set)
    watcher = PolicyWatcher(store, interval=0.01)

    async def watch_until_second_reload() -> None:
        task = asyncio.create_task(watcher.run())
        volume.write({"a.yaml": toleration_policy("a", "second")})
        while store.calls < 1:
            await asyncio.sleep(0.01)
        volume.write({"a.yaml": toleration_policy("a", "third")})
        while store.calls < 2 and not task.done():
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(watch_until_second_reload(), timeout=30))
    assert store.calls == 2
    assert "policy watch failed" in caplog.text


# --- the certificate reloader ---------------------------------------------------------------


@dataclass
class Pki:
    ca: KeyPair
    ca_key: Any
    names: list[str] = field(default_factory=lambda: ["localhost"])

    def leaf(self) -> KeyPair:
        return make_serving_cert(self.names, ["127.0.0.1"], self.ca, self.ca_key)

    def secret(self, leaf: KeyPair) -> dict[str, bytes]:
        return {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem, "ca.crt": self.ca.cert_pem}


def new_pki() -> Pki:
    ca, ca_key = make_ca("test CA")
    return Pki(ca, ca_key)


def serial_of(leaf: KeyPair) -> int:
    return x509.load_pem_x509_certificate(leaf.cert_pem).serial_number


def tls_volume(root: Path, pki: Pki, leaf: KeyPair) -> tuple[Volume, CertificateReloader]:
    volume = Volume(root, pki.secret(leaf))
    reloader = CertificateReloader(root / "tls.crt", root / "tls.key", tls_context_hardening)
    return volume, reloader


def test_a_rotated_certificate_becomes_current(tmp_path: Path) -> None:
    pki = new_pki()
    volume, reloader = tls_volume(tmp_path / "tls", pki, pki.leaf())
    assert reloader.check() is None
    rotated = pki.leaf()
    volume.write(pki.secret(rotated))
    assert reloader.check() is True
    assert reloader.current.serial == serial_of(rotated)
    assert reloader.current.context.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(
            lambda pki, old: {**pki.secret(pki.leaf()), "tls.key": old.key_pem},
            id="key of the old certificate",
        ),
        pytest.param(
            lambda pki, old: {**pki.secret(old), "tls.crt": b"not a certificate"},
            id="garbage certificate",
        ),
    ],
)
def test_a_bad_pair_is_refused_and_the_current_one_keeps_serving(
    tmp_path: Path, broken: Callable[[Pki, KeyPair], dict[str, bytes]]
) -> None:
    pki = new_pki()
    first = pki.leaf()
    volume, reloader = tls_volume(tmp_path / "tls", pki, first)
    volume.write(broken(pki, first))
    assert reloader.check() is False
    assert reloader.failures == 1 and reloader.last_error
    assert reloader.current.serial == serial_of(first)
    assert reloader.check() is None  # refused once, not on every poll


# --- the running server: reviews in flight while things change ------------------------------


@dataclass
class Traffic:
    """Reviews sent from a thread until stopped: over one kept-alive connection, and over a
    new connection each time (new handshakes see the newest certificate)."""

    port: int
    context: ssl.SSLContext
    sent: int = 0
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    kept_alive_serials: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, limit: int = 20_000) -> None:
        kept = self._connect()
        self.kept_alive_serials.add(peer_serial(kept))
        while not self.stop.is_set() and self.sent < limit:
            self._send(kept)
            fresh = self._connect()
            self._send(fresh)
            fresh.close()
        self.kept_alive_serials.add(peer_serial(kept))
        kept.close()

    def _connect(self) -> http.client.HTTPSConnection:
        conn = http.client.HTTPSConnection("localhost", self.port, context=self.context, timeout=10)
        conn.connect()
        return conn

    def _send(self, conn: http.client.HTTPSConnection) -> None:
        self.sent += 1
        uid = str(uuid.uuid4())
        body = json.dumps(review(gpu_pod(), uid=uid)).encode()
        try:
            conn.request("POST", "/mutate?timeout=5s", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        if response.status != 200:
            self.failures.append(f"HTTP {response.status}: {answer}")
            return
        try:
            check_response(answer["response"], uid, patched=True)
        except AssertionError as exc:
            self.failures.append(str(exc)[:200])
            return
        self.answered += 1


def peer_serial(conn: http.client.HTTPSConnection) -> int:
    assert isinstance(conn.sock, ssl.SSLSocket)
    der = conn.sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@contextmanager
def traffic(server: RunningServer) -> Iterator[Traffic]:
    port = int(server.url.rsplit(":", 1)[1])
    load = Traffic(port, server.ssl_context())
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()


def wait_for(what: str, condition: Callable[[], bool], server: RunningServer) -> None:
    """Poll `condition` for up to 30 s (a deadline against hanging, not a timing claim)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}\n{server.log()}")
        time.sleep(0.05)


def new_connection_serial(server: RunningServer) -> int:
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPSConnection("localhost", port, context=server.ssl_context())
    conn.connect()
    try:
        return peer_serial(conn)
    finally:
        conn.close()


def readyz(server: RunningServer) -> dict[str, Any]:
    host, port = server.health_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/readyz")
        result: dict[str, Any] = json.loads(conn.getresponse().read())
        return result
    finally:
        conn.close()


def tolerations_added(server: RunningServer) -> set[str]:
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPSConnection("localhost", port, context=server.ssl_context())
    try:
        conn.request(
            "POST",
            "/mutate",
            json.dumps(review(gpu_pod())).encode(),
            {"Content-Type": "application/json"},
        )
        ops = patch_of(json.loads(conn.getresponse().read()))
    finally:
        conn.close()
    keys = set()
    for op in ops:
        if op["path"].startswith("/spec/tolerations"):
            values = op["value"] if isinstance(op["value"], list) else [op["value"]]
            keys |= {t["key"] for t in values}
    return keys


def test_rotation_and_policy_swaps_under_load_fail_no_request(tmp_path: Path) -> None:
    pki = new_pki()
    first, second = pki.leaf(), pki.leaf()
    tls = Volume(tmp_path / "tls", pki.secret(first))
    (tmp_path / "ca.crt").write_bytes(pki.ca.cert_pem)
    policies = Volume(tmp_path / "policies", {"a.yaml": toleration_policy("a", "first")})
    cert = (tls.root / "tls.crt", tls.root / "tls.key", tmp_path / "ca.crt")
    fast = ["--policy-poll-seconds", "0.2", "--cert-poll-seconds", "0.2"]
    with (
        running_server(tmp_path, [policies.root], fast, cert=cert) as server,
        traffic(server) as load,
    ):
        wait_for("traffic flowing", lambda: load.answered > 20, server)
        assert tolerations_added(server) == {"first"}

        tls.write(pki.secret(second))
        wait_for(
            "new connections get the rotated certificate",
            lambda: new_connection_serial(server) == serial_of(second),
            server,
        )

        policies.write({"b.yaml": toleration_policy("b", "second")})
        wait_for("the valid set applies", lambda: tolerations_added(server) == {"second"}, server)
        digest = readyz(server)["digest"]

        policies.write({"b.yaml": INVALID})
        wait_for(
            "the invalid set is refused", lambda: readyz(server)["reloadFailures"] == 1, server
        )
        state = readyz(server)
        assert state["digest"] == digest and "b.yaml" in state["lastReloadError"]
        assert tolerations_added(server) == {"second"}
        assert "policy reload refused" in server.log()

        sent_before = load.sent
        wait_for("more traffic after the changes", lambda: load.sent > sent_before + 20, server)
    assert load.failures == [], load.failures[:5]
    assert load.answered == load.sent > 0
    # The connection opened before the rotation kept its certificate and kept working.
    assert load.kept_alive_serials == {serial_of(first)}


def test_certificate_files_missing_for_a_moment_do_not_stop_serving(tmp_path: Path) -> None:
    pki = new_pki()
    leaf = pki.leaf()
    tls = Volume(tmp_path / "tls", pki.secret(leaf))
    (tmp_path / "ca.crt").write_bytes(pki.ca.cert_pem)
    cert = (tls.root / "tls.crt", tls.root / "tls.key", tmp_path / "ca.crt")
    with running_server(
        tmp_path, [REPO / "policies"], ["--cert-poll-seconds", "0.1"], cert=cert
    ) as server:
        tls.write({"ca.crt": pki.ca.cert_pem})  # a Secret briefly without its key pair
        wait_for(
            "a poll sees the files missing",
            lambda: "cannot read the certificate" in server.log(),
            server,
        )
        assert new_connection_serial(server) == serial_of(leaf)
        tls.write(pki.secret(leaf))
        assert new_connection_serial(server) == serial_of(leaf)
        assert server.process.poll() is None
