"""The monthly bill: AWS's worked examples, tier boundaries, architectures, and month scaling."""

from __future__ import annotations

import pytest

from apisim import simulate
from apisim.cost import monthly_bill, prices, tiered
from apisim.metrics import Usage
from tests.conftest import build, mock_api

P = prices().data


def usage(**kw) -> Usage:
    base = dict(
        api_type="rest",
        api_requests=0.0,
        cache_size_gb=None,
        month_hours=730.0,
        lambda_requests=0.0,
        gb_seconds={"x86_64": 0.0, "arm64": 0.0},
        provisioned_gb_seconds={"x86_64": 0.0, "arm64": 0.0},
        provisioned_duration_gb_seconds={"x86_64": 0.0, "arm64": 0.0},
        transfer_gb=0.0,
        free_tier=False,
    )
    base.update(kw)
    return Usage(**base)


def item(bill, name: str) -> float:
    return float(bill.set_index("item").loc[name, "usd"])


@pytest.mark.parametrize(
    ("api_type", "requests", "usd"),
    [("rest", 100_000, 0.35), ("rest", 10_000_000, 35.00), ("http", 10_000_000, 10.00)],
)
def test_worked_examples_for_api_requests(api_type: str, requests: float, usd: float) -> None:
    assert item(monthly_bill(usage(api_type=api_type, api_requests=requests)), "api_requests") == pytest.approx(usd)


def test_cache_half_gigabyte_for_720_hours() -> None:
    assert item(monthly_bill(usage(cache_size_gb=0.5, month_hours=720.0)), "api_cache") == pytest.approx(14.40)


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
    assert tiered(requests, P["api_requests"]["rest"]["tiers"]) == pytest.approx(usd)


@pytest.mark.parametrize(("requests", "usd"), [(300_000_000, 300.0), (1_000_000_000, 300.0 + 630.0)])
def test_http_tier_boundaries(requests: float, usd: float) -> None:
    assert tiered(requests, P["api_requests"]["http"]["tiers"]) == pytest.approx(usd)


def test_arm_is_cheaper_per_gb_second_and_has_its_own_tier_boundaries() -> None:
    x86 = item(monthly_bill(usage(gb_seconds={"x86_64": 1_000_000.0})), "lambda_compute")
    arm = item(monthly_bill(usage(gb_seconds={"arm64": 1_000_000.0})), "lambda_compute")
    assert x86 == pytest.approx(16.6667)
    assert arm == pytest.approx(13.3334)
    arm_tiers = P["lambda"]["compute"]["arm64"]
    assert tiered(7_500_000_000 + 1_000_000, arm_tiers) == pytest.approx(
        7_500_000_000 * 0.0000133334 + 1_000_000 * 0.0000120001
    )
    x86_tiers = P["lambda"]["compute"]["x86_64"]
    assert tiered(6_000_000_000 + 1_000_000, x86_tiers) == pytest.approx(
        6_000_000_000 * 0.0000166667 + 1_000_000 * 0.000015
    )


def test_provisioned_concurrency_arm_matches_the_price_list() -> None:
    # infracost golden: 9,000,000 GB-s provisioned → $30.00; 1,750,000 GB-s of duration → $13.61
    bill = monthly_bill(
        usage(provisioned_gb_seconds={"arm64": 9_000_000.0}, provisioned_duration_gb_seconds={"arm64": 1_750_000.0})
    )
    assert item(bill, "lambda_provisioned") == pytest.approx(30.00 + 13.61, abs=0.01)


def test_free_tier_only_when_asked() -> None:
    u = dict(api_requests=1_500_000.0, lambda_requests=1_500_000.0, gb_seconds={"x86_64": 500_000.0})
    paid = monthly_bill(usage(**u))
    free = monthly_bill(usage(free_tier=True, **u))
    assert item(free, "api_requests") == pytest.approx(0.5 * 3.50)
    assert item(free, "lambda_requests") == pytest.approx(0.5 * 0.20)
    assert item(free, "lambda_compute") == pytest.approx(100_000 * 0.0000166667)
    assert item(paid, "api_requests") == pytest.approx(1.5 * 3.50)


def test_data_transfer_tiers() -> None:
    assert item(monthly_bill(usage(transfer_gb=10_240.0)), "data_transfer") == pytest.approx(921.60)
    assert item(monthly_bill(usage(transfer_gb=10_240.0 + 40_960.0)), "data_transfer") == pytest.approx(
        921.60 + 3481.60
    )


def test_simulated_counts_are_scaled_to_the_month_before_tiers() -> None:
    sc = build(
        {
            "name": "billing",
            "simulation": {"duration": "100s", "warmup": "10s"},
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
        tiered(2 * offered * scale, P["api_requests"]["http"]["tiers"])
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


def test_every_price_section_names_its_source() -> None:
    for section in ("api_cache", "data_transfer_out", "free_tier"):
        assert P[section]["source"] and P[section]["status"]
    for api in ("rest", "http"):
        assert P["api_requests"][api]["source"]
    assert P["retrieved"]
