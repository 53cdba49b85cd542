"""Engine cost: one AdmissionReview body to the response body, in process, against its floor.

The floor is `orjson.loads` + `orjson.dumps` of the same body: parsing the review and writing
as many bytes back, the least any webhook in Python must do. Time is this thread's CPU time,
best of several runs, so other processes on a shared machine do not inflate it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench import pods
from bench.policies import compiled_set
from webhook.engine import CompiledPolicySet
from webhook.serving.admission import handle

# (label, total policies or None for the shipped set)
SETS: list[tuple[str, int | None]] = [
    ("defaults", None),
    ("10", 10),
    ("100", 100),
    ("1000", 1000),
]


@dataclass(frozen=True)
class EngineRow:
    pod: str
    body_bytes: int
    floor_us: float
    # policy set label -> microseconds per review
    engine_us: dict[str, float]
    policies: dict[str, int]
    patched: bool

    def ratio(self, label: str) -> float:
        return self.engine_us[label] / self.floor_us


def cpu_us_per_call(fn: Callable[[], object], seconds: float, repeats: int) -> float:
    """Microseconds of thread CPU time per call: the best of `repeats` runs of about
    `seconds / repeats` each."""
    start = time.thread_time()
    fn()
    once = max(time.thread_time() - start, 1e-6)
    number = max(1, int(seconds / repeats / once))
    best = float("inf")
    for _ in range(repeats):
        start_ns = time.thread_time_ns()
        for _ in range(number):
            fn()
        best = min(best, (time.thread_time_ns() - start_ns) / number)
    return best / 1000


def measure(
    seconds: float, repeats: int, sets: list[tuple[str, int | None]] = SETS
) -> list[EngineRow]:
    compiled: dict[str, CompiledPolicySet] = {label: compiled_set(n) for label, n in sets}
    rows = []
    for size in pods.PODS:
        body = pods.review_body(size)
        floor = cpu_us_per_call(lambda b=body: orjson.dumps(orjson.loads(b)), seconds, repeats)
        costs = {}
        for label, policies in compiled.items():
            costs[label] = cpu_us_per_call(
                lambda p=policies, b=body: handle(p, b), seconds, repeats
            )
        answer, _ = handle(compiled["defaults"], body)
        rows.append(
            EngineRow(
                pod=size,
                body_bytes=len(body),
                floor_us=floor,
                engine_us=costs,
                policies={label: len(c.policies) for label, c in compiled.items()},
                patched=b'"patch"' in answer,
            )
        )
    return rows
