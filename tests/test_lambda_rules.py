"""Lambda rules AWS documents that shape a design's capacity, against exact or published values."""

from __future__ import annotations

import math
from fractions import Fraction
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
        # ...or the HTTP API's 30 s integration timeout answers first (504); the function runs on, billed
        (25.0, 60.0, 30.0, Outcome.TIMEOUT, 10_000 + 25_100),
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


class Bucket:
    """AWS's token bucket in exact rational arithmetic (capacity ``burst``, ``rate`` tokens/s, starts full)."""

    def __init__(self, rate: Fraction, burst: Fraction) -> None:
        self.rate, self.burst, self.tokens, self.last = rate, burst, burst, Fraction(0)

    def take(self, now: Fraction) -> bool:
        self.tokens, self.last = min(self.burst, self.tokens + (now - self.last) * self.rate), now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def client(name: str, route: str, rate: float, process: str = "constant", start: float = 0.0) -> dict[str, Any]:
    arrival = {"process": process, "rate": rate, **({"start": start} if start else {})}
    return {"name": name, "arrival": arrival, "routes": {route: 1.0}}


def one_route(
    name: str, function: dict[str, Any], clients: list[dict[str, Any]], seconds: float, **account: Any
) -> Any:
    routes = sorted({r for c in clients for r in c["routes"]})
    return validate_scenario(
        {
            "name": name,
            "simulation": {"basis": "window", "duration": seconds, "warmup": 0},
            "api": {"type": "http", "routes": [
                {"route": r, "integration": {"type": "lambda", "function": function["of"][r]}} for r in routes]},
            "functions": function["functions"],
            "account": account,
            "clients": clients,
        }
    )  # fmt: skip


@pytest.mark.parametrize("burst_s", [None, 0.25])
def test_invokes_are_capped_at_ten_times_the_concurrency_available(burst_s: float | None) -> None:
    # AWS (Lambda developer guide, "Understanding concurrency and requests per second"): a requests
    # per second limit of 10 × the concurrency quota, at the function level too. So a 1 ms function
    # with reserved concurrency 5 gets 50 invokes/s, never 5 busy at once. A token bucket whose
    # burst (seconds of the rate) is an estimate decides each of 100 requests/s, checked here against
    # exact rational arithmetic, for the default burst and a shorter one.
    rate, seconds, reserved = 100, 10, 5
    account = {} if burst_s is None else {"invoke_rate_burst": burst_s}
    sc = one_route(
        "short-function",
        {"of": {"GET /f": "f"},
         "functions": {"f": {"duration_ms": 1, "cold_start_ms": 0, "reserved_concurrency": reserved}}},
        [client("c", "GET /f", rate)],
        seconds,
        **account,
    )  # fmt: skip
    s = simulate(sc, seed=1).summary
    per = Fraction(10 * reserved)
    bucket = Bucket(per, per * Fraction(1 if burst_s is None else burst_s))
    admitted = sum(bucket.take(Fraction(k, rate)) for k in range(rate * seconds))
    causes = s["functions"]["f"]["throttles_by_cause"]
    assert causes == {"concurrency": 0, "scaling_rate": 0, "invoke_rate": rate * seconds - admitted}
    assert s["requests"]["by_outcome"]["backend_throttled"] == rate * seconds - admitted
    # By hand: the bucket binds from the start, so it admits ⌊burst + refill × last arrival⌋.
    assert admitted == (549 if burst_s is None else 512)  # 50 + 50 × 9.99; 12.5 + 50 × 9.99


