"""Usage-plan quotas over the calendar month, by arithmetic: how much each key may send, and when it runs out.

A key's quota counts its requests per calendar period (:mod:`apisim.months`); once the period's
allowance is spent, its requests are refused (429 "Limit Exceeded") until the next period, and
AWS does not bill them. Over a month, the number a key sends in a period is a count with mean
μ (its share of its client's expected requests in the period); it admits ``min(N, allowed)``,
whose mean for a Poisson count is

    E[min(N, L)] = μ · P(N ≤ L − 2) + L · P(N ≥ L)

(the identity E[N · 1{N ≤ L − 1}] = μ · P(N ≤ L − 2)). A key offered far more than its allowance
admits exactly ``L``; one offered far less admits its whole count. This is the ground truth the
month's quota figures are set to; the simulated windows supply only the fraction of a client's
requests that reach the quota step (those not refused earlier for a bad key, a bad token or a
throttle).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from apisim.engine.build import arrival_process, quota_share
from apisim.engine.clients import ArrivalProcess, Poisson, ProfiledPoisson
from apisim.months import CalendarPeriods
from apisim.scenario import Scenario


def expected_admitted(mu: float, limit: float, trials: int | None = None) -> float:
    """E[min(N, limit)] for N ~ Poisson(mu), or N ~ Binomial(trials, mu / trials) when the client's
    count is fixed (constant arrivals, bursts, a trace) and only its split among keys is random."""
    if mu <= 0 or limit <= 0:
        return 0.0
    if trials is not None:
        from scipy.stats import binom

        p = min(1.0, mu / trials) if trials else 0.0
        if p >= 1.0:
            return float(min(trials, limit))
        # E[N · 1{N ≤ L − 1}] = n p · P(Binomial(n − 1, p) ≤ L − 2)
        return float(trials * p * binom.cdf(limit - 2, trials - 1, p) + limit * binom.sf(limit - 1, trials, p))
    from scipy.stats import poisson

    return float(mu * poisson.cdf(limit - 2, mu) + limit * poisson.sf(limit - 1, mu))


def _time_to_reach(process: ArrivalProcess, begin: float, end: float, need: float, keys: int) -> float | None:
    """When a key's expected count since ``begin`` reaches ``need`` (None: not before ``end``)."""
    if process.mean_between(begin, end) / keys < need:
        return None
    lo, hi = begin, end
    for _ in range(60):  # bisection to well under a millisecond over a month
        mid = (lo + hi) / 2
        if process.mean_between(begin, mid) / keys >= need:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class Period:
    """One quota period of one client's keys within the month."""

    begin: float
    end: float
    allowed: int  # per key (the limit, less the offset in the initial period)
    offered: float  # expected requests per key reaching the quota step
    admitted: float  # expected requests per key admitted: E[min(N, allowed)]
    spent_at: float | None  # when a key's expected count reaches its allowance (None: never)


@dataclass(frozen=True)
class ClientQuota:
    """One client's keys under its usage plan's quota, over the month."""

    client: int
    name: str
    plan: str
    keys: int
    limit: int
    period: str
    offset: int
    periods: list[Period]

    @property
    def offered(self) -> float:
        return self.keys * sum(p.offered for p in self.periods)

    @property
    def admitted(self) -> float:
        return self.keys * sum(p.admitted for p in self.periods)

    def exhausted(self, t: float) -> bool:
        """Whether the keys' quota is spent (by expected counts) at month time ``t``."""
        for p in self.periods:
            if p.begin <= t < p.end:
                return p.spent_at is not None and t >= p.spent_at
        return False

    def changes(self, t0: float, t1: float) -> bool:
        """Whether the quota's state changes in (t0, t1): a period begins or the quota runs out."""
        for p in self.periods:
            if t0 < p.begin < t1 and p.begin > 0:
                return True
            if p.spent_at is not None and t0 < p.spent_at < t1:
                return True
        return False


def month_quotas(
    sc: Scenario, start: dt.datetime, seconds: float, reach: dict[int, float] | None = None
) -> list[ClientQuota]:
    """Every client's quota over the month [0, seconds) from ``start``.

    ``reach``: per client index, the fraction of its requests that reach the quota step
    (default: :func:`apisim.engine.build.quota_share`, those not refused for a bad key or token).
    """
    out = []
    for i, c in enumerate(sc.clients):
        if c.usage_plan is None:
            continue
        api = sc.client_api(c)[1]
        q = api.usage_plans[c.usage_plan].quota
        if q is None:
            continue
        process = arrival_process(sc, i)
        share = (reach or {}).get(i, quota_share(sc, i))
        random_count = isinstance(process, (Poisson, ProfiledPoisson))
        periods = []
        for index, (begin, end) in enumerate(CalendarPeriods(q.period, start, seconds).bounds(seconds)):
            allowed = max(0, q.limit - (q.offset if index == 0 else 0))
            total = process.mean_between(begin, end) * share
            mu = total / c.api_keys
            trials = None if random_count else round(total)
            spent = _time_to_reach(process, begin, end, allowed / share if share > 0 else float("inf"), c.api_keys)
            periods.append(Period(begin, end, allowed, mu, expected_admitted(mu, allowed, trials), spent))
        out.append(ClientQuota(i, c.name, c.usage_plan, c.api_keys, q.limit, q.period, q.offset, periods))
    return out
