"""The report's charts show what matters: the tail, non-zero problems only, limits, labelled designs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import apisim
from apisim import charts


def frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"t": [10.0 * i for i in range(n)], "warmup": [i == 0 for i in range(n)]}
    return pd.DataFrame(base | columns)


def test_throttles_and_errors_are_drawn_only_when_not_zero() -> None:
    quiet = frame(status_429=[0, 0, 0], status_5xx=[0, 0, 0])
    assert charts.problems_over_time(quiet) is None
    busy = frame(status_429=[0, 50, 20], status_5xx=[0, 0, 0])
    spec = charts.problems_over_time(busy)
    assert [t["name"] for t in spec["data"]] == ["429 / s"]
    assert spec["data"][0]["y"] == [0.0, 5.0, 2.0]  # per second, from 10 s buckets
    assert spec["layout"]["shapes"][0]["x1"] == 10.0  # the warm-up band ends where counting starts


def test_concurrency_limits_far_above_the_traffic_start_hidden_but_present() -> None:
    ts = frame(**{"concurrency.a": [1.0, 3.0, 2.0], "instances.a": [2, 4, 4], "concurrency.b": [0.5, 0.2, 0.1]})
    spec = charts.concurrency_limits(ts, {"a": {"reserved": 10, "provisioned": 2}, "b": {"reserved": 0}}, 1000.0)
    lines = {t["name"]: t for t in spec["data"]}
    assert lines["a reserved (10)"]["y"] == [10, 10] and lines["a reserved (10)"]["visible"] is True
    assert lines["a provisioned (2)"]["visible"] is True
    assert lines["account concurrency (1,000)"]["visible"] == "legendonly"  # 1000 > 5 × the busiest moment
    assert "b reserved (0)" not in lines  # no reservation, no line


def test_pareto_front_and_labels() -> None:
    p99, cost = [100.0, 80.0, 120.0, 80.0, math.nan], [5.0, 9.0, 4.0, 12.0, 1.0]
    assert charts.pareto_front(p99, cost) == [1, 0, 2]  # each cheaper than every faster one; NaN left out
    spec = charts.pareto(["a", "b", "c<x>", "d", "e"], p99, cost, p99_limit=110.0)
    assert spec["data"][1]["text"][2] == "c&lt;x&gt;"  # a name is text, never markup
    assert spec["layout"]["shapes"][0]["x0"] == 110.0
    assert any(t["name"] == "SLO p99 < 110 ms" for t in spec["data"])


def test_the_latency_tail_reaches_past_p999_as_far_as_the_count_allows() -> None:
    sc = apisim.load("scenarios/06-http-api.yaml").with_times(120, 10, basis="window")
    res = apisim.simulate(sc, seed=3)
    q = res.latency_quantiles
    count = res.summary["requests"]["offered"]
    deepest = 1.0 - q["q"].max()
    assert deepest <= 10.0 / count and deepest >= 0.5 / count  # within a decade-twentieth of one attempt
    assert q["q"].is_monotonic_increasing and q["latency_ms"].is_monotonic_increasing
    # The quantiles are the summary's own: the tail plot and the p99.9 in the table agree.
    p999 = float(q.loc[(q["q"] - 0.999).abs().idxmin(), "latency_ms"])
    assert p999 == pytest.approx(res.summary["latency_ms"]["p999"], rel=0.01)
    spec = charts.latency_tail({"http": q})
    assert spec["layout"]["xaxis"]["type"] == "log" and spec["layout"]["yaxis"]["type"] == "log"


def test_the_concurrency_chart_draws_each_buckets_peak_which_the_mean_hides() -> None:
    # Every 10 ms a 25 ms request: 2 or 3 busy at once, 2.5 on average, 3 at the peak of every bucket.
    sc = apisim.validate_scenario(
        {
            "name": "peaks",
            "simulation": {"basis": "window", "duration": 20, "warmup": 2, "bucket": 1},
            "api": {"type": "http", "routes": [{"route": "GET /", "integration": {"type": "lambda", "function": "f"}}]},
            "functions": {"f": {"duration_ms": {"dist": "constant", "value": 25}, "cold_start_ms": 0}},
            "clients": [{"name": "c", "arrival": {"process": "constant", "rate": 100}}],
        }
    )
    ts = apisim.simulate(sc, seed=1).timeseries
    later = ts[ts["t"] >= 2]
    assert (later["peak.f"] == 3).all()
    assert later["concurrency.f"].to_numpy() == pytest.approx(2.5, abs=0.03)
    spec = charts.concurrency_limits(ts, {"f": {"reserved": 0}}, 1000.0)
    shown = {t["name"]: t for t in spec["data"]}
    assert max(shown["f busy (peak)"]["y"][2:]) == 3 and shown["f busy (mean)"]["visible"] == "legendonly"
