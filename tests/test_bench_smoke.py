"""The benchmark's smoke run: `python -m bench --quick` runs every part and writes its figures.

Nothing here asserts a time: speed is what the full run (`make bench`) reports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.history import history_section
from bench.https_load import RAW, HttpsRow
from bench.run import QUICK, Results
from bench.targets import targets
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
    # Every target printed with its figure and verdict at the end of the run.
    printed = run.stdout[run.stdout.index("bench: targets") :].splitlines()[1:]
    assert printed and all(re.match(r"  \[(met|MISSED by .+)\] .+: .+", line) for line in printed)
    assert any("raw ASGI floor" in line for line in printed) == bool(shutil.which("wrk"))
    # One history row, this run's: the file did not exist before.
    history = results[results.index("## History") :].splitlines()
    assert len([line for line in history if line.startswith("| ") and "quick" in line]) == 1

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
        # requests/s of the raw floor, /floor and /mutate
        assert re.search(r"\| \d+ \(\d+-\d+\) \| \d+ \(\d+-\d+\) \| \d+ \(\d+-\d+\) \|", row)
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
    """One lucky run of the webhook (15 ms) and one unlucky run of the raw floor (50 ms) would
    meet "p99 at most 3x the raw floor's" on the best runs (15 vs 10); the medians miss it."""
    results = Results(QUICK)
    results.https = [
        cell(RAW, [10, 10, 50, 10, 10], cpu_us=100),
        cell("/mutate", [35, 15, 35, 35, 35], cpu_us=300),
    ]
    verdicts = {t.name: t for t in targets(results)}
    p99 = verdicts[
        "HTTPS, 1 worker(s), 16 connections: /mutate p99 at most 3x the raw ASGI floor's"
    ]
    assert (
        p99.measured
        == "median (min-max) of 5 runs: 35.0 (15.0-35.0) vs 10.0 (10.0-50.0) ms = 3.50x"
    )
    assert p99.verdict.startswith("**missed** by 1.2x")
    throughput = (
        "HTTPS, 1 worker(s), 16 connections: /mutate throughput at least 0.3x the raw ASGI floor's"
    )
    assert verdicts[throughput].met  # 100 / 300 µs of CPU per request: 0.33x


def test_each_run_adds_a_row_to_the_history_of_the_results_it_replaces() -> None:
    results = Results(QUICK)
    first = "\n".join(history_section(results, "", "run 1"))
    second = "\n".join(history_section(results, f"# Benchmark results\n\n{first}", "run 2"))
    rows = [line for line in second.splitlines() if line.startswith("| run ") and "quick" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| run 1", "| run 2"]
