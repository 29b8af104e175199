"""The API Gateway door: one REST or HTTP API and its stages, its request pipeline stage by stage,
in the order AWS documents.

For one attempt: API key → authorizer → throttles (usage plan, method, account) → quota →
request validation → response cache → integration → response. The first step that answers ends
the attempt. Steps that only add latency are arithmetic (the gateway's own overhead is added on
the response path); steps that share state (buckets, caches, function pools) are asked at the
instant the request reaches them. Only a Lambda authorizer call that misses its cache moves a
request forward in time, so only that waits on the ledger's agenda.

A stage is one deployment of the API's routes: its own method buckets and its own cache
cluster. Every stage of every API shares the account's bucket and the Lambda pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apisim.distributions import Draw
from apisim.engine.account import Account
from apisim.engine.cache import TtlCache
from apisim.engine.door import Door, Request, UsageLine, bytes_out
from apisim.engine.functions import FunctionPool
from apisim.engine.ledger import Ledger
from apisim.engine.tally import Tally
from apisim.engine.throttle import TokenBucket
from apisim.outcomes import NOT_BILLED, Outcome

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
class RouteStep:
    """A route on one stage: its integration and validation (the same on every stage), and the
    stage's own method bucket and cache setting for it (each stage has its own copy)."""

    index: int
    name: str
    bucket: TokenBucket | None  # the route's, or the stage's default method throttle
    cached: bool  # responses go through the stage's cache
    invalid_fraction: float
    kind: int
    pool: FunctionPool | None
    function: int  # index of the integration's function, -1 if none
    latency: Draw | None
    error_fraction: float
    failures: Draw | None
    timeout: float


@dataclass(slots=True)
class StageState:
    """One stage at runtime: its routes (with their buckets) and its cache."""

    name: str
    index: int  # the stage's index in the run (the tally's stage)
    routes: list[RouteStep]
    cache: TtlCache | None = None
    cache_size_gb: float | None = None
    hit_latency: Draw | None = None


@dataclass(slots=True)
class AuthStep:
    """The authorizer at runtime. ``kind``: none, lambda or simple (cognito/iam/jwt: latency only)."""

    kind: str
    pool: FunctionPool | None = None
    cache: TtlCache | None = None
    deny_below: int = 0  # tokens 0..deny_below-1 get a Deny policy
    latency: Draw | None = None
    unauthorized: int = UNAUTHORIZED  # IAM answers a missing signature with 403


@dataclass
class Caller:
    """What the bill needs about a client of this door: its stage and payload sizes."""

    client: int
    stage: int  # index into the door's stages
    request_bytes: int
    response_bytes: int
    error_response_bytes: int = 0


