"""The Lambda function URL door: throttled only by its function's limits (429), IAM's 403, no gateway
features, no charge of its own, and AWS's payload limits."""

from __future__ import annotations

from typing import Any

import pytest

from apisim import simulate, validate_scenario
from apisim.problems import ScenarioError


def url_scenario(*, api: dict[str, Any] | None = None, client: dict[str, Any] | None = None, **fn: Any) -> Any:
    return validate_scenario(
        {
            "name": "url",
            "simulation": {"basis": "window", "duration": 60, "warmup": 10, "seed": 5},
            "api": {
                "type": "function_url",
                "routes": [
                    {"route": "GET /items", "integration": {"type": "lambda", "function": "api"}},
                    {"route": "POST /items", "integration": {"type": "lambda", "function": "api"}},
                ],
                **(api or {}),
            },
            "functions": {"api": {"duration_ms": {"dist": "constant", "value": 10}, "cold_start_ms": 0, **fn}},
            "clients": [{"name": "c", "arrival": {"process": "constant", "rate": 200}, **(client or {})}],
        }
    )


def test_reserved_5_admits_exactly_50_a_second_and_answers_the_rest_429() -> None:
    # 10 ms at 200 rps needs 2 instances, well inside 5: the 10 × 5 = 50 rps invoke limit binds.
    res = simulate(url_scenario(reserved_concurrency=5), seed=5)
    s = res.summary
    counted = s["simulated_seconds"]  # 50 s after the warm-up, the bucket long since empty
    by = s["requests"]["by_outcome"]
    assert by["ok"] == 50 * counted  # a constant 200 rps: the bucket's 50 a second, exactly
    assert by["throttled"] == 150 * counted and s["status_counts"]["429"] == 150 * counted
    f = s["functions"]["api"]
    assert f["throttles"] == by["throttled"] and f["throttles_by_cause"]["invoke_rate"] == by["throttled"]


def test_poisson_traffic_never_gets_more_than_the_rate_plus_the_burst() -> None:
    sc = url_scenario(reserved_concurrency=5, client={"arrival": {"process": "poisson", "rate": 200}})
    for seed in (1, 2, 3):
        s = simulate(sc, seed=seed).summary
        ok = s["requests"]["by_outcome"]["ok"]
        # At most the rate over the counted 50 s plus the bucket's 1 s burst (50); Poisson at 4× the
        # rate keeps the bucket empty, so nearly all of it.
        assert 50 * 50 - 100 <= ok <= 50 * 50 + 50


def test_without_a_reservation_nothing_is_throttled_and_the_url_costs_nothing() -> None:
    res = simulate(url_scenario(), seed=1)
    s = res.summary
    assert s["requests"]["by_outcome"]["ok"] == s["requests"]["offered"]
    lines = {(r.resource, r.component) for r in res.cost.itertuples()}
    assert lines == {("url.url", "data transfer out"), ("function.api", "requests"), ("function.api", "duration")}


def test_aws_iam_refuses_unsigned_requests_with_403() -> None:
    sc = url_scenario(api={"authorizer": {"type": "iam", "invalid_fraction": 0.25}})
    s = simulate(sc, seed=2).summary
    by = s["requests"]["by_outcome"]
    share = by["forbidden"] / s["requests"]["offered"]
    n = s["requests"]["offered"]
    assert abs(share - 0.25) < 4 * (0.25 * 0.75 / n) ** 0.5
    assert s["functions"]["api"]["invocations"] == by["ok"]  # a refused request never reaches the function


def test_function_errors_are_502() -> None:
    s = simulate(url_scenario(error_fraction=0.1), seed=3).summary
    assert s["status_counts"]["502"] == s["requests"]["by_outcome"]["error"] > 0


@pytest.mark.parametrize(
    ("api", "client", "where", "says"),
    [
        ({"cache": {"ttl": "60s"}}, {}, "api.cache", "REST only"),
        ({"throttle": {"rate": 10, "burst": 10}}, {}, "api.throttle", "reserved concurrency limits it"),
        ({"stages": {"prod": {}}}, {}, "api.stages", "no stages"),
        ({"authorizer": {"type": "jwt"}}, {}, "api.authorizer.type", "supports iam, none"),
        ({"endpoint": "edge"}, {}, "api.endpoint", "regional endpoints only"),
        ({}, {"request_bytes": 7 * 2**20}, "clients.0.request_bytes", "6,291,456 bytes"),
        ({}, {"response_bytes": 7 * 2**20}, "clients.0.response_bytes", "function URL (buffered)"),
    ],
)
def test_what_a_function_url_is_not_is_a_located_error(api: dict, client: dict, where: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        url_scenario(api=api, client=client)
    text = str(caught.value)
    assert where in text and says in text, text


def test_streamed_responses_may_be_200_mb_and_a_url_has_one_function() -> None:
    url_scenario(api={"invoke_mode": "response_stream"}, client={"response_bytes": 100 * 2**20})  # accepted
    routes = [
        {"route": "GET /a", "integration": {"type": "lambda", "function": "api"}},
        {"route": "GET /b", "integration": {"type": "lambda", "function": "other"}},
        {"route": "GET /c", "integration": {"type": "mock"}, "timeout": 5},
    ]
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(
            {
                "name": "two",
                "api": {"type": "function_url", "routes": routes},
                "functions": {"api": {"duration_ms": 10}, "other": {"duration_ms": 10}},
                "clients": [{"name": "c", "arrival": {"process": "constant", "rate": 1}}],
            }
        )
    text = str(caught.value)
    assert "belongs to one function" in text and "invokes Lambda functions" in text and "no timeout of its own" in text
    with pytest.raises(ScenarioError, match="invoke_mode is a function URL's"):
        validate_scenario(
            {
                "name": "rest",
                "api": {"type": "rest", "invoke_mode": "response_stream", "routes": routes[:1]},
                "functions": {"api": {"duration_ms": 10}},
                "clients": [{"name": "c", "arrival": {"process": "constant", "rate": 1}}],
            }
        )
