"""Every attempt ends in exactly one outcome, whatever the design; counts agree with each other."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apisim import simulate, validate_scenario
from apisim.outcomes import STATUS, Outcome


@st.composite
def designs(draw) -> dict:
    api_type = draw(st.sampled_from(["rest", "http"]))
    rest = api_type == "rest"
    auth = draw(st.sampled_from(["none", "lambda", "iam"] + (["cognito"] if rest else ["jwt"])))
    routes = [
        {"route": "GET /a", "integration": {"type": "lambda", "function": "a"}},
        {"route": "POST /b", "integration": {"type": "lambda", "function": "b"}, "timeout": "1s"},
        {
            "route": "GET /c",
            "integration": {"type": "http", "latency_ms": {"dist": "exponential", "mean": 50}, "error_fraction": 0.05},
        },
    ]
    if rest and draw(st.booleans()):
        routes[1]["validation"] = {"invalid_fraction": 0.1}
    if draw(st.booleans()):
        routes[0]["throttle"] = {"rate": draw(st.integers(5, 200)), "burst": draw(st.integers(0, 50))}
    api: dict = {"type": api_type, "routes": routes}
    if auth == "lambda":
        ttl = draw(st.sampled_from(["0s", "2s", "300s"]))
        api["authorizer"] = {
            "type": "lambda",
            "function": "auth",
            "cache_ttl": ttl,
            "invalid_fraction": 0.05,
            "deny_fraction": 0.1,
        }
    elif auth != "none":
        api["authorizer"] = {"type": auth, "invalid_fraction": 0.05}
    client: dict = {
        "name": "c",
        "arrival": {"process": "poisson", "rate": draw(st.integers(20, 400))},
        "routes": {"GET /a": 0.5, "POST /b": 0.3, "GET /c": 0.2},
        "cache_keys": {"count": draw(st.integers(1, 50)), "zipf": 1.0},
        "auth_tokens": draw(st.integers(1, 30)),
    }
    if draw(st.booleans()):
        client["retry"] = {"max_attempts": 3, "base": "50ms", "on": ["429", "5xx"]}
    if rest:
        if draw(st.booleans()):
            api["cache"] = {"ttl": "2s"}
        if draw(st.booleans()):
            api["usage_plans"] = {
                "p": {"rate": 50, "burst": 10, "quota": {"limit": draw(st.integers(50, 2000)), "period": "day"}}
            }
            client["usage_plan"] = "p"
            client["api_keys"] = 3
            client["invalid_key_fraction"] = 0.02
    return {
        "name": "random-design",
        "simulation": {"basis": "window", "duration": "20s", "warmup": draw(st.sampled_from(["0s", "5s"]))},
        "api": api,
        "functions": {
            "a": {
                "duration_ms": {"dist": "lognormal", "median": 40, "p99": 400},
                "reserved_concurrency": draw(st.integers(1, 20)),
                "error_fraction": 0.01,
            },
            "b": {
                "duration_ms": {"dist": "exponential", "mean": 300},
                "timeout": "2s",
                "provisioned_concurrency": draw(st.integers(0, 3)),
            },
            "auth": {"duration_ms": 10, "reserved_concurrency": draw(st.integers(1, 5))},
        },
        "account": {
            "api_throttle": {"rate": draw(st.integers(50, 1000)), "burst": draw(st.integers(0, 500))},
            "scaling_rate": {"instances": draw(st.integers(1, 50)), "per": "10s"},
        },
        "clients": [client],
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=designs(), seed=st.integers(0, 2**31))
def test_every_attempt_ends_in_exactly_one_outcome(data: dict, seed: int) -> None:
    res = simulate(validate_scenario(data), seed=seed)
    s = res.summary
    a = res.log.attempts
    counted = a["t_arrival"] >= res.scenario.simulation.warmup
    offered = s["requests"]["offered"]
    assert offered == int(counted.sum())
    assert sum(s["requests"]["by_outcome"].values()) == offered
    assert sum(s["status_counts"].values()) == offered
    # Each outcome maps to its documented status (authorizer failures answer 500).
    for o in Outcome:
        statuses = set(np.unique(a["status"][a["outcome"] == o]).tolist())
        allowed = (
            {STATUS[o]} | ({500} if o == Outcome.ERROR else set()) | ({403} if o == Outcome.UNAUTHORIZED else set())
        )
        assert statuses <= allowed, (o, statuses)
    # Requests: one first attempt each, attempts numbered 1..n without gaps.
    ids, counts = np.unique(a["request_id"], return_counts=True)
    assert int(a["attempt"].max(initial=1)) <= 3
    last = np.zeros(int(ids.max(initial=0)) + 1, dtype=np.int64)
    np.maximum.at(last, a["request_id"], a["attempt"])
    assert np.array_equal(last[ids], counts)  # a request with n attempts numbered them 1..n
    assert int((a["attempt"] == 1).sum()) == len(ids)
    client = s["client"]
    assert sum(client["by_outcome"].values()) == client["requests"]
    # Invocations admitted and throttled by an integration function match the attempts that
    # reached it (without warm-up: an authorizer delay can carry a request across the cut).
    for index, name in enumerate(res.log.function_names):
        f = s["functions"][name]
        assert f["invocations"] >= f["cold_starts"]
        assert f["mean_concurrency"] <= f["max_concurrency"]
        if name != "auth" and res.scenario.simulation.warmup == 0:
            reached = a["function"] == index
            throttled = reached & (a["outcome"] == Outcome.BACKEND_THROTTLED)
            assert f["throttles"] == int(throttled.sum())
            assert f["invocations"] == int((reached & ~throttled).sum())
    # Cache hits are recorded outcomes.
    assert s["cache"]["hits"] == s["requests"]["by_outcome"]["cache_hit"]
