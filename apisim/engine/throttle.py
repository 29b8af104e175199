"""Throttling: token buckets and usage-plan quotas, evaluated lazily at the request's instant.

Why lazy: a bucket's state only matters when a request asks for a token, so refilling it by
``rate × elapsed`` at that moment is exact and costs no events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apisim.months import CalendarPeriods

# Floating-point slack when comparing a refilled level with one token: refills are sums of
# products like 0.001 × 1000, which land a few ulps below the integer they mean.
EPSILON = 1e-9


class TokenBucket:
    """AWS-style throttle: capacity ``burst``, refilled at ``rate`` tokens/s, starts full, 1 token a request."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = now

    def try_take(self, now: float) -> bool:
        """Take one token at time ``now`` (non-decreasing between calls); False if none is left."""
        tokens = self.tokens + (now - self.last) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.last = now
        if tokens >= 1.0 - EPSILON:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class Quota:
    """A usage plan's request quota for one API key: ``limit`` requests per calendar period.

    ``periods`` says which period a month time falls in (:class:`apisim.months.CalendarPeriods`:
    period 0 contains the month's start, -1 is before it); the run's t = 0 is month time ``at``.
    ``offset`` requests are subtracted from the limit in period 0 only (AWS's
    ``QuotaSettings.offset``). ``used``: the key's requests already counted, before the run began,
    in the period the run begins in (a window in the middle of the month).
    """

    __slots__ = ("at", "current", "hi", "limit", "lo", "offset", "periods", "used")

    def __init__(self, limit: int, periods: CalendarPeriods, offset: int = 0, at: float = 0.0, used: int = 0) -> None:
        self.limit = limit
        self.periods = periods
        self.offset = offset
        self.at = at
        self.current, self.lo, self.hi = periods.containing(at)
        self.used = used

    def allowed(self, index: int) -> int:
        """The period's limit (less the offset in period 0)."""
        return self.limit - (self.offset if index == 0 else 0)

    def try_take(self, now: float) -> bool:
        """Count one request at run time ``now``; False once the period's quota is spent."""
        t = now + self.at
        if not self.lo <= t < self.hi:  # a new period (the common case skips the calendar search)
            self.current, self.lo, self.hi = self.periods.containing(t)
            self.used = 0
        if self.used < self.allowed(self.current):
            self.used += 1
            return True
        return False


class UsagePlan:
    """Per-API-key throttle bucket and quota, created on a key's first request."""

    __slots__ = ("at", "buckets", "burst", "periods", "quota_limit", "quota_offset", "quota_used", "quotas", "rate")

    def __init__(
        self,
        rate: float | None,
        burst: float | None,
        quota_limit: int | None = None,
        periods: CalendarPeriods | None = None,
        quota_offset: int = 0,
        at: float = 0.0,
        quota_used: int = 0,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.quota_limit = quota_limit
        self.periods = periods
        self.quota_offset = quota_offset
        self.at = at
        self.quota_used = quota_used
        self.buckets: dict[int, TokenBucket] = {}
        self.quotas: dict[int, Quota] = {}

    def bucket(self, key: int) -> TokenBucket | None:
        """The key's throttle bucket (None when the plan sets no throttle)."""
        if self.rate is None:
            return None
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = TokenBucket(self.rate, self.burst or 0.0)
        return b

    def quota(self, key: int) -> Quota | None:
        """The key's quota counter (None when the plan sets no quota)."""
        if self.quota_limit is None or self.periods is None:
            return None
        q = self.quotas.get(key)
        if q is None:
            q = self.quotas[key] = Quota(self.quota_limit, self.periods, self.quota_offset, self.at, self.quota_used)
        return q
