"""One warm-up rule for every count, percentiles within [min, max], and numbers that do not depend on
the order of entries in the file or on which client a tie favours."""

from __future__ import annotations

import copy
import hashlib
import json
import zlib
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apisim import load, simulate, validate_scenario
from apisim.engine.clients import Burst, Constant
from apisim.outcomes import Outcome
from apisim.randomness import stable_id, stream
from apisim.studies import scenario_data
from tests.conftest import ROOT_SCENARIOS, Z

# ----------------------------------------------------------------------------------------------
# The order of entries in the file
# ----------------------------------------------------------------------------------------------


def reordered(data: dict[str, Any]) -> dict[str, Any]:
    """The same scenario with every list and mapping the user writes in reverse order."""
    data = copy.deepcopy(data)
    data["clients"] = data["clients"][::-1]
    for c in data["clients"]:
        if "routes" in c:
            c["routes"] = dict(reversed(list(c["routes"].items())))
    data["api"]["routes"] = data["api"]["routes"][::-1]
    data["api"]["usage_plans"] = dict(reversed(list(data["api"].get("usage_plans", {}).items())))
    data["functions"] = dict(reversed(list(data["functions"].items())))
    return data


def test_reversing_every_list_in_the_file_changes_no_number() -> None:
    sc = load(ROOT_SCENARIOS / "03-authorizer.yaml").with_times(90.0, 10.0, windows=4)
    data = scenario_data(sc)
    data["clients"][1].pop("routes")  # an even spread too: it must not follow the file's route order either
    a = simulate(validate_scenario(data), seed=5).summary
    b = simulate(validate_scenario(reordered(data)), seed=5).summary
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def two_clients(first: str, second: str) -> dict[str, Any]:
    client = {"arrival": {"process": "constant", "rate": 3000}}
    return {
        "name": "tie",
        "simulation": {"basis": "window", "duration": "1s"},
        "api": {"type": "rest", "throttle": {"rate": 3000, "burst": 1}, "routes": [
            {"route": "GET /p", "integration": {"type": "mock"}}]},
        "clients": [{"name": first, **client}, {"name": second, **client}],
    }  # fmt: skip


def per_client(summary_run: Any) -> dict[str, dict[str, int]]:
    frame = summary_run.requests
    groups = frame.groupby("client", observed=True)
    return {str(name): g["outcome"].astype(str).value_counts().to_dict() for name, g in groups}


def test_simultaneous_arrivals_do_not_favour_the_client_listed_first() -> None:
    # 6,000 requests in pairs at the same instants; the bucket holds one token at each instant.
    ab = per_client(simulate(validate_scenario(two_clients("a", "b"))))
    ba = per_client(simulate(validate_scenario(two_clients("b", "a"))))
    assert ab == ba  # the file's order plays no part
    ok_a = ab["a"].get("ok", 0)
    assert ab["a"].get("ok", 0) + ab["b"].get("ok", 0) == 3000
    # Each tie is a fair coin: a's share of the 3,000 admitted is binomial around half.
    assert abs(ok_a - 1500) <= Z * np.sqrt(3000 * 0.25), ok_a


def test_names_with_the_same_crc32_get_different_streams() -> None:
    seen: dict[int, str] = {}
    for i in range(400_000):  # a birthday search: a pair turns up after about 80,000 names
        name = hashlib.sha256(str(i).encode()).hexdigest()[:10]
        crc = zlib.crc32(name.encode())
        if crc in seen:
            a, b = seen[crc], name
            break
        seen[crc] = name
    else:
        raise AssertionError("no CRC-32 collision found")
    assert zlib.crc32(a.encode()) == zlib.crc32(b.encode())
    assert stable_id(f"client/{a}/arrivals") != stable_id(f"client/{b}/arrivals")
    assert stream(1, f"client/{a}/arrivals").random() != stream(1, f"client/{b}/arrivals").random()


