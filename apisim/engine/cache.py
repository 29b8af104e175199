"""TTL caches whose entries are written when the backend answers, not when it is asked.

Used for the API response cache and the Lambda authorizer's result cache. A miss at time t
whose response returns at t + d writes the entry at t + d; requests in between miss too
("concurrent misses all go to the backend"). Writes are kept on a small heap and applied in
time order when a lookup reaches their time, so the cache needs no simulation events. A stage's
cache cluster has a size: :class:`SizedTtlCache` evicts the least recently used entries.
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

    def store(self, key: int, at: float, size: int = 0) -> None:
        """Write ``key`` at time ``at`` (its TTL starts then); ``size``: its bytes (unused here)."""
        heapq.heappush(self.pending, (at, key))

    def __len__(self) -> int:
        return len(self.expires)


class SizedTtlCache(TtlCache):
    """A TTL cache of ``capacity`` bytes that evicts the least recently used entries to make room.

    Each entry takes the bytes it was written with; an entry is used when it is written and when
    it answers a hit. Expired entries keep their room until they are evicted or written again (as
    in memcached, which evicts by recency, not expiry). A separate class so that a cache whose
    size does not bind (the common case) keeps :class:`TtlCache`'s cheaper path.
    """

    __slots__ = ("capacity", "evictions", "sizes", "used")

    def __init__(self, ttl: float, capacity: int) -> None:
        super().__init__(ttl)
        self.capacity = capacity
        self.sizes: dict[int, int] = {}
        self.used = 0
        self.evictions = 0

    def lookup(self, key: int, now: float) -> bool:
        """Whether ``key`` holds a live entry at ``now``; a hit makes it the most recently used."""
        pending = self.pending
        expires = self.expires
        if pending and pending[0][0] <= now:
            while pending and pending[0][0] <= now:
                written, k, size = heapq.heappop(pending)  # type: ignore[misc]
                self._write(k, written + self.ttl, size)
        expiry = expires.get(key)
        if expiry is None or now >= expiry:
            return False
        # Python dicts keep insertion order: re-inserting moves the key to the most recent end.
        del expires[key]
        expires[key] = expiry
        return True

    def _write(self, key: int, expiry: float, size: int) -> None:
        expires, sizes = self.expires, self.sizes
        if key in expires:
            del expires[key]
            self.used -= sizes[key]
        expires[key] = expiry
        sizes[key] = size
        self.used += size
        while self.used > self.capacity and expires:
            oldest = next(iter(expires))
            del expires[oldest]
            self.used -= sizes.pop(oldest)
            self.evictions += 1

    def store(self, key: int, at: float, size: int = 0) -> None:
        """Write ``key`` of ``size`` bytes at time ``at`` (its TTL starts then)."""
        heapq.heappush(self.pending, (at, key, size))  # type: ignore[arg-type]