def test_every_function_shares_the_account_invoke_rate() -> None:
    # AWS: "Across all functions in your account, Lambda enforces a requests per second limit that's
    # equal to 10 times your account concurrency", reserved functions included. Account 110: r
    # (reserved 10, its own limit 100/s, which its 100/s never exceed) and u (unreserved, 2,000/s)
    # share 1,100/s. Start times 1/2048 and 1/8192 s keep the streams from ties and let r arrive
    # when the bucket may be empty; exact levels are whole numbers or far from them, so the engine's
    # floats (compared with a 1e-9 slack) decide as the exact reference does.
    seconds = 5
    sc = one_route(
        "shared-rate",
        {"of": {"GET /r": "r", "GET /u": "u"},
         "functions": {"r": {"duration_ms": 1, "cold_start_ms": 0, "reserved_concurrency": 10},
                       "u": {"duration_ms": 1, "cold_start_ms": 0}}},
        [client("cr", "GET /r", 100, start=1 / 2048), client("cu", "GET /u", 2000, start=1 / 8192)],
        seconds,
        lambda_concurrency=110,
        unreserved_minimum=100,
    )  # fmt: skip
    s = simulate(sc, seed=1).summary
    arrivals = [(Fraction(1, 2048) + Fraction(k, 100), "r") for k in range(100 * seconds)]
    arrivals += [(Fraction(1, 8192) + Fraction(k, 2000), "u") for k in range(2000 * seconds)]
    own, account = Bucket(Fraction(100), Fraction(100)), Bucket(Fraction(1100), Fraction(1100))
    refused = {"r": 0, "u": 0}
    for t, f in sorted(arrivals):
        if not ((f == "u" or own.take(t)) and account.take(t)):
            refused[f] += 1
    assert (refused["r"], refused["u"]) == (390, 3511)  # by hand: 10,500 - ⌊1,100 + 1,100 × 4.9996⌋ = 3,901
    for f in ("r", "u"):
        causes = s["functions"][f]["throttles_by_cause"]
        assert causes == {"concurrency": 0, "scaling_rate": 0, "invoke_rate": refused[f]}, f


@pytest.mark.parametrize("reserved", [None, 2])
def test_provisioned_environments_spill_over_past_ten_times_their_count(reserved: int | None) -> None:
    # AWS: "a function that has a provisioned concurrency allocation of 10 ... spills over into
    # on-demand concurrency after 10 concurrency or 100 requests per second, whichever happens
    # first." Provisioned 2 (20/s, burst one second of it) under 50 requests/s of a 1 ms function:
    # the provisioned bucket decides which requests run on provisioned environments; the rest run
    # on demand (one cold start, then a warm instance). With a reservation of 2 there is no on-demand
    # room ("If the amount of provisioned concurrency ... adds up to the function's reserved
    # concurrency, then all invocations run on provisioned concurrency"): the rest are throttled.
    rate, seconds = 50, 10
    fn = {"duration_ms": 1, "cold_start_ms": 0, "provisioned_concurrency": 2}
    if reserved is not None:
        fn["reserved_concurrency"] = reserved
    sc = one_route(
        "provisioned-rate", {"of": {"GET /f": "f"}, "functions": {"f": fn}}, [client("c", "GET /f", rate)], seconds
    )
    res = simulate(sc, seed=1)
    bucket = Bucket(Fraction(20), Fraction(20))
    on_provisioned = sum(bucket.take(Fraction(k, rate)) for k in range(rate * seconds))
    assert on_provisioned == 219  # by hand: ⌊20 + 20 × 9.98⌋
    rest = rate * seconds - on_provisioned
    stats = res.log.functions["f"].stats
    assert stats.provisioned_invocations == on_provisioned
    assert res.summary["functions"]["f"]["provisioned_invocations"] == on_provisioned
    causes = res.summary["functions"]["f"]["throttles_by_cause"]
    if reserved is None:
        assert stats.invocations == rate * seconds and stats.throttles == 0
        assert stats.cold_starts == 1  # the first spill-over; its instance is reused every 20 ms after
    else:
        assert stats.invocations == on_provisioned and stats.cold_starts == 0
        assert causes == {"concurrency": 0, "scaling_rate": 0, "invoke_rate": rest}


def test_provisioned_beyond_a_default_account_is_a_located_error() -> None:
    # The issue's case: 2,000 provisioned in a 1,000-concurrency account is refused, not billed.
    fn = {"duration_ms": 100, "provisioned_concurrency": 2000}
    with pytest.raises(ScenarioError) as caught:
        one_route("too-much", {"of": {"GET /f": "f"}, "functions": {"f": fn}},
                  [client("c", "GET /f", 1, "poisson")], 60)  # fmt: skip
    assert "functions: reserved plus provisioned concurrency adds up to 2000, but at most 900 may be committed" in str(
        caught.value
    )
    fn = {"duration_ms": 100, "provisioned_concurrency": 30, "reserved_concurrency": 20}
    with pytest.raises(ScenarioError, match=r"functions\.f: provisioned_concurrency \(30\) cannot exceed reserved"):
        one_route("over-reserved", {"of": {"GET /f": "f"}, "functions": {"f": fn}},
                  [client("c", "GET /f", 1, "poisson")], 60)  # fmt: skip
