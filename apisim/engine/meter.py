"""Time-weighted levels (busy instances, live instances) with a warm-up cut and time buckets."""

from __future__ import annotations

import math

import numpy as np


class LevelMeter:
    """Integrates a piecewise-constant level over [start, end), in total and per time bucket.

    ``set(t, level)`` must be called with non-decreasing ``t``. ``peak`` is the highest level
    held at any instant in [start, end).
    """

    __slots__ = ("area", "buckets", "end", "last", "level", "peak", "start", "width")

    def __init__(self, start: float, end: float, width: float) -> None:
        self.level = 0
        self.last = 0.0
        self.area = 0.0
        self.peak = 0
        self.start = start
        self.end = end
        self.width = width
        self.buckets = np.zeros(max(1, math.ceil(end / width)))

    def set(self, t: float, level: int) -> None:
        """The level becomes ``level`` at time ``t``."""
        if t > self.last and self.level:
            self._accumulate(self.last, t)
        if t > self.last:
            self.last = t
        self.level = level
        if level > self.peak and self.start <= t < self.end:
            self.peak = level

    def _accumulate(self, a: float, b: float) -> None:
        end = self.end
        if a >= end:
            return
        if b > end:
            b = end
        level = self.level
        start = self.start
        if b > start:
            lo = a if a > start else start
            self.area += level * (b - lo)
            if a < start and level > self.peak:
                self.peak = level
        width = self.width
        i = int(a // width)
        j = int(b // width)
        if i == j:
            self.buckets[i] += level * (b - a)
            return
        buckets = self.buckets
        buckets[i] += level * ((i + 1) * width - a)
        for k in range(i + 1, min(j, len(buckets))):
            buckets[k] += level * width
        if j < len(buckets):
            buckets[j] += level * (b - j * width)

    def close(self) -> None:
        """Carry the current level to the end of the window."""
        if self.last < self.end:
            self._accumulate(self.last, self.end)
            self.last = self.end

    def mean(self) -> float:
        """Time-averaged level over [start, end)."""
        return self.area / (self.end - self.start)

    def bucket_means(self) -> np.ndarray:
        """Time-averaged level in each bucket (the last bucket may be partial)."""
        edges = np.minimum(np.arange(1, len(self.buckets) + 1) * self.width, self.end)
        spans = edges - np.arange(len(self.buckets)) * self.width
        return self.buckets / spans
