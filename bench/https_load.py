"""Over HTTPS: the real server under wrk, `/mutate` against two floors, with the server's
memory sampled while the load runs. The floors: the no-op `/floor` of the same processes (the
same stack as /mutate: FastAPI, the connection layer, TLS), and the raw ASGI floor, a ten-line
ASGI app on plain uvicorn with the same TLS (`raw_floor.py`): what Python serves at all.

Figures from one run move with whatever else the machine is doing, so every cell is run
several times and reported as a spread: min, median and max. Targets are judged on the
median, which one lucky or unlucky run does not move.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.serving import Server
from bench.stats import Spread
from bench.wrk import WrkResult, run_wrk


@dataclass(frozen=True)
class HttpsRow:
    """One cell (workers, path, connections), every run of it kept. The raw ASGI floor's path
    is RAW."""

    workers: int
    path: str
    concurrency: int
    runs: tuple[WrkResult, ...]
    cpu_runs: tuple[float, ...]  # server CPU time per request answered (µs), all workers
    rss_kib: int  # the most seen while any run went on, summed over the server's processes

    @property
    def rps(self) -> Spread:
        return Spread.of(r.rps for r in self.runs)

    @property
    def p50_ms(self) -> Spread:
        return Spread.of(r.p50_ms for r in self.runs)

    @property
    def p99_ms(self) -> Spread:
        return Spread.of(r.p99_ms for r in self.runs)

    @property
    def cpu_us(self) -> Spread:
        return Spread.of(self.cpu_runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)


RAW = "raw ASGI"


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
    raw: Server | None,
    wrk: str,
    body_file: Path,
    concurrencies: list[int],
    seconds: float,
    repeats: int,
    scratch: Path,
) -> list[HttpsRow]:
    """Each path at each concurrency `repeats` times, the floors and the webhook taking turns
    so that a slow spell of the machine falls on each."""
    script = scratch / "post.lua"
    cells = [(server, "/floor"), (server, "/mutate")]
    if raw is not None:
        cells.insert(0, (raw, RAW))
    for target, path in cells:  # warm-up
        run_wrk(wrk, _url(target, path), body_file, 16, min(1.0, seconds), script)
    rows = []
    for connections in concurrencies:
        runs: dict[str, list[tuple[WrkResult, float, int]]] = {path: [] for _, path in cells}
        for _ in range(repeats):
            for target, path in cells:
                cpu = target.cpu_seconds()
                with peak_rss(target) as peak:
                    result = run_wrk(
                        wrk, _url(target, path), body_file, connections, seconds, script
                    )
                cpu = (target.cpu_seconds() - cpu) / max(result.requests, 1) * 1e6
                runs[path].append((result, cpu, peak[0]))
        rows += [
            HttpsRow(
                target.workers,
                path,
                connections,
                runs=tuple(r for r, _, _ in runs[path]),
                cpu_runs=tuple(c for _, c, _ in runs[path]),
                rss_kib=max(p for _, _, p in runs[path]),
            )
            for target, path in cells
        ]
    return rows


def _url(server: Server, path: str) -> str:
    return server.url + ("/" if path == RAW else path)
