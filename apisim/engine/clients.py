"""Clients: when requests arrive, what each asks for, and how they retry.

Arrivals are generated window by window as numpy arrays (one call per window, not per
request). Every attribute of a request (route, API key, token, cache key, coin flips) has its
own named stream, so switching a feature on in one design does not change the traffic that
another design with the same seed sees.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from apisim.budget import ZIPF_GUIDE
from apisim.distributions import Draw
from apisim.engine.throttle import UsagePlan

EPS = 1e-9


class ArrivalProcess(ABC):
    """Open-loop arrival times; ``times(t0, t1, rng)`` gives the sorted arrivals in [t0, t1).

    Times are seconds from the start of the run (the month's start, under the month basis); a
    process may be asked about any stretch, before the start too (a window's warm-up).
    """

    @abstractmethod
    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        """Sorted arrival times in [t0, t1); windows are asked for in order, without gaps."""

    @abstractmethod
    def expected(self, t0: float, t1: float) -> float:
        """About how many values ``times(t0, t1)`` will hold at once (never much less): sizes windows."""

    @abstractmethod
    def mean_between(self, t0: float, t1: float) -> float:
        """The expected number of arrivals in [t0, t1) (exact for every process)."""


def sorted_uniforms(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``np.sort(u)`` for values drawn uniformly on [lo, hi): the very same array, about 3× faster.

    Why: sorting each window's arrival times was a tenth of the compiled engine's time (1.1 ms for
    33,000 times). Numpy sorts 16-bit integers stably by radix, in linear time: ordered first by which
    of 65,536 equal slices of [lo, hi) it falls in, the array is almost sorted, and numpy's stable sort
    of floats (timsort) finishes almost-sorted data in about linear time (0.35 ms in all). The result
    does not depend on the slices: a sort's output is the same whatever order it starts from.
    """
    scale = 65535.0 / (hi - lo) if hi > lo else math.inf
    if u.size < 1024 or not (math.isfinite(scale) and math.isfinite(hi - lo)):
        return np.sort(u)
    # 0 ≤ (u - lo) · scale < 65,536 even after rounding (lo ≤ u ≤ hi), so the cast never wraps.
    u = u[np.argsort(((u - lo) * scale).astype(np.uint16), kind="stable")]
    u.sort(kind="stable")
    return u


class Poisson(ArrivalProcess):
    """Homogeneous Poisson arrivals at ``rate`` per second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        n = rng.poisson(self.rate * (t1 - t0))
        return sorted_uniforms(rng.uniform(t0, t1, n), t0, t1)

    def expected(self, t0: float, t1: float) -> float:
        return self.rate * (t1 - t0)

    def mean_between(self, t0: float, t1: float) -> float:
        return self.rate * (t1 - t0)


class ProfiledPoisson(ArrivalProcess):
    """Non-homogeneous Poisson arrivals with rate ``rate_at(t)``, by thinning per window.

    ``peak_in(t0, t1)`` bounds the rate on [t0, t1]; ``integral(t0, t1)`` is its exact integral.
    """

    def __init__(
        self,
        rate_at: Callable[[np.ndarray], np.ndarray],
        peak_in: Callable[[float, float], float],
        integral: Callable[[float, float], float],
    ) -> None:
        self.rate_at = rate_at
        self.peak_in = peak_in
        self.integral = integral

    def expected(self, t0: float, t1: float) -> float:
        return self.peak_in(t0, t1) * (t1 - t0)  # thinning draws this many candidates

    def mean_between(self, t0: float, t1: float) -> float:
        return self.integral(t0, t1)

    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        peak = self.peak_in(t0, t1)
        if peak <= 0:
            return np.empty(0)
        n = rng.poisson(peak * (t1 - t0))
        candidates = sorted_uniforms(rng.uniform(t0, t1, n), t0, t1)
        keep = rng.uniform(0.0, peak, n) < self.rate_at(candidates)
        return candidates[keep]


class Constant(ArrivalProcess):
    """Evenly spaced arrivals: ``start + k / rate`` for k = 0, 1, ... (optionally only ``count`` of them).

    ``always``: for every integer k, before ``start`` too (a steady rate that ran before the month).
    """

    def __init__(self, rate: float, start: float = 0.0, count: int | None = None, always: bool = False) -> None:
        self.rate = rate
        self.start = start
        self.count = count
        self.always = always

    def _indices(self, t0: float, t1: float) -> tuple[int, int]:
        # Index range from the window edges; the same formula at a shared edge gives the same k,
        # so no arrival is lost or repeated between windows.
        lo = math.ceil((t0 - self.start) * self.rate - EPS)
        hi = math.ceil((t1 - self.start) * self.rate - EPS)
        if not self.always:
            lo, hi = max(0, lo), max(0, hi)
        if self.count is not None:
            hi = min(hi, self.count)
        return lo, hi

    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self._indices(t0, t1)
        if hi <= lo:
            return np.empty(0)
        return self.start + np.arange(lo, hi, dtype=float) / self.rate

    def expected(self, t0: float, t1: float) -> float:
        lo, hi = self._indices(t0, t1)
        return float(max(0, hi - lo))

    def mean_between(self, t0: float, t1: float) -> float:
        return self.expected(t0, t1)


class Burst(ArrivalProcess):
    """``rate`` evenly spaced requests per second for ``duration``, from ``start``, every ``every`` (or once).

    ``always``: repeating bursts run before ``start`` too (a cycle that ran before the month).
    """

    def __init__(
        self, rate: float, duration: float, start: float, every: float | None, per_burst: int, always: bool = False
    ) -> None:
        self.rate = rate
        self.duration = duration
        self.start = start
        self.every = every
        self.per_burst = per_burst
        self.always = always

    def _bursts(self, t0: float, t1: float) -> range:
        """Indices of the bursts that may have arrivals in [t0, t1)."""
        if self.every is None:
            return range(1) if t0 < self.start + self.duration and self.start < t1 else range(0)
        first = math.floor((t0 - self.start - self.duration) / self.every)
        last = math.floor((t1 - self.start) / self.every)
        return range(first if self.always else max(0, first), last + 1)

    def expected(self, t0: float, t1: float) -> float:
        """Exactly how many arrivals [t0, t1) holds, in constant time however many bursts it spans."""
        bursts = self._bursts(t0, t1)
        if not bursts:
            return 0.0
        every = self.every or 0.0

        def part(m: int) -> int:
            lo, hi = Constant(self.rate, self.start + m * every, self.per_burst)._indices(t0, t1)
            return max(0, hi - lo)

        # The first index may be a burst that ended before t0, so the second may be cut too; every
        # burst after those and before the last lies whole inside the window (every ≥ duration).
        edges = sorted({bursts[0], bursts[min(1, len(bursts) - 1)], bursts[-1]})
        return float(sum(part(m) for m in edges) + max(0, len(bursts) - 3) * self.per_burst)

    def mean_between(self, t0: float, t1: float) -> float:
        return self.expected(t0, t1)

    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        starts = [self.start + m * (self.every or 0.0) for m in self._bursts(t0, t1)]
        parts = [Constant(self.rate, s, self.per_burst).times(t0, t1, rng) for s in starts]
        parts = [p for p in parts if p.size]
        return np.concatenate(parts) if parts else np.empty(0)


class Trace(ArrivalProcess):
    """Replays recorded arrival times (seconds from the start); with ``period``, again every period."""

    def __init__(self, times: np.ndarray, period: float | None = None) -> None:
        self.recorded = np.sort(np.asarray(times, dtype=float))
        self.period = period

    def _copies(self, t0: float, t1: float) -> range:
        if self.period is None:
            return range(1)
        return range(math.floor(t0 / self.period) - 1, math.floor(t1 / self.period) + 1)

    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        parts = []
        for k in self._copies(t0, t1):
            shift = k * (self.period or 0.0)
            lo, hi = np.searchsorted(self.recorded, [t0 - shift, t1 - shift], side="left")
            if hi > lo:
                parts.append(self.recorded[lo:hi] + shift)
        return np.concatenate(parts) if parts else np.empty(0)

    def expected(self, t0: float, t1: float) -> float:
        total = 0
        for k in self._copies(t0, t1):
            shift = k * (self.period or 0.0)
            lo, hi = np.searchsorted(self.recorded, [t0 - shift, t1 - shift], side="left")
            total += int(hi - lo)
        return float(total)

    def mean_between(self, t0: float, t1: float) -> float:
        return self.expected(t0, t1)


class Nothing(ArrivalProcess):
    """No arrivals: a WebSocket client's fixed population opens its connections by itself."""

    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        return np.empty(0)

    def expected(self, t0: float, t1: float) -> float:
        return 0.0

    def mean_between(self, t0: float, t1: float) -> float:
        return 0.0


class Shifted(ArrivalProcess):
    """Another process seen from ``offset`` seconds on: a window that starts elsewhere in the month."""

    def __init__(self, base: ArrivalProcess, offset: float) -> None:
        self.base = base
        self.offset = offset

    def times(self, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
        return self.base.times(t0 + self.offset, t1 + self.offset, rng) - self.offset

    def expected(self, t0: float, t1: float) -> float:
        return self.base.expected(t0 + self.offset, t1 + self.offset)

    def mean_between(self, t0: float, t1: float) -> float:
        return self.base.mean_between(t0 + self.offset, t1 + self.offset)


def zipf_probabilities(count: int, exponent: float) -> np.ndarray:
    """Popularity of ``count`` keys: p(k) ∝ k^-exponent for k = 1..count."""
    weights = np.arange(1, count + 1, dtype=float) ** -exponent
    return weights / weights.sum()


def zipf_cdf(count: int, exponent: float) -> np.ndarray:
    """Cumulative :func:`zipf_probabilities`, ending exactly at 1 (for sampling by search)."""
    cdf = np.cumsum(zipf_probabilities(count, exponent))
    return cdf / cdf[-1]


class InverseCdf:
    """``np.searchsorted(cdf, u, side="right")`` for many ``u`` in [0, 1) at once: the same indices, faster.

    Why: a binary search over a 50,000-key Zipf table costs about 60 ns a draw (cache misses), a third
    of the compiled engine's time per request on the reference scenario. A guide table first: for the
    ``m`` (a power of two) slices [j/m, (j+1)/m) it holds the answer at each slice's start; where the
    next slice's answer is the same, no search is needed (exactly: ``u·m`` and ``j/m`` are exact in
    binary, and the answer is monotone in ``u``). A slice where the table steps is stored negative, and
    only draws in those are searched: about 5% for that table, with 16 slices per key (12% with 4, and
    1.5× slower). The guide holds at most :data:`MAX_SLICES` int32 (4 MB), at most 32 per key
    (``budget.ZIPF_GUIDE``, checked by a test).
    """

    MAX_SLICES = ZIPF_GUIDE[1]  # the memory estimate's bound, the one number

    def __init__(self, cdf: np.ndarray) -> None:
        self.cdf = cdf
        self.m = min(self.MAX_SLICES, 1 << max(4, (16 * len(cdf) - 1).bit_length()))
        # Built a slice range at a time, in int32 from the start: the build's peak stays near the
        # guide's own size (5 bytes a slice; budget.ZIPF_GUIDE), not the 20 of whole-table temporaries.
        at = np.empty(self.m + 1, dtype=np.int32)
        for lo in range(0, self.m + 1, 1 << 16):
            hi = min(self.m + 1, lo + (1 << 16))
            at[lo:hi] = np.searchsorted(cdf, np.arange(lo, hi) / self.m, side="right")
        steps = at[1:] != at[:-1]
        self.guide = at[:-1]
        self.guide[steps] = -1

    def __call__(self, u: np.ndarray) -> np.ndarray:
        out = self.guide[(u * self.m).astype(np.int64)].astype(np.int64)
        steps = np.flatnonzero(out < 0)
        out[steps] = np.searchsorted(self.cdf, u[steps], side="right")
        return out


class RetryPolicy:
    """When and how long a client waits before sending a failed request again."""

    def __init__(
        self,
        max_attempts: int,
        backoff: str,
        base: float,
        cap: float,
        jitter: str,
        retry_statuses: frozenset[int],
        jitter_draws: Draw,
    ) -> None:
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.statuses = retry_statuses
        self._u = jitter_draws

    def delay(self, retry: int) -> float:
        """Wait before retry number ``retry`` (1 for the first retry)."""
        d = self.base * (2.0 ** (retry - 1)) if self.backoff == "exponential" else self.base
        if d > self.cap:
            d = self.cap
        if self.jitter == "full":
            return d * self._u()
        if self.jitter == "equal":
            return d / 2 + d / 2 * self._u()
        return d


@dataclass(slots=True)
class Population:
    """A client's runtime: its arrival process and the streams its requests' attributes come from."""

    index: int
    name: str
    arrivals: ArrivalProcess
    arrival_rng: np.random.Generator
    route_cdf: np.ndarray  # over the API's route indices
    route_index: np.ndarray
    api_keys: int
    invalid_key_fraction: float
    auth_tokens: int
    invalid_token_fraction: float
    key_count: int
    key_cdf: InverseCdf | None  # None: keys are equally popular
    response_bytes: int
    request_bytes: int
    entry_bytes: int  # what one of its responses takes in its stage's cache
    retry: RetryPolicy | None
    plan: UsagePlan | None
    streams: dict[str, np.random.Generator]
    door: Any = None  # the door it calls (an engine.door.Door)
    stage: Any = None  # the door's own state for the stage it calls
    route_offset: int = 0  # where the door's routes start among the run's (for records)

    def ties(self, n: int) -> np.ndarray:
        """Random keys that order this client's arrivals among others' at the same instant.

        Why: sorting by time alone would let the client listed first in the file always win a
        tie (a token, a cache write); keys from the client's own stream make the file's order
        irrelevant.
        """
        return self.streams["ties"].random(n)

    def attributes(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Attributes of the next ``n`` requests.

        Returns route, API key (-1: missing or invalid), token (-1: invalid), cache key and the
        validation coin, each as an array.
        """
        s = self.streams
        routes = self.route_index[
            np.searchsorted(self.route_cdf, s["routes"].random(n), side="right").clip(0, len(self.route_index) - 1)
        ]
        keys = s["api_keys"].integers(0, self.api_keys, n)
        if self.invalid_key_fraction:
            keys = np.where(s["bad_keys"].random(n) < self.invalid_key_fraction, -1, keys)
        tokens = s["tokens"].integers(0, self.auth_tokens, n)
        if self.invalid_token_fraction:
            tokens = np.where(s["bad_tokens"].random(n) < self.invalid_token_fraction, -1, tokens)
        if self.key_cdf is None:
            cache_keys = s["cache_keys"].integers(0, self.key_count, n)
        else:
            cache_keys = self.key_cdf(s["cache_keys"].random(n)).clip(0, self.key_count - 1)
        validation = s["validation"].random(n)
        return routes, keys, tokens, cache_keys, validation
