"""Lambda functions: execution environments (instances) with cold and warm starts.

A :class:`FunctionPool` keeps its own agenda of future completions and brings itself up to date
(:meth:`FunctionPool.advance`) whenever it is asked something. Because a synchronous Lambda
invocation never queues (it runs at once or is throttled), its end time is known when it
starts, so completions need no simulation process: the pool replays them in time order on the
next call. Idle instances wait on a stack, most recently used on top, each with the time it
will expire; an expired one is noticed when the stack reaches it, which decides exactly the
same as removing it on time would. This is exact as long as callers ask in time order, which
the run loop guarantees.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from apisim.distributions import Draw
from apisim.engine.levels import LevelLog
from apisim.engine.throttle import TokenBucket

Invocation = tuple[bool, float, float, bool, int]
"""An admitted invocation: (cold, init seconds, run seconds, failed, billed milliseconds)."""


@dataclass(slots=True)
class FunctionStats:
    """Counts for invocations that started after warm-up."""

    invocations: int = 0
    cold_starts: int = 0
    throttles: int = 0
    throttles_scaling: int = 0  # of which: no new instance allowed yet by the scaling rate
    throttles_rate: int = 0  # of which: over an invoke rate limit (the function's or the account's)
    errors: int = 0
    billed_ms_on_demand: int = 0
    billed_ms_provisioned: int = 0
    provisioned_invocations: int = 0
    peak_busy: int = 0


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
        duration: Draw,
        cold_start: Draw,
        idle_expiry: Draw,
        failures: Draw,
        error_fraction: float,
        timeout: float,
        reserved: int | None,
        provisioned: int,
        scaling: TokenBucket,
        account: AccountPool | None,
        init_billed: bool,
        busy: LevelLog,
        live: LevelLog,
        init_limit: float = math.inf,
        invoke_rate: TokenBucket | None = None,
        account_rate: TokenBucket | None = None,
        provisioned_rate: TokenBucket | None = None,
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
        self._init_limit = init_limit
        self._invoke_rate = invoke_rate  # 10 × reserved concurrency; None without a reservation
        self._account_rate = account_rate  # 10 × the account's concurrency, shared by every function
        self._provisioned_rate = provisioned_rate  # 10 × provisioned concurrency; past it, on-demand
        self.busy_log = busy
        self.live_log = live
        self.stats = FunctionStats()
        self.busy = 0
        self._idle: list[float] = []  # expiry times of idle on-demand instances, most recently used last
        self._completions: list[float] = []  # end times of busy on-demand instances (a heap)
        self._provisioned_idle = provisioned
        self._provisioned_completions: list[float] = []
        if account is not None:
            account.members.append(self)
        live.start_at(provisioned)  # provisioned environments are live from the start

    def advance(self, now: float) -> None:
        """Replay the completions due by ``now``: their instances go idle, newest on top."""
        done = 0
        completions = self._completions
        if completions and completions[0] <= now:
            idle = self._idle
            expiry = self._idle_expiry
            while completions and completions[0] <= now:
                t = heapq.heappop(completions)
                idle.append(t + expiry())
                done += 1
        if done and self._account is not None:
            self._account.busy -= done  # on-demand instances only: provisioned ones are not the pool's
        provisioned = self._provisioned_completions
        while provisioned and provisioned[0] <= now:
            heapq.heappop(provisioned)
            self._provisioned_idle += 1
            done += 1
        if done:
            self.busy -= done

    def invoke(self, now: float, counted: bool) -> Invocation | None:
        """Start an invocation at ``now``; None if it is throttled.

        Caps apply in AWS's order: the invoke rate limits, the function's (10 × its reserved
        concurrency) then the account's (10 × the account's concurrency, every function's requests;
        a request refused later still spent its tokens), reserved concurrency, then the account's
        unreserved pool (which an unreserved function's idle provisioned environment does not need:
        it was taken out of the pool when it was configured), then (only for a new instance) the
        per-function scaling rate. An idle provisioned environment serves the request only while the
        provisioned rate (10 × provisioned concurrency) allows; past it the request spills over to
        on-demand concurrency, as AWS documents. ``counted``: whether the attempt that caused it
        arrived after warm-up (one warm-up rule for every count).
        """
        completions = self._completions
        provisioned_completions = self._provisioned_completions
        if (completions and completions[0] <= now) or (provisioned_completions and provisioned_completions[0] <= now):
            self.advance(now)
        stats = self.stats
        account = self._account
        invoke_rate = self._invoke_rate
        account_rate = self._account_rate
        if (invoke_rate is not None and not invoke_rate.try_take(now)) or (
            account_rate is not None and not account_rate.try_take(now)
        ):
            if counted:
                stats.throttles += 1
                stats.throttles_rate += 1
            return None
        # The provisioned rate's token is asked for only when an environment is idle: it limits the
        # requests provisioned environments serve, not the function's.
        provisioned_rate = self._provisioned_rate
        provisioned = self._provisioned_idle > 0 and (provisioned_rate is None or provisioned_rate.try_take(now))
        if self.reserved is not None:
            # Provisioned concurrency counts towards the reservation: on-demand instances get the rest
            # (none when the two are equal: AWS runs every invocation on provisioned concurrency).
            admitted = provisioned or (
                self.busy - self.provisioned + self._provisioned_idle < self.reserved - self.provisioned
            )
        elif provisioned:
            admitted = True  # a provisioned environment is the function's own, outside the shared pool
        else:
            admitted = account is None or account.busy < account.limit or account.has_room(now)
        if not admitted:
            if counted:
                stats.throttles += 1
                if self._provisioned_idle:
                    stats.throttles_rate += 1  # an idle provisioned environment was there, past its rate
            return None
        cold = False
        if provisioned:
            self._provisioned_idle -= 1
        else:
            idle = self._idle
            while idle:
                expires = idle.pop()
                if expires > now:
                    break
                self.live_log.downs.append(expires)  # it had expired while idle
            else:
                if not self._scaling.try_take(now):
                    if counted:
                        stats.throttles += 1
                        stats.throttles_scaling += 1
                    return None
                cold = True
                self.live_log.ups.append(now)

        init = self._cold_start() if cold else 0.0
        run = self._duration()
        if init > self._init_limit:
            # AWS abandons an Init phase at its limit and runs the init again inside the invocation,
            # where it counts against the function's timeout (and is billed as the invocation's).
            run += init
            init = self._init_limit
        failed = False
        if run > self._timeout:
            run = self._timeout
            failed = True
        elif self._error_fraction and self._failures() < self._error_fraction:
            failed = True
        billed_s = run + init if cold and self._init_billed else run
        billed_ms = math.ceil(billed_s * 1000.0 - 1e-9) or 1
        end = now + init + run
        heapq.heappush(provisioned_completions if provisioned else completions, end)
        busy = self.busy = self.busy + 1
        if account is not None and not provisioned:
            account.busy += 1
        log = self.busy_log
        log.ups.append(now)
        log.downs.append(end)
        # Busy only rises here, and completions up to now were advanced first: the count is exact.
        bucket = int(now * log.inv_width)
        peaks = log.peaks
        if bucket < len(peaks) and busy > peaks[bucket]:
            peaks[bucket] = busy
        if counted:
            stats.invocations += 1
            if busy > stats.peak_busy:
                stats.peak_busy = busy
            if cold:
                stats.cold_starts += 1
            if failed:
                stats.errors += 1
            if provisioned:
                stats.provisioned_invocations += 1
                stats.billed_ms_provisioned += billed_ms
            else:
                stats.billed_ms_on_demand += billed_ms
        return cold, init, run, failed, billed_ms

    def fold(self) -> None:
        """Fold logged level changes into the integrals (bounds memory; call now and then)."""
        self.busy_log.fold()
        self.live_log.fold()

    def finish(self, end: float) -> None:
        """Close the books at ``end``: idle instances that expired by then are counted as gone."""
        self.advance(end)
        self.live_log.downs.extend(t for t in self._idle if t <= end)
        self._idle = [t for t in self._idle if t > end]
        self.fold()
