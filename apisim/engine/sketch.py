"""Latency percentiles in bounded memory: DDSketch's logarithmic buckets (mergeable, relative-error
guarantee), counted in batches.

Why batches: ``DDSketch.add`` costs about half a microsecond per value, an eighth of our whole
per-request budget. :func:`keys` computes DDSketch's own bucket key for a whole array with numpy
(the same formula as ddsketch's ``LogarithmicMapping.key``, checked by a test), and a batch's keys
are counted with one ``bincount`` into a dense array of counts per key, as DDSketch's dense store
keeps them. The guarantee is DDSketch's: every quantile within 0.5% of the exact one.

Why interpolate: DDSketch answers with one representative value per bucket, so replications of a
run often give the very same p99 and a confidence interval of width 0 that misses the truth. A
quantile is read instead as numpy's default (linear) rule reads sorted data, each sorted value
taken at its place within its bucket (in log space, the bucket's values taken as evenly spread):
it varies continuously with the data and has no bias against the exact order statistics. The
buckets are made half as wide as the promised accuracy, so any value within its bucket keeps the
promise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ddsketch.mapping import LogarithmicMapping

ACCURACY = 0.005
"""The promise: every percentile within 0.5% of an exact value of the data."""
MAPPING = LogarithmicMapping(ACCURACY / 2)  # a bucket spans at most ACCURACY relative width
_MULTIPLIER = MAPPING._multiplier  # log2(value) * multiplier = log base gamma, as in ddsketch
_OFFSET = MAPPING._offset
ZERO_KEY = -(2**62)
"""Key of values too small for the mapping (counted as zero)."""


def keys(values: np.ndarray) -> np.ndarray:
    """The sketch key of each duration (seconds); :data:`ZERO_KEY` for values the sketch treats as 0."""
    positive = values > MAPPING.min_possible
    if positive.all():  # the usual batch: no masked copies (6× faster)
        return _positive_keys(values)
    out = np.full(values.shape, ZERO_KEY, dtype=np.int64)
    out[positive] = _positive_keys(values[positive])
    return out


def _positive_keys(values: np.ndarray) -> np.ndarray:
    """DDSketch's key of each value above the mapping's minimum, in place on one temporary."""
    scaled = np.log2(values)
    scaled *= _MULTIPLIER
    out = np.ceil(scaled, out=scaled).astype(np.int64)
    out += int(_OFFSET)
    return out


class LatencySketch:
    """Quantiles of durations (seconds) within 0.5% relative error, mergeable.

    The counts per DDSketch key are kept in one numpy array (the key's offset from ``low``): a batch
    is folded in with one ``bincount`` instead of one ``DDSketch.add`` per distinct key, which
    costs about half a microsecond each and, with buckets half as wide, would be most of the batch.
    """

    __slots__ = ("bins", "count", "low", "maximum", "minimum", "total", "zeros")

    def __init__(self) -> None:
        self.bins = np.zeros(0, dtype=np.int64)  # counts of keys low, low + 1, ...
        self.low = 0
        self.zeros = 0  # values the mapping treats as 0
        self.total = 0.0
        self.count = 0
        self.maximum = 0.0
        self.minimum = float("inf")

    def _fold(self, low: int, counts: np.ndarray) -> None:
        """Add ``counts`` of keys ``low``, ``low + 1``, ... to the bins (widening them if needed)."""
        if not self.bins.size:
            self.bins, self.low = counts.astype(np.int64, copy=True), low
            return
        new_low = min(self.low, low)
        new_high = max(self.low + self.bins.size, low + counts.size)
        if new_low != self.low or new_high != self.low + self.bins.size:
            wider = np.zeros(new_high - new_low, dtype=np.int64)
            wider[self.low - new_low : self.low - new_low + self.bins.size] = self.bins
            self.bins, self.low = wider, new_low
        self.bins[low - self.low : low - self.low + counts.size] += counts

    def add_many(self, values: np.ndarray, value_keys: np.ndarray | None = None) -> None:
        """Add a batch of durations in seconds (``value_keys``: their :func:`keys`, if known)."""
        if values.size == 0:
            return
        self.total += float(values.sum())
        self.count += int(values.size)
        self.maximum = max(self.maximum, float(values.max()))
        self.minimum = min(self.minimum, float(values.min()))
        if value_keys is None:
            value_keys = keys(values)
        held = value_keys[value_keys != ZERO_KEY]
        self.zeros += int(value_keys.size - held.size)
        if held.size:
            low = int(held.min())
            self._fold(low, np.bincount(held - low))

    def merge(self, other: LatencySketch) -> None:
        """Fold another sketch into this one."""
        if other.count:
            if other.bins.size:
                self._fold(other.low, other.bins)
            self.zeros += other.zeros
            self.total += other.total
            self.count += other.count
            self.maximum = max(self.maximum, other.maximum)
            self.minimum = min(self.minimum, other.minimum)

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds (None when empty); ``quantile(1)`` is the exact maximum.

        Read by numpy's linear rule within the buckets (see :func:`quantile`) and kept within the
        exact minimum and maximum: no percentile above ``max``.
        """
        if not self.count:
            return None
        bucket_keys, counts, zero = self.buckets()
        return quantile(bucket_keys, np.cumsum(counts), zero, self.count, q, self.minimum, self.maximum)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def buckets(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(keys in order, their counts, the count of zeros) held by the sketch."""
        held = np.flatnonzero(self.bins)
        return (held + self.low).astype(np.int64), self.bins[held].astype(float), float(self.zeros)


def quantile(
    bucket_keys: np.ndarray,
    cumulative: np.ndarray,
    zero: float,
    count: float,
    q: float,
    minimum: float,
    maximum: float,
) -> float:
    """The q-quantile of values held as bucket counts (``cumulative``: running counts after
    ``zero`` zeros) by numpy's default (linear) rule: rank h = q·(count − 1) in the sorted values,
    the value at rank ⌊h⌋ plus the fraction of h of the way to the next one. Each sorted value is
    read at its place within its bucket: a bucket's c values are taken to sit at the middles of c
    equal steps of its logarithmic width. Counts may be fractional (weighted mixtures).

    Why the step to the next value: in a tail, neighbouring values lie several buckets apart (at
    the p99 of 4,000 exponential values, 0.5% apart in 0.25% buckets), so a rank read only within
    its own bucket would sit near the lower value, on average half a gap below the exact order
    statistic, and would answer the same for many data sets.

    ``minimum`` and ``maximum`` are the data's exact ones: ``q`` 1 answers the maximum, and no
    answer lies outside them.
    """
    if q >= 1.0:
        return maximum
    rank = q * (count - 1.0)
    if not bucket_keys.size:
        return 0.0
    low = math.floor(rank)
    value = _sorted_value(bucket_keys, cumulative, zero, low)
    if rank > low and low + 1.0 <= count - 1.0:
        value += (rank - low) * (_sorted_value(bucket_keys, cumulative, zero, low + 1) - value)
    return min(maximum, max(minimum, value))


def _sorted_value(bucket_keys: np.ndarray, cumulative: np.ndarray, zero: float, rank: float) -> float:
    """The value of rank ``rank`` (0: the least) in the sorted values, read within its bucket."""
    if rank < zero:
        return 0.0
    i = min(int(np.searchsorted(cumulative + zero, rank, side="right")), bucket_keys.size - 1)
    before = zero + (float(cumulative[i - 1]) if i else 0.0)
    held = float(cumulative[i]) + zero - before
    step = min(1.0, max(0.0, (rank - before + 0.5) / held))
    # bucket k holds (2**((k - 1 - offset) / m), 2**((k - offset) / m)]: the inverse of keys()
    return float(2.0 ** ((int(bucket_keys[i]) - int(_OFFSET) - 1 + step) / _MULTIPLIER))


class WeightedSketch:
    """Latency quantiles of a weighted mixture of sketches: each window's distribution counts as
    often as the slices it stands for, read by the same rule as one sketch's
    (:func:`quantile`), so they keep its 0.5% relative accuracy."""

    def __init__(self, parts: Sequence[tuple[LatencySketch, float]]) -> None:
        counts: dict[int, float] = {}
        zero = 0.0
        self.total = 0.0
        self.count = 0.0
        self.maximum = 0.0
        self.minimum = math.inf
        for sketch, w in parts:
            if not sketch.count or w <= 0:
                continue
            bucket_keys, held, zeros = sketch.buckets()
            for k, c in zip(bucket_keys.tolist(), held.tolist(), strict=True):
                counts[k] = counts.get(k, 0.0) + w * c
            zero += w * zeros
            self.total += w * sketch.total
            self.count += w * sketch.count
            self.maximum = max(self.maximum, sketch.maximum)
            self.minimum = min(self.minimum, sketch.minimum)
        order = sorted(counts)
        self._keys = np.array(order, dtype=np.int64)
        self._cum = np.cumsum([counts[k] for k in order]) if order else np.zeros(0)
        self._zero = zero

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds of the mixture (None when empty), by the rule of one sketch."""
        if not self.count:
            return None
        return quantile(self._keys, self._cum, self._zero, self.count, q, self.minimum, self.maximum)
