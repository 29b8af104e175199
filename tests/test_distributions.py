"""Distributions and durations: parsing, and sample statistics against the objects' own parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apisim.budget import ZIPF_GUIDE
from apisim.distributions import Z99, Constant, Empirical, Exponential, Lognormal, Uniform, draws
from apisim.durations import to_seconds
from apisim.engine.clients import InverseCdf, sorted_uniforms, zipf_cdf
from apisim.scenario import parse_distribution

N = 200_000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        (12, 12.0),
        (0, 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert to_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5 minutes", "-3s", "fast", True, [1], "1e3s"])
def test_bad_durations_are_refused_with_the_allowed_forms(bad: object) -> None:
    with pytest.raises(ValueError, match=r"250ms|duration"):
        to_seconds(bad)


def test_bare_numbers_take_the_field_unit() -> None:
    assert parse_distribution(20, bare_unit_s=1e-3) == Constant(0.02)
    assert parse_distribution("2s", bare_unit_s=1e-3) == Constant(2.0)
    assert parse_distribution({"dist": "uniform", "low": "5m", "high": "15m"}, bare_unit_s=1.0) == Uniform(300.0, 900.0)


@pytest.mark.parametrize(
    "dist",
    [
        Exponential(0.12),
        Lognormal.from_median_p99(0.06, 0.3),
        Lognormal.from_mean_sigma(0.1, 0.8),
        Uniform(300, 900),
        Empirical((0.01, 0.02, 0.5)),
    ],
    ids=repr,
)
def test_sample_mean_matches_the_distribution_mean(dist) -> None:
    x = dist.sample(np.random.default_rng(1), N)
    se = x.std(ddof=1) / np.sqrt(N)
    assert abs(x.mean() - dist.mean) <= 4 * se
    assert (x >= 0).all()


def test_lognormal_from_median_and_p99_reproduces_both() -> None:
    d = Lognormal.from_median_p99(0.4, 1.5)
    assert d.median == pytest.approx(0.4)
    assert np.exp(d.mu + Z99 * d.sigma) == pytest.approx(1.5)
    x = d.sample(np.random.default_rng(2), N)
    # Order statistics: the sample p99's standard error is sqrt(p(1-p)/n) / f(q).
    f_q = np.exp(-0.5 * Z99**2) / (np.sqrt(2 * np.pi) * d.sigma * 1.5)
    assert abs(np.quantile(x, 0.99) - 1.5) <= 4 * np.sqrt(0.99 * 0.01 / N) / f_q


def test_draws_serve_a_stream_in_batches_identically() -> None:
    a = draws(Exponential(1.0), np.random.default_rng(5), batch=7)
    b = Exponential(1.0).sample(np.random.default_rng(5), 7)
    assert [a() for _ in range(7)] == b.tolist()


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(2, 300_000),
    exponent=st.floats(0.05, 3.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_guide_table_picks_the_keys_a_binary_search_picks(count: int, exponent: float, seed: int) -> None:
    # Ground truth: numpy's own binary search, on random draws and on the table's exact steps.
    cdf = zipf_cdf(count, exponent)
    u = np.random.default_rng(seed).random(20_000)
    steps = cdf[:: max(1, count // 500)].clip(0, np.nextafter(1.0, 0))
    u = np.concatenate([u, [0.0, np.nextafter(1.0, 0)], steps, np.nextafter(steps, 0)])
    assert np.array_equal(InverseCdf(cdf)(u), np.searchsorted(cdf, u, side="right"))


@pytest.mark.parametrize("count", [2, 3, 1_000, 50_000, 40_000, 10_000_000])
def test_the_memory_estimate_holds_the_guide_table(count: int) -> None:
    # budget.ZIPF_GUIDE bounds the guide's slices (the estimate is checked before anything is built).
    slices = InverseCdf(np.linspace(1.0 / count, 1.0, count)).guide.size
    assert slices <= min(ZIPF_GUIDE[0] * count, ZIPF_GUIDE[1])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 200_000),
    lo=st.floats(-1e6, 1e9),
    span=st.floats(0.0, 1e7),
    seed=st.integers(0, 2**32 - 1),
)
def test_arrival_times_are_sorted_as_numpy_sorts_them(n: int, lo: float, span: float, seed: int) -> None:
    # Ground truth: numpy's sort of the same draws (the window's arrivals, in time order).
    u = np.random.default_rng(seed).uniform(lo, lo + span, n)
    assert np.array_equal(sorted_uniforms(u.copy(), lo, lo + span), np.sort(u))
