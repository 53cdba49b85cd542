"""The benchmark's smoke run: `python -m bench --quick` runs every part and writes its figures.

Nothing here asserts a time: speed is what the full run (`make bench`) reports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
    if shutil.which("wrk"):
        plots.append("https.png")
        assert "| 1 | 16 |" in results  # the HTTPS table: 1 worker at 16 connections
    else:
        assert "Not measured: wrk is not installed" in results
    for name in plots:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 1000, name
        assert f"]({name})" in results
