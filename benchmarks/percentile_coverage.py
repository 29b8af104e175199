"""How often the 95% interval over replications holds the exact p99 (issue 10's percentile check).

    python -m benchmarks.percentile_coverage [--intervals 50] [--replications 3] [--requests 20000]

A shifted exponential (constant gateway overhead + exponential function time, no cold start, no
throttle) has p99 = overhead + mean·ln(100) exactly. Each interval comes from ``--replications``
runs (Student's t); the coverage should be near 95%. Prints the coverage, the mean error and the
binomial probability of seeing so few covering intervals if the true coverage were 95%.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import stats

import apisim
from apisim.studies import summarize_replications
from tests.test_lambda_rules import shifted_exponential


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intervals", type=int, default=50)
    ap.add_argument("--replications", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    sc, exact = shifted_exponential(requests=args.requests)
    rows = apisim.replications(sc, args.intervals * args.replications, workers=args.workers)
    rows["group"] = np.arange(len(rows)) // args.replications
    table = summarize_replications(rows, by=["group"])
    covered = int((np.abs(table["p99_ms"] - exact) <= table["p99_ms_ci95"]).sum())
    error = rows["p99_ms"].to_numpy() - exact
    tail = stats.binom.cdf(covered, args.intervals, 0.95)
    print(
        f"exact p99 {exact:.3f} ms; {covered}/{args.intervals} intervals cover it "
        f"({covered / args.intervals:.0%}; P(≤ {covered} | 95%) = {tail:.3f}); mean error {error.mean():+.3f} ms "
        f"± {2 * error.std(ddof=1) / math.sqrt(error.size):.3f} (2 s.e.); mean half-width "
        f"{table['p99_ms_ci95'].mean():.2f} ms"
    )


if __name__ == "__main__":
    main()
