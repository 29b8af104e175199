"""The ALB door: AWS's LCU arithmetic exactly, its hours over a 730-hour month, and its Lambda rules."""

from __future__ import annotations

from typing import Any

import pytest

from apisim import defaults, simulate, validate_scenario
from apisim.engine.alb import lcu_hour
from apisim.problems import ScenarioError

GB = 2**30


def alb(*, routes: int = 1, client: dict[str, Any] | None = None, api: dict[str, Any] | None = None, **fn: Any) -> Any:
    return validate_scenario(
        {
            "name": "lb",
            "simulation": {"basis": "window", "duration": 110, "warmup": 10, "seed": 3},
            "api": {
                "type": "alb",
                "routes": [
                    {"route": f"GET /r{i}", "integration": {"type": "lambda", "function": "api"}} for i in range(routes)
                ],
                **(api or {}),
            },
            "functions": {"api": {"duration_ms": {"dist": "constant", "value": 20}, "cold_start_ms": 0, **fn}},
            "clients": [
                {"name": "c", "arrival": {"process": "constant", "rate": 100}, "request_bytes": 1024,
                 "response_bytes": 1024, **(client or {})}
            ],
        }
    )  # fmt: skip


# -- the LCU arithmetic on hand-built hours ---------------------------------------------------------


def test_each_dimension_in_turn_is_the_largest_and_the_one_billed() -> None:
    # new connections: 50/s → 2 LCU
    h = lcu_hour(new_per_s=50, active_per_min=3000, gb_per_hour=0.4, requests_per_s=100, rules=10)
    assert (h.new_connections, h.active_connections, h.processed_bytes, h.rule_evaluations) == (2, 1, 1, 0)
    assert h.billed == 2
    # active connections: 9,000 a minute → 3 LCU
    assert lcu_hour(new_per_s=1, active_per_min=9000, gb_per_hour=0.4, requests_per_s=1, rules=1).billed == 3
    # processed bytes: Lambda targets get 0.4 GB an hour per LCU, so 2 GB an hour is 5 LCU
    h = lcu_hour(new_per_s=1, active_per_min=1, gb_per_hour=2.0, requests_per_s=1, rules=1)
    assert h.processed_bytes == pytest.approx(5.0) and h.billed == h.processed_bytes
    # rule evaluations: 30 rules, the first 10 free: 20 per request × 500 rps = 10,000/s → 10 LCU
    h = lcu_hour(new_per_s=1, active_per_min=1, gb_per_hour=0.1, requests_per_s=500, rules=30)
    assert h.rule_evaluations == 10 and h.billed == 10


def test_the_first_ten_rules_are_free() -> None:
    assert lcu_hour(new_per_s=0, active_per_min=0, gb_per_hour=0, requests_per_s=10_000, rules=10).billed == 0
    assert lcu_hour(new_per_s=0, active_per_min=0, gb_per_hour=0, requests_per_s=10_000, rules=11).billed == 10


def test_the_capacities_are_awss() -> None:
    lcu = defaults.value("alb_lcu")
    assert (lcu["new_connections_per_s"], lcu["active_connections_per_min"], lcu["rule_evaluations_per_s"]) == (
        25, 3000, 1000,
    )  # fmt: skip
    assert lcu["processed_gb_per_hour_lambda"] == 0.4 and lcu["free_rules"] == 10


# -- the bill of a simulated ALB ---------------------------------------------------------------------


def line(res: Any, component: str) -> Any:
    rows = res.cost[(res.cost["resource"] == "alb.lb") & (res.cost["component"] == component)]
    assert len(rows) == 1, res.cost
    return rows.iloc[0]


def test_alb_hours_for_a_730_hour_month() -> None:
    res = simulate(alb(), seed=1)
    hours = line(res, "load balancer hours")
    assert hours["quantity"] == 730 and hours["usd"] == pytest.approx(730 * 0.0225)


