"""Over HTTPS: the real server under wrk, `/mutate` against the no-op `/floor` of the same
processes, with the server's memory sampled while the load runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    """Each path at each concurrency, the floor and the webhook taking turns `repeats` times;
    the best run of each is kept, so a burst of work from another process on a shared machine
    does not decide a ratio."""
    script = scratch / "post.lua"
    run_wrk(wrk, server.url + "/mutate", body_file, 16, min(1.0, seconds), script)  # warm-up
    rows = []
    for connections in concurrencies:
        best: dict[str, HttpsRow] = {}
        for _ in range(repeats):
            for path in ("/floor", "/mutate"):
                cpu = server.cpu_seconds()
                with peak_rss(server) as peak:
                    result = run_wrk(
                        wrk, server.url + path, body_file, connections, seconds, script
                    )
                cpu = (server.cpu_seconds() - cpu) / max(result.requests, 1) * 1e6
                row = HttpsRow(server.workers, path, connections, result, peak[0], cpu)
                if path not in best or result.rps > best[path].result.rps:
                    best[path] = row
        rows += [best["/floor"], best["/mutate"]]
    return rows
