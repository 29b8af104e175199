"""Several APIs and stages in one account: the account bucket is shared, stages keep their own
buckets and caches, every figure is given per API and stage, and the bill is per resource."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from apisim import ScenarioError, load, simulate, validate_scenario
from tests.conftest import ROOT_SCENARIOS, window


def exact_admitted(times: list[Fraction], rate: Fraction, burst: int) -> int:
    """A token bucket in exact arithmetic: starts full, refills ``rate`` a second, one token a request."""
    tokens, last, admitted = Fraction(burst), Fraction(0), 0
    for t in times:
        tokens = min(Fraction(burst), tokens + (t - last) * rate)
        last = t
        if tokens >= 1:
            tokens -= 1
            admitted += 1
    return admitted


def route(path: str) -> dict[str, Any]:
    return {"route": f"GET {path}", "integration": {"type": "mock"}}


def two_apis(rate_a: int, rate_b: int) -> dict[str, Any]:
    return {
        "name": "two",
        "simulation": {"basis": "window", "duration": "10s"},
        "account": {"api_throttle": {"rate": 1000, "burst": 100}},
        "apis": {"a": {"type": "rest", "routes": [route("/a")]}, "b": {"type": "http", "routes": [route("/b")]}},
        "clients": [
            {"name": "ca", "api": "a", "arrival": {"process": "constant", "rate": rate_a}},
            {"name": "cb", "api": "b", "arrival": {"process": "constant", "rate": rate_b}},
        ],
    }


def test_two_apis_share_the_account_bucket_exactly() -> None:
    # Alone, each API's 600 rps fits the account's 1,000; together their 1,200 do not.
    alone = simulate(validate_scenario(two_apis(600, 1))).summary
    assert alone["requests"]["by_outcome"]["throttled"] == 0
    s = simulate(validate_scenario(two_apis(600, 600))).summary
    arrivals = sorted([Fraction(k, 600) for k in range(6000)] * 2)
    admitted = exact_admitted(arrivals, Fraction(1000), 100)
    assert s["requests"]["by_outcome"]["ok"] == admitted
    assert s["requests"]["by_outcome"]["throttled"] == 12_000 - admitted
    per_api = {name: block["stages"]["default"] for name, block in s["apis"].items()}
    assert sum(st["requests"]["by_outcome"]["ok"] for st in per_api.values()) == admitted
    assert all(st["requests"]["by_outcome"]["throttled"] > 0 for st in per_api.values())  # both feel it


def test_a_stage_with_its_own_throttle_beside_one_without() -> None:
    sc = validate_scenario(
        {
            "name": "stages",
            "simulation": {"basis": "window", "duration": "10s"},
            "api": {
                "type": "rest",
                "stages": {"prod": {}, "dev": {"throttle": {"rate": 10, "burst": 5}}},
                "routes": [route("/p")],
            },
            "clients": [
                {"name": "users", "stage": "prod", "arrival": {"process": "constant", "rate": 50}},
                {"name": "testers", "stage": "dev", "arrival": {"process": "constant", "rate": 50}},
            ],
        }
    )
    stages = simulate(sc).summary["apis"]["stages"]["stages"]
    assert stages["prod"]["requests"]["by_outcome"] == {**stages["prod"]["requests"]["by_outcome"], "ok": 500}
    dev_ok = exact_admitted([Fraction(k, 50) for k in range(500)], Fraction(10), 5)
    assert stages["dev"]["requests"]["by_outcome"]["ok"] == dev_ok
    assert stages["dev"]["rate_429"] == pytest.approx((500 - dev_ok) / 500)
    assert stages["prod"]["rate_429"] == 0.0


def test_each_stage_has_its_own_cache_and_its_own_bill() -> None:
    sc = validate_scenario(
        {
            "name": "caches",
            "simulation": {"basis": "window", "duration": "20s"},
            "api": {
                "type": "rest",
                "cache": {"size_gb": 0.5, "ttl": "60s"},
                "stages": {"prod": {"cache": {"size_gb": 1.6, "ttl": "60s"}}, "dev": {}},
                "routes": [route("/p")],
            },
            "clients": [
                {"name": "u", "stage": "prod", "arrival": {"process": "constant", "rate": 10}},
                {"name": "t", "stage": "dev", "arrival": {"process": "constant", "rate": 10}},
            ],
        }
    )
    res = simulate(sc)
    stages = res.summary["apis"]["caches"]["stages"]
    # One cache key per stage: one miss each, then hits; a stage never sees the other's entries.
    assert stages["prod"]["cache"] == {"hits": 199, "misses": 1, "hit_ratio": 199 / 200}
    assert stages["dev"]["cache"] == {"hits": 199, "misses": 1, "hit_ratio": 199 / 200}
    bill = res.cost.set_index("resource")
    assert bill.loc["cache.caches.prod", "usd"] == pytest.approx(0.038 * 730)
    assert bill.loc["cache.caches.dev", "usd"] == pytest.approx(0.020 * 730)


@pytest.mark.parametrize("name", ["10-three-apis.yaml", "03-authorizer.yaml", "09-spiky-provisioned.yaml"])
def test_the_bill_per_resource_adds_up_to_the_total_to_the_cent(name: str) -> None:
    sc = window(load(ROOT_SCENARIOS / name).with_times(30.0, 5.0))
    res = simulate(sc)
    cost = res.summary["cost_monthly_usd"]
    assert round(sum(cost["by_resource"].values()), 2) == round(cost["total"], 2)
    assert round(sum(cost["items"].values()), 2) == round(cost["total"], 2)
    assert round(float(res.cost["usd"].sum()), 2) == round(cost["total"], 2)
    assert not res.cost.duplicated(["resource", "component"]).any()  # one row per resource and component


HEAD = [
    "name: bad",
    "apis:",
    "  public: {type: rest, stages: {prod: {}, dev: {}}, routes: [{route: GET /a, integration: {type: mock}}]}",
    "  admin: {type: rest, routes: [{route: GET /s, integration: {type: mock}}]}",
    "clients:",
    "  - name: c",
]
TAIL = ["    arrival: {process: poisson, rate: 1}"]
BROKEN = {  # the client's lines, the field, the line reported, the words
    "unknown api": (["    api: nope"], "clients.0.api", 7, "no such API (defined: public, admin)"),
    "unknown stage": (["    api: public", "    stage: qa"], "clients.0.stage", 8,
                      "no such stage of public (defined: prod, dev)"),
    "no stage given": (["    api: public"], "clients.0.stage", 6,
                       "say which stage of public this client calls (prod, dev)"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_unknown_api_or_stage_is_a_located_error_with_the_choices(case: str, tmp_path: Path) -> None:
    lines, path, line, words = BROKEN[case]
    file = tmp_path / "bad.yaml"
    file.write_text("\n".join([*HEAD, *lines, *TAIL]) + "\n")
    with pytest.raises(ScenarioError) as info:
        load(file)
    problem = info.value.problems[0]
    assert (problem.path, problem.line) == (path, line)
    assert words in problem.message
    assert f"{file}:{line}" in str(info.value)


def test_api_and_apis_together_or_neither_are_refused() -> None:
    base = {"name": "x", "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 1}}]}
    one = {"routes": [route("/a")]}
    for data in ({**base}, {**base, "api": one, "apis": {"a": one}}):
        with pytest.raises(ScenarioError, match="either api"):
            validate_scenario(data)


def test_a_usage_plan_applies_only_to_its_stages() -> None:
    data = {
        "name": "plans",
        "api": {"type": "rest", "stages": {"prod": {}, "dev": {}}, "routes": [route("/a")],
                "usage_plans": {"gold": {"rate": 5, "burst": 5, "stages": ["prod"]}}},
        "clients": [{"name": "c", "stage": "dev", "usage_plan": "gold", "arrival": {"process": "poisson", "rate": 1}}],
    }  # fmt: skip
    with pytest.raises(ScenarioError, match="not associated with stage dev"):
        validate_scenario(data)
