"""results.md: the machine, every figure beside its floor and the ratio, and the targets."""

from __future__ import annotations

import datetime
import os
import platform
import ssl
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from bench.history import history_section
from bench.https_load import RAW
from bench.targets import https_row, targets

if TYPE_CHECKING:
    from bench.run import Results

LIBRARIES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
    "pydantic",
    "httpx",
    "matplotlib",
)
MIB = 1024


def machine() -> list[tuple[str, str]]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    optimized = "--enable-optimizations" in str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    python = (
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({'PGO build' if optimized else 'built without --enable-optimizations (no PGO/LTO)'})"
    )
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("memory", memory),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", python),
        ("libraries", ", ".join(versions)),
        ("TLS", ssl.OPENSSL_VERSION),
    ]


def _ratios(*pairs: tuple[float, float]) -> str:
    """'1.50x / 2.00x' for (webhook, floor) pairs."""
    return " / ".join(f"{hook / floor:.2f}x" if floor else "-" for hook, floor in pairs)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write(results: Results, path: Path, figures: list[Path]) -> None:
    profile = results.profile
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    quick = " --quick" if profile.name == "quick" else ""
    parts = [
        "# Benchmark results\n",
        f"Written by `make bench` (`python -m bench{quick}`) "
        f"on {when}; the whole run took {results.seconds:.0f} s. How each figure is measured, "
        "and what was changed to make the webhook faster: [README.md](README.md).\n",
        "The machine is shared: its load average (1, 5, 15 min) was "
        f"{_load(results.load_before)} when the run started and {_load(os.getloadavg())} when "
        "it ended; above 1, other processes took CPU from the one measured here, which "
        "lowers the HTTPS figures (the engine's are CPU time, less affected).\n",
        "## Machine\n",
        _table(["", ""], [[k, v] for k, v in results_machine(results)]),
        "## Targets\n",
        _table(
            ["target", "measured", "verdict"],
            [[t.name, t.measured, t.verdict] for t in targets(results)],
        ),
    ]
    parts += _engine_section(results)
    parts += _worst_section(results)
    parts += _https_section(results)
    parts += _burst_section(results)
    parts += _memory_section(results)
    parts.append("## Figures\n")
    parts += [f"![{f.stem}]({f.name})\n" for f in figures]
    previous = path.read_text() if path.exists() else ""
    parts += history_section(results, previous, when)
    path.write_text("\n".join(parts))


def summary(results: Results) -> str:
    """The targets, one line each, for the end of `make bench`."""
    lines = ["bench: targets (median (min-max) of the runs; results.md says why one is missed)"]
    for target in targets(results):
        lines.append(f"  [{target.short_verdict}] {target.name}: {target.measured}")
    return "\n".join(lines)


def _load(averages: tuple[float, float, float]) -> str:
    return ", ".join(f"{a:.2f}" for a in averages)


def results_machine(results: Results) -> list[tuple[str, str]]:
    rows = machine()
    rows.append(
        (
            "load generator",
            f"{results.wrk_note} ({results.wrk})" if results.wrk else results.wrk_note,
        )
    )
    return rows


def _engine_section(results: Results) -> list[str]:
    labels = list(results.engine[0].engine) if results.engine else []
    header = ["pod", "body", "floor: orjson loads+dumps"]
    header += [f"{'shipped' if label == 'defaults' else label} policies" for label in labels]
    header.append("Python calls: handle + serving")
    rows = []
    for row in results.engine:
        cells = [row.pod, f"{row.body_bytes / 1024:.1f} KiB", f"{row.floor.show(1)} µs"]
        cells += [f"{row.engine[label].show()} µs ({row.ratio(label):.1f}x)" for label in labels]
        engine, serving = results.calls.get(row.pod, (0, 0))
        cells.append(f"{engine} + {serving}")
        rows.append(cells)
    sizes = ", ".join(f"{label}: {n}" for label, n in results.engine[0].policies.items())
    return [
        "## 1. Engine cost (in process)\n",
        "CPU time to turn one AdmissionReview body into the response body (`admission.handle`: "
        "parse, match, mutate, patch, serialize), each review of a distinct pod (its own uid "
        f"and name), median (min-max) of {results.profile.engine_repeats} runs; in brackets "
        f"the ratio of the medians to the floor. Policies in each set: {sizes} (the shipped "
        "ones plus generated ones; see `bench/policies.py`). The last column counts the "
        "Python function calls of one review with the shipped policies (`bench/calls.py`, "
        "pinned by `tests/test_call_counts.py`): `admission.handle`, and what serving adds "
        "around it (the handler, its log line and metrics).\n",
        _table(header, rows),
    ]


def _worst_section(results: Results) -> list[str]:
    if not results.worst:
        return []
    rows = [
        [r.shape, f"{r.n:,}", f"{r.body_bytes / 1024:.0f} KiB", f"{r.ms:.1f} ms"]
        for r in results.worst
    ]
    return [
        "## 1b. Worst shapes (in process)\n",
        "CPU time of `admission.handle` for pods any pod author can send, at two sizes (the "
        "second four times the first: linear cost means about 4x the time) and at the 3 MiB "
        "body limit; the shipped policies plus one that mirrors the nodeSelector and adds a "
        "required expression to every term (`bench/worst_shapes.py`). Bodies past 128 KiB are "
        "reviewed on a thread, off the event loop.\n",
        _table(["shape", "count", "body", "cost"], rows),
    ]


