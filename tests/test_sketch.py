"""Streaming percentiles: within 0.5% of exact, keyed exactly as ddsketch keys them, mergeable."""

from __future__ import annotations

import numpy as np
import pytest

from apisim.engine.sketch import ACCURACY, MAPPING, ZERO_KEY, LatencySketch, keys


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


@pytest.mark.parametrize("q", [0.5, 0.99, 0.999])
def test_percentiles_are_read_within_their_bucket_without_bias(q: float) -> None:
    # Against the exact order statistic (numpy's linear rule, the same rank q·(n − 1)): never
    # more than 0.5% away, and no bias on average. The sizes vary so the rank's fraction does
    # too: in the tail, neighbouring values lie buckets apart, and a value read only within the
    # rank's own bucket sat up to a gap low (mean −0.1% and worst −1.8% at the p99 here; mean −1.1%
    # and worst −18% at the p999) and gave the same answer for many data sets.
    rng = np.random.default_rng(4)
    errors, answers = [], set()
    for _ in range(300):
        values = 0.005 + rng.exponential(0.05, int(rng.integers(4000, 6000)))
        sketch = LatencySketch()
        sketch.add_many(values)
        got, exact = sketch.quantile(q), float(np.quantile(values, q))
        errors.append(got / exact - 1.0)
        answers.add(got)
    errors = np.array(errors)
    assert np.abs(errors).max() <= ACCURACY
    assert abs(errors.mean()) <= 4 * errors.std(ddof=1) / np.sqrt(errors.size)
    if q >= 0.99:  # where values are buckets apart (at the median, a bucket holds dozens, and answers repeat)
        assert len(answers) >= 290  # read within its own bucket only: about 220 here


def test_a_weighted_mixture_reads_percentiles_by_the_same_rule() -> None:
    # The month's mixture of windows (weights: slices per window) against numpy's linear rule on
    # the values repeated as often as their weights: within the sketch's 0.5%.
    from apisim.engine.sketch import WeightedSketch

    rng = np.random.default_rng(5)
    parts = [rng.exponential(0.05, 3000), 0.1 + rng.exponential(0.02, 2000)]
    sketches = []
    for values in parts:
        sketches.append(LatencySketch())
        sketches[-1].add_many(values)
    mixed = WeightedSketch([(sketches[0], 2.0), (sketches[1], 3.0)])
    everything = np.concatenate([parts[0], parts[0], parts[1], parts[1], parts[1]])
    for q in (0.1, 0.5, 0.9, 0.99):
        exact = float(np.quantile(everything, q))
        assert abs(mixed.quantile(q) / exact - 1.0) <= ACCURACY, q
    assert mixed.quantile(1.0) == everything.max()


def test_the_95_percent_interval_over_replications_is_true_for_an_exact_p99() -> None:
    # Constant gateway overhead + exponential function time, no cold start, no throttle: latency
    # is a shifted exponential, p99 = overhead + mean·ln(100) exactly. 150 short replications make
    # 50 intervals of 3 (Student's t); a true 95% interval covers at least 42 of 50 with
    # probability 0.9992 (binomial). Their width comes from the replications' spread, checked
    # against the order statistic's exact spread (Rényi: the k-th of n exponentials is
    # mean·Σ_{i=n−k+1..n} E_i/i, so its variance is mean²·Σ 1/i²), and their centre against the
    # order statistic's exact mean (mean·Σ 1/i), each within 4 standard errors of 150 runs.
    # (python -m benchmarks.percentile_coverage runs 50 intervals of larger runs.)
    from scipy import stats

    from apisim import replications
    from apisim.studies import summarize_replications
    from tests.test_lambda_rules import shifted_exponential

    n, overhead_ms, mean_ms, runs = 2000, 5.0, 50.0, 150
    sc, exact_ms = shifted_exponential(requests=n, overhead_s=overhead_ms / 1000, mean_s=mean_ms / 1000)
    rows = replications(sc, runs, workers=1)
    p99 = rows["p99_ms"].to_numpy()
    assert len(set(p99.tolist())) >= runs - 3  # the sketch's buckets do not make replications agree

    rows["group"] = np.arange(runs) // 3
    table = summarize_replications(rows, by=["group"])
    half = table["p99_ms_ci95"].to_numpy()
    assert np.all(half > 0)
    covered = int((np.abs(table["p99_ms"].to_numpy() - exact_ms) <= half).sum())
    assert stats.binom.cdf(covered, len(table), 0.95) >= 0.001, f"{covered} of {len(table)} cover {exact_ms:.2f} ms"

    # Numpy's rank h = 0.99·(n − 1) (from 0): the values of ranks ⌊h⌋ and ⌊h⌋ + 1, a fraction apart.
    h = 0.99 * (n - 1)
    k, frac = int(h) + 1, h - int(h)  # k: the rank from 1 of the lower one
    inverse = 1.0 / np.arange(1, n + 1)
    expected = overhead_ms + mean_ms * ((1 - frac) * inverse[n - k :].sum() + frac * inverse[n - k - 1 :].sum())
    spread = mean_ms * np.sqrt((inverse[n - k :] ** 2).sum())
    sd = p99.std(ddof=1)
    assert abs(p99.mean() - expected) <= 4 * sd / np.sqrt(runs), (p99.mean(), expected)
    # s.e. of a standard deviation: ½·√(2/(N − 1) + κ/N), κ = 6/(n·0.01) the excess kurtosis of a
    # sum of about n·0.01 comparable exponentials.
    kurtosis = 6.0 / (n * 0.01)
    assert abs(sd / spread - 1.0) <= 4 * 0.5 * np.sqrt(2 / (runs - 1) + kurtosis / runs), (sd, spread)
