"""Over HTTPS: the real server under wrk, `/mutate` against the no-op `/floor` of the same
processes, with the server's memory sampled while the load runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench.serving import Server
from bench.wrk import WrkResult, run_wrk


@dataclass(frozen=True)
class HttpsRow:
    workers: int
    path: str
    concurrency: int
    result: WrkResult
    rss_kib: int  # the most seen while the load ran, summed over the server's processes
    cpu_us: float  # server CPU time per request answered, all workers together


@contextmanager
def peak_rss(server: Server, every: float = 0.1) -> Iterator[list[int]]:
    """Samples (total, largest worker) RSS until the block ends; yields [peak total, peak
    worker], filled in when the block exits."""
    peak = [0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total, worker = server.rss()
            peak[0], peak[1] = max(peak[0], total), max(peak[1], worker)
            stop.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def load_server(
    server: Server,
    wrk: str,
    body_file: Path,
    concurrencies: list[int],
    seconds: float,
    repeats: int,
    scratch: Path,
) -> list[HttpsRow]:
    """Each path at each concurrency, the floor and the webhook taking turns `repeats` times.

    Other work on a shared machine only ever lowers throughput and adds latency, so each
    figure is the best seen: the highest requests/s (with its CPU per request), the lowest
    latency percentiles; errors are counted over every run."""
    script = scratch / "post.lua"
    run_wrk(wrk, server.url + "/mutate", body_file, 16, min(1.0, seconds), script)  # warm-up
    rows = []
    for connections in concurrencies:
        runs: dict[str, list[HttpsRow]] = {"/floor": [], "/mutate": []}
        for _ in range(repeats):
            for path, seen in runs.items():
                cpu = server.cpu_seconds()
                with peak_rss(server) as peak:
                    result = run_wrk(
                        wrk, server.url + path, body_file, connections, seconds, script
                    )
                cpu = (server.cpu_seconds() - cpu) / max(result.requests, 1) * 1e6
                seen.append(HttpsRow(server.workers, path, connections, result, peak[0], cpu))
        rows += [_best(seen) for seen in runs.values()]
    return rows


def _best(runs: list[HttpsRow]) -> HttpsRow:
    fastest = max(runs, key=lambda r: r.result.rps)
    results = [r.result for r in runs]
    best = WrkResult(
        requests=fastest.result.requests,
        seconds=fastest.result.seconds,
        errors=sum(r.errors for r in results),
        p50_ms=min(r.p50_ms for r in results),
        p90_ms=min(r.p90_ms for r in results),
        p99_ms=min(r.p99_ms for r in results),
        max_ms=min(r.max_ms for r in results),
    )
    return replace(fastest, result=best, rss_kib=max(r.rss_kib for r in runs))
