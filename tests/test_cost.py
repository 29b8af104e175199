"""The monthly bill: AWS's worked examples, tier boundaries, architectures, and month scaling."""

from __future__ import annotations

import pytest

from apisim import simulate
from apisim.cost import monthly_bill, prices, tiered
from apisim.engine.door import UsageLine
from apisim.metrics import Usage
from tests.conftest import build, mock_api

P = prices()
MONTH = 730 * 3600.0


def tiers(key: str) -> list:
    return P.price(key)["tiers"]


def usage(*lines: UsageLine, month_hours: float = 730.0, free_tier: bool | str = False) -> Usage:
    """Usage for a month: count lines already measured over the whole month (scale 1)."""
    month = month_hours * 3600.0
    return Usage(lines=list(lines), window_seconds=month, month_seconds=month, free_tier=free_tier)


def line(price: str, amount: float, resource: str = "r", **kw) -> UsageLine:
    return UsageLine(resource, kw.pop("component", price), price, amount, **kw)


def item(bill, name: str) -> float:
    return float(bill.groupby("item")["usd"].sum().get(name, 0.0))


@pytest.mark.parametrize(
    ("api_type", "requests", "usd"),
    [("rest", 100_000, 0.35), ("rest", 10_000_000, 35.00), ("http", 10_000_000, 10.00)],
)
def test_worked_examples_for_api_requests(api_type: str, requests: float, usd: float) -> None:
    bill = monthly_bill(usage(line(f"apigateway.{api_type}.requests", requests, meter={"bytes_per_request": 2048})))
    assert item(bill, "api_requests") == pytest.approx(usd)


def test_cache_half_gigabyte_for_720_hours() -> None:
    cache = line("apigateway.cache", 1.0, kind="level", meter={"size_gb": 0.5})
    assert item(monthly_bill(usage(cache, month_hours=720.0)), "api_cache") == pytest.approx(14.40)


@pytest.mark.parametrize(
    ("requests", "usd"),
    [
        (333_000_000, 1165.50),
        (334_000_000, 1165.50 + 2.80),
        (1_000_000_000, 1165.50 + 1867.60),
        (1_001_000_000, 1165.50 + 1867.60 + 2.38),
        (21_000_000_000, 1165.50 + 1867.60 + 45220.0 + 1510.0),
    ],
)
def test_rest_tier_boundaries(requests: float, usd: float) -> None:
    assert tiered(requests, tiers("apigateway.rest.requests")) == pytest.approx(usd)


@pytest.mark.parametrize(("requests", "usd"), [(300_000_000, 300.0), (1_000_000_000, 300.0 + 630.0)])
def test_http_tier_boundaries(requests: float, usd: float) -> None:
    assert tiered(requests, tiers("apigateway.http.requests")) == pytest.approx(usd)


def test_arm_is_cheaper_per_gb_second_and_has_its_own_tier_boundaries() -> None:
    x86 = item(monthly_bill(usage(line("lambda.compute.x86_64", 1_000_000.0))), "lambda_compute")
    arm = item(monthly_bill(usage(line("lambda.compute.arm64", 1_000_000.0))), "lambda_compute")
    assert x86 == pytest.approx(16.6667)
    assert arm == pytest.approx(13.3334)
    assert tiered(7_500_000_000 + 1_000_000, tiers("lambda.compute.arm64")) == pytest.approx(
        7_500_000_000 * 0.0000133334 + 1_000_000 * 0.0000120001
    )
    assert tiered(6_000_000_000 + 1_000_000, tiers("lambda.compute.x86_64")) == pytest.approx(
        6_000_000_000 * 0.0000166667 + 1_000_000 * 0.000015
    )


def test_provisioned_concurrency_arm_matches_the_price_list() -> None:
    # infracost golden: 9,000,000 GB-s provisioned → $30.00; 1,750,000 GB-s of duration → $13.61
    configured = line("lambda.provisioned_concurrency.arm64", 9_000_000.0 / MONTH, kind="level")
    bill = monthly_bill(usage(configured, line("lambda.provisioned_duration.arm64", 1_750_000.0)))
    assert item(bill, "lambda_provisioned") == pytest.approx(30.00 + 13.61, abs=0.01)


def test_free_tier_only_when_asked() -> None:
    lines = (
        line("apigateway.rest.requests", 1_500_000.0),
        line("lambda.requests", 1_500_000.0),
        line("lambda.compute.x86_64", 500_000.0),
    )
    paid = monthly_bill(usage(*lines))
    free = monthly_bill(usage(*lines, free_tier=True))
    assert item(free, "api_requests") == pytest.approx(0.5 * 3.50)
    assert item(free, "lambda_requests") == pytest.approx(0.5 * 0.20)
    assert item(free, "lambda_compute") == pytest.approx(100_000 * 0.0000166667)
    assert item(paid, "api_requests") == pytest.approx(1.5 * 3.50)
    # Lambda's allowances never expire; API Gateway's last a new account's first 12 months only.
    always = monthly_bill(usage(*lines, free_tier="always"))
    assert item(always, "api_requests") == pytest.approx(1.5 * 3.50)
    assert item(always, "lambda_requests") == pytest.approx(0.5 * 0.20)
    assert item(always, "lambda_compute") == pytest.approx(100_000 * 0.0000166667)


