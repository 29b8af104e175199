"""CloudFront in front of a door: the edge cache against λT/(1+λT), hits kept off the origin's bill,
and its price lines against prices.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from apisim import simulate, validate_scenario
from apisim.cost import prices
from apisim.problems import ScenarioError

ZERO = {"dist": "constant", "value": 0}


def edge(*, cf: dict[str, Any] | None = None, api: dict[str, Any] | None = None, **client: Any) -> Any:
    """A REST API answering instantly (a mock, no overheads), with CloudFront in front."""
    return validate_scenario(
        {
            "name": "edge",
            "simulation": {"basis": "window", "duration": 2020, "warmup": 20, "seed": 9},
            "api": {
                "type": "rest",
                "overhead_ms": ZERO,
                "cloudfront": {"cache": {"ttl": "2s"}, "edge_ms": ZERO, "origin_fetch_ms": ZERO, **(cf or {})},
                "routes": [
                    {"route": "GET /items", "integration": {"type": "mock", "latency_ms": 0}},
                    {"route": "POST /items", "integration": {"type": "mock", "latency_ms": 0}},
                ],
                **(api or {}),
            },
            "clients": [
                {"name": "c", "arrival": {"process": "poisson", "rate": 50}, "routes": {"GET /items": 1.0},
                 "cache_keys": {"count": 20, "zipf": 0}, **client}
            ],
        }
    )  # fmt: skip


def test_the_edge_hit_ratio_is_lambda_t_over_one_plus_lambda_t_per_key() -> None:
    s = simulate(edge(), seed=3).summary
    per_key = 50 / 20 * 2.0  # λT for each of 20 equally popular keys
    expected = per_key / (1 + per_key)
    n = s["requests"]["offered"]
    hits = s["requests"]["by_outcome"]["cache_hit"]
    assert hits / n == pytest.approx(expected, abs=4 * (expected * (1 - expected) / n) ** 0.5)
    assert s["cache"]["hit_ratio"] == pytest.approx(hits / n)


def test_hits_never_reach_the_origin_or_its_bill() -> None:
    res = simulate(edge(), seed=4)
    s = res.summary
    by = s["requests"]["by_outcome"]
    misses = s["requests"]["offered"] - by["cache_hit"]
    cost = res.cost.set_index(["resource", "component"])
    scale = s["month_scale"]
    assert cost.loc[("api.edge.default", "requests"), "quantity"] == pytest.approx(misses * scale, rel=1e-9)
    assert cost.loc[("cloudfront.edge", "HTTPS requests"), "quantity"] == pytest.approx(
        s["requests"]["offered"] * scale, rel=1e-9
    )
    assert ("api.edge.default", "data transfer out") not in cost.index  # the origin sends to CloudFront: free
    assert cost.loc[("cloudfront.edge", "data transfer to origin"), "quantity"] == pytest.approx(
        misses * 1024 / 2**30 * scale, rel=1e-9
    )


def test_a_28_6_percent_hit_ratio_costs_what_rest_alone_costs_in_request_fees() -> None:
    table = prices()
    rest = table.price("apigateway.rest.requests")["tiers"][0][1]
    front = table.price("cloudfront.requests.north_america")["per_unit"]
    assert front / rest == pytest.approx(0.286, abs=0.0005)  # CloudFront's fee pays for itself at 1/3.5 hits
    res = simulate(edge(), seed=5)
    s = res.summary
    n = s["requests"]["offered"] * s["month_scale"]
    h = s["requests"]["by_outcome"]["cache_hit"] / s["requests"]["offered"]
    cost = res.cost.set_index(["resource", "component"])["usd"]
    fees = cost[("cloudfront.edge", "HTTPS requests")] + cost[("api.edge.default", "requests")]
    assert fees - n * rest == pytest.approx(n * (front - h * rest), rel=1e-6)  # zero exactly when h = front / rest


def test_post_is_never_cached_and_functions_are_billed_per_request() -> None:
    sc = edge(cf={"functions": "lambda_edge", "function_ms": 7.2},
              routes={"POST /items": 1.0})  # fmt: skip
    res = simulate(sc, seed=6)
    s = res.summary
    assert s["requests"]["by_outcome"]["cache_hit"] == 0
    cost = res.cost.set_index(["resource", "component"])["quantity"]
    n = s["requests"]["offered"] * s["month_scale"]
    assert cost[("cloudfront.edge", "Lambda@Edge requests")] == pytest.approx(n, rel=1e-9)
    assert cost[("cloudfront.edge", "Lambda@Edge duration")] == pytest.approx(n * 0.008 * 0.125, rel=1e-9)  # 8 ms
    p99 = s["latency_ms"]["p99"]
    assert p99 == pytest.approx(7.2, abs=0.1)  # the edge function's time is the only time spent


@pytest.mark.parametrize(
    ("api", "cf", "where", "says"),
    [
        ({"cache": {"ttl": "60s"}}, {}, "api.cloudfront", "stage cache behind CloudFront"),
        ({}, {"function_ms": 3}, "api.cloudfront.function_ms", "needs functions"),
        ({}, {"viewers": "mars"}, "api.cloudfront.viewers", "north_america"),
        ({}, {"cache": {"ttl": "2y"}}, "api.cloudfront.cache.ttl", ""),
    ],
)
def test_what_cloudfront_refuses_is_a_located_error(api: dict, cf: dict, where: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        edge(api=api, cf=cf)
    text = str(caught.value)
    assert where in text and says in text, text
