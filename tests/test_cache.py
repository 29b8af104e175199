"""The TTL cache: write-on-response semantics, and hit ratios against λT/(1+λT)."""

from __future__ import annotations

import numpy as np
import pytest

from apisim import simulate
from apisim.engine.cache import TtlCache
from apisim.engine.clients import zipf_probabilities
from apisim.outcomes import Outcome
from tests.conftest import assert_close, batch_means, build


def test_entry_lives_from_its_write_until_ttl_later() -> None:
    c = TtlCache(ttl=10.0)
    c.store(1, at=5.0)  # a miss at t ≤ 5 whose response returns at 5
    assert not c.lookup(1, 4.999)  # concurrent misses still go to the backend
    assert c.lookup(1, 5.0)
    assert c.lookup(1, 14.999)
    assert not c.lookup(1, 15.0)  # expired exactly at write + ttl


def test_a_later_write_extends_the_entry() -> None:
    c = TtlCache(ttl=10.0)
    c.store(1, at=1.0)
    c.store(1, at=3.0)
    assert c.lookup(1, 12.0)
    assert not c.lookup(1, 13.0)


def cached_scenario(rate: float, ttl: str, keys: int, zipf: float, duration: str) -> dict:
    return {
        "name": "cache",
        "simulation": {"basis": "window", "duration": duration, "warmup": "20s"},
        "api": {
            "type": "rest",
            "cache": {"ttl": ttl},
            "routes": [{"route": "GET /r", "integration": {"type": "mock", "latency_ms": 0}}],
        },
        "clients": [
            {"name": "c", "arrival": {"process": "poisson", "rate": rate}, "cache_keys": {"count": keys, "zipf": zipf}}
        ],
    }


def hits_over_time(res) -> tuple[float, float]:
    a = res.log.attempts
    x = (a["outcome"] == Outcome.CACHE_HIT).astype(float)
    sim = res.scenario.simulation
    return batch_means(a["t_arrival"], x, sim.warmup, sim.duration)


@pytest.mark.parametrize(("rate", "ttl"), [(2.0, 1.0), (0.5, 3.0), (10.0, 0.3)])
def test_single_key_hit_ratio_is_lambda_t_over_one_plus_lambda_t(rate: float, ttl: float) -> None:
    res = simulate(build(cached_scenario(rate, f"{ttl}s", 1, 0.0, "4000s")), seed=3)
    observed, se = hits_over_time(res)
    lt = rate * ttl
    assert_close(observed, lt / (1 + lt), se, f"hit ratio λ={rate} T={ttl}")
    assert res.summary["cache"]["hit_ratio"] == pytest.approx(observed)


def test_zipf_mixture_hit_ratio() -> None:
    rate, ttl, keys, s = 400.0, 2.0, 2000, 1.1
    res = simulate(build(cached_scenario(rate, f"{ttl}s", keys, s, "600s")), seed=4)
    p = zipf_probabilities(keys, s)
    lt = p * rate * ttl
    expected = float(np.sum(p * lt / (1 + lt)))
    observed, se = hits_over_time(res)
    assert_close(observed, expected, se, "Zipf mixture hit ratio")


def test_backend_latency_lengthens_the_miss_window() -> None:
    # Responses take d seconds. A cycle starts with a miss at 0; arrivals in (0, d) miss too
    # (1 + λd misses per cycle), and each writes when it returns, so the entry lives until
    # L + d + T where L is the last miss in (0, d): E[L] = d - (1 - e^{-λd}) / λ. Hits per
    # cycle are the arrivals in (d, L + d + T): λ (E[L] + T) on average.
    lam, d, ttl = 2.0, 0.5, 1.0
    data = cached_scenario(lam, f"{ttl}s", 1, 0.0, "4000s")
    data["api"]["routes"][0]["integration"]["latency_ms"] = d * 1000
    res = simulate(build(data), seed=5)
    observed, se = hits_over_time(res)
    hits = lam * (d - (1 - np.exp(-lam * d)) / lam + ttl)
    assert_close(observed, hits / (1 + lam * d + hits), se, "hit ratio with a 0.5 s backend")
