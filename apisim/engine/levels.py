"""Time-weighted levels (busy instances, live instances) from the times they go up and down.

Why this shape: the pool only appends the time of each +1 and each -1 (two list appends per
invocation, in any order); integrals are computed in batches with numpy. For a level
L(t) = #ups before t − #downs before t, the area under L up to x is
F(x) = G(ups, x) − G(downs, x) with G(S, x) = Σ_{s∈S, s<x} (x − s), and G is additive over
batches, so late-discovered events (an idle instance found expired only when reached) fold in
whenever they are known.
"""

from __future__ import annotations

import math

import numpy as np


class LevelLog:
    """Area under a ±1 level over [start, end), in total and per bucket of ``width`` seconds."""

    __slots__ = (
        "_area_at_edges", "_level_at_start", "_rises", "downs", "edges", "end", "inv_width", "peaks", "start", "ups",
    )  # fmt: skip

    def __init__(self, start: float, end: float, width: float) -> None:
        self.ups: list[float] = []
        self.downs: list[float] = []
        self.start = start
        self.end = end
        n = max(1, math.ceil(end / width))
        # The highest level reached in each bucket, which whoever raises the level keeps up to date
        # (a list: one scalar compare per rise on the hot path; areas alone would hide short peaks).
        self.peaks = [0] * n
        self.inv_width = 1.0 / width
        # Bucket edges, then the window's start and end (the last two entries).
        self.edges = np.concatenate([np.minimum(np.arange(n + 1) * width, end), [start, end]])
        self._area_at_edges = np.zeros(len(self.edges))
        self._level_at_start = 0
        self._rises = np.zeros(n, dtype=np.int64)  # +1s per bucket (a function's busy level: its invocations)

    def start_at(self, level: int) -> None:
        """Begin at ``level`` instead of 0 (as ``level`` ups at time 0, without holding one entry each)."""
        self._area_at_edges += level * self.edges
        self._level_at_start += level

    def _g(self, times: np.ndarray) -> tuple[np.ndarray, int]:
        """G(times, x) at every edge, and how many of the times are at or before the window start.

        G(S, x) = #{s < x}·x − Σ{s < x}: each time is placed among the (few, sorted) bucket edges
        and counted and summed per slot, then accumulated over the slots. Why not sort the times
        and take prefix sums: that was O(n log n) and a fifth of the compiled engine's time.
        """
        s = np.asarray(times, dtype=float)
        edges = self.edges[:-2]  # the bucket edges, ascending; the window's start and end follow
        slot = np.searchsorted(edges, s, side="right")  # s < edges[j] exactly when j >= slot
        below = np.cumsum(np.bincount(slot, minlength=edges.size + 1))[: edges.size]
        total = np.cumsum(np.bincount(slot, weights=s, minlength=edges.size + 1))[: edges.size]
        early = s < self.start
        at_start = np.count_nonzero(early) * self.start - float(s[early].sum())
        area = np.concatenate([below * edges - total, [at_start, below[-1] * self.end - total[-1]]])
        return area, int(np.count_nonzero(s <= self.start))

    def fold(self) -> None:
        """Fold the pending ups and downs into the running areas."""
        if self.ups or self.downs:
            self.fold_arrays(np.asarray(self.ups, dtype=float), np.asarray(self.downs, dtype=float))
            self.ups.clear()
            self.downs.clear()

    def fold_arrays(self, ups: np.ndarray, downs: np.ndarray) -> None:
        """Fold a batch of ups and downs (times, as arrays) into the running areas."""
        if ups.size:
            area, before = self._g(ups)
            self._area_at_edges += area
            self._level_at_start += before
            n = len(self._rises)
            at = np.minimum((ups * self.inv_width).astype(np.int64), n - 1)
            self._rises += np.bincount(at[at >= 0], minlength=n)
        if downs.size:
            area, before = self._g(downs)
            self._area_at_edges -= area
            self._level_at_start -= before

    def level_at_start(self) -> int:
        """The level at the instant the window starts (after the changes at that instant)."""
        self.fold()
        return self._level_at_start

    def mean(self) -> float:
        """Time-averaged level over [start, end)."""
        self.fold()
        area = self._area_at_edges[-1] - self._area_at_edges[-2]
        return float(_clean(np.array([area / (self.end - self.start)]))[0])

    def bucket_rises(self) -> np.ndarray:
        """How many times the level rose in each bucket (``start_at``'s level not counted)."""
        self.fold()
        return self._rises.copy()

    def bucket_means(self) -> np.ndarray:
        """Time-averaged level in each bucket (the last bucket may be partial)."""
        self.fold()
        edges = self.edges[:-2]
        return _clean(np.diff(self._area_at_edges[:-2]) / np.diff(edges))


def _clean(levels: np.ndarray) -> np.ndarray:
    """Remove the rounding noise of a difference of large sums: a level is never negative, and a
    time-averaged level below 1e-9 instances is zero."""
    return np.where(levels < 1e-9, 0.0, levels)