def _https_section(results: Results) -> list[str]:
    if not results.https:
        return ["## 2. Over HTTPS\n", f"Not measured: {results.wrk_note}.\n"]
    rows = []
    for workers in sorted({r.workers for r in results.https}):
        for connections in sorted({r.concurrency for r in results.https}):
            cells = [
                https_row(results, workers, p, connections) for p in (RAW, "/floor", "/mutate")
            ]
            raw, floor, hook = cells
            if raw is None or floor is None or hook is None:
                continue
            rows.append(
                [
                    str(workers),
                    str(connections),
                    *(cell.rps.show() for cell in (raw, floor, hook)),
                    _ratios((hook.rps.median, raw.rps.median)),
                    *(cell.p99_ms.show(1) for cell in (raw, floor, hook)),
                    _ratios((hook.p99_ms.median, raw.p99_ms.median)),
                    *(cell.cpu_us.show() for cell in (raw, floor, hook)),
                    _ratios((raw.cpu_us.median, hook.cpu_us.median)),
                    str(sum(cell.errors for cell in (raw, floor, hook))),
                ]
            )
    profile = results.profile
    return [
        "## 2. Over HTTPS\n",
        "`placement-webhook serve` on 127.0.0.1 (TLS 1.3, uvicorn + uvloop + httptools), "
        "loaded by wrk (one thread, keep-alive) with the Argo GPU review (5.3 KiB). Two "
        "floors: the raw ASGI floor, a ten-line ASGI app that reads the body and answers a "
        "fixed review, run by plain `uvicorn.run` on the same uvloop, httptools and TLS "
        "(`bench/raw_floor.py`): what Python serves with no framework and no work; and "
        "`POST /floor` on the webhook's own server: its FastAPI routing, connection layer and "
        "TLS, no webhook work. Each cell was run "
        f"{profile.wrk_repeats} times for {profile.wrk_seconds:g} s, the three taking turns; "
        "every figure is the **median (min-max)** of those runs, and the ratios and the "
        "targets are taken on the medians. The servers share the machine's cores with wrk "
        "(and, on a shared machine, with others): the CPU time per request (user + system, "
        "all workers, from /proc) is the figure least moved by that, and its ratio (raw "
        "floor's over the webhook's) is what the throughput ratio tends to when each server "
        "has the cores to itself: the throughput target is judged on it. A wide spread says "
        "the machine was busy: compare medians, not single runs.\n",
        _table(
            [
                "workers",
                "connections",
                "raw floor req/s",
                "/floor req/s",
                "/mutate req/s",
                "/mutate / raw",
                "raw floor p99 ms",
                "/floor p99 ms",
                "/mutate p99 ms",
                "/mutate / raw",
                "raw floor CPU µs per request",
                "/floor CPU µs",
                "/mutate CPU µs",
                "raw / /mutate (throughput share)",
                "errors",
            ],
            rows,
        ),
    ]


def _burst_section(results: Results) -> list[str]:
    rows = []
    for workers in sorted({w for w, _ in results.bursts}):
        floor = results.bursts.get((workers, "/floor"))
        hook = results.bursts.get((workers, "/mutate"))
        if floor is None or hook is None:
            continue
        rows.append(
            [
                str(workers),
                f"{hook.succeeded} / {hook.sent}",
                f"{floor.p50_ms:.1f} / {floor.p99_ms:.1f} / {floor.max_ms:.1f}",
                f"{hook.p50_ms:.1f} / {hook.p99_ms:.1f} / {hook.max_ms:.1f}",
                _ratios(
                    (hook.p50_ms, floor.p50_ms),
                    (hook.p99_ms, floor.p99_ms),
                    (hook.max_ms, floor.max_ms),
                ),
                f"{floor.seconds:.2f} s / {hook.seconds:.2f} s ({hook.rps:.0f}/s)",
            ]
        )
    failures = [f"- {w} worker(s): {f}" for (w, p), b in results.bursts.items() for f in b.failures]
    return [
        "## 3. Burst\n",
        f"{results.profile.burst_reviews} distinct Argo step reviews (own uid and name, "
        f"{-(-results.profile.burst_reviews // 50)} workflows, every tenth a CPU step) sent at "
        "concurrency "
        f"{results.profile.burst_concurrency} over as many keep-alive TLS connections (opened "
        "before the clock starts) by a minimal HTTP/1.1 client on uvloop; every answer checked "
        "(HTTP 200, its own uid, allowed, no internal error, a decodable patch). The floor sends "
        "the same bodies to "
        "`/floor`. The client shares the cores with the server.\n",
        _table(
            [
                "workers",
                "answered correctly",
                "floor p50 / p99 / max ms",
                "webhook p50 / p99 / max ms",
                "latency ratio p50 / p99 / max",
                "whole burst: floor / webhook",
            ],
            rows,
        ),
        *(["Failures:\n", "\n".join(failures) + "\n"] if failures else []),
    ]


def _memory_section(results: Results) -> list[str]:
    floor = results.memory_floor
    rows = []
    for (label, workers), (idle, idle_worker, load, load_worker) in results.memory.items():
        rows.append(
            [
                "shipped" if label == "defaults" else label,
                str(workers),
                f"{idle / MIB:.1f}",
                f"{idle_worker / MIB:.1f} ({idle_worker / floor:.2f}x)",
                f"{load / MIB:.1f}",
                f"{load_worker / MIB:.1f} ({load_worker / floor:.2f}x)",
            ]
        )
    return [
        "## 4. Memory\n",
        "RSS (VmRSS from /proc/<pid>/status) in MiB, summed over the server's processes (with "
        "workers, the supervising parent too) and for the largest worker, idle and at the "
        "highest sample (every 0.1 s) under the loads above. Floor: one worker serving no "
        f"policy at all, idle: {floor / MIB:.1f} MiB; in brackets the ratio to it.\n",
        _table(
            [
                "policies",
                "workers",
                "idle total",
                "idle per worker",
                "under load total",
                "under load per worker",
            ],
            rows,
        ),
    ]
