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


def che(probabilities: np.ndarray, rate: float, entries: int, ttl: float = np.inf) -> float:
    """The hit ratio of an LRU cache of ``entries`` under independent requests (Che's approximation).

    Che, Tung and Wang (2002): an entry is in the cache iff its key was asked for within the
    characteristic time T_C, the root of Σ_i (1 − exp(−λ p_i T_C)) = C, so key i hits with
    probability 1 − exp(−λ p_i T_C). With a TTL no longer than T_C (written on a miss, not renewed
    by hits) a key hits iff it is asked for again within TTL of its write: λ p_i T / (1 + λ p_i T)
    (the renewal argument behind λT/(1+λT)); Fofack, Nain, Neglia and Towsley, "Analysis of TTL-based
    cache networks" (2012), combine the two the same way.
    """
    from scipy.optimize import brentq

    lam = rate * probabilities
    t_c = brentq(lambda t: float(np.sum(1.0 - np.exp(-lam * t))) - entries, 1e-9, 1e9)
    if ttl >= t_c:
        assert ttl == np.inf, "the TTL-binding formula holds for TTL ≤ T_C only"
        return float(np.sum(probabilities * (1.0 - np.exp(-lam * t_c))))
    return float(np.sum(probabilities * lam * ttl / (1.0 + lam * ttl)))


def sized(entries: int, ttl: str, keys: int = 20_000, zipf: float = 0.8, rate: float = 1000.0) -> dict:
    """A 0.5 GB stage cache that holds exactly ``entries`` responses (their size set to fit)."""
    data = cached_scenario(rate, ttl, keys, zipf, "140s")
    data["simulation"]["warmup"] = "40s"
    data["api"]["cache"].update(size_gb=0.5, entry_overhead_bytes=200)
    data["clients"][0]["response_bytes"] = 2**29 // entries - 200
    return data


@pytest.mark.parametrize("entries", [1000, 2000, 4000])
def test_a_full_cache_evicts_least_recently_used_as_che_predicts(entries: int) -> None:
    res = simulate(build(sized(entries, "3600s")), seed=entries)
    observed, se = hits_over_time(res)
    expected = che(zipf_probabilities(20_000, 0.8), 1000.0, entries)
    assert_close(observed, expected, se, f"LRU hit ratio with {entries} entries")


def test_a_ttl_shorter_than_the_characteristic_time_decides_the_hits() -> None:
    # 4,000 entries: T_C ≈ 7.2 s; a 2 s TTL binds first.
    res = simulate(build(sized(4000, "2s")), seed=5)
    observed, se = hits_over_time(res)
    assert_close(observed, che(zipf_probabilities(20_000, 0.8), 1000.0, 4000, ttl=2.0), se, "TTL-bound hit ratio")


def test_a_sized_cache_evicts_the_least_recently_used_entry_first() -> None:
    from apisim.engine.cache import SizedTtlCache

    c = SizedTtlCache(ttl=100.0, capacity=300)
    for key, at in ((1, 1.0), (2, 2.0), (3, 3.0)):
        c.store(key, at, 100)
    assert c.lookup(1, 4.0)  # 1 is now the most recently used: 2 is the oldest
    c.store(4, 5.0, 100)
    assert not c.lookup(2, 6.0) and c.lookup(3, 6.0) and c.lookup(4, 6.0) and c.lookup(1, 6.0)
    assert c.used == 300 and c.evictions == 1


def test_the_cache_cluster_is_billed_even_with_a_ttl_of_zero() -> None:
    # AWS bills the cluster for every hour it exists; a TTL of 0 caches nothing but keeps the cluster.
    res = simulate(build(cached_scenario(1.0, "0s", 1, 0.0, "60s")))
    cache = res.cost.set_index("item").loc["api_cache"]
    assert cache["usd"] == pytest.approx(0.02 * 730)  # 0.5 GB at $0.020 an hour
    assert res.summary["cache"]["hit_ratio"] is None
