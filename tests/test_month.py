"""The month basis: the calendar, quota arithmetic, the month's offered traffic, one-off events, and the
fast estimate against every request of the month simulated (``exact_month``)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from apisim import months, simulate, validate_scenario
from apisim.quotas import expected_admitted, month_quotas

UTC = dt.UTC


def scenario(clients: list[dict[str, Any]], *, api: dict[str, Any] | None = None, **simulation: Any) -> Any:
    sim = {"duration": "10m", "warmup": "1m", "seed": 3, **simulation}
    return validate_scenario(
        {
            "name": "month",
            "simulation": sim,
            "api": api or {"type": "rest", "routes": [{"route": "GET /p", "integration": {"type": "mock"}}]},
            "clients": clients,
            "pricing": {"free_tier": False},
        }
    )


# -- the calendar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days"),
    [("2026-02-01", 28), ("2028-02-01", 29), ("2026-04-01", 30), ("2026-01-01", 31), ("2026-01-31", 28)],
)
def test_a_month_is_a_calendar_month(start: str, days: int) -> None:
    when = dt.datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert months.month_seconds(when) == days * 86400


def test_days_begin_at_utc_midnight_and_weeks_on_sunday() -> None:
    noon = dt.datetime(2026, 4, 1, 12, tzinfo=UTC)  # a Wednesday
    assert months.period_starts("day", noon, 3 * 86400)[:3] == [0.0, 12 * 3600.0, 36 * 3600.0]
    # Weeks across the month's end: Wed 1 April → Sun 5 April, 12, 19, 26 → Fri 1 May.
    start = dt.datetime(2026, 4, 1, tzinfo=UTC)
    bounds = months.CalendarPeriods("week", start, months.month_seconds(start)).bounds(months.month_seconds(start))
    assert [round((b - a) / 86400) for a, b in bounds] == [4, 7, 7, 7, 5]
    assert months.period_starts("month", dt.datetime(2026, 4, 15, tzinfo=UTC), 40 * 86400) == [0.0, 16 * 86400.0]


# -- quotas, exactly ------------------------------------------------------------------------------


def test_expected_admitted_is_min_of_a_poisson_count() -> None:
    assert expected_admitted(2_073_600, 100_000) == 100_000
    assert expected_admitted(10.0, 1_000_000) == pytest.approx(10.0)
    # Small case by direct summation: E[min(N, 3)] for N ~ Poisson(2).
    p = [math.exp(-2) * 2**k / math.factorial(k) for k in range(3)]
    direct = sum(k * p[k] for k in range(3)) + 3 * (1 - sum(p))
    assert expected_admitted(2.0, 3) == pytest.approx(direct, rel=1e-12)


def plan_client(rate: float, keys: int, quota: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    api = {
        "type": "rest",
        "usage_plans": {"free": {"quota": quota}},
        "routes": [{"route": "GET /p", "integration": {"type": "mock"}}],
    }
    client = {"name": "c", "usage_plan": "free", "api_keys": keys, "arrival": {"process": "poisson", "rate": rate}}
    return [client], api


def test_fifty_keys_with_a_monthly_quota_bill_exactly_five_million_requests() -> None:
    clients, api = plan_client(40.0, 50, {"limit": 100_000, "period": "month"})  # 0.8 rps per key
    sc = scenario(clients, api=api)
    (q,) = month_quotas(sc, sc.simulation.start, months.month_seconds(sc.simulation.start))
    assert q.admitted == 5_000_000
    assert [p.admitted for p in q.periods] == [100_000]
    r = simulate(sc)
    s = r.summary
    requests = r.cost[r.cost["item"] == "api_requests"]
    assert requests["quantity"].sum() == pytest.approx(5_000_000, abs=1e-6)
    assert s["cost_monthly_usd"]["items"]["api_requests"] == pytest.approx(17.50, abs=1e-9)
    assert s["month"]["by_outcome"]["quota_exceeded"] == pytest.approx(40 * 30 * 86400 - 5_000_000, rel=0.01)
    assert any("quota" in w for w in s["warnings"])


def test_a_day_quota_with_an_offset_counts_the_offset_in_the_first_day_only() -> None:
    clients, api = plan_client(10.0, 1, {"limit": 1000, "period": "day", "offset": 300})
    sc = scenario(clients, api=api, start="2026-04-01T12:00:00Z")
    (q,) = month_quotas(sc, sc.simulation.start, months.month_seconds(sc.simulation.start))
    # From noon on the 1st of April to noon on the 1st of May: half a day, 29 days, half a day.
    assert len(q.periods) == 31
    assert [p.allowed for p in q.periods[:2]] == [700, 1000]
    assert q.admitted == pytest.approx(700 + 30 * 1000)


def test_a_week_quota_across_the_month_boundary_follows_sundays() -> None:
    clients, api = plan_client(1.0, 2, {"limit": 400_000, "period": "week"})
    sc = scenario(clients, api=api, start="2026-04-01T00:00:00Z")
    (q,) = month_quotas(sc, sc.simulation.start, months.month_seconds(sc.simulation.start))
    per_key = [p.offered for p in q.periods]
    assert per_key == pytest.approx([0.5 * 86400 * d for d in (4, 7, 7, 7, 5)])
    # Nothing spent (0.5 rps per key is 302,400 a week at most): every request admitted.
    assert q.admitted == pytest.approx(q.offered, rel=1e-9)


# -- the month's traffic -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "arrival",
    [
        {"process": "poisson", "rate": 5.0, "profile": {"type": "diurnal", "peak_to_trough": 4, "peak_at": "20h"}},
        {"process": "poisson", "profile": {"type": "points", "repeat": "daily", "points": [[0, 1.0], [43200, 9.0]]}},
        {"process": "burst", "rate": 50.0, "duration": "10s", "every": "15m"},
    ],
    ids=["diurnal", "points-daily", "burst-every"],
)
def test_the_months_offered_requests_are_the_integral_of_the_rate(arrival: dict[str, Any]) -> None:
    sc = scenario([{"name": "c", "arrival": arrival}], start="2026-02-01T00:00:00Z")
    s = simulate(sc).summary
    m = s["month"]
    expected = {"diurnal": 5.0 * 28 * 86400, "points": 5.0 * 28 * 86400, "burst": 500 * 28 * 96}
    kind = arrival.get("profile", {}).get("type", "burst")
    assert m["requests_expected"] == pytest.approx(expected[kind], rel=1e-9)
    # Within Poisson noise of the windows' estimate (a stratified sample of 16 windows of 10 minutes).
    assert m["offered"] == pytest.approx(m["requests_expected"], rel=0.02)
    # Whole counts that add up, and the seed the user gave (the windows run on seeds derived from it).
    assert sum(m["by_outcome"].values()) == m["offered"] == s["requests"]["offered"]
    assert sum(s["requests"]["by_outcome"].values()) == s["requests"]["offered"]
    assert sum(s["client"]["by_outcome"].values()) == s["client"]["requests"]
    assert s["seed"] == sc.simulation.seed


def test_a_one_off_burst_is_billed_once() -> None:
    from apisim import load

    s = simulate(load("scenarios/07-burst.yaml")).summary
    assert s["month"]["offered"] == 7500
    assert s["cost_monthly_usd"]["items"]["api_requests"] == pytest.approx(s["month"]["by_outcome"]["ok"] * 3.5e-6)
    assert any("one-off" in w for w in s["warnings"])
    assert s["month_scale"] is None


def test_the_window_basis_keeps_its_scale_and_says_so() -> None:
    sc = scenario([{"name": "c", "arrival": {"process": "poisson", "rate": 2.0}}], basis="window")
    s = simulate(sc).summary
    assert s["month"] is None
    assert s["month_scale"] == pytest.approx(sc.pricing.month / 540)


def test_the_month_is_the_same_whatever_the_order_of_clients() -> None:
    a = {"name": "a", "arrival": {"process": "poisson", "rate": 2.0}}
    b = {"name": "b", "arrival": {"process": "burst", "rate": 20.0, "duration": "5s", "every": "20m"}}
    one = simulate(scenario([a, b])).summary
    two = simulate(scenario([b, a])).summary
    assert one["cost_monthly_usd"] == two["cost_monthly_usd"]
    assert one["month"] == two["month"]


# -- the estimate against every request of the month ------------------------------------------

FUNCTION = {"duration_ms": {"dist": "lognormal", "median": 40, "p99": 200}, "cold_start_ms": 300}

AGAINST_EXACT = {
    "diurnal-cache-cold-starts": (
        {
            "type": "rest",
            "cache": {"size_gb": 0.5, "ttl": "60s"},
            "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}, "cache": True}],
        },
        {"f": {**FUNCTION, "idle_expiry": "5m"}},
        [{"name": "c", "cache_keys": {"count": 500, "zipf": 1.0},
          "arrival": {"process": "poisson", "rate": 0.4, "profile": {"type": "diurnal", "peak_to_trough": 6}}}],
    ),
    "spiky-bursts": (
        {"type": "http", "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}]},
        {"f": {**FUNCTION, "idle_expiry": "2m"}},
        [{"name": "c", "arrival": {"process": "burst", "rate": 20.0, "duration": "5s", "every": "30m"}},
         {"name": "bg", "arrival": {"process": "poisson", "rate": 0.1}}],
    ),
    "usage-plan-quotas": (
        {"type": "rest", "usage_plans": {"free": {"quota": {"limit": 2000, "period": "day"}}},
         "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}]},
        {"f": {**FUNCTION, "idle_expiry": "2m"}},
        [{"name": "c", "usage_plan": "free", "api_keys": 5, "arrival": {"process": "poisson", "rate": 0.2}}],
    ),
    "overload-with-retries": (
        {"type": "rest", "throttle": {"rate": 0.12, "burst": 2},
         "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}]},
        {"f": {**FUNCTION, "idle_expiry": "2m"}},
        [{"name": "c", "arrival": {"process": "poisson", "rate": 0.15},
          "retry": {"max_attempts": 3, "base": "1s", "cap": "5s", "on": ["429"]}}],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(AGAINST_EXACT))
def test_the_fast_month_agrees_with_every_request_simulated(name: str) -> None:
    api, functions, clients = AGAINST_EXACT[name]
    sc = validate_scenario(
        {
            "name": name,
            "simulation": {"duration": "20m", "warmup": "2m", "seed": 11, "start": "2026-02-01T00:00:00Z"},
            "api": api,
            "functions": functions,
            "clients": clients,
            "pricing": {"free_tier": False},
        }
    )
    fast = simulate(sc).summary
    exact = simulate(sc, exact_month=True, force=True).summary
    assert exact["month"]["method"] == "exact"
    ci = fast["month"]["ci95"]["cost_total"]
    bill, reference = fast["cost_monthly_usd"]["total"], exact["cost_monthly_usd"]["total"]
    # The exact month is one random month too: its own noise widens the comparison a little.
    slack = 0.002 * reference
    assert ci["low"] - slack <= reference <= ci["high"] + slack, (name, bill, ci, reference)
    assert ci["plus_minus"] < 0.05 * bill


def test_a_window_too_short_for_a_month_is_refused_before_any_work() -> None:
    from apisim.problems import RunTooLarge

    sc = scenario([{"name": "c", "arrival": {"process": "poisson", "rate": 1.0}}], duration="0.5s", warmup="0s")
    with pytest.raises(RunTooLarge, match="slices"):
        simulate(sc)
    assert simulate(sc.with_times(basis="window")).summary["basis"] == "window"


def test_the_month_with_quotas_is_the_same_whatever_the_order_of_clients() -> None:
    from apisim import load

    sc = load("scenarios/04-usage-plans.yaml").with_times(600.0, 0.0, windows=4)
    flipped = sc.model_copy(update={"clients": list(reversed(sc.clients))})
    one, two = simulate(sc).summary, simulate(flipped).summary
    assert one["cost_monthly_usd"] == two["cost_monthly_usd"]
    assert one["month"]["ci95"] == two["month"]["ci95"]
