"""Token buckets and quotas against exact arithmetic (Python Fractions), not against themselves."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from apisim import simulate
from apisim.engine.throttle import Quota, TokenBucket
from apisim.months import CalendarPeriods
from tests.conftest import build, mock_api


def reference_admissions(times: list[Fraction], rate: Fraction, burst: Fraction) -> list[bool]:
    """An independent token bucket in exact rational arithmetic: starts full, one token a request."""
    tokens, last, out = burst, Fraction(0), []
    for t in times:
        tokens = min(burst, tokens + (t - last) * rate)
        last = t
        if tokens >= 1:
            tokens -= 1
            out.append(True)
        else:
            out.append(False)
    return out


def test_constant_overload_admits_exactly_the_closed_form() -> None:
    # 2048 rps against rate 1024 / burst 2048: each arrival nets -1/2 token, so arrivals
    # k = 0..4094 drain the bucket (2048 - k/2 ≥ 1), then every second arrival passes.
    bucket = TokenBucket(1024, 2048)
    admitted = [bucket.try_take(k / 2048) for k in range(8192)]
    assert all(admitted[:4095])
    assert admitted[4095:4101] == [False, True, False, True, False, True]
    assert sum(admitted) == 4095 + (8192 - 4095) // 2


def test_the_seed_burst_scenario_throttles_what_the_bucket_arithmetic_says() -> None:
    # 1,500 rps for 5 s against rate 1,000 / burst 2,000 (scenarios/07-burst.yaml).
    times = [Fraction(k, 1500) for k in range(7500)]
    expected = reference_admissions(times, Fraction(1000), Fraction(2000))
    assert sum(expected) == 6999  # 2000 + 1000·(7499/1500) tokens, floored
    sc = mock_api("10s", {"process": "burst", "rate": 1500, "duration": "5s"}, throttle={"rate": 1000, "burst": 2000})
    s = simulate(sc).summary
    assert s["requests"]["by_outcome"]["ok"] == 6999
    assert s["requests"]["by_outcome"]["throttled"] == 501
    assert s["status_counts"]["429"] == 501


def test_sustained_overload_converges_to_the_refill_rate() -> None:
    sc = mock_api("60s", {"process": "constant", "rate": 2000}, throttle={"rate": 1000, "burst": 2000})
    s = simulate(sc).summary
    times = [Fraction(k, 2000) for k in range(120_000)]
    assert s["requests"]["by_outcome"]["ok"] == sum(reference_admissions(times, Fraction(1000), Fraction(2000)))


@settings(max_examples=200, deadline=None)
@given(
    gaps_ms=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=300),
    rate=st.integers(min_value=1, max_value=50),
    burst=st.integers(min_value=0, max_value=20),
)
def test_bucket_matches_exact_arithmetic(gaps_ms: list[int], rate: int, burst: int) -> None:
    times, t = [], 0
    for g in gaps_ms:
        t += g
        times.append(Fraction(t, 1000))
    bucket = TokenBucket(rate, burst)
    got = [bucket.try_take(float(x)) for x in times]
    assert got == reference_admissions(times, Fraction(rate), Fraction(burst))
    # Never more than the burst plus what the refill could have added.
    assert sum(got) <= burst + rate * float(times[-1])
    assert bucket.tokens <= burst


def test_quota_resets_each_period_and_offsets_only_the_first() -> None:
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    q = Quota(limit=3, periods=CalendarPeriods("day", start, 3 * 86400), offset=1)
    assert [q.try_take(t) for t in (0, 1, 2, 3)] == [True, True, False, False]
    day = 86400.0
    assert [q.try_take(t) for t in (day, day + 1, day + 2, day + 3)] == [True, True, True, False]


def test_a_window_inside_the_month_finds_its_quota_partly_spent() -> None:
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    # The run begins at noon on the 2nd (month time 1.5 days); 2 of the day's 3 already used.
    q = Quota(limit=3, periods=CalendarPeriods("day", start, 4 * 86400), at=1.5 * 86400, used=2)
    assert [q.try_take(t) for t in (0, 1)] == [True, False]
    assert q.try_take(0.5 * 86400) is True  # midnight: a new day


def test_usage_plan_quota_gives_limit_exceeded_429s() -> None:
    sc = build(
        {
            "name": "quota",
            "simulation": {"basis": "window", "duration": "2d"},
            "api": {
                "usage_plans": {"tiny": {"quota": {"limit": 100, "period": "day"}}},
                "routes": [{"route": "GET /p", "integration": {"type": "mock"}}],
            },
            "clients": [
                {"name": "c", "usage_plan": "tiny", "api_keys": 3, "arrival": {"process": "constant", "rate": 0.01}}
            ],
        }
    )
    s = simulate(sc).summary
    # 864 requests a day spread over 3 keys: each key gets 100 a day, twice.
    assert s["requests"]["by_outcome"]["ok"] == 2 * 3 * 100
    assert s["requests"]["by_outcome"]["quota_exceeded"] == 2 * 864 - 600
