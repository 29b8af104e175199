"""Issue 9's month benchmarks: the fast month's speed, its agreement with --exact-month, and the
honesty of its 95% interval.

    python -m benchmarks.month_case speed     # month-1000.yaml: the bill ± in < 60 s on 2 cores
    python -m benchmarks.month_case exact     # month-100.yaml: fast against every request (slow: ~30 min)
    python -m benchmarks.month_case coverage  # small months: how often the ± holds the exact bill

Each prints what it measured and appends rows to benchmarks/results.csv (case month-fast,
month-exact, month-coverage).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import apisim

HERE = Path(__file__).parent


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=HERE).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain") else "")


def record(case: str, implementation: str, requests: int, seconds: float, note: str) -> None:
    # The figures go in the implementation column: the file's columns are shared with benchmarks.run.
    row = [dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), commit(), "full", case, f"{implementation}: {note}",
           requests, f"{seconds:.3f}", round(requests / seconds) if seconds else 0, 0, "", ""]  # fmt: skip
    with (HERE / "results.csv").open("a", newline="") as fh:
        csv.writer(fh).writerow(row)


def month(path: str, *, exact: bool = False, seed: int | None = None, workers: int = 2) -> tuple[dict, float, int]:
    sc = apisim.load(HERE / "scenarios" / path)
    started = time.perf_counter()
    res = apisim.simulate(sc, seed, exact_month=exact, workers=workers, force=True)
    wall = time.perf_counter() - started
    return res.summary, wall, res.log.events["requests"]


def bill(s: dict) -> str:
    ci = s["month"]["ci95"].get("cost_total")
    pm = f" ± {ci['plus_minus']:,.2f}" if ci else ""
    return f"${s['cost_monthly_usd']['total']:,.2f}{pm}"


def speed(quick: bool = False, as_json: bool = False) -> None:
    """month-1000.yaml's month (``quick``: month-100.yaml from 2 windows of 1 minute, for the smoke test)."""
    if quick:
        sc = apisim.load(HERE / "scenarios" / "month-100.yaml").with_times(120.0, 60.0, windows=2)
        started = time.perf_counter()
        res = apisim.simulate(sc, workers=2, force=True)
        s, wall, n = res.summary, time.perf_counter() - started, res.log.events["requests"]
    else:
        s, wall, n = month("month-1000.yaml")
    if as_json:  # for benchmarks.run, which records the row itself
        out = {"requests": n, "wall_s": wall, "bill": bill(s), "month_requests": s["month"]["offered"]}
        print(json.dumps(out))
        return
    print(
        f"month-1000: {bill(s)} in {wall:.1f}s on 2 workers ({n:,} simulated requests, "
        f"{s['month']['offered']:,} in the month); target < 60 s: {'met' if wall < 60 else 'MISSED'}"
    )
    record("month-fast", "apisim, 2 workers", n, wall, f"month-1000 bill {bill(s)}")


def exact() -> None:
    fast, wall_fast, n_fast = month("month-100.yaml")
    ref, wall_ref, n_ref = month("month-100.yaml", exact=True, workers=1)
    ci = fast["month"]["ci95"]["cost_total"]
    inside = ci["low"] <= ref["cost_monthly_usd"]["total"] <= ci["high"]
    print(f"month-100 fast: {bill(fast)} in {wall_fast:.1f}s ({n_fast:,} requests)")
    print(f"month-100 exact: {bill(ref)} in {wall_ref:.1f}s ({n_ref:,} requests); inside the ±: {inside}")
    record("month-exact", "apisim fast, 2 workers", n_fast, wall_fast, f"month-100 bill {bill(fast)}")
    record("month-exact", "apisim --exact-month", n_ref, wall_ref, f"month-100 bill {bill(ref)}; inside: {inside}")


def coverage(runs: int = 40) -> None:
    """The share of fast months whose 95% interval holds the exact month's bill (mean of 4 exact seeds)."""
    from tests.test_month import AGAINST_EXACT  # the four small designs of the test suite

    total_inside = total = 0
    started = time.perf_counter()
    for name, (api, functions, clients) in AGAINST_EXACT.items():
        sc = apisim.validate_scenario({
            "name": name, "simulation": {"duration": "20m", "warmup": "2m", "start": "2026-02-01T00:00:00Z"},
            "api": api, "functions": functions, "clients": clients, "pricing": {"free_tier": False},
        })  # fmt: skip
        truth = (
            sum(
                apisim.simulate(sc, 1000 + k, exact_month=True, force=True).summary["cost_monthly_usd"]["total"]
                for k in range(4)
            )
            / 4
        )
        inside = 0
        for seed in range(runs // 4):
            ci = apisim.simulate(sc, seed).summary["month"]["ci95"]["cost_total"]
            inside += ci["low"] <= truth <= ci["high"]
        print(f"{name}: {inside}/{runs // 4} intervals hold the exact bill ${truth:,.2f}")
        total_inside += inside
        total += runs // 4
    print(f"coverage: {total_inside}/{total} = {total_inside / total:.0%} (nominal 95%)")
    record("month-coverage", "apisim", total, time.perf_counter() - started, f"coverage {total_inside}/{total}")


if __name__ == "__main__":
    if sys.argv[1] == "speed":
        speed(quick="--quick" in sys.argv, as_json="--json" in sys.argv)
    else:
        {"exact": exact, "coverage": coverage}[sys.argv[1]]()