def test_free_tier_always_is_a_scenario_value_and_other_words_are_located_errors() -> None:
    from apisim import validate_scenario
    from apisim.problems import ScenarioError

    base = {
        "name": "f",
        "api": {"routes": [{"route": "GET /", "integration": {"type": "mock"}}]},
        "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 1}}],
    }
    assert validate_scenario({**base, "pricing": {"free_tier": "always"}}).pricing.free_tier == "always"
    with pytest.raises(ScenarioError, match="free_tier"):
        validate_scenario({**base, "pricing": {"free_tier": "forever"}})


def test_data_transfer_tiers() -> None:
    assert item(monthly_bill(usage(line("data_transfer.out", 10_240.0))), "data_transfer") == pytest.approx(921.60)
    assert item(monthly_bill(usage(line("data_transfer.out", 10_240.0 + 40_960.0))), "data_transfer") == pytest.approx(
        921.60 + 3481.60
    )


def test_tiers_aggregate_across_resources_and_each_gets_its_share() -> None:
    # Two REST APIs of 200M requests each: the account's 400M cross the 333M tier boundary once.
    bill = monthly_bill(
        usage(line("apigateway.rest.requests", 2e8, resource="api.a"), line("apigateway.rest.requests", 2e8, "api.b"))
    )
    total = tiered(4e8, tiers("apigateway.rest.requests"))
    assert bill["usd"].sum() == pytest.approx(total)
    assert bill.set_index("resource").loc["api.a", "usd"] == pytest.approx(total / 2)
    assert "share of the account's 400,000,000" in bill.set_index("resource").loc["api.a", "detail"]


def test_simulated_counts_are_scaled_to_the_month_before_tiers() -> None:
    sc = build(
        {
            "name": "billing",
            "simulation": {"basis": "window", "duration": "100s", "warmup": "10s"},
            "api": {
                "type": "http",
                "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}],
            },
            "functions": {"f": {"memory_mb": 1024, "arch": "arm64", "duration_ms": 99.5, "cold_start_ms": 0}},
            "clients": [
                {
                    "name": "c",
                    "arrival": {"process": "constant", "rate": 10},
                    "request_bytes": 400_000,
                    "response_bytes": 300_000,  # 700 KB a request: two 512 KB metering units
                }
            ],
            "pricing": {"month": "720h"},
        }
    )
    res = simulate(sc)
    s = res.summary
    scale = 720 * 3600 / 90
    assert s["month_scale"] == pytest.approx(scale)
    offered = s["requests"]["offered"]
    assert offered == 900
    bill = res.cost.set_index("item")
    assert bill.loc["api_requests", "quantity"] == pytest.approx(2 * offered * scale)
    assert bill.loc["api_requests", "usd"] == pytest.approx(
        tiered(2 * offered * scale, tiers("apigateway.http.requests"))
    )
    assert bill.loc["lambda_requests", "quantity"] == pytest.approx(offered * scale)
    # 99.5 ms bills as 100 ms at 1 GB.
    assert bill.loc["lambda_compute", "quantity"] == pytest.approx(offered * 0.1 * scale)
    assert s["functions"]["f"]["billed_gb_seconds"] == pytest.approx(offered * 0.1)
    assert bill.loc["data_transfer", "quantity"] == pytest.approx(offered * 300_000 / 2**30 * scale)
    assert s["cost_monthly_usd"]["total"] == pytest.approx(bill["usd"].sum())


def test_throttled_and_unauthorized_requests_are_not_billed() -> None:
    sc = mock_api(
        "10s",
        {"process": "constant", "rate": 100},
        throttle={"rate": 10, "burst": 10},
        authorizer={"type": "cognito", "invalid_fraction": 0.5},
    )
    res = simulate(sc)
    by = res.summary["requests"]["by_outcome"]
    assert by["throttled"] > 0 and by["unauthorized"] > 0
    quantity = res.cost.set_index("item").loc["api_requests", "quantity"]
    assert quantity == pytest.approx(by["ok"] * res.summary["month_scale"])


def test_every_price_names_its_source_status_and_item() -> None:
    from apisim.cost import LINE_ITEMS

    for key, price in P.data["prices"].items():
        assert price["source"] and price["status"] and price["unit"], key
        assert price["item"] in LINE_ITEMS, key
        assert ("tiers" in price) != ("per_unit" in price), key
    assert P.data["free_tier"]["source"] and P.data["free_tier"]["status"]
    assert P.retrieved


def test_every_answer_carries_bytes_out_errors_with_their_own_size() -> None:
    # 07-burst's exact split, 6,999 answered and 501 throttled: bytes out are 6,999 responses of
    # 1,000 bytes and 501 error messages of 300 bytes, to the byte (then scaled to the month).
    from apisim import load

    sc = load("scenarios/07-burst.yaml").with_times(basis="window")
    data = sc.model_dump()
    data["clients"][0].update(response_bytes=1000, error_response_bytes=300)
    res = simulate(build(data))
    by = res.summary["requests"]["by_outcome"]
    assert (by["ok"], by["throttled"]) == (6999, 501)
    out = res.cost.set_index("item").loc["data_transfer", "quantity"]
    assert out == pytest.approx((6999 * 1000 + 501 * 300) / 2**30 * res.summary["month_scale"], rel=1e-12)
