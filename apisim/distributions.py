"""Distributions of durations, as small objects behind one interface.

Every distribution is in **seconds** and draws a whole batch at once from a numpy Generator the
caller owns (a distribution never holds a random stream of its own).
"""

from __future__ import annotations

import inspect
import math
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# The 99th percentile of the standard normal distribution, used to turn a median and a p99 into
# lognormal parameters.
Z99 = 2.3263478740408408


class Distribution(Protocol):
    """Anything that draws non-negative durations in seconds."""

    @property
    def mean(self) -> float:
        """The expected value in seconds."""
        ...

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values (seconds) from ``rng``."""
        ...


@dataclass(frozen=True, slots=True)
class Constant:
    """Always the same value."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value)


@dataclass(frozen=True, slots=True)
class Exponential:
    """Memoryless, with the given mean."""

    mean_s: float

    @property
    def mean(self) -> float:
        return self.mean_s

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean_s, size)


@dataclass(frozen=True, slots=True)
class Lognormal:
    """exp(N(mu, sigma²)); the usual shape of service latencies."""

    mu: float
    sigma: float

    @classmethod
    def from_median_p99(cls, median: float, p99: float) -> Lognormal:
        if not 0 < median <= p99:
            raise ValueError(f"a lognormal needs 0 < median ≤ p99, got median={median:g}s, p99={p99:g}s")
        return cls(math.log(median), (math.log(p99) - math.log(median)) / Z99)

    @classmethod
    def from_mean_sigma(cls, mean: float, sigma: float) -> Lognormal:
        if mean <= 0 or sigma < 0:
            raise ValueError(f"a lognormal needs mean > 0 and sigma ≥ 0, got mean={mean:g}s, sigma={sigma:g}")
        return cls(math.log(mean) - sigma * sigma / 2, sigma)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma * self.sigma / 2)

    @property
    def median(self) -> float:
        return math.exp(self.mu)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size)


@dataclass(frozen=True, slots=True)
class Uniform:
    """Every value in [low, high] equally likely."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if self.high < self.low:
            raise ValueError(f"a uniform needs low ≤ high, got low={self.low:g}s, high={self.high:g}s")

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)


@dataclass(frozen=True, slots=True)
class Empirical:
    """Resamples observed values, each equally likely."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("an empirical distribution needs at least one value")

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.asarray(self.values)[rng.integers(0, len(self.values), size)]


@dataclass(frozen=True, slots=True)
class Scaled:
    """Another distribution's values times a constant factor."""

    base: Distribution
    factor: float

    @property
    def mean(self) -> float:
        return self.base.mean * self.factor

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.base.sample(rng, size) * self.factor


Draw = Callable[[], float]
"""Calling it gives the next value of a stream, as a Python float."""


_SOURCES: weakref.WeakKeyDictionary[Any, tuple[Distribution, np.random.Generator, int]] = (
    weakref.WeakKeyDictionary()
)  # each supply's distribution, generator and batch, for the compiled engine (apisim.engine.compiled)


def draws(dist: Distribution, rng: np.random.Generator, batch: int = 4096) -> Draw:
    """An endless supply of draws from ``dist`` on ``rng``, sampled ``batch`` at a time.

    Why: one numpy call per batch costs nanoseconds per value, one call per value a
    microsecond; and a generator's ``__next__`` is the cheapest way Python has to hand them
    out one by one (about 60 ns).
    """

    def supply() -> Iterator[float]:
        while True:
            yield from dist.sample(rng, batch).tolist()

    gen = supply()
    _SOURCES[gen] = (dist, rng, batch)
    return gen.__next__


def source(draw: Draw) -> tuple[Distribution, np.random.Generator, int] | None:
    """What a :func:`draws` supply draws from (distribution, generator, batch), while nothing has been
    drawn from it yet (so another engine can draw the same values); None otherwise."""
    gen = getattr(draw, "__self__", None)
    if gen is None or inspect.getgeneratorstate(gen) != inspect.GEN_CREATED:
        return None
    return _SOURCES.get(gen)


def uniforms(rng: np.random.Generator, batch: int = 4096) -> Draw:
    """Batched U(0, 1) draws: the coin flips of a stream (failures, jitter)."""
    return draws(Uniform(0.0, 1.0), rng, batch)


def upper(dist: Any) -> float:
    """About the longest a duration distribution gives: its bound, or its 99th percentile."""
    for attr in ("high", "value"):
        if hasattr(dist, attr):
            return float(getattr(dist, attr))
    return float(np.quantile(dist.sample(np.random.default_rng(0), 4096), 0.99))
