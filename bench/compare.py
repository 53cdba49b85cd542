"""Several revisions of the webhook side by side over HTTPS, in one run: what a change is worth.

    python -m bench.compare c0ef673 HEAD              # /mutate of each, and the raw ASGI floor
    python -m bench.compare HEAD~3 HEAD~2 HEAD~1 HEAD --paths /floor,/mutate --repeats 7

Each revision is exported with `git archive` and served from that tree (this checkout's
virtualenv, the shipped policies), all at once; wrk loads each in turn, the raw ASGI floor
(`raw_floor.py`) included, so that a busy spell of a shared machine falls on all of them. Every
figure is the median (min-max) of the runs; the share is the raw floor's CPU time per request
over the revision's (what its throughput tends to, against the floor's, on a core of its own).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench import pods
from bench.policies import write_policy_dir
from bench.serving import Server, free_port, running_raw_floor, wait_ready
from bench.stats import Spread
from bench.wrk import find_wrk, run_wrk
from webhook.tools.certs import ensure_dev_certificate

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("revisions", nargs="+", help="git revisions (commits, branches, HEAD)")
    parser.add_argument("--paths", default="/mutate", help="comma-separated: /mutate,/floor")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    wrk, note = find_wrk(install=False)
    if wrk is None:
        print(f"error: {note}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch:
        runs = _measure(args, wrk, Path(scratch))
    _print(runs, args)
    return 0


def _measure(
    args: argparse.Namespace, wrk: str, scratch: Path
) -> dict[str, list[tuple[float, float, float]]]:
    body = scratch / "argo-gpu-review.json"
    body.write_bytes(pods.review_body("argo-gpu"))
    script = scratch / "post.lua"
    policies = write_policy_dir(scratch / "policies", None)
    runs: dict[str, list[tuple[float, float, float]]] = {}
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(running_raw_floor(scratch))
        cells = [("raw ASGI floor", raw, "/")]
        for revision in args.revisions:
            tree = _export(revision, scratch)
            server = stack.enter_context(_serving(tree, policies, scratch))
            cells += [(f"{revision} {path}", server, path) for path in args.paths.split(",")]
        for _, server, path in cells:  # warm-up
            run_wrk(wrk, server.url + path, body, args.connections, 1, script)
        for _ in range(args.repeats):
            for name, server, path in cells:
                cpu = server.cpu_seconds()
                result = run_wrk(
                    wrk, server.url + path, body, args.connections, args.seconds, script
                )
                cpu_us = (server.cpu_seconds() - cpu) / max(result.requests, 1) * 1e6
                runs.setdefault(name, []).append((cpu_us, result.rps, result.p99_ms))
    return runs


def _export(revision: str, scratch: Path) -> Path:
    tree = scratch / revision.replace("/", "_")
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


@contextlib.contextmanager
def _serving(tree: Path, policies: Path, scratch: Path) -> Iterator[Server]:
    """`placement-webhook serve` of the exported tree, one worker, with the /floor route."""
    cert, key, ca = ensure_dev_certificate(scratch / "certs")
    port, health = free_port(), free_port()
    code = "import sys; from webhook.tools.cli import main; sys.exit(main())"
    args = [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--health-port", str(health), "--cert-file", str(cert), "--key-file", str(key)]
    args += ["--policies", str(policies), "--floor-route", "--log-level", "info"]
    log_file = scratch / f"server-{tree.name}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
    server = Server(
        process, f"https://localhost:{port}", f"http://127.0.0.1:{health}", ca, log_file, 1
    )
    try:
        wait_ready(server, "info")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def _print(runs: dict[str, list[tuple[float, float, float]]], args: argparse.Namespace) -> None:
    raw_cpu = statistics.median(cpu for cpu, _, _ in runs["raw ASGI floor"])
    print(
        f"{args.repeats} runs of {args.seconds:g} s at {args.connections} connections, "
        f"load average {os.getloadavg()[0]:.2f}; median (min-max)"
    )
    print("| server | CPU µs per request | share of the raw floor | requests/s | p99 ms |")
    print("|---|---|---|---|---|")
    for name, cells in runs.items():
        cpu = Spread.of(c for c, _, _ in cells)
        rps = Spread.of(r for _, r, _ in cells)
        p99 = Spread.of(p for _, _, p in cells)
        share = raw_cpu / cpu.median
        print(f"| {name} | {cpu.show()} | {share:.2f}x | {rps.show()} | {p99.show(1)} |")


if __name__ == "__main__":
    sys.exit(main())
