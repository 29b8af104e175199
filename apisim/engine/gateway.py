"""The API Gateway request pipeline, stage by stage, in the order AWS documents.

For one attempt: API key → authorizer → throttles (usage plan, method, account) → quota →
request validation → response cache → integration → response. The first stage that answers
ends the attempt. Stages that only add latency are arithmetic (the gateway's own overhead is
added on the response path); stages that share state (buckets, caches, function pools) are
asked at the instant the request reaches them. Only a Lambda authorizer call that misses its
cache moves a request forward in time, so only that (and client retries) becomes a SimPy event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import simpy

from apisim.distributions import Draw
from apisim.engine.cache import TtlCache
from apisim.engine.clients import Population
from apisim.engine.functions import FunctionPool
from apisim.engine.records import AttemptLog
from apisim.engine.tally import Tally
from apisim.engine.throttle import TokenBucket
from apisim.outcomes import Outcome

OK = int(Outcome.OK)
CACHE_HIT = int(Outcome.CACHE_HIT)
THROTTLED = int(Outcome.THROTTLED)
QUOTA_EXCEEDED = int(Outcome.QUOTA_EXCEEDED)
UNAUTHORIZED = int(Outcome.UNAUTHORIZED)
FORBIDDEN = int(Outcome.FORBIDDEN)
INVALID = int(Outcome.INVALID)
BACKEND_THROTTLED = int(Outcome.BACKEND_THROTTLED)
TIMEOUT = int(Outcome.TIMEOUT)
ERROR = int(Outcome.ERROR)

# Integration kinds
LAMBDA, HTTP, MOCK = 0, 1, 2


@dataclass(slots=True)
class RouteStage:
    """A route's own settings at runtime."""

    index: int
    name: str
    bucket: TokenBucket | None
    cached: bool
    invalid_fraction: float
    kind: int
    pool: FunctionPool | None
    function: int  # index of the integration's function, -1 if none
    latency: Draw | None
    error_fraction: float
    failures: Draw | None
    timeout: float


@dataclass(slots=True)
class AuthStage:
    """The authorizer at runtime. ``kind``: none, lambda or simple (cognito/iam/jwt: latency only)."""

    kind: str
    pool: FunctionPool | None = None
    cache: TtlCache | None = None
    deny_below: int = 0  # tokens 0..deny_below-1 get a Deny policy
    latency: Draw | None = None
    unauthorized: int = UNAUTHORIZED  # IAM answers a missing signature with 403


class Request:
    """One client request; its attempts share everything but the attempt number."""

    __slots__ = ("api_key", "attempt", "cache_key", "client", "first", "id", "route", "token", "validation")

    def __init__(
        self,
        rid: int,
        client: Population,
        route: int,
        api_key: int,
        token: int,
        cache_key: int,
        validation: float,
        first: float,
    ) -> None:
        self.id = rid
        self.first = first  # when the first attempt was sent
        self.client = client
        self.route = route
        self.api_key = api_key
        self.token = token
        self.cache_key = cache_key
        self.validation = validation
        self.attempt = 1


@dataclass(slots=True)
class GatewayCounters:
    """Counts after warm-up that records alone cannot give."""

    cache_hits: int = 0
    cache_misses: int = 0
    auth_lookups: int = 0
    auth_hits: int = 0


