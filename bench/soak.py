"""Soak: many reviews at high concurrency against the real server, counting every failure and
watching the server's memory. Not run in CI (minutes, not seconds).

    .venv/bin/python -m bench.soak                      # 50,000 reviews at concurrency 64
    .venv/bin/python -m bench.soak --reviews 5000 --concurrency 16

The server is `placement-webhook serve` with the shipped policies, on loopback over TLS, in its
own process. The load comes from another process: `concurrency` kept-alive connections, each
sending one review after another (as kube-apiserver's connection pool does). Reviews vary (GPU
and CPU workflow steps, Jobs, notebooks, plain pods; each its own uid and name). Every answer
is checked: HTTP 200, the same uid, allowed, no internal-error warning, a patch that decodes,
and the policies its shape calls for. The server's RSS is read after a warm-up (the first
tenth of the reviews) and at the end; the run fails if any review failed or RSS grew more than
10% after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webhook.tools.certs import ensure_dev_certificate

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "placement-webhook"
RSS_GROWTH_LIMIT = 0.10


def pod(i: int) -> dict[str, Any]:
    """The i-th pod: five shapes in turn, each with its own name."""
    shape = i % 5
    labels: dict[str, str] = {}
    owners: list[dict[str, Any]] = []
    resources: dict[str, Any] = {"requests": {"cpu": "500m", "memory": "1Gi"}}
    if shape in (0, 1):  # Argo workflow steps, GPU then CPU
        labels = {"workflows.argoproj.io/workflow": f"wf-{i // 100}"}
        owners = [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "name": f"wf-{i // 100}",
                "uid": f"u{i // 100}",
                "controller": True,
            }
        ]
        if shape == 0:
            resources["limits"] = {"nvidia.com/gpu": "1"}
    elif shape == 2:  # a Job's pod
        owners = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": f"job-{i}",
                "uid": f"j{i}",
                "controller": True,
            }
        ]
    elif shape == 3:  # a notebook
        labels = {"notebook-name": f"nb-{i}"}
        owners = [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": f"nb-{i}",
                "uid": f"s{i}",
                "controller": True,
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"soak-{i}",
            "namespace": "ml",
            "labels": labels,
            "ownerReferences": owners,
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example.com/app:1",
                    "resources": resources,
                    "env": [{"name": f"E{k}", "value": "v" * 16} for k in range(8)],
                }
            ],
            "restartPolicy": "Never",
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
        },
    }


def review_body(i: int) -> tuple[str, bytes]:
    uid = f"00000000-0000-4000-8000-{i:012d}"
    request = {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "ml",
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:argo:argo"},
        "object": pod(i),
        "oldObject": None,
        "dryRun": False,
    }
    body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    return uid, json.dumps(body).encode()


# What the shipped policies apply to each shape of `pod(i)`, i % 5: every shape is placed.
APPLIED = (
    "extended-resource-tolerations,batch-gpu-spot,workflow-dns,workflow-pack",
    "batch-cpu-spot,workflow-dns,workflow-pack",
    "batch-cpu-spot",
    "stateful-on-demand",
    "default-pool",
)


def check(i: int, uid: str, status: int, data: bytes) -> str | None:
    """None for a good answer to review `i`, else what is wrong with it."""
    if status != 200:
        return f"HTTP {status}"
    try:
        response = json.loads(data)["response"]
        if response["uid"] != uid:
            return "uid mismatch"
        if response["allowed"] is not True:
            return "not allowed"
        if any("internal error" in w for w in response.get("warnings") or []):
            return "internal error"
        if "patch" not in response:
            return "no patch"
        json.loads(base64.b64decode(response["patch"], validate=True))
        if response["auditAnnotations"]["policies"] != APPLIED[i % 5]:
            return "other policies applied"
    except (ValueError, KeyError, TypeError) as exc:
        return f"bad answer: {type(exc).__name__}"
    return None


@dataclass
class Tally:
    next_index: int = 0
    answered: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


async def connection(
    host: str, port: int, context: ssl.SSLContext, total: int, tally: Tally
) -> None:
    """One kept-alive connection sending reviews until `total` have been taken."""
    reader = writer = None
    while tally.next_index < total:
        i = tally.next_index
        tally.next_index += 1
        uid, body = review_body(i)
        request = (
            f"POST /mutate?timeout=10s HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=context, server_hostname=host
                )
            assert reader is not None
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next(
                int(v.split(":")[1]) for v in lines if v.lower().startswith("content-length:")
            )
            data = await reader.readexactly(length)
        except (
            OSError,
            asyncio.IncompleteReadError,
            ssl.SSLError,
            ValueError,
            StopIteration,
        ) as exc:
            tally.failures[f"{type(exc).__name__}"] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        tally.latencies.append(time.perf_counter() - started)
        problem = check(i, uid, status, data)
        if problem:
            tally.failures[problem] += 1
        else:
            tally.answered += 1
    if writer is not None:
        writer.close()


async def load(port: int, ca: Path, total: int, concurrency: int, tally: Tally) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    await asyncio.gather(
        *(connection("localhost", port, context, total, tally) for _ in range(concurrency))
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(work: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    cert, key, ca = ensure_dev_certificate(work / "certs")
    port, health = free_port(), free_port()
    log = (work / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(BIN),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--health-port",
            str(health),
            "--cert-file",
            str(cert),
            "--key-file",
            str(key),
            "--policies",
            str(REPO / "policies"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=1):
                return process, port, ca
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {work / 'server.log'}") from None
            time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def soak(reviews: int, concurrency: int) -> int:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, runner:
        process, port, ca = start_server(Path(tmp))
        try:
            idle = rss_kib(process.pid)
            tally = Tally()
            warm_up = max(reviews // 10, concurrency)
            started = time.perf_counter()
            runner.run(load(port, ca, warm_up, concurrency, tally))
            after_warm_up = rss_kib(process.pid)
            samples = [after_warm_up]
            step = max((reviews - warm_up) // 9, 1)
            for target in range(warm_up + step, reviews + step, step):
                runner.run(load(port, ca, min(target, reviews), concurrency, tally))
                samples.append(rss_kib(process.pid))
            seconds = time.perf_counter() - started
            end = samples[-1]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    growth = (end - after_warm_up) / after_warm_up
    failed = sum(tally.failures.values())
    print(f"reviews sent:        {tally.next_index}")
    print(f"answered correctly:  {tally.answered}")
    print(f"failed:              {failed} {dict(tally.failures) if failed else ''}")
    print(f"concurrency:         {concurrency} kept-alive connections")
    print(f"duration:            {seconds:.1f} s ({tally.next_index / seconds:.0f} reviews/s)")
    print(
        f"latency p50 / p99:   {percentile(tally.latencies, 0.5) * 1000:.1f} ms / "
        f"{percentile(tally.latencies, 0.99) * 1000:.1f} ms"
    )
    print(f"server RSS idle:     {idle / 1024:.1f} MiB")
    print(f"RSS after warm-up:   {after_warm_up / 1024:.1f} MiB (first {warm_up} reviews)")
    print(f"RSS at the end:      {end / 1024:.1f} MiB ({growth:+.1%} after warm-up)")
    print(f"RSS samples (MiB):   {' '.join(f'{s / 1024:.1f}' for s in samples)}")
    ok = failed == 0 and tally.answered == reviews and growth <= RSS_GROWTH_LIMIT
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--reviews", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    return soak(args.reviews, args.concurrency)


if __name__ == "__main__":
    sys.exit(main())
