"""Lambda functions: execution environments (instances) with cold and warm starts.

A :class:`FunctionPool` keeps its own agenda of future completions and idle expiries and
brings itself up to date (:meth:`FunctionPool.advance`) whenever it is asked something. Because
a synchronous Lambda invocation never queues (it runs at once or is throttled), its end time
is known when it starts, so completions need no simulation process: the pool replays them
in time order on the next call. This is exact as long as callers ask in time order, which the
run loop guarantees.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from apisim.distributions import Draws, Uniforms
from apisim.engine.meter import LevelMeter
from apisim.engine.throttle import TokenBucket

INF = math.inf


@dataclass(slots=True)
class FunctionStats:
    """Counts for invocations that started after warm-up."""

    invocations: int = 0
    cold_starts: int = 0
    throttles: int = 0
    errors: int = 0
    billed_ms_on_demand: int = 0
    billed_ms_provisioned: int = 0
    provisioned_invocations: int = 0


class Invocation:
    """What happened to one admitted invocation (times in seconds)."""

    __slots__ = ("billed_ms", "cold", "failed", "init", "provisioned", "run")

    def __init__(self, cold: bool, init: float, run: float, failed: bool, provisioned: bool, billed_ms: int) -> None:
        self.cold = cold
        self.init = init
        self.run = run
        self.failed = failed
        self.provisioned = provisioned
        self.billed_ms = billed_ms


class AccountPool:
    """The account's unreserved concurrency, shared by every function without a reservation."""

    __slots__ = ("busy", "limit", "members")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0
        self.members: list[FunctionPool] = []

    def has_room(self, now: float) -> bool:
        """Whether one more execution fits at ``now``.

        The shared count can be stale (members replay their completions lazily), but only ever
        too high, so it is brought up to date only when it says "full".
        """
        if self.busy < self.limit:
            return True
        for pool in self.members:
            pool.advance(now)
        return self.busy < self.limit


class FunctionPool:
    """One function's instances: busy ones, idle warm ones (newest first) and provisioned ones."""

    def __init__(
        self,
        name: str,
        *,
        memory_mb: int,
        duration: Draws,
        cold_start: Draws,
        idle_expiry: Draws,
        failures: Uniforms,
        error_fraction: float,
        timeout: float,
        reserved: int | None,
        provisioned: int,
        scaling: TokenBucket,
        account: AccountPool | None,
        init_billed: bool,
        warmup: float,
        busy_meter: LevelMeter,
        live_meter: LevelMeter,
    ) -> None:
        self.name = name
        self.memory_mb = memory_mb
        self._duration = duration
        self._cold_start = cold_start
        self._idle_expiry = idle_expiry
        self._failures = failures
        self._error_fraction = error_fraction
        self._timeout = timeout
        self.reserved = reserved
        self.provisioned = provisioned
        self._scaling = scaling
        self._account = account
        self._init_billed = init_billed
        self._warmup = warmup
        self.busy_meter = busy_meter
        self.live_meter = live_meter
        self.stats = FunctionStats()
        self.busy = 0
        self.live = provisioned
        self._next_id = provisioned
        # Instance ids below `provisioned` are provisioned: always warm, never expire.
        self._idle_provisioned = list(range(provisioned))
        self._idle: list[int] = []  # on-demand idle instances, most recently used last
        self._idle_until: dict[int, float] = {}  # idle on-demand instance → its expiry time
        self._completions: list[tuple[float, int]] = []
        self._expiries: list[tuple[float, int]] = []
        if account is not None:
            account.members.append(self)
        live_meter.set(0.0, provisioned)

    def advance(self, now: float) -> None:
        """Replay completions and expiries up to and including ``now``, in time order."""
        completions = self._completions
        expiries = self._expiries
        while True:
            tc = completions[0][0] if completions else INF
            te = expiries[0][0] if expiries else INF
            if tc <= te:
                if tc > now:
                    return
                t, iid = heapq.heappop(completions)
                self.busy -= 1
                self.busy_meter.set(t, self.busy)
                if self._account is not None:
                    self._account.busy -= 1
                if iid < self.provisioned:
                    self._idle_provisioned.append(iid)
                else:
                    until = t + self._idle_expiry()
                    self._idle.append(iid)
                    self._idle_until[iid] = until
                    heapq.heappush(expiries, (until, iid))
            else:
                if te > now:
                    return
                t, iid = heapq.heappop(expiries)
                if self._idle_until.get(iid) == t:
                    del self._idle_until[iid]
                    self.live -= 1
                    self.live_meter.set(t, self.live)

    def invoke(self, now: float) -> Invocation | None:
        """Start an invocation at ``now``; None if it is throttled.

        Caps apply in AWS's order: reserved concurrency, then the account's unreserved pool,
        then (only for a new instance) the per-function scaling rate.
        """
        self.advance(now)
        counted = now >= self._warmup
        if self.reserved is not None:
            admitted = self.busy < self.reserved
        else:
            admitted = self._account is None or self._account.has_room(now)
        provisioned = False
        cold = False
        if admitted:
            if self._idle_provisioned:
                iid = self._idle_provisioned.pop()
                provisioned = True
            else:
                iid = -1
                idle = self._idle
                idle_until = self._idle_until
                while idle:
                    candidate = idle.pop()
                    if candidate in idle_until:  # still warm (expired ones were replayed away)
                        del idle_until[candidate]
                        iid = candidate
                        break
                if iid < 0:
                    if self._scaling.try_take(now):
                        cold = True
                        iid = self._next_id
                        self._next_id += 1
                        self.live += 1
                        self.live_meter.set(now, self.live)
                    else:
                        admitted = False
        if not admitted:
            if counted:
                self.stats.throttles += 1
            return None

        init = self._cold_start() if cold else 0.0
        run = self._duration()
        failed = False
        if run > self._timeout:
            run = self._timeout
            failed = True
        elif self._error_fraction and self._failures() < self._error_fraction:
            failed = True
        billed_s = run + (init if cold and self._init_billed else 0.0)
        billed_ms = max(1, math.ceil(billed_s * 1000.0 - 1e-9))
        self.busy += 1
        self.busy_meter.set(now, self.busy)
        if self._account is not None:
            self._account.busy += 1
        heapq.heappush(self._completions, (now + init + run, iid))
        if counted:
            stats = self.stats
            stats.invocations += 1
            if cold:
                stats.cold_starts += 1
            if failed:
                stats.errors += 1
            if provisioned:
                stats.provisioned_invocations += 1
                stats.billed_ms_provisioned += billed_ms
            else:
                stats.billed_ms_on_demand += billed_ms
        return Invocation(cold, init, run, failed, provisioned, billed_ms)

    def finish(self, end: float) -> None:
        """Replay everything due by ``end`` and close the meters."""
        self.advance(end)
        self.busy_meter.close()
        self.live_meter.close()
