"""Child process: run one apisim scenario in summary mode and print its figures as one JSON line.

Usage: python -m benchmarks.apisim_case SCENARIO [--duration SECONDS] [--seed N] [--engine E] [--exact-month]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import resource
import time

import numpy as np

import apisim


def batch_se(series: np.ndarray, batches: int = 20) -> float:
    """Standard error of a time series' mean by batch means (NaN if the series is too short)."""
    batches = min(batches, len(series))
    if batches < 4:
        return float("nan")
    means = np.array([g.mean() for g in np.array_split(series, batches)])
    return float(means.std(ddof=1) / np.sqrt(batches))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--engine", choices=["auto", "python", "compiled"], default="python")
    parser.add_argument("--exact-month", action="store_true")
    args = parser.parse_args()
    sc = apisim.load(args.scenario)
    if args.duration:
        sc = sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"duration": args.duration})})
    loaded = time.perf_counter()
    if args.engine != "python":
        # The kernel's one-time load (Numba and its cached machine code), outside the in-process rate:
        # it is start-up, like the imports; the whole-process time includes it.
        importlib.import_module("apisim.engine.compiled")
    started = time.perf_counter()
    res = apisim.simulate(sc, args.seed, force=True, records=False, engine=args.engine, exact_month=args.exact_month)
    wall = time.perf_counter() - started
    s = res.summary
    name, f = next(iter(s["functions"].items()))
    # Every function's figures; the first (alphabetically) is the one peers are compared on.
    # The column res.timeseries["instances.<name>"] holds (under the month basis, the busiest window's),
    # read without building the frame: that would import pandas, which `apisim run` does not.
    sample = res.log.sample
    instances = np.asarray(sample.functions[name].live_buckets[: sample.tally.buckets], dtype=float)
    out = {
        "requests": res.log.events["requests"],
        "wall_s": wall,
        "kernel_load_s": started - loaded,
        "engine": s["engine"],
        "mean_instances": f["mean_instances"],
        "se_instances": batch_se(instances),
        "p_cold": f["cold_start_ratio"],
        "se_p_cold": np.sqrt(max(f["cold_starts"], 1)) / max(f["invocations"], 1),
        "cost_total": s["cost_monthly_usd"]["total"],
        "month_scale": s["month_scale"],
        "p99_ms": s["latency_ms"]["p99"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(out))
    gc.freeze()  # as apisim's command line does before the interpreter exits (see apisim.cli.main)


if __name__ == "__main__":
    main()
