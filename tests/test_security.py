"""Security properties of the running server, tested from outside as a client or operator sees
them: TLS 1.2 or newer only, no plaintext on the webhook port, health and metrics on their own
port, no key material or pod contents in the logs, and serving from a read-only filesystem.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import tests.servers
from tests.reviews import SHIPPED, gpu_pod, patch_of, review
from tests.servers import RunningServer, running_server
from webhook.tools.certs import ensure_dev_certificate


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("security"), [SHIPPED]) as running:
        yield running


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def client_context(version: ssl.TLSVersion, ca_file: Path) -> ssl.SSLContext:
    """A client that speaks exactly `version` (old versions need security level 0 here)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(ca_file))
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 and TLSv1_1 are deprecated
        context.minimum_version = context.maximum_version = version
    return context


@contextlib.contextmanager
def permissive_server(certs: Path) -> Iterator[int]:
    """A bare TLS server that accepts TLS 1.0 to 1.3 with the same certificate: proof that
    the old-version client really offers its version (else the refusal test would pass for
    the wrong reason)."""
    cert, key = certs / "tls.crt", certs / "tls.key"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=10)


OLD_VERSIONS = [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1]


@pytest.mark.parametrize("version", OLD_VERSIONS, ids=["TLS 1.0", "TLS 1.1"])
def test_a_tls_1_0_or_1_1_client_is_refused(server: RunningServer, version: ssl.TLSVersion) -> None:
    context = client_context(version, server.ca_file)
    with permissive_server(server.ca_file.parent) as control:
        raw = socket.create_connection(("127.0.0.1", control), timeout=10)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1", "TLSv1.1")  # the client can speak it
    raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
    with pytest.raises(ssl.SSLError), context.wrap_socket(raw, server_hostname="localhost"):
        pass


@pytest.mark.parametrize(
    ("version", "name"),
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
    ids=["TLS 1.2", "TLS 1.3"],
)
def test_tls_1_2_and_1_3_clients_are_served_with_strong_ciphers(
    server: RunningServer, version: ssl.TLSVersion, name: str
) -> None:
    context = client_context(version, server.ca_file)
    raw = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version() == name
        cipher, _, bits = tls.cipher()
        assert bits is not None and bits >= 128
        assert "GCM" in cipher or "CHACHA20" in cipher


def test_plaintext_http_on_the_webhook_port_gets_no_http_answer(server: RunningServer) -> None:
    body = json.dumps(review(gpu_pod())).encode()
    request = (
        f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as plain:
        plain.sendall(request)
        try:
            answer = plain.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/")


def test_health_and_metrics_live_on_their_own_plain_port(server: RunningServer) -> None:
    with httpx.Client(base_url=server.health_url, timeout=10) as health:
        assert health.get("/healthz").status_code == 200
        assert health.get("/readyz").json()["policies"] > 0
        metrics = health.get("/metrics")
        assert metrics.status_code == 200
        assert "# HELP" in metrics.text
        # The plain port never answers reviews.
        assert health.post("/mutate", json=review(gpu_pod())).status_code in (404, 405)
    with httpx.Client(base_url=server.url, verify=server.ssl_context(), timeout=10) as webhook:
        assert webhook.get("/metrics").status_code == 404


def test_no_key_material_or_pod_contents_in_the_logs(tmp_path: Path) -> None:
    secret_env = "s3cr3t-token-value-9f8e7d"
    pod = gpu_pod()
    pod["spec"]["containers"][0]["env"] = [{"name": "API_TOKEN", "value": secret_env}]
    pod["spec"]["containers"][0]["image"] = "registry.example.com/private/trainer:7c1e"
    with running_server(tmp_path, [SHIPPED], ["--log-level", "debug"]) as running:
        with httpx.Client(base_url=running.url, verify=running.ssl_context(), timeout=10) as c:
            assert patch_of(c.post("/mutate", json=review(pod)).json())
            assert c.post("/mutate", content=b"{not json").status_code == 400
            broken = review(pod)
            broken["request"]["object"]["metadata"]["labels"] = "not-a-map"
            assert c.post("/mutate", json=broken).status_code == 200  # a policy fails: logged
        with socket.create_connection(("127.0.0.1", port_of(running)), timeout=10) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\n\r\n")  # a failed handshake: logged, maybe
            with contextlib.suppress(OSError):
                plain.recv(100)
        key_pem = (tmp_path / "certs" / "tls.key").read_text()
    log = running.log()
    assert "review" in log  # the log is there, at debug level
    assert "PRIVATE KEY" not in log
    for line in key_pem.splitlines():
        if not line.startswith("-----"):
            assert line not in log, "private key material in the log"
    assert secret_env not in log
    assert "registry.example.com/private" not in log


# --- a read-only root filesystem -------------------------------------------------------------

READ_ONLY_WRAPPER = """#!/bin/sh
# The server in its own mount namespace where / is remounted read-only: every write to the
# filesystem fails with EROFS, for root too, as with readOnlyRootFilesystem in a pod.
exec unshare --mount --propagation private sh -c \\
  'mount -o remount,bind,ro / && exec "$0" "$@"' {server} "$@"
"""


def read_only_root_works(tmp: Path) -> str | None:
    """None if this machine lets us make a read-only mount namespace, else why not."""
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    probe = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"mount -o remount,bind,ro / && ! touch {tmp}/probe 2>/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if probe.returncode == 0 else f"no read-only mount namespace: {probe.stderr}"


def test_the_server_runs_from_a_read_only_root_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = read_only_root_works(tmp_path)
    if reason is not None:
        pytest.skip(reason)
    wrapper = tmp_path / "read-only-serve"
    wrapper.write_text(READ_ONLY_WRAPPER.format(server=tests.servers.BIN))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(tests.servers, "BIN", wrapper)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    workdir.chmod(0o555)
    cert = ensure_dev_certificate(tmp_path / "certs")
    env = {"HOME": str(workdir), "TMPDIR": str(workdir), "PYTHONDONTWRITEBYTECODE": "1"}
    with running_server(tmp_path, [SHIPPED], cert=cert, cwd=workdir, env=env) as running:
        mounts = Path(f"/proc/{running.process.pid}/mountinfo").read_text().splitlines()
        root = next(m for m in mounts if m.split()[4] == "/")
        assert "ro" in root.split()[5].split(","), root  # the server really sees / read-only
        with httpx.Client(base_url=running.url, verify=running.ssl_context(), timeout=10) as c:
            answer = c.post("/mutate", json=review(gpu_pod()))
        assert answer.status_code == 200
        assert patch_of(answer.json())
        with httpx.Client(base_url=running.health_url, timeout=10) as health:
            assert health.get("/metrics").status_code == 200
    assert os.listdir(workdir) == []
    assert "Read-only file system" not in running.log()
