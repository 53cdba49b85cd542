"""One benchmark run: what it measures (a profile: full or quick), in which order, and the
results it collects for the report and the plots."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import calls, engine_cost, pods, preview_scale, report, worst_shapes
from bench.burst import BurstResult, run_burst
from bench.https_load import HttpsRow, load_server, peak_rss
from bench.plots import write_plots
from bench.policies import write_policy_dir
from bench.serving import running_raw_floor, running_server
from bench.wrk import find_wrk, run_wrk


@dataclass(frozen=True)
class Profile:
    name: str
    engine_seconds: float  # per measured cell
    engine_repeats: int
    engine_sets: list[tuple[str, int | None]]
    wrk_seconds: float
    wrk_repeats: int  # runs of each HTTPS cell: the report gives their min, median and max
    concurrencies: list[int]
    workers: list[int]
    burst_reviews: int
    burst_concurrency: int
    large_set: int  # policies in the set whose memory is measured beside the defaults


FULL = Profile(
    name="full",
    engine_seconds=0.5,
    engine_repeats=15,
    engine_sets=engine_cost.SETS,
    wrk_seconds=3,
    wrk_repeats=5,  # enough runs for a median and a spread
    concurrencies=[1, 16, 64],
    workers=[1, 2],
    burst_reviews=1000,
    burst_concurrency=100,
    large_set=1000,
)
QUICK = Profile(
    name="quick",
    engine_seconds=0.02,
    engine_repeats=2,
    engine_sets=[("defaults", None), ("10", 10), ("100", 100)],
    wrk_seconds=1,
    wrk_repeats=3,
    concurrencies=[1, 16],
    workers=[1],
    burst_reviews=50,
    burst_concurrency=10,
    large_set=100,
)


@dataclass
class Results:
    profile: Profile
    engine: list[engine_cost.EngineRow] = field(default_factory=list)
    calls: dict[str, tuple[int, int]] = field(default_factory=dict)  # pod -> handle, serving
    worst: list[worst_shapes.WorstRow] = field(default_factory=list)
    https: list[HttpsRow] = field(default_factory=list)
    bursts: dict[tuple[int, str], BurstResult] = field(default_factory=dict)  # (workers, path)
    # (policy set label, workers) -> (idle total, idle largest worker, load total, load worker)
    memory: dict[tuple[str, int], tuple[int, int, int, int]] = field(default_factory=dict)
    memory_floor: int = 0  # KiB: one worker serving no policy at all, idle
    wrk: str | None = None
    wrk_note: str = ""
    seconds: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)  # other work on the machine


def run(profile: Profile, out: Path, scratch: Path, install: bool) -> Results:
    started = time.monotonic()
    results = Results(profile, load_before=os.getloadavg())
    _say(f"engine cost: {len(pods.PODS)} pods x {len(profile.engine_sets)} policy sets")
    results.engine = engine_cost.measure(
        profile.engine_seconds, profile.engine_repeats, profile.engine_sets
    )
    results.calls = calls.counted()
    _say(f"worst shapes: {len(worst_shapes.SHAPES)} shapes, and pods at the body limit")
    results.worst = worst_shapes.measure(profile.engine_seconds, min(profile.engine_repeats, 5))
    results.wrk, results.wrk_note = find_wrk(install)
    if results.wrk is None:
        _say(f"warning: {results.wrk_note}")
    body_file = scratch / "argo-gpu-review.json"
    body_file.write_bytes(pods.review_body("argo-gpu"))
    bursts = pods.distinct_bodies(profile.burst_reviews)
    defaults = write_policy_dir(scratch / "policies-defaults", None)
    large = write_policy_dir(scratch / f"policies-{profile.large_set}", profile.large_set)

    for workers in profile.workers:
        _say(f"server with the default policies, {workers} worker(s)")
        with (
            running_server(scratch, defaults, workers) as server,
            running_raw_floor(scratch, workers) as raw,
        ):
            time.sleep(0.5)
            idle = server.rss()
            with peak_rss(server) as peak:
                if results.wrk:
                    results.https += load_server(
                        server,
                        raw,
                        results.wrk,
                        body_file,
                        profile.concurrencies,
                        profile.wrk_seconds,
                        profile.wrk_repeats,
                        scratch,
                    )
                _say(f"burst: {len(bursts)} reviews at concurrency {profile.burst_concurrency}")
                for path in ("/floor", "/mutate"):
                    results.bursts[(workers, path)] = run_burst(
                        server.url, str(server.ca_file), bursts, profile.burst_concurrency, path
                    )
            results.memory[("defaults", workers)] = (*idle, *peak)

    workers = max(profile.workers)
    _say(f"server with {profile.large_set} policies, {workers} worker(s)")
    with running_server(scratch, large, workers) as server:
        time.sleep(0.5)
        idle = server.rss()
        with peak_rss(server) as peak:
            if results.wrk:
                run_wrk(
                    results.wrk,
                    server.url + "/mutate",
                    body_file,
                    16,
                    profile.wrk_seconds,
                    scratch / "post.lua",
                )
            else:
                run_burst(server.url, str(server.ca_file), bursts, profile.burst_concurrency)
        results.memory[(str(profile.large_set), workers)] = (*idle, *peak)

    empty = scratch / "policies-none"
    empty.mkdir(exist_ok=True)
    with running_server(scratch, empty, 1) as server:
        time.sleep(0.5)
        results.memory_floor = server.rss()[0]

    previews = preview_scale.measure(profile.name, scratch, _say)
    results.seconds = time.monotonic() - started
    figures = write_plots(results, out)
    report.write(results, out / "results.md", figures)
    preview_scale.append_section(out / "results.md", previews)
    _say(f"wrote {out / 'results.md'} and {len(figures)} plots in {results.seconds:.0f}s")
    print(report.summary(results), flush=True)
    return results


def _say(message: str) -> None:
    print(f"bench: {message}", flush=True)
