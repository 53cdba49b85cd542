"""Over HTTPS: the real server under wrk, `/mutate` against the no-op `/floor` of the same
processes, with the server's memory sampled while the load runs.

Figures from one run move with whatever else the machine is doing, so every cell is run
several times and reported as a spread: min, median and max. Targets are judged on the
median, which one lucky or unlucky run does not move.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.serving import Server
from bench.wrk import WrkResult, run_wrk


@dataclass(frozen=True)
class Spread:
    low: float
    median: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            raise ValueError("a spread needs at least one value")
        return cls(ordered[0], statistics.median(ordered), ordered[-1])

    def show(self, digits: int = 0) -> str:
        """`median (min-max)`."""
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


@dataclass(frozen=True)
class HttpsRow:
    """One cell (workers, path, connections), every run of it kept."""

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
    """Each path at each concurrency `repeats` times, the floor and the webhook taking turns
    so that a slow spell of the machine falls on both."""
    script = scratch / "post.lua"
    run_wrk(wrk, server.url + "/mutate", body_file, 16, min(1.0, seconds), script)  # warm-up
    rows = []
    for connections in concurrencies:
        runs: dict[str, list[tuple[WrkResult, float, int]]] = {"/floor": [], "/mutate": []}
        for _ in range(repeats):
            for path, seen in runs.items():
                cpu = server.cpu_seconds()
                with peak_rss(server) as peak:
                    result = run_wrk(
                        wrk, server.url + path, body_file, connections, seconds, script
                    )
                cpu = (server.cpu_seconds() - cpu) / max(result.requests, 1) * 1e6
                seen.append((result, cpu, peak[0]))
        rows += [
            HttpsRow(
                server.workers,
                path,
                connections,
                runs=tuple(r for r, _, _ in seen),
                cpu_runs=tuple(c for _, c, _ in seen),
                rss_kib=max(p for _, _, p in seen),
            )
            for path, seen in runs.items()
        ]
    return rows