class Gateway:
    """Runs attempts through the pipeline and records how each ended."""

    def __init__(
        self,
        env: simpy.Environment,
        tally: Tally,
        log: AttemptLog | None,
        *,
        overhead: Draw,
        routes: list[RouteStage],
        auth: AuthStage,
        account_bucket: TokenBucket,
        cache: TtlCache | None,
        cache_hit_latency: Draw | None,
        key_space: int,
        warmup: float,
        end: float,
    ) -> None:
        self.env = env
        self.tally = tally
        self._record = log.record if log is not None else None
        # Bound appends: the per-attempt path is the hottest code in apisim.
        self._t = tally.t.append
        self._latency = tally.latency.append
        self._outcome = tally.outcome.append
        self._status = tally.status.append
        self._client = tally.client.append
        self._track_requests = tally.retries
        self.pending = 0  # SimPy events scheduled and not yet processed
        self._overhead = overhead
        self.routes = routes
        self.auth = auth
        self._account = account_bucket
        self.cache = cache
        self._hit_latency = cache_hit_latency
        self._key_space = key_space
        self.warmup = warmup
        self.end = end
        self.counters = GatewayCounters()

    # -- scheduling ------------------------------------------------------------------------

    def _at(self, t: float, callback: Any, payload: Any) -> None:
        event = self.env.timeout(max(0.0, t - self.env.now), payload)
        event.callbacks.append(callback)
        self.pending += 1

    # -- the pipeline ----------------------------------------------------------------------

    def attempt(self, now: float, req: Request) -> None:
        """Send attempt ``req.attempt`` of ``req`` at time ``now``."""
        overhead = self._overhead()
        client = req.client
        if client.plan is not None and req.api_key < 0:
            self._finish(now, req, FORBIDDEN, 403, overhead, 0.0, 0.0, -1)
            return
        auth = self.auth
        kind = auth.kind
        if kind == "none":
            self._admit(now, req, now, overhead, 0.0, -1)
        elif kind == "lambda":
            self._authorize(now, req, overhead)
        else:
            delay = auth.latency()  # type: ignore[misc]
            if req.token < 0:
                self._finish(
                    now,
                    req,
                    auth.unauthorized,
                    401 if auth.unauthorized == UNAUTHORIZED else 403,
                    overhead,
                    delay,
                    0.0,
                    -1,
                )
            else:
                self._admit(now, req, now, overhead, delay, -1)

    def _authorize(self, now: float, req: Request, overhead: float) -> None:
        auth = self.auth
        token = req.token
        counted = now >= self.warmup
        cache = auth.cache
        if counted:
            self.counters.auth_lookups += 1
        if token >= 0 and cache is not None and cache.lookup(token, now):
            if counted:
                self.counters.auth_hits += 1
            if token < auth.deny_below:
                self._finish(now, req, FORBIDDEN, 403, overhead, 0.0, 0.0, 1)
            else:
                self._admit(now, req, now, overhead, 0.0, 1)
            return
        inv = auth.pool.invoke(now, counted)  # type: ignore[union-attr]
        if inv is None:
            # API Gateway answers 500 when it cannot run the authorizer.
            self._finish(now, req, BACKEND_THROTTLED, 500, overhead, 0.0, 0.0, 0)
            return
        _, init, run, failed, _ = inv
        took = init + run
        if failed:
            self._finish(now, req, ERROR, 500, overhead, took, 0.0, 0)
            return
        if token < 0:
            self._finish(now, req, UNAUTHORIZED, 401, overhead, took, 0.0, 0)
            return
        if cache is not None:
            cache.store(token, now + took)
        if token < auth.deny_below:
            self._finish(now, req, FORBIDDEN, 403, overhead, took, 0.0, 0)
            return
        self._at(now + took, self._resume, (now + took, req, now, overhead, took))

    def _resume(self, event: simpy.Event) -> None:
        self.pending -= 1
        at, req, t0, overhead, took = event.value
        self._admit(at, req, t0, overhead, took, 0)

    def _admit(self, now: float, req: Request, t0: float, overhead: float, auth_s: float, auth_hit: int) -> None:
        """Throttles, quota, validation, cache and integration, all at instant ``now``."""
        route = self.routes[req.route]
        plan = req.client.plan
        if plan is not None:
            bucket = plan.bucket(req.api_key)
            if bucket is not None and not bucket.try_take(now):
                self._finish(t0, req, THROTTLED, 429, overhead, auth_s, 0.0, auth_hit)
                return
        if route.bucket is not None and not route.bucket.try_take(now):
            self._finish(t0, req, THROTTLED, 429, overhead, auth_s, 0.0, auth_hit)
            return
        if not self._account.try_take(now):
            self._finish(t0, req, THROTTLED, 429, overhead, auth_s, 0.0, auth_hit)
            return
        if plan is not None:
            quota = plan.quota(req.api_key)
            if quota is not None and not quota.try_take(now):
                self._finish(t0, req, QUOTA_EXCEEDED, 429, overhead, auth_s, 0.0, auth_hit)
                return
        if route.invalid_fraction and req.validation < route.invalid_fraction:
            self._finish(t0, req, INVALID, 400, overhead, auth_s, 0.0, auth_hit)
            return
        cache_key = -1
        if route.cached:
            cache_key = route.index * self._key_space + req.cache_key
            counted = t0 >= self.warmup  # counts follow the attempt's arrival, as every count does
            if self.cache.lookup(cache_key, now):  # type: ignore[union-attr]
                if counted:
                    self.counters.cache_hits += 1
                self._finish(t0, req, CACHE_HIT, 200, overhead, auth_s, self._hit_latency(), auth_hit)  # type: ignore[misc]
                return
            if counted:
                self.counters.cache_misses += 1
        self._integrate(now, req, route, t0, overhead, auth_s, auth_hit, cache_key)

    def _integrate(
        self,
        now: float,
        req: Request,
        route: RouteStage,
        t0: float,
        overhead: float,
        auth_s: float,
        auth_hit: int,
        cache_key: int,
    ) -> None:
        timeout = route.timeout
        if route.kind == LAMBDA:
            inv = route.pool.invoke(now, t0 >= self.warmup)  # type: ignore[union-attr]
            if inv is None:
                self._finish(t0, req, BACKEND_THROTTLED, 500, overhead, auth_s, 0.0, auth_hit, route.function, -1)
                return
            was_cold, init, run, failed, billed_ms = inv
            took = init + run
            fn = route.function
            cold = 1 if was_cold else 0
            if took > timeout:
                self._finish(t0, req, TIMEOUT, 504, overhead, auth_s, timeout, auth_hit, fn, cold, init, billed_ms)
            elif failed:
                self._finish(t0, req, ERROR, 502, overhead, auth_s, took, auth_hit, fn, cold, init, billed_ms)
            else:
                if cache_key >= 0:
                    self.cache.store(cache_key, now + took)  # type: ignore[union-attr]
                self._finish(t0, req, OK, 200, overhead, auth_s, took, auth_hit, fn, cold, init, billed_ms)
            return
        took = route.latency()  # type: ignore[misc]
        if took > timeout:
            self._finish(t0, req, TIMEOUT, 504, overhead, auth_s, timeout, auth_hit)
        elif route.error_fraction and route.failures() < route.error_fraction:  # type: ignore[misc]
            self._finish(t0, req, ERROR, 502, overhead, auth_s, took, auth_hit)
        else:
            if cache_key >= 0:
                self.cache.store(cache_key, now + took)  # type: ignore[union-attr]
            self._finish(t0, req, OK, 200, overhead, auth_s, took, auth_hit)

    def _finish(
        self,
        t0: float,
        req: Request,
        outcome: int,
        status: int,
        overhead: float,
        auth_s: float,
        integration_s: float,
        auth_hit: int,
        function: int = -1,
        cold: int = -1,
        init: float = 0.0,
        billed_ms: int = 0,
    ) -> None:
        latency = overhead + auth_s + integration_s
        client = req.client
        self._t(t0)
        self._latency(latency)
        self._outcome(outcome)
        self._status(status)
        self._client(client.index)
        if self._record is not None:
            self._record(
                req.id, req.attempt, client.index, req.route, t0, latency, outcome, status,
                overhead, auth_s, integration_s, auth_hit, function, cold, init, billed_ms,
            )  # fmt: skip
        retry = client.retry
        if retry is not None and status in retry.statuses and req.attempt < retry.max_attempts:
            again = t0 + latency + retry.delay(req.attempt)
            if again < self.end:
                req.attempt += 1
                self._at(again, self._retry, (again, req))
                return
        if self._track_requests:  # the request is over: its last attempt has been answered
            tally = self.tally
            tally.first.append(req.first)
            tally.waited.append(t0 + latency - req.first)
            tally.final.append(outcome)
            tally.attempts.append(req.attempt)

    def _retry(self, event: simpy.Event) -> None:
        self.pending -= 1
        at, req = event.value
        self.attempt(at, req)
