"""Lambda rules AWS documents that shape a design's capacity, against exact or published values."""

from __future__ import annotations

import math
from typing import Any

import pytest

from apisim import simulate, validate_scenario
from apisim.outcomes import Outcome
from apisim.problems import ScenarioError
from tests.conftest import assert_close, batch_means
from tests.test_functions import erlang_b


def two_functions(rate_a: float, rate_b: float, mean_s: float, duration: float, **account: Any) -> Any:
    fn = {"duration_ms": {"dist": "exponential", "mean": mean_s * 1000}, "cold_start_ms": 0, "timeout": "900s"}
    return validate_scenario(
        {
            "name": "shared-account",
            "simulation": {"basis": "window", "duration": duration, "warmup": 20 * mean_s},
            "api": {
                "type": "http",
                "routes": [
                    {"route": "GET /a", "integration": {"type": "lambda", "function": "a"}},
                    {"route": "GET /b", "integration": {"type": "lambda", "function": "b"}},
                ],
            },
            "functions": {"a": {**fn, "provisioned_concurrency": 20}, "b": fn},
            "account": {"scaling_rate": {"instances": 100000, "per": "1s"}, **account},
            "clients": [
                {"name": "ca", "arrival": {"process": "poisson", "rate": rate_a}, "routes": {"GET /a": 1.0}},
                {"name": "cb", "arrival": {"process": "poisson", "rate": rate_b}, "routes": {"GET /b": 1.0}},
            ],
        }
    )


def test_provisioned_concurrency_comes_out_of_the_account_pool() -> None:
    # AWS: "Provisioned concurrency counts towards a function's reserved concurrency and Regional
    # quotas." With 50 in the account and 20 provisioned for a, b has exactly 30: Erlang-B(30, A).
    mean_s, a_load = 0.2, 30.0
    sc = two_functions(2.0 / mean_s, a_load / mean_s, mean_s, 1500.0, lambda_concurrency=50, unreserved_minimum=10)
    res = simulate(sc, seed=3)
    att = res.log.attempts
    b = att["route"] == 1
    blocked = (att["outcome"][b] == Outcome.BACKEND_THROTTLED).astype(float)
    observed, se = batch_means(att["t_arrival"][b], blocked, sc.simulation.warmup, sc.simulation.duration)
    assert_close(observed, erlang_b(30, a_load), se, "Erlang-B c=30 beside 20 provisioned")
    functions = res.summary["functions"]
    assert functions["b"]["max_concurrency"] == 30
    assert functions["a"]["throttles"] == 0  # a's load of 2 never needs more than its 20 (P < 1e-12)


def test_provisioned_beyond_what_the_account_can_commit_is_a_located_error() -> None:
    with pytest.raises(ScenarioError, match="reserved plus provisioned concurrency adds up to 20"):
        two_functions(1.0, 1.0, 0.1, 60.0, lambda_concurrency=50, unreserved_minimum=40)


@pytest.mark.parametrize(
    ("init_s", "timeout_s", "latency_s", "outcome", "billed_ms"),
    [
        (9.0, 15.0, 9.0 + 0.1, Outcome.OK, 9_100),  # inside the limit: the usual cold start
        (12.0, 15.0, 10.0 + 12.0 + 0.1, Outcome.OK, 10_000 + 12_100),  # init again, inside the invocation
        (12.0, 5.0, 10.0 + 5.0, Outcome.ERROR, 10_000 + 5_000),  # ...where the function's timeout cuts it
    ],
)
def test_an_init_past_ten_seconds_is_retried_inside_the_invocation(
    init_s: float, timeout_s: float, latency_s: float, outcome: Outcome, billed_ms: int
) -> None:
    # AWS: "The Init phase is limited to 10 seconds. If all three tasks do not complete within 10
    # seconds, Lambda retries the Init phase at the time of the first function invocation with the
    # configured function timeout." One request, so one cold start.
    sc = validate_scenario(
        {
            "name": "slow-init",
            "simulation": {"basis": "window", "duration": 60, "warmup": 0},
            "api": {"type": "http", "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}],
                    "overhead_ms": 0},
            "functions": {"f": {"duration_ms": 100, "cold_start_ms": init_s * 1000, "timeout": timeout_s,
                                "init_billed": True}},
            "clients": [{"name": "c", "arrival": {"process": "burst", "rate": 1, "duration": 1}}],
        }
    )  # fmt: skip
    res = simulate(sc, seed=1)
    att = res.log.attempts
    assert len(att["outcome"]) == 1 and att["outcome"][0] == outcome
    assert att["latency"][0] == pytest.approx(latency_s, abs=1e-9)
    assert res.summary["functions"]["f"]["cold_starts"] == 1
    assert res.log.functions["f"].stats.billed_ms_on_demand == billed_ms


def shifted_exponential(requests: int, overhead_s: float = 0.005, mean_s: float = 0.05) -> tuple[Any, float]:
    """A design whose latency is exactly overhead + Exp(mean) (no cold start, no throttle), and its p99 in ms."""
    sc = validate_scenario(
        {
            "name": "shifted-exponential",
            "simulation": {"basis": "window", "duration": requests / 1000.0, "warmup": 0},
            "api": {"type": "http", "overhead_ms": overhead_s * 1000,
                    "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}]},
            "functions": {"f": {"duration_ms": {"dist": "exponential", "mean": mean_s * 1000}, "cold_start_ms": 0,
                                "timeout": "900s"}},
            "account": {"lambda_concurrency": 10000, "scaling_rate": {"instances": 100000, "per": "1s"}},
            "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 1000}}],
        }
    )  # fmt: skip
    return sc, (overhead_s + mean_s * math.log(100.0)) * 1000.0


def test_invokes_are_capped_at_ten_times_the_concurrency_available() -> None:
    # AWS Compute blog (2023-07-07): the invoke TPS limit is 10 × the concurrency limit, so a 1 ms
    # function with reserved concurrency 5 gets 50 invokes/s, never 5 busy at once. A token bucket
    # (burst: one second of the rate, an estimate) decides each of 100 requests/s, checked here
    # against exact rational arithmetic.
    from fractions import Fraction

    rate, seconds, reserved = 100, 10, 5
    sc = validate_scenario(
        {
            "name": "short-function",
            "simulation": {"basis": "window", "duration": seconds, "warmup": 0},
            "api": {"type": "http",
                    "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}]},
            "functions": {"f": {"duration_ms": 1, "cold_start_ms": 0, "reserved_concurrency": reserved}},
            "clients": [{"name": "c", "arrival": {"process": "constant", "rate": rate}}],
        }
    )  # fmt: skip
    s = simulate(sc, seed=1).summary
    refill, burst = Fraction(10 * reserved), Fraction(10 * reserved)
    tokens, last, admitted = burst, Fraction(0), 0
    for k in range(rate * seconds):
        now = Fraction(k, rate)
        tokens, last = min(burst, tokens + (now - last) * refill), now
        if tokens >= 1:
            tokens, admitted = tokens - 1, admitted + 1
    causes = s["functions"]["f"]["throttles_by_cause"]
    assert causes == {"concurrency": 0, "scaling_rate": 0, "invoke_rate": rate * seconds - admitted}
    assert s["requests"]["by_outcome"]["backend_throttled"] == rate * seconds - admitted
