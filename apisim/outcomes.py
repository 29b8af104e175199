"""The exhaustive list of ways an attempt can end, with the status the gateway answers."""

from __future__ import annotations

from enum import IntEnum


class Outcome(IntEnum):
    """Every attempt ends in exactly one of these (the summary's ``by_outcome`` keys)."""

    OK = 0
    CACHE_HIT = 1
    THROTTLED = 2  # a gateway token bucket (usage plan, method or account): 429
    QUOTA_EXCEEDED = 3  # usage-plan quota: 429 "Limit Exceeded"
    UNAUTHORIZED = 4  # bad or missing token: 401
    FORBIDDEN = 5  # authorizer denied, or missing/invalid API key: 403
    INVALID = 6  # request validation failed: 400
    BACKEND_THROTTLED = 7  # Lambda throttled the invocation: 500
    TIMEOUT = 8  # integration timeout: 504
    ERROR = 9  # function or endpoint failure: 502; authorizer failure: 500

    @property
    def key(self) -> str:
        return self.name.lower()


STATUS = {
    Outcome.OK: 200,
    Outcome.CACHE_HIT: 200,
    Outcome.THROTTLED: 429,
    Outcome.QUOTA_EXCEEDED: 429,
    Outcome.UNAUTHORIZED: 401,
    Outcome.FORBIDDEN: 403,
    Outcome.INVALID: 400,
    Outcome.BACKEND_THROTTLED: 500,
    Outcome.TIMEOUT: 504,
    Outcome.ERROR: 502,
}

NOT_BILLED = frozenset({Outcome.THROTTLED, Outcome.QUOTA_EXCEEDED, Outcome.UNAUTHORIZED, Outcome.FORBIDDEN})
"""API Gateway does not bill throttled requests, nor authentication/authorization failures
(archived AWS developer guide, api-gateway-pricing.md; see data/prices.yaml)."""
