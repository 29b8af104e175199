"""API Gateway rules AWS documents for a design's shape: endpoint types and long integration timeouts."""

from __future__ import annotations

from typing import Any

import pytest

from apisim import simulate, validate_scenario
from apisim.problems import ScenarioError


def api(kind: str, endpoint: str | None, timeout: str | None) -> dict[str, Any]:
    route: dict[str, Any] = {"route": "GET /slow", "integration": {"type": "mock", "latency_ms": 5}}
    if timeout is not None:
        route["timeout"] = timeout
    a: dict[str, Any] = {"type": kind, "routes": [route]}
    if endpoint is not None:
        a["endpoint"] = endpoint
    return {
        "name": "long-timeout",
        "simulation": {"duration": "10s", "basis": "window"},
        "api": a,
        "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 5}}],
    }


def test_an_edge_optimized_rest_api_keeps_the_29_second_timeout() -> None:
    # AWS (2024-06-04): "You can raise the integration timeout to greater than 29 seconds for
    # Regional REST APIs and private REST APIs."
    with pytest.raises(ScenarioError) as err:
        validate_scenario(api("rest", "edge", "45s"))
    assert "routes" in str(err.value) and "timeout" in str(err.value) and "edge-optimized" in str(err.value)
    validate_scenario(api("rest", "edge", "29s"))


@pytest.mark.parametrize("endpoint", [None, "regional", "private"])
def test_regional_and_private_rest_apis_may_wait_longer_and_are_told_about_the_throttle(endpoint: str | None) -> None:
    s = simulate(validate_scenario(api("rest", endpoint, "45s"))).summary
    assert any("may lower the account throttle" in w for w in s["warnings"])
    usual = simulate(validate_scenario(api("rest", endpoint, None))).summary
    assert not any("may lower" in w for w in usual["warnings"])


def test_http_apis_are_regional_only() -> None:
    with pytest.raises(ScenarioError, match="regional endpoints only"):
        validate_scenario(api("http", "edge", None))