def test_lcu_hours_of_a_steady_run_one_request_per_connection() -> None:
    # 100 rps, a connection per request: 100 new/s = 4 LCU, more than the bytes' 100 × 2 KB × 3600
    # / 0.4 GB = 1.72, the active connections' 100/3000 and 12 rules' (12 - 10) × 100 / 1000 = 0.2.
    res = simulate(alb(routes=12, client={"connections": {"keep_alive": False}}), seed=1)
    lcu = line(res, "LCU hours")
    assert lcu["quantity"] == pytest.approx(4 * 730, rel=1e-9)
    assert lcu["usd"] == pytest.approx(4 * 730 * 0.008, rel=1e-9)


def test_with_keep_alive_the_bytes_bind() -> None:
    # 10 requests a connection: 10 new/s = 0.4 LCU, 10/s open for the 60 s idle timeout = 600 a
    # minute = 0.2 LCU; the bytes, 100 × 2,048 B × 3600 s / 2^30 / 0.4 = 1.7166 LCU, bind.
    res = simulate(alb(client={"connections": {"keep_alive": True, "requests_per_connection": 10}}), seed=1)
    expected = 100 * 2048 * 3600 / GB / 0.4
    assert line(res, "LCU hours")["quantity"] == pytest.approx(expected * 730, rel=1e-9)


def test_a_throttled_lambda_is_a_5xx_and_the_alb_has_no_throttle_of_its_own() -> None:
    res = simulate(alb(reserved_concurrency=1), seed=1)
    s = res.summary
    by = s["requests"]["by_outcome"]
    assert by["backend_throttled"] > 0 and s["rate_429"] == 0
    status = int(defaults.value("alb_lambda_throttled_status", "value"))
    assert s["status_counts"][str(status)] >= by["backend_throttled"]
    assert s["functions"]["api"]["throttles"] == by["backend_throttled"]


def test_a_function_error_is_502() -> None:
    s = simulate(alb(error_fraction=0.2), seed=2).summary
    assert s["status_counts"]["502"] == s["requests"]["by_outcome"]["error"] > 0


@pytest.mark.parametrize(
    ("api", "client", "where", "says"),
    [
        ({"usage_plans": {"p": {"rate": 1, "burst": 1}}}, {}, "api.usage_plans", "REST only"),
        ({"authorizer": {"type": "lambda", "function": "api"}}, {}, "api.authorizer.type", "supports none"),
        ({"throttle": {"rate": 10, "burst": 10}}, {}, "api.throttle", "an ALB has no throttle"),
        ({}, {"request_bytes": 2 * 2**20}, "clients.0.request_bytes", "1,048,576 bytes"),
        ({}, {"response_bytes": 2 * 2**20}, "clients.0.response_bytes", "an ALB with Lambda targets"),
        ({}, {"connections": {"keep_alive": False, "requests_per_connection": 5}}, "clients.0.connections",
         "without keep_alive"),
    ],
)  # fmt: skip
def test_what_an_alb_is_not_is_a_located_error(api: dict, client: dict, where: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        alb(api=api, client=client)
    text = str(caught.value)
    assert where in text and says in text, text


def test_rules_belong_to_an_alb() -> None:
    with pytest.raises(ScenarioError, match="an ALB's listener rules"):
        validate_scenario(
            {
                "name": "h",
                "api": {"type": "http", "rules": 5, "routes": [{"route": "GET /", "integration": {"type": "mock"}}]},
                "clients": [{"name": "c", "arrival": {"process": "constant", "rate": 1}}],
            }
        )


def test_a_month_prices_each_windows_lcus_at_its_own_rates() -> None:
    # Each window is priced at its own rates and weighted; with one client every dimension is linear
    # in the rate, so a diurnal month's LCU-hours are those of its average rate (new connections bind).
    diurnal = {"process": "poisson", "rate": 100, "profile": {"type": "diurnal", "peak_to_trough": 10}}
    sc = alb(client={"arrival": diurnal, "connections": {"keep_alive": False}})
    sc = sc.with_times(300, 60, basis="month", windows=4)
    res = simulate(sc, seed=4)
    lcu = line(res, "LCU hours")["quantity"]
    offered = res.summary["requests"]["offered"]
    average = offered / (730 * 3600) / 25 * 730  # new connections at the month's average rate
    assert lcu == pytest.approx(average, rel=1e-6)  # new connections bind everywhere: linear, so equal
