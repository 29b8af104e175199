"""Throttling: token buckets and usage-plan quotas, evaluated lazily at the request's instant.

Why lazy: a bucket's state only matters when a request asks for a token, so refilling it by
``rate × elapsed`` at that moment is exact and costs no events.
"""

from __future__ import annotations

import math

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
    """A usage plan's request quota for one API key: ``limit`` requests per period.

    Periods are aligned to the start of the simulation; ``offset`` requests are subtracted from
    the limit in the first period only (AWS's ``QuotaSettings.offset``).
    """

    __slots__ = ("current", "limit", "offset", "period", "used")

    def __init__(self, limit: int, period_s: float, offset: int = 0) -> None:
        self.limit = limit
        self.period = period_s
        self.offset = offset
        self.used = 0
        self.current = 0

    def try_take(self, now: float) -> bool:
        """Count one request at ``now``; False once the period's quota is spent."""
        index = math.floor(now / self.period)
        if index != self.current:
            self.current = index
            self.used = 0
        allowed = self.limit - (self.offset if index == 0 else 0)
        if self.used < allowed:
            self.used += 1
            return True
        return False


class UsagePlan:
    """Per-API-key throttle bucket and quota, created on a key's first request."""

    __slots__ = ("buckets", "burst", "quota_limit", "quota_offset", "quota_period", "quotas", "rate")

    def __init__(
        self,
        rate: float | None,
        burst: float | None,
        quota_limit: int | None = None,
        quota_period_s: float = 86400.0,
        quota_offset: int = 0,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.quota_limit = quota_limit
        self.quota_period = quota_period_s
        self.quota_offset = quota_offset
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
        if self.quota_limit is None:
            return None
        q = self.quotas.get(key)
        if q is None:
            q = self.quotas[key] = Quota(self.quota_limit, self.quota_period, self.quota_offset)
        return q
