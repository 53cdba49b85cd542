"""Python function calls per review: a cost figure that, unlike time, does not move with the
machine, so a capability that adds work to every review shows in a test the day it lands.

For each benchmark pod, with the shipped policies: the calls of `admission.handle` (parse,
match, mutate, patch, answer) and the calls serving adds around it (the handler's log line and
metrics). Each is counted on a review of its own pod (its own uid and name) after a review of
another, as a server sees them: caches warm, nothing reused from the same pod.

    python -m bench.calls          # the table pinned in tests/test_call_counts.py
    python -m bench.calls --json   # the same, for the test

Counted in a fresh interpreter with logging set up as `serve` sets it (a line per review at
info level), so that neither the caller's logging nor its imports change the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from bench import pods
from bench.policies import write_policy_dir
from webhook.serving.admission import handle
from webhook.serving.handler import MutateHandler
from webhook.serving.logs import configure_logging
from webhook.serving.metrics import Metrics
from webhook.serving.serve import load_store

REPO = Path(__file__).resolve().parent.parent


def python_calls(call: Callable[..., object], *args: object) -> int:
    """How many Python functions run (each call of one counts once, `call` too) in
    `call(*args)`."""
    count = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        call(*args)
    finally:
        sys.setprofile(None)
    return count


def distinct_body(size: str, i: int) -> bytes:
    pod = pods.PODS[size]()
    pod["metadata"]["name"] = f"{size}-{i}"
    return orjson.dumps(pods.review(pod, uid=str(uuid.UUID(int=i + 1))))


def review_calls() -> dict[str, tuple[int, int]]:
    """Pod -> (calls of admission.handle, calls the handler adds: the log line and metrics)."""
    with tempfile.TemporaryDirectory() as scratch:
        store = load_store([write_policy_dir(Path(scratch) / "policies", None)])
    handler = MutateHandler(store, None, Metrics(store))
    counts = {}
    for size in pods.PODS:
        warm, reviewed, served = (distinct_body(size, i) for i in (1, 2, 3))
        handler(warm)  # caches filled, as in a running server
        engine = python_calls(handle, store.current, reviewed)
        serving = python_calls(handler, served) - engine
        counts[size] = (engine, serving)
    return counts


def counted() -> dict[str, tuple[int, int]]:
    """`review_calls`, counted in a fresh interpreter (this one's logging and imports would
    change the figures), with a fixed hash seed."""
    run = subprocess.run(
        [sys.executable, "-m", "bench.calls", "--json"],
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return {pod: (engine, serving) for pod, (engine, serving) in json.loads(run.stdout).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls")
    parser.add_argument("--json", action="store_true", help="print JSON, for the test")
    args = parser.parse_args(argv)
    configure_logging("info")
    with open(os.devnull, "w") as devnull:
        logging.getLogger().handlers[0].setStream(devnull)
        counts = review_calls()
    if args.json:
        print(json.dumps(counts))
        return 0
    print("    # pod: (admission.handle, serving: the handler, its log line and metrics)")
    for size, (engine, serving) in counts.items():
        print(f'    "{size}": ({engine}, {serving}),')
    return 0


if __name__ == "__main__":
    sys.exit(main())
