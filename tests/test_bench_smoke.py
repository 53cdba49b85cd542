"""The benchmark's smoke run: `python -m bench --quick` runs every part and writes its figures.

Nothing here asserts a time: speed is what the full run (`make bench`) reports.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.https_load import HttpsRow
from bench.report import targets
from bench.run import QUICK, Results
from bench.wrk import WrkResult
from tests.system_tools import optional

REPO = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def test_quick_benchmark_writes_results_and_plots(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-install", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = (tmp_path / "results.md").read_text()

    for section in ("## Machine", "## Targets", "## 1. Engine cost", "## 3. Burst", "## 4. Memory"):
        assert section in results
    for pod in ("small", "argo-gpu", "large"):
        assert f"| {pod} |" in results
    assert "| 1 | 50 / 50 |" in results  # every review of the burst answered correctly
    assert "| shipped | 1 |" in results and "| 100 | 1 |" in results  # memory rows

    plots = ["engine.png", "burst.png", "memory.png"]
    if optional("wrk"):
        plots.append("https.png")
        # The HTTPS table: 1 worker at 16 connections, each figure the median (min-max) of the
        # quick profile's 3 runs.
        row = next(line for line in results.splitlines() if line.startswith("| 1 | 16 |"))
        assert re.search(r"\| \d+ \(\d+-\d+\) \| \d+ \(\d+-\d+\) \|", row), row
        assert "median (min-max) of 3 runs" in results
    else:
        assert "Not measured: wrk is not installed" in results
    for name in plots:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 1000, name
        assert f"]({name})" in results


def wrk_run(p99_ms: float) -> WrkResult:
    return WrkResult(requests=1000, seconds=1.0, errors=0, p50_ms=1.0, p90_ms=2.0,
                     p99_ms=p99_ms, max_ms=p99_ms)  # fmt: skip


def cell(path: str, p99s: list[float], cpu_us: float) -> HttpsRow:
    runs = tuple(wrk_run(p) for p in p99s)
    return HttpsRow(1, path, 16, runs, cpu_runs=(cpu_us,) * len(runs), rss_kib=1)


def test_https_targets_are_judged_on_the_median_of_the_runs() -> None:
    """One lucky run of the webhook (15 ms) and one unlucky run of the floor (50 ms) would
    meet "p99 at most 2x the floor's" on the best runs (15 vs 10); the medians miss it."""
    results = Results(QUICK)
    results.https = [
        cell("/floor", [10, 10, 50, 10, 10], cpu_us=400),
        cell("/mutate", [25, 15, 25, 25, 25], cpu_us=450),
    ]
    verdicts = {target: (measured, verdict) for target, measured, verdict in targets(results)}
    measured, verdict = verdicts["HTTPS, 1 worker(s), 16 connections: p99 at most 2x the floor's"]
    assert measured == "median (min-max) of 5 runs: 25.0 (15.0-25.0) vs 10.0 (10.0-50.0) ms = 2.50x"
    assert verdict.startswith("**missed** by 1.2x")
    throughput = "HTTPS, 1 worker(s), 16 connections: throughput at least 80% of the floor"
    assert verdicts[throughput][1] == "met"  # 400 / 450 µs of CPU per request: 89%
