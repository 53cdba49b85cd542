"""Figures from several runs: the benchmark reports each as its median and range, and judges
targets on the median, which one lucky or unlucky run on a shared machine does not move."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


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
