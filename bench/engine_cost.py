"""Engine cost: one AdmissionReview body to the response body, in process, against its floor.

The floor is `orjson.loads` + `orjson.dumps` of the same body: parsing the review and writing
as many bytes back, the least any webhook in Python must do. Time is this thread's CPU time,
so other processes on a shared machine inflate it less; each figure is the median of several
runs, with their range. Every review in a run is of a distinct pod (its own uid and name, as
the pods of a fanned-out workflow are), so a decision reused across pods is measured as a
cluster would see it, not as the same body sent again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench import pods
from bench.calls import distinct_body
from bench.policies import compiled_set
from bench.stats import Spread
from webhook.engine import CompiledPolicySet
from webhook.serving.admission import handle

# (label, total policies or None for the shipped set)
SETS: list[tuple[str, int | None]] = [
    ("defaults", None),
    ("10", 10),
    ("100", 100),
    ("1000", 1000),
]


DISTINCT = 64  # distinct pods per shape, reviewed in turn


@dataclass(frozen=True)
class EngineRow:
    pod: str
    body_bytes: int
    floor: Spread  # microseconds per review
    engine: dict[str, Spread]  # policy set label -> microseconds per review
    policies: dict[str, int]
    patched: bool

    @property
    def floor_us(self) -> float:
        return self.floor.median

    @property
    def engine_us(self) -> dict[str, float]:
        return {label: spread.median for label, spread in self.engine.items()}

    def ratio(self, label: str) -> float:
        return self.engine[label].median / self.floor.median


def cpu_us_runs(fn: Callable[[int], object], seconds: float, repeats: int) -> Spread:
    """Microseconds of thread CPU time per call of `fn(i)`, i counting up: the spread of
    `repeats` runs of about `seconds / repeats` each."""
    start = time.thread_time()
    fn(0)
    once = max(time.thread_time() - start, 1e-6)
    number = max(1, int(seconds / repeats / once))
    runs = []
    for _ in range(repeats):
        start_ns = time.thread_time_ns()
        for i in range(number):
            fn(i)
        runs.append((time.thread_time_ns() - start_ns) / number / 1000)
    return Spread.of(runs)


def cpu_us_per_call(fn: Callable[[], object], seconds: float, repeats: int) -> float:
    """The best of `cpu_us_runs` for a call that takes no argument (the worst shapes)."""
    return cpu_us_runs(lambda i: fn(), seconds, repeats).low


def measure(
    seconds: float, repeats: int, sets: list[tuple[str, int | None]] = SETS
) -> list[EngineRow]:
    compiled: dict[str, CompiledPolicySet] = {label: compiled_set(n) for label, n in sets}
    rows = []
    for size in pods.PODS:
        bodies = [distinct_body(size, i) for i in range(DISTINCT)]
        floor = cpu_us_runs(
            lambda i, b=bodies: orjson.dumps(orjson.loads(b[i % DISTINCT])), seconds, repeats
        )
        costs = {}
        for label, policies in compiled.items():
            costs[label] = cpu_us_runs(
                lambda i, p=policies, b=bodies: handle(p, b[i % DISTINCT]), seconds, repeats
            )
        answer, _ = handle(compiled["defaults"], bodies[0])
        rows.append(
            EngineRow(
                pod=size,
                body_bytes=len(bodies[0]),
                floor=floor,
                engine=costs,
                policies={label: len(c.policies) for label, c in compiled.items()},
                patched=b'"patch"' in answer,
            )
        )
    return rows
