"""Lambda function pools against queueing theory and against exact, hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest

from apisim import simulate
from apisim.distributions import Constant, draws, uniforms
from apisim.engine.functions import AccountPool, FunctionPool
from apisim.engine.levels import LevelLog
from apisim.engine.throttle import TokenBucket
from apisim.outcomes import Outcome
from tests.conftest import assert_close, batch_means, one_function, series_batch_means


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/G/c/c (Erlang's loss formula), by the stable recursion."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


@pytest.mark.parametrize(("c", "a"), [(5, 3.0), (20, 18.0), (100, 95.0), (150, 160.0)])
def test_reserved_concurrency_blocks_as_erlang_b(c: int, a: float) -> None:
    mean_s = 0.2
    rate = a / mean_s
    duration = max(300.0, 150_000 / rate)
    sc = one_function(
        rate=rate,
        duration_ms={"dist": "exponential", "mean": mean_s * 1000},
        sim={"duration": duration, "warmup": 20 * mean_s},
        reserved_concurrency=c,
    )
    res = simulate(sc, seed=c)
    att = res.log.attempts
    blocked = (att["outcome"] == Outcome.BACKEND_THROTTLED).astype(float)
    observed, se = batch_means(att["t_arrival"], blocked, sc.simulation.warmup, duration)
    assert_close(observed, erlang_b(c, a), se, f"Erlang-B c={c} A={a}")
    assert res.summary["functions"]["f"]["max_concurrency"] == c
    # Lambda's 429 reaches the client as API Gateway's 500.
    assert res.summary["status_counts"].get("500", 0) == res.summary["requests"]["by_outcome"]["backend_throttled"]


def test_erlang_b_is_insensitive_to_the_service_distribution() -> None:
    c, a, mean_s = 10, 8.0, 0.1
    sc = one_function(
        rate=a / mean_s,
        duration_ms={"dist": "lognormal", "mean": mean_s * 1000, "sigma": 1.2},
        sim={"duration": 2000, "warmup": 5},
        reserved_concurrency=c,
    )
    res = simulate(sc, seed=11)
    att = res.log.attempts
    blocked = (att["outcome"] == Outcome.BACKEND_THROTTLED).astype(float)
    observed, se = batch_means(att["t_arrival"], blocked, 5, 2000)
    assert_close(observed, erlang_b(c, a), se, "Erlang-B with lognormal service")


@pytest.mark.parametrize(
    "dist", [{"dist": "lognormal", "median": 80, "p99": 900}, {"dist": "uniform", "low": 10, "high": 390}]
)
def test_unlimited_pool_mean_concurrency_is_lambda_times_mean_service(dist: dict) -> None:
    rate = 300.0
    sc = one_function(rate=rate, duration_ms=dist, sim={"duration": 500, "warmup": 20, "bucket": "1s"})
    res = simulate(sc, seed=21)
    ts = res.timeseries
    series = ts.loc[~ts["warmup"], "concurrency.f"].to_numpy()
    mean_s = res.scenario.functions["f"].duration_ms.mean
    observed, se = series_batch_means(series)
    assert_close(observed, rate * mean_s, se, "M/G/∞ mean busy instances")
    assert res.summary["functions"]["f"]["mean_concurrency"] == pytest.approx(observed, rel=1e-9)
    assert res.summary["functions"]["f"]["throttles"] == 0


def test_littles_law_with_cold_starts() -> None:
    # L = λW: the time-averaged busy instances equal the admitted rate times the mean time an
    # invocation holds an instance (init on cold starts plus the run), measured from records.
    sc = one_function(
        rate=50.0,
        duration_ms={"dist": "exponential", "mean": 200},
        cold_start_ms={"dist": "lognormal", "median": 600, "p99": 2000},
        sim={"duration": 1200, "warmup": 0, "bucket": "2s"},
        idle_expiry={"dist": "uniform", "low": "100ms", "high": "1s"},
    )
    res = simulate(sc, seed=31)
    r = res.requests
    assert r["cold_start"].sum() > 2000  # short idle expiry: cold starts are common
    held = (r["integration_ms"] / 1000.0).to_numpy()  # init + run, no timeout here
    w = held.mean()
    lam = len(r) / sc.simulation.duration
    l_obs, se_l = series_batch_means(res.timeseries["concurrency.f"].to_numpy())
    se_w = held.std(ddof=1) / np.sqrt(len(held))
    assert_close(l_obs, lam * w, np.hypot(se_l, lam * se_w), "Little's law L = λW")


def make_pool(**kw) -> FunctionPool:
    args = dict(
        memory_mb=128,
        duration=draws(Constant(1.0), np.random.default_rng(0)),
        cold_start=draws(Constant(0.5), np.random.default_rng(0)),
        idle_expiry=draws(Constant(10.0), np.random.default_rng(0)),
        failures=uniforms(np.random.default_rng(0)),
        error_fraction=0.0,
        timeout=900.0,
        reserved=None,
        provisioned=0,
        scaling=TokenBucket(1000, 1000),
        account=None,
        init_billed=True,
        busy=LevelLog(0, 100, 1),
        live=LevelLog(0, 100, 1),
    )
    args.update(kw)
    return FunctionPool("f", **args)


def live(pool: FunctionPool, at: float) -> float:
    """Instances alive at ``at`` (from the pool's level log, over a 1-second bucket)."""
    pool.finish(100.0)
    return float(pool.live_log.bucket_means()[int(at)])


def test_warm_reuse_takes_the_most_recently_used_instance_and_idle_ones_expire() -> None:
    pool = make_pool()
    a, b = pool.invoke(0.0, True), pool.invoke(0.2, True)  # two cold starts A and B, ending at 1.5 and 1.7
    assert a[0] and b[0]
    c = pool.invoke(2.0, True)  # both idle; the newest (B, idle since 1.7, expiring at 11.7) is reused
    assert not c[0]
    assert pool._idle == [11.5]  # A went idle at 1.5 and expires at 11.5
    # B is busy again until 3.0, so it expires at 13.0 unless reused: at 12.0 it is (busy until 13.0).
    assert not pool.invoke(12.0, True)[0]
    d = pool.invoke(23.1, True)
    assert d[0]  # B expired at 23.0 (idle since 13.0), a new instance starts
    assert live(pool, 5) == 2 and live(pool, 12) == 1 and live(pool, 24) == 1


def test_billed_duration_is_rounded_up_to_the_millisecond_and_includes_init() -> None:
    pool = make_pool(
        duration=draws(Constant(0.0421), np.random.default_rng(0)),
        cold_start=draws(Constant(0.3), np.random.default_rng(0)),
    )
    cold = pool.invoke(0.0, True)
    warm = pool.invoke(5.0, True)
    assert cold[4] == 343  # 300 ms init + 42.1 ms run, rounded up
    assert warm[4] == 43
    no_init = make_pool(duration=draws(Constant(0.0421), np.random.default_rng(0)), init_billed=False)
    assert no_init.invoke(0.0, True)[4] == 43


def test_provisioned_instances_never_cold_start() -> None:
    pool = make_pool(provisioned=3)
    results = [pool.invoke(t, True) for t in (0.0, 0.1, 0.2)]
    assert not any(r[0] for r in results) and pool.stats.provisioned_invocations == 3
    assert pool.invoke(0.3, True)[0]  # the fourth concurrent one spills over to on-demand
    assert not pool.invoke(500.0, True)[0]  # provisioned instances are back and never expire
    assert pool.stats.provisioned_invocations == 4


def test_scaling_rate_caps_new_instances() -> None:
    pool = make_pool(scaling=TokenBucket(1.0, 10))  # 10 new instances, then 1 per second
    results = [pool.invoke(0.0, True) for _ in range(15)]
    assert sum(r is not None for r in results) == 10
    assert pool.stats.throttles == pool.stats.throttles_scaling == 5
    assert pool.invoke(1.0, True) is not None  # one more token a second later


def test_account_pool_is_shared_by_unreserved_functions() -> None:
    account = AccountPool(limit=3)
    f = make_pool(account=account)
    g = make_pool(account=account)
    assert all(p.invoke(0.0, True) is not None for p in (f, f, g))
    assert g.invoke(0.5, True) is None  # the account is full (runs last 1 s + 0.5 s init)
    assert f.invoke(1.6, True) is not None  # completions at 1.5 free the shared pool


def test_function_timeout_is_an_error_and_integration_timeout_a_504() -> None:
    slow = one_function(rate=20.0, duration_ms=5000, sim={"duration": 60}, timeout="2s")
    s = simulate(slow).summary
    assert s["requests"]["by_outcome"]["error"] == s["requests"]["offered"]
    assert s["status_counts"] == {"502": s["requests"]["offered"]}
    gateway = one_function(rate=20.0, duration_ms=31000, sim={"duration": 60}, api_type="rest")
    s = simulate(gateway).summary
    assert s["requests"]["by_outcome"]["timeout"] == s["requests"]["offered"]
    assert s["latency_ok_ms"]["p50"] is None
    assert s["latency_ms"]["max"] < 29000 + 100  # answered at the 29 s integration timeout, plus overhead


def test_no_traffic_after_warmup_means_exactly_zero_concurrency() -> None:
    # Found by hypothesis: the level integral is a difference of large sums, whose rounding noise
    # (about 1e-16) must not show up as a mean concurrency above a peak of 0.
    sc = one_function(rate=1.0, duration_ms=50, sim={"duration": 20, "warmup": 5})
    sc = sc.model_copy(update={"clients": [sc.clients[0].model_copy(update={"arrival": validate_burst()})]})
    f = simulate(sc).summary["functions"]["f"]
    assert f["invocations"] == 0
    assert f["mean_concurrency"] == 0.0 and f["max_concurrency"] == 0
    assert f["mean_instances"] > 0  # the instances started before warm-up are still warm


def validate_burst():
    from apisim.scenario import BurstArrival

    return BurstArrival(process="burst", rate=10, duration=1.0, start=0.0)