# ----------------------------------------------------------------------------------------------
# Random valid scenarios: every count consistent, every percentile within [min, max]
# ----------------------------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    rest = draw(st.booleans())
    lambda_auth = draw(st.booleans())
    routes = [
        {"route": "GET /a", "integration": {"type": "lambda", "function": "f"}},
        {"route": "POST /b", "integration": {"type": "lambda", "function": "g"}},
    ]
    api: dict[str, Any] = {"type": "rest" if rest else "http", "routes": routes}
    api["throttle"] = {"rate": draw(st.sampled_from([20, 80, 500])), "burst": draw(st.sampled_from([5, 50, 500]))}
    if lambda_auth:
        api["authorizer"] = {"type": "lambda", "function": "authz", "cache_ttl": draw(st.sampled_from([0, 2, 300])),
                             "invalid_fraction": draw(st.sampled_from([0.0, 0.05]))}  # fmt: skip
    if rest and draw(st.booleans()):
        api["cache"] = {"ttl": draw(st.sampled_from(["1s", "5s", "60s"]))}
    functions = {
        "f": {"duration_ms": {"dist": "exponential", "mean": draw(st.sampled_from([5, 50, 400]))},
              "cold_start_ms": draw(st.sampled_from([0, 200])), "reserved_concurrency": draw(st.sampled_from([2, 20])),
              "error_fraction": draw(st.sampled_from([0.0, 0.1])), "timeout": "1s"},
        "g": {"duration_ms": {"dist": "lognormal", "median": 30, "p99": 300}},
        "authz": {"duration_ms": 3},
    }  # fmt: skip
    clients = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["poisson", "constant", "burst"]))
        rate = draw(st.sampled_from([5, 40, 150]))
        arrival: dict[str, Any] = {"process": kind, "rate": rate}
        if kind == "burst":
            arrival.update(duration="2s", start=f"{draw(st.integers(0, 10))}s", every="7s")
        client: dict[str, Any] = {"name": f"c{i}", "arrival": arrival, "cache_keys": {"count": 30, "zipf": 1.0},
                                  "auth_tokens": draw(st.sampled_from([1, 10]))}  # fmt: skip
        if draw(st.booleans()):
            client["retry"] = {"max_attempts": 3, "base": "50ms", "on": [429, "5xx"]}
        clients.append(client)
    duration = draw(st.sampled_from([12, 20]))
    warmup = draw(st.sampled_from([0, 3.3, 7]))
    sim = {"basis": "window", "duration": duration, "warmup": warmup, "seed": draw(st.integers(0, 99))}
    return {"name": "random", "simulation": sim,
            "api": api, "functions": functions, "clients": clients}  # fmt: skip


def _latency_in_bounds(stats: dict[str, float | None]) -> None:
    order = ["p50", "p90", "p95", "p99", "p999", "max"]
    values = [stats[k] for k in order]
    if values[-1] is None:
        assert all(v is None for v in values)
        return
    assert all(v is not None and v >= 0 for v in values)
    assert values == sorted(values), stats  # each percentile at most the next, and at most max
    assert stats["mean"] is not None and stats["mean"] <= stats["max"] * (1 + 1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_scenarios_keep_every_count_consistent(data: dict[str, Any]) -> None:
    res = simulate(validate_scenario(data))
    s = res.summary
    by = s["requests"]["by_outcome"]
    assert sum(by.values()) == s["requests"]["offered"] == sum(s["status_counts"].values())
    for block in (s["latency_ms"], s["latency_ok_ms"], s["client"]["latency_ms"]):
        _latency_in_bounds(block)
    assert s["cache"]["hits"] == by["cache_hit"]  # the same warm-up rule for the cache as for outcomes
    assert 0 <= s["authorizer"]["calls"] <= s["authorizer"]["lookups"]
    # Every attempt after warm-up that reached a Lambda integration is one counted invocation.
    frame = res.requests
    counted = frame[~frame["warmup"]]
    integration = counted["function"].notna() & (counted["outcome"] != Outcome.BACKEND_THROTTLED.key)
    integration &= counted["function"].isin(["f", "g"])
    fns = s["functions"]
    auth_calls = s["authorizer"]["calls"] if data["api"].get("authorizer") else 0
    invoked = fns["f"]["invocations"] + fns["g"]["invocations"] + fns["authz"]["invocations"]
    assert invoked == int(integration.sum()) + auth_calls - fns["authz"]["throttles"]
    assert s["client"]["requests"] <= s["requests"]["offered"]  # a request is one attempt or more


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(0.5, 500),
    duration=st.floats(0.01, 5),
    start=st.floats(0, 5),
    gap=st.one_of(st.none(), st.floats(0, 10)),
    t0=st.floats(0, 60),
    width=st.floats(0, 30),
)
def test_a_bursts_expected_count_is_exactly_what_it_sends(rate, duration, start, gap, t0, width) -> None:
    every = None if gap is None else duration + gap
    per_burst = max(1, int(np.ceil(duration * rate - 1e-9)))
    burst = Burst(rate, duration, start, every, per_burst)
    rng = np.random.default_rng(0)
    assert burst.expected(t0, t0 + width) == len(burst.times(t0, t0 + width, rng))
    steady = Constant(rate, start)
    assert steady.expected(t0, t0 + width) == len(steady.times(t0, t0 + width, rng))


def test_the_order_of_empirical_values_changes_no_draw() -> None:
    def design(values: list[int]) -> dict[str, Any]:
        return {
            "name": "empirical", "simulation": {"basis": "window", "duration": "30s"},
            "api": {"routes": [{"route": "GET /a", "integration": {"type": "http", "latency_ms": {
                "dist": "empirical", "values": values}}}]},
            "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 50}}],
        }  # fmt: skip

    a = simulate(validate_scenario(design([5, 50, 500])), seed=3).summary
    b = simulate(validate_scenario(design([500, 5, 50])), seed=3).summary
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
