"""`serve --workers 2`: two processes answer on the same ports and stop together."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer, running_server

GPU_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"generateName": "train-", "namespace": "ml"},
    "spec": {
        "containers": [
            {"name": "main", "image": "trainer:1", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
        ]
    },
}


def _review(uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "ml",
            "operation": "CREATE",
            "object": GPU_POD,
            "dryRun": False,
        },
    }


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def exited(pid: int) -> bool:
    """True once `pid` is gone or a zombie (exited, not yet reaped by its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def ask_once(server: RunningServer, uid: str) -> dict[str, Any]:
    """One review on a new connection, so whichever worker is accepting answers it."""
    with httpx.Client(verify=server.ssl_context(), timeout=10) as client:
        reply = client.post(server.url + "/mutate", json=_review(uid))
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def assert_places_gpu_pod(answer: dict[str, Any], uid: str) -> None:
    response = answer["response"]
    assert response["uid"] == uid
    assert response["allowed"] is True
    ops = json.loads(base64.b64decode(response["patch"]))
    assert {
        "op": "add",
        "path": "/spec/tolerations",
        "value": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    } in ops


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path, extra_args=["--workers", "2"]) as server:
        yield server


def test_two_worker_processes_share_the_ports(two_workers: RunningServer) -> None:
    workers = children(two_workers.process.pid)
    assert len(workers) == 2
    # With one worker stopped the other takes every new connection: each one serves alone.
    for paused, serving in (workers, workers[::-1]):
        os.kill(paused, signal.SIGSTOP)
        try:
            for i in range(3):
                uid = f"worker-{serving}-{i}"
                assert_places_gpu_pod(ask_once(two_workers, uid), uid)
            health = httpx.get(two_workers.health_url + "/healthz", timeout=10)
            assert health.status_code == 200
        finally:
            os.kill(paused, signal.SIGCONT)


def test_sigterm_stops_every_worker(two_workers: RunningServer) -> None:
    workers = children(two_workers.process.pid)
    assert_places_gpu_pod(ask_once(two_workers, "before-stop"), "before-stop")
    two_workers.process.send_signal(signal.SIGTERM)
    assert two_workers.process.wait(timeout=30) == 0
    assert all(exited(pid) for pid in workers)
    assert "all workers stopped" in two_workers.log()


def test_a_worker_that_dies_stops_the_server(two_workers: RunningServer) -> None:
    workers = children(two_workers.process.pid)
    os.kill(workers[0], signal.SIGKILL)
    assert two_workers.process.wait(timeout=30) == 1
    deadline = time.monotonic() + 10
    while not exited(workers[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exited(workers[1])
    assert f"worker {workers[0]} exited with -9: stopping the server" in two_workers.log()


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="--workers must be at least 1"),
        running_server(tmp_path, extra_args=["--workers", "0"]),
    ):
        pass
