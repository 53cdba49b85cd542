"""results.md's history: one row per run, carried from one results.md to the next, so that a
change that made a review dearer shows beside the runs before it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bench.https_load import RAW
from bench.targets import https_row, targets

if TYPE_CHECKING:
    from bench.run import Results

HEADER = "## History"
COLUMNS = [
    "run",
    "profile",
    "load (1 min) at start / end",
    "targets met",
    "/mutate throughput share of the raw floor, 1 worker, 16 connections (CPU; req/s)",
    "/mutate p99 / raw floor p99",
    "/mutate CPU µs per request",
    "engine / floor: argo-gpu, small",
    "1,000 / 10 policies, small pod",
    "slowest 3 MiB pod",
    "Python calls, argo-gpu: handle + serving",
]


def history_section(results: Results, previous: str, when: str) -> list[str]:
    """The section: the rows of the `previous` results.md, and this run's."""
    rows = [*previous_rows(previous), "| " + " | ".join(run_row(results, when)) + " |"]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS), *rows]
    return [
        f"{HEADER}\n",
        "One row per run written to this file, the newest last (the rows above come from the "
        "results.md this run replaced). Ratios are taken within a run, so rows from busier or "
        "quieter spells of the machine compare; the load average says how busy it was.\n",
        "\n".join(lines) + "\n",
    ]


def previous_rows(text: str) -> list[str]:
    if HEADER not in text:
        return []
    table = [line for line in text.split(HEADER, 1)[1].splitlines() if line.startswith("|")]
    return table[2:]  # after the header and its separator


def run_row(results: Results, when: str) -> list[str]:
    met = [t.met for t in targets(results)]
    engine = {row.pod: row for row in results.engine}
    raw, hook = https_row(results, 1, RAW, 16), https_row(results, 1, "/mutate", 16)
    https = ["-", "-", "-"]
    if raw is not None and hook is not None:
        https = [
            f"{raw.cpu_us.median / hook.cpu_us.median:.2f}x; "
            f"{hook.rps.median / raw.rps.median:.2f}x",
            f"{hook.p99_ms.median / raw.p99_ms.median:.2f}x",
            hook.cpu_us.show(),
        ]
    ratios = " / ".join(
        f"{engine[pod].ratio('defaults'):.1f}x" if pod in engine else "-"
        for pod in ("argo-gpu", "small")
    )
    scale = "-"
    small = engine.get("small")
    if small is not None and "10" in small.engine and len(small.engine) > 2:
        largest = list(small.engine)[-1]
        scale = f"{small.engine[largest].median / small.engine['10'].median:.2f}x"
    at_limit = [row.ms for row in results.worst if "3 MiB" in row.shape]
    calls = results.calls.get("argo-gpu")
    return [
        when,
        results.profile.name,
        f"{results.load_before[0]:.2f} / {os.getloadavg()[0]:.2f}",
        f"{sum(met)} of {len(met)}",
        *https,
        ratios,
        scale,
        f"{max(at_limit):.0f} ms" if at_limit else "-",
        f"{calls[0]} + {calls[1]}" if calls else "-",
    ]
