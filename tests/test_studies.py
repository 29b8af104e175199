"""Replications, compare, sweep and plan: known answers, and the same numbers serial, parallel and on Dask."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from apisim import ScenarioError, load, studies, validate_scenario
from apisim.cost import prices, tiered
from apisim.slo import Slo


def memory_design() -> dict:
    """Constant traffic to one CPU-bound function measured at 1,024 MB: its run time is 100 ms there."""
    return {
        "name": "memory",
        "simulation": {"basis": "window", "duration": "100s", "warmup": "0s"},
        "api": {
            "type": "http",
            "overhead_ms": 0,
            "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}],
        },
        "functions": {
            "f": {"memory_mb": 1024, "duration_ms": 100, "cold_start_ms": 0, "cpu_fraction": 1.0, "reference_mb": 1024}
        },
        "clients": [{"name": "c", "arrival": {"process": "constant", "rate": 10}}],
        "pricing": {"month": "100s"},
    }


def test_plan_gives_a_point_near_a_bound_three_replications_and_says_why() -> None:
    # p99 is 100 ms at 1,024 MB (see below): within 5% of 105 ms; 400, 200 and 57.9 ms are far from it.
    sc = validate_scenario(memory_design())
    table = studies.plan(sc, {"functions.f.memory_mb": [256, 512, 1024, 2048]}, ["p99<105ms"], workers=1)
    by = table.set_index("functions.f.memory_mb")
    assert by["replications"].to_dict() == {256: 1, 512: 1, 1024: 3, 2048: 1}
    assert by.loc[1024, "near_bound"] == "p99<105ms" and (by.drop(1024)["near_bound"] == "").all()
    one = studies.plan(sc, {"functions.f.memory_mb": [1024]}, ["p99<105ms"], workers=1, near_replications=1)
    assert one["replications"].tolist() == [1]


def test_halving_gives_a_point_screened_out_near_a_bound_three_replications() -> None:
    # p99 is exactly 200 ms at 512 MB (see below), 2.6% over 195 ms: it misses, and the four
    # cheapest feasible points (768 MB and up) screen it out after one replication, but a verdict
    # that close still gets three. 256 MB (400 ms) is far from the bound and keeps its one.
    sc = validate_scenario(memory_design())
    vary = {"functions.f.memory_mb": [256, 512, 768, 1024, 1536, 2048, 3008, 4096]}
    table = studies.plan(sc, vary, ["p99<195ms"], replications=4, search="halving", workers=1)
    by = table.set_index("functions.f.memory_mb")
    assert by.loc[512, "replications"] == 3 and by.loc[512, "near_bound"] == "p99<195ms"
    assert by.loc[512, "screened_out"] and not by.loc[512, "feasible"]
    assert by.loc[256, "replications"] == 1 and by.loc[256, "near_bound"] == ""
    assert table[table["feasible"]].iloc[0]["functions.f.memory_mb"] == 1024 and by.loc[1024, "replications"] == 4


def test_plan_picks_the_cheapest_design_meeting_the_slo_computed_by_hand() -> None:
    # Run time at m MB: 100 ms × vCPU(1024) / vCPU(m), vCPU(m) = min(m, 1769) / 1769. So 256 MB → 400 ms,
    # 512 → 200 ms, 1024 → 100 ms, 2048 → 57.9 ms. GB-s per request: 0.1, 0.1, 0.1 and 0.1158, so
    # 256, 512 and 1024 cost the same and 2048 more; only 1024 and 2048 meet p99 < 150 ms.
    sc = validate_scenario(memory_design())
    table = studies.plan(sc, {"functions.f.memory_mb": [256, 512, 1024, 2048]}, ["p99<150ms"], workers=1)
    winner = table[table["feasible"]].iloc[0]
    assert winner["functions.f.memory_mb"] == 1024
    requests = 1000  # 10 rps for 100 s; the month is the simulated 100 s
    gb_s = requests * 0.1
    expected = requests * 1.00e-6 + requests * 0.20e-6 + tiered(gb_s, prices().price("lambda.compute.x86_64")["tiers"])
    expected += requests * 1024 / 2**30 * 0.09  # 1 KB responses out
    assert winner["cost_usd"] == pytest.approx(expected, rel=1e-9)
    failed = table.set_index("functions.f.memory_mb")["failed"]
    assert failed[256].startswith("p99<150ms (was 400") and failed[512].startswith("p99<150ms (was 200")
    assert failed[2048] == ""
    assert table.set_index("functions.f.memory_mb").loc[2048, "p99_ms"] == pytest.approx(100 * 1024 / 1769, rel=0.006)


def test_compare_uses_common_random_numbers_and_differs_only_by_design() -> None:
    rest = load("scenarios/06-rest-api.yaml")
    http = load("scenarios/06-http-api.yaml")
    rest, http = (s.with_times(120.0, 10.0, windows=2) for s in (rest, http))  # a quick month: tiers of a month
    result = studies.compare_runs([rest, http], workers=1)
    t = result.table.set_index("design")
    # Same arrivals, same function draws: identical Lambda bills, and the same number of API
    # requests priced through each API type's own tiers.
    assert t.loc["rest-api", "cost.lambda_compute"] == t.loc["http-api", "cost.lambda_compute"]
    bills = {n: result.results[n].cost.groupby("item")[["quantity", "usd"]].sum().loc["api_requests"]
             for n in ("rest-api", "http-api")}  # fmt: skip
    assert bills["rest-api"]["quantity"] == bills["http-api"]["quantity"]
    for name, kind in (("rest-api", "rest"), ("http-api", "http")):
        tiers = prices().price(f"apigateway.{kind}.requests")["tiers"]
        assert bills[name]["usd"] == pytest.approx(tiered(bills[name]["quantity"], tiers))
    a, b = (result.results[n].summary["requests"]["offered"] for n in ("rest-api", "http-api"))
    assert a == b


def test_sweep_is_tidy_and_revalidates_every_point() -> None:
    sc = validate_scenario(memory_design())
    rows = studies.sweep(
        sc, {"functions.f.memory_mb": [512, 1024], "simulation.duration": ["50s", "100s"]}, replications=2, workers=1
    )
    assert len(rows) == 2 * 2 * 2
    assert set(rows.columns) >= {
        "functions.f.memory_mb",
        "simulation.duration",
        "replication",
        "seed",
        "p99_ms",
        "cost_usd",
    }
    with pytest.raises(ScenarioError) as info:
        studies.sweep(sc, {"functions.f.memory_mb": [64]})
    assert "functions.f.memory_mb=64" in str(info.value) and "greater than or equal to 128" in str(info.value)


def test_with_changes_creates_missing_sections_and_edits_lists() -> None:
    sc = load("scenarios/06-rest-api.yaml")
    changed = studies.with_changes(sc, {"api.cache.ttl": "30s", "api.routes.0.cache": True})
    assert changed.api.cache is not None and changed.api.cache.ttl == 30.0
    assert changed.api.routes[0].cache is True
    assert sc.api.cache is None  # the original is untouched
    with pytest.raises(ScenarioError, match="no item 9"):
        studies.with_changes(sc, {"api.routes.9.cache": True})


def test_confidence_interval_is_students_t() -> None:
    x = [1.0, 2.0, 4.0, 7.0]
    mean, half = studies.confidence(x)
    assert mean == 3.5
    assert half == pytest.approx(stats.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2)
    assert math.isnan(studies.confidence([5.0])[1])


def test_replications_have_independent_seeds_and_a_ci() -> None:
    sc = validate_scenario(
        {**memory_design(), "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 10}}]}
    )
    rows = studies.replications(sc, 4, workers=1)
    assert rows["seed"].nunique() == 4 and rows["seed"].iloc[0] == sc.simulation.seed
    summary = studies.summarize_replications(rows)
    assert summary.loc[0, "replications"] == 4
    assert summary.loc[0, "cost_usd_ci95"] > 0


def test_serial_parallel_and_dask_give_identical_results() -> None:
    pytest.importorskip("dask.distributed")
    sc = load("scenarios/05-read-heavy.yaml")
    sc = sc.with_times(60.0, 10.0, windows=2)  # a quick month: its windows are spread over processes too
    vary = {"api.cache.ttl": ["0s", "30s"]}
    serial = studies.sweep(sc, vary, replications=1, workers=1)
    parallel = studies.sweep(sc, vary, replications=1, workers=2)
    on_dask = studies.sweep(sc, vary, replications=1, workers=2, dask="local")
    pd.testing.assert_frame_equal(serial, parallel)
    pd.testing.assert_frame_equal(serial, on_dask)


@pytest.mark.parametrize(
    ("text", "metric", "limit"),
    [
        ("p99<800ms", "p99_ms", 800.0),
        ("p50<=1s", "p50_ms", 1000.0),
        ("p90<250", "p90_ms", 250.0),
        ("rate_429<0.001", "rate_429", 0.001),
    ],
)
def test_slo_parsing(text: str, metric: str, limit: float) -> None:
    slo = Slo.parse(text)
    assert (slo.metric, slo.limit) == (metric, limit)


def test_bad_slo_says_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="p50, p90, p95, p99"):
        Slo.parse("latency<3")


def test_successive_halving_finds_the_grid_winner_with_fewer_runs() -> None:
    sc = validate_scenario(
        {**memory_design(), "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 10}}]}
    )
    vary = {"functions.f.memory_mb": [256, 512, 768, 1024, 1536, 2048, 3008, 4096]}
    calls = []
    grid = studies.plan(sc, vary, ["p99<150ms"], replications=4, workers=1)
    rounds = lambda done, total: calls.append(total) if done == total else None  # noqa: E731
    halving = studies.plan(sc, vary, ["p99<150ms"], replications=4, search="halving", workers=1, progress=rounds)
    pick = lambda t: t[t["feasible"]].iloc[0]["functions.f.memory_mb"]  # noqa: E731
    assert pick(halving) == pick(grid) == 1024
    assert sum(calls) < len(grid) * 4  # fewer simulations than the full grid's 32
    winner = halving[halving["feasible"]].iloc[0]
    assert winner["replications"] == 4
    assert winner["cost_usd"] == pytest.approx(grid[grid["feasible"]].iloc[0]["cost_usd"])  # same seeds, same numbers


def test_top_level_api_returns_dataframes() -> None:
    import apisim

    sc = validate_scenario(memory_design())
    assert isinstance(apisim.compare([sc, studies.with_changes(sc, {"name": "other"})], workers=1), pd.DataFrame)
    assert isinstance(apisim.sweep(sc, {"functions.f.memory_mb": [512, 1024]}, workers=1), pd.DataFrame)
    assert isinstance(apisim.plan(sc, {"functions.f.memory_mb": [512, 1024]}, ["p99<150ms"], workers=1), pd.DataFrame)
    assert callable(apisim.plots.latency_cdf)
