"""Streaming percentiles: within 0.5% of exact, keyed exactly as ddsketch keys them, mergeable."""

from __future__ import annotations

import numpy as np
import pytest

from apisim.engine.sketch import MAPPING, ZERO_KEY, LatencySketch, keys


def test_vectorised_keys_match_ddsketch() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.lognormal(-3, 2, 20_000), [1e-12, 0.0, 1.0, 2.0, 0.001]])
    expected = [ZERO_KEY if v <= MAPPING.min_possible else MAPPING.key(v) for v in values.tolist()]
    assert keys(values).tolist() == expected
    # The value a key is added at maps back to that key.
    for k in np.unique(keys(values[values > 1e-9])).tolist():
        assert MAPPING.key(MAPPING.value(k)) == k


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_quantiles_within_half_a_percent_of_exact(q: float) -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(np.log(0.06), 1.0, 200_000)
    sketch = LatencySketch()
    for chunk in np.array_split(values, 7):
        sketch.add_many(chunk)
    # The sketch answers with a value within 0.5% of some sample near rank q·n.
    exact_lo, exact_hi = np.quantile(values, [q - 1e-5, q + 1e-5], method="inverted_cdf")
    got = sketch.quantile(q)
    assert exact_lo * (1 - 0.005) <= got <= exact_hi * (1 + 0.005)
    assert sketch.quantile(1.0) == values.max()
    assert sketch.mean == pytest.approx(values.mean())


def test_merge_equals_one_sketch_of_everything() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.exponential(0.1, 5000), rng.exponential(1.0, 5000)
    one, left, right = LatencySketch(), LatencySketch(), LatencySketch()
    one.add_many(np.concatenate([a, b]))
    left.add_many(a)
    right.add_many(b)
    left.merge(right)
    for q in (0.1, 0.5, 0.99):
        assert left.quantile(q) == one.quantile(q)


def test_zeros_and_empty() -> None:
    s = LatencySketch()
    assert s.quantile(0.5) is None and s.mean is None
    s.add_many(np.zeros(10))
    assert s.quantile(0.5) == 0.0


def test_percentiles_are_read_within_their_bucket_without_bias() -> None:
    # Against the exact order statistic (numpy's linear rule, the same rank q·(n − 1)): never
    # more than 0.5% away, and no bias on average (a bucket's representative value would give
    # the same answer for many different data sets: replications whose p99 never differs).
    rng = np.random.default_rng(4)
    errors, answers = [], set()
    for _ in range(300):
        values = 0.005 + rng.exponential(0.05, 5000)
        sketch = LatencySketch()
        sketch.add_many(values)
        got, exact = sketch.quantile(0.99), float(np.quantile(values, 0.99))
        errors.append(got / exact - 1.0)
        answers.add(got)
    errors = np.array(errors)
    assert np.abs(errors).max() <= 0.005
    assert abs(errors.mean()) <= 4 * errors.std(ddof=1) / np.sqrt(errors.size)
    assert len(answers) >= 100  # one value per bucket would give about 40 here


def test_the_95_percent_interval_over_replications_covers_the_exact_p99() -> None:
    # Constant gateway overhead + exponential function time, no cold start, no throttle: latency
    # is a shifted exponential with p99 = overhead + mean·ln(100) exactly. 20 intervals of 3
    # replications each: at 95% coverage, 15 or fewer covering has probability 0.0003 (binomial).
    # (benchmarks/percentile_coverage.py runs 50 intervals on larger runs.)
    from apisim import replications
    from apisim.studies import summarize_replications
    from tests.test_lambda_rules import shifted_exponential

    sc, exact_ms = shifted_exponential(requests=4000)
    rows = replications(sc, 60)
    rows["group"] = np.arange(len(rows)) // 3
    table = summarize_replications(rows, by=["group"])
    half = table["p99_ms_ci95"].to_numpy()
    assert np.all(half > 0)
    covered = int((np.abs(table["p99_ms"].to_numpy() - exact_ms) <= half).sum())
    assert covered >= 16, f"{covered} of 20 intervals cover the exact p99 {exact_ms:.2f} ms"
