"""A TTL cache whose entries are written when the backend answers, not when it is asked.

Used for the API response cache and the Lambda authorizer's result cache. A miss at time t
whose response returns at t + d writes the entry at t + d; requests in between miss too
("concurrent misses all go to the backend"). Writes are kept on a small heap and applied in
time order when a lookup reaches their time, so the cache needs no simulation events.
"""

from __future__ import annotations

import heapq


class TtlCache:
    """Entries live for ``ttl`` seconds after being written; a lookup at exactly expiry misses."""

    __slots__ = ("expires", "pending", "ttl")

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.expires: dict[int, float] = {}
        self.pending: list[tuple[float, int]] = []

    def lookup(self, key: int, now: float) -> bool:
        """Whether ``key`` holds a live entry at ``now`` (non-decreasing between calls)."""
        pending = self.pending
        if pending and pending[0][0] <= now:
            expires = self.expires
            ttl = self.ttl
            while pending and pending[0][0] <= now:
                written, k = heapq.heappop(pending)
                expires[k] = written + ttl
        expiry = self.expires.get(key)
        return expiry is not None and now < expiry

    def store(self, key: int, at: float) -> None:
        """Write ``key`` at time ``at`` (its TTL starts then)."""
        heapq.heappush(self.pending, (at, key))

    def __len__(self) -> int:
        return len(self.expires)
