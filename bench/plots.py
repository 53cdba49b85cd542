"""The PNG figures of results.md (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.https_load import RAW

if TYPE_CHECKING:
    from bench.run import Results


def write_plots(results: Results, out: Path) -> list[Path]:
    written = [_engine(results, out / "engine.png")]
    if results.https:
        written.append(_https(results, out / "https.png"))
    if results.bursts:
        written.append(_burst(results, out / "burst.png"))
    written.append(_memory(results, out / "memory.png"))
    return written


def _engine(results: Results, path: Path) -> Path:
    rows = results.engine
    labels = ["floor", *rows[0].engine_us]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        values = [r.floor_us if label == "floor" else r.engine_us[label] for r in rows]
        name = "JSON floor (orjson loads+dumps)" if label == "floor" else _set_name(label)
        ax.bar([x + i * width for x in range(len(rows))], values, width, label=name)
    ax.set_xticks([x + width * (len(labels) - 1) / 2 for x in range(len(rows))])
    ax.set_xticklabels([f"{r.pod}\n{r.body_bytes / 1024:.1f} KiB" for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("µs per review (CPU, log scale)")
    ax.set_title("Engine cost per AdmissionReview, in process")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _set_name(label: str) -> str:
    return "shipped policies" if label == "defaults" else f"{label} policies"


def _https(results: Results, path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for workers in sorted({r.workers for r in results.https}):
        color = f"C{workers - 1}"  # one color per worker count; raw floor dotted, /floor dashed
        for route, style in ((RAW, ":"), ("/floor", "--"), ("/mutate", "-")):
            rows = [r for r in results.https if r.workers == workers and r.path == route]
            if not rows:
                continue
            x = [r.concurrency for r in rows]
            name = f"{route} {workers} worker{'s' if workers > 1 else ''}"
            # The median of the runs, with a bar from the lowest to the highest run.
            for ax, spreads in ((left, [r.rps for r in rows]), (right, [r.p99_ms for r in rows])):
                medians = [s.median for s in spreads]
                below = [s.median - s.low for s in spreads]
                above = [s.high - s.median for s in spreads]
                ax.errorbar(
                    x, medians, yerr=[below, above], fmt=style, color=color, marker="o",
                    capsize=3, label=name,
                )  # fmt: skip
    left.set_title("Throughput over HTTPS (keep-alive), median and range")
    left.set_ylabel("requests/s")
    right.set_title("p99 latency, median and range")
    right.set_ylabel("ms")
    for ax in (left, right):
        ax.set_xscale("log", base=4)
        ax.set_xticks(sorted({r.concurrency for r in results.https}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("concurrent connections")
        ax.legend(fontsize=8)
    return _save(fig, path)


def _burst(results: Results, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for (workers, route), burst in sorted(results.bursts.items()):
        ordered = sorted(burst.latencies_ms)
        share = [100 * (i + 1) / len(ordered) for i in range(len(ordered))]
        style = "--" if route == "/floor" else "-"
        name = f"{route} {workers} worker{'s' if workers > 1 else ''}"
        ax.plot(ordered, share, style, color=f"C{workers - 1}", label=name)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("% of reviews answered within")
    ax.set_title(
        f"Burst: {results.profile.burst_reviews} distinct reviews, "
        f"concurrency {results.profile.burst_concurrency}"
    )
    ax.legend()
    return _save(fig, path)


def _memory(results: Results, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    keys = list(results.memory)
    idle = [results.memory[k][1] / 1024 for k in keys]
    load = [results.memory[k][3] / 1024 for k in keys]
    x = range(len(keys))
    ax.bar([i - 0.2 for i in x], idle, 0.4, label="idle")
    ax.bar([i + 0.2 for i in x], load, 0.4, label="under load")
    ax.axhline(100, color="red", linestyle=":", label="target: 100 MiB per worker")
    ax.set_xticks(list(x))
    ax.set_xticklabels([f"{_set_name(s)}\n{w} worker{'s' if w > 1 else ''}" for s, w in keys])
    ax.set_ylabel("RSS of the largest worker (MiB)")
    ax.set_title("Memory per worker process")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