@dataclass
class ApiGateway(Door):
    """One API Gateway API (REST or HTTP) with its stages."""

    name: str
    kind: str  # rest | http
    ledger: Ledger
    account: Account
    overhead: Draw
    auth: AuthStep
    stage_states: list[StageState]
    key_space: int
    callers: list[Caller] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stages = [s.name for s in self.stage_states]
        self._answer = self.ledger.answer
        self._account_bucket = self.account.api_bucket
        self._warmup = self.ledger.warmup

    # -- the pipeline ----------------------------------------------------------------------

    def attempt(self, now: float, req: Request) -> None:
        """Send attempt ``req.attempt`` of ``req`` at time ``now``."""
        overhead = self.overhead()
        client = req.client
        if client.plan is not None and req.api_key < 0:
            self._answer(now, req, FORBIDDEN, 403, overhead, 0.0, 0.0)
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
                status = 401 if auth.unauthorized == UNAUTHORIZED else 403
                self._answer(now, req, auth.unauthorized, status, overhead, delay, 0.0)
            else:
                self._admit(now, req, now, overhead, delay, -1)

    def _authorize(self, now: float, req: Request, overhead: float) -> None:
        auth = self.auth
        token = req.token
        cache = auth.cache
        if token >= 0 and cache is not None and cache.lookup(token, now):
            if token < auth.deny_below:
                self._answer(now, req, FORBIDDEN, 403, overhead, 0.0, 0.0, 1)
            else:
                self._admit(now, req, now, overhead, 0.0, 1)
            return
        inv = auth.pool.invoke(now, now >= self._warmup)  # type: ignore[union-attr]
        if inv is None:
            # API Gateway answers 500 when it cannot run the authorizer.
            self._answer(now, req, BACKEND_THROTTLED, 500, overhead, 0.0, 0.0, 0)
            return
        _, init, run, failed, _ = inv
        took = init + run
        if failed:
            self._answer(now, req, ERROR, 500, overhead, took, 0.0, 0)
            return
        if token < 0:
            self._answer(now, req, UNAUTHORIZED, 401, overhead, took, 0.0, 0)
            return
        if cache is not None:
            cache.store(token, now + took)
        if token < auth.deny_below:
            self._answer(now, req, FORBIDDEN, 403, overhead, took, 0.0, 0)
            return
        self.ledger.at(now + took, self._admit, now + took, req, now, overhead, took, 0)

    def _admit(self, now: float, req: Request, t0: float, overhead: float, auth_s: float, auth_hit: int) -> None:
        """Throttles, quota, validation, cache and integration, all at instant ``now``."""
        client = req.client
        stage = client.stage
        route = stage.routes[req.route]
        plan = client.plan
        if plan is not None:
            bucket = plan.bucket(req.api_key)
            if bucket is not None and not bucket.try_take(now):
                self._answer(t0, req, THROTTLED, 429, overhead, auth_s, 0.0, auth_hit)
                return
        bucket = route.bucket
        if bucket is not None and not bucket.try_take(now):
            self._answer(t0, req, THROTTLED, 429, overhead, auth_s, 0.0, auth_hit)
            return
        if not self._account_bucket.try_take(now):
            self._answer(t0, req, THROTTLED, 429, overhead, auth_s, 0.0, auth_hit)
            return
        if plan is not None:
            quota = plan.quota(req.api_key)
            if quota is not None and not quota.try_take(now):
                self._answer(t0, req, QUOTA_EXCEEDED, 429, overhead, auth_s, 0.0, auth_hit)
                return
        if route.invalid_fraction and req.validation < route.invalid_fraction:
            self._answer(t0, req, INVALID, 400, overhead, auth_s, 0.0, auth_hit)
            return
        cache_key = -1
        if route.cached:
            cache_key = route.index * self.key_space + req.cache_key
            if stage.cache.lookup(cache_key, now):  # type: ignore[union-attr]
                hit = stage.hit_latency()  # type: ignore[misc]
                self._answer(t0, req, CACHE_HIT, 200, overhead, auth_s, hit, auth_hit, 1)
                return
        self._integrate(now, req, route, stage, t0, overhead, auth_s, auth_hit, cache_key)

    def _integrate(
        self,
        now: float,
        req: Request,
        route: RouteStep,
        stage: StageState,
        t0: float,
        overhead: float,
        auth_s: float,
        auth_hit: int,
        cache_key: int,
    ) -> None:
        timeout = route.timeout
        cache = 0 if cache_key >= 0 else -1  # a lookup that missed, or none
        if route.kind == LAMBDA:
            inv = route.pool.invoke(now, t0 >= self._warmup)  # type: ignore[union-attr]
            if inv is None:
                self._answer(t0, req, BACKEND_THROTTLED, 500, overhead, auth_s, 0.0, auth_hit, cache, route.function)
                return
            was_cold, init, run, failed, billed_ms = inv
            took = init + run
            fn = route.function
            cold = 1 if was_cold else 0
            if took > timeout:
                self._answer(
                    t0, req, TIMEOUT, 504, overhead, auth_s, timeout, auth_hit, cache, fn, cold, init, billed_ms
                )
            elif failed:
                self._answer(t0, req, ERROR, 502, overhead, auth_s, took, auth_hit, cache, fn, cold, init, billed_ms)
            else:
                if cache_key >= 0:
                    stage.cache.store(cache_key, now + took, req.client.entry_bytes)  # type: ignore[union-attr]
                self._answer(t0, req, OK, 200, overhead, auth_s, took, auth_hit, cache, fn, cold, init, billed_ms)
            return
        took = route.latency()  # type: ignore[misc]
        if took > timeout:
            self._answer(t0, req, TIMEOUT, 504, overhead, auth_s, timeout, auth_hit, cache)
        elif route.error_fraction and route.failures() < route.error_fraction:  # type: ignore[misc]
            self._answer(t0, req, ERROR, 502, overhead, auth_s, took, auth_hit, cache)
        else:
            if cache_key >= 0:
                stage.cache.store(cache_key, now + took, req.client.entry_bytes)  # type: ignore[union-attr]
            self._answer(t0, req, OK, 200, overhead, auth_s, took, auth_hit, cache)

    # -- the bill --------------------------------------------------------------------------

    def usage(self, tally: Tally) -> list[UsageLine]:
        """Per stage: billed requests (HTTP: with their payload, for 512 KB metering), response bytes
        out to the internet (every answer carries bytes: a 200 its response, a 4xx or 5xx the
        gateway's error message), and the stage's cache cluster, held all month."""
        billed = [o for o in range(tally.by_client.shape[1]) if Outcome(o) not in NOT_BILLED]
        answered = [int(Outcome.OK), int(Outcome.CACHE_HIT)]
        lines: list[UsageLine] = []
        price = f"apigateway.{self.kind}.requests"
        for s, state in enumerate(self.stage_states):
            resource = f"api.{self.name}.{state.name}"
            mine = [c for c in self.callers if c.stage == s]
            by_payload: dict[int, float] = {}
            for c in mine:
                payload = c.request_bytes + c.response_bytes if self.kind == "http" else 0
                by_payload[payload] = by_payload.get(payload, 0.0) + float(tally.by_client[c.client, billed].sum())
            for payload, count in sorted(by_payload.items()):
                meter = {"bytes_per_request": float(payload)} if self.kind == "http" else {}
                lines.append(UsageLine(resource, "requests", price, count, meter=meter))
            out_bytes = bytes_out(tally, mine, answered)
            lines.append(UsageLine(resource, "data transfer out", "data_transfer.out", out_bytes / 2**30))
            if state.cache_size_gb is not None:
                lines.append(
                    UsageLine(
                        f"cache.{self.name}.{state.name}", "cache cluster", "apigateway.cache", 1.0, kind="level",
                        meter={"size_gb": float(state.cache_size_gb or 0.0)},
                    )
                )  # fmt: skip
        return lines
