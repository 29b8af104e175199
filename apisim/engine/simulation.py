"""Scenario → components → one simulated run.

The loop: arrivals are generated a window at a time (vectorised, per client, then merged in
time order) and sent through the gateway one by one. SimPy is the clock and event queue for
work that happens later than its cause (a request resuming after its Lambda authorizer, a
client's retry): before each arrival, every SimPy event due by then is processed, so every
component is asked in time order. Function completions and idle expiries stay on each pool's
own agenda (see :mod:`apisim.engine.functions`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import simpy

from apisim.budget import ARRIVALS_PER_WINDOW, bucket_width, peak_rate
from apisim.distributions import Constant as ConstantDist
from apisim.distributions import Distribution, Lognormal, Scaled, draws, uniforms
from apisim.engine.cache import TtlCache
from apisim.engine.clients import (
    ArrivalProcess,
    Burst,
    Constant,
    Poisson,
    Population,
    ProfiledPoisson,
    RetryPolicy,
    Trace,
    zipf_cdf,
)
from apisim.engine.functions import AccountPool, FunctionPool, FunctionStats
from apisim.engine.gateway import HTTP, LAMBDA, MOCK, AuthStage, Gateway, GatewayCounters, Request, RouteStage
from apisim.engine.levels import LevelLog
from apisim.engine.records import AttemptLog, Records
from apisim.engine.tally import Tally
from apisim.engine.throttle import TokenBucket, UsagePlan
from apisim.outcomes import Outcome
from apisim.randomness import stream
from apisim.scenario import (
    BurstArrival,
    ConstantArrival,
    LambdaIntegration,
    MockIntegration,
    PointsProfile,
    PoissonArrival,
    Scenario,
    TraceArrival,
)

# Latency estimates where AWS publishes none (data/limits.yaml, "estimates").
DEFAULT_OVERHEAD_MS = {"rest": (10.0, 25.0), "http": (3.0, 9.0)}  # (median, p99)
DEFAULT_AUTH_LATENCY_MS = {"cognito": 5.0, "iam": 2.0, "jwt": 1.0}
STATUSES = (200, 400, 401, 403, 429, 500, 502, 504)


@dataclass
class FunctionRun:
    """One function's measured behaviour in a run."""

    name: str
    memory_mb: int
    arch: str
    provisioned: int
    stats: FunctionStats
    mean_busy: float
    peak_busy: int
    mean_live: float
    busy_buckets: np.ndarray
    live_buckets: np.ndarray


@dataclass
class RunLog:
    """Everything one run produced: per-attempt columns plus time-weighted levels and counters."""

    scenario: Scenario
    seed: int
    tally: Tally
    records: Records | None
    functions: dict[str, FunctionRun]
    counters: GatewayCounters
    client_names: list[str]
    route_names: list[str]
    function_names: list[str]
    bucket_width: float
    wall_seconds: float
    events: dict[str, int] = field(default_factory=dict)

    @property
    def attempts(self) -> dict[str, np.ndarray]:
        """Per-attempt columns; only for runs that kept records."""
        if self.records is None:
            raise ValueError("this run kept no per-attempt records: simulate with records=True (--records)")
        return self.records.arrays()

    @property
    def warmup(self) -> float:
        return self.scenario.simulation.warmup

    @property
    def duration(self) -> float:
        return self.scenario.simulation.duration


def _arrival_process(sc: Scenario, index: int) -> ArrivalProcess:
    arrival = sc.clients[index].arrival
    horizon = sc.simulation.duration
    if isinstance(arrival, PoissonArrival):
        profile = arrival.profile
        if profile is None:
            return Poisson(arrival.rate)  # type: ignore[arg-type]
        if isinstance(profile, PointsProfile):
            return ProfiledPoisson.points(profile.points, horizon)
        return ProfiledPoisson.diurnal(arrival.rate, profile.peak_to_trough, profile.peak_at, profile.period)  # type: ignore[arg-type]
    if isinstance(arrival, ConstantArrival):
        return Constant(arrival.rate, arrival.start)
    if isinstance(arrival, BurstArrival):
        return Burst(arrival.rate, arrival.duration, arrival.start, arrival.every, horizon, arrival.per_burst)
    assert isinstance(arrival, TraceArrival)
    return Trace(arrival.times, horizon)


class _Run:
    """Builds the components of one run and drives them."""

    def __init__(self, sc: Scenario, seed: int, records: bool) -> None:
        self.sc = sc
        self.seed = seed
        sim = sc.simulation
        self.duration = sim.duration
        self.warmup = sim.warmup
        self.width = bucket_width(sc)
        self.env = simpy.Environment()
        self.log = AttemptLog() if records else None
        self.tally = Tally(
            warmup=self.warmup,
            end=self.duration,
            width=self.width,
            clients=len(sc.clients),
            retries=any(c.retry is not None and c.retry.max_attempts > 1 for c in sc.clients),
        )
        self.function_names = sorted(sc.functions)
        self.pools = self._build_pools()
        self.routes = self._build_routes()
        self.key_space = max(c.cache_keys.count for c in sc.clients)
        self.clients = [self._build_client(i) for i in range(len(sc.clients))]
        api = sc.api
        cache = None
        hit_latency = None
        if api.cache is not None and api.cache.ttl > 0:
            cache = TtlCache(api.cache.ttl)
            hit_latency = draws(api.cache.hit_latency_ms, self.rng("gateway/cache_hit"))
        overhead = api.overhead_ms
        if overhead is None:
            median, p99 = DEFAULT_OVERHEAD_MS[api.type]
            overhead = Lognormal.from_median_p99(median / 1000, p99 / 1000)
        self.gateway = Gateway(
            self.env,
            self.tally,
            self.log,
            overhead=draws(overhead, self.rng("gateway/overhead")),
            routes=self.routes,
            auth=self._build_auth(),
            account_bucket=TokenBucket(sc.account.api_throttle.rate, sc.account.api_throttle.burst),
            cache=cache,
            cache_hit_latency=hit_latency,
            key_space=self.key_space,
            warmup=self.warmup,
            end=self.duration,
        )

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, name)

    def _level(self) -> LevelLog:
        return LevelLog(self.warmup, self.duration, self.width)

    def _build_pools(self) -> dict[str, FunctionPool]:
        sc = self.sc
        reserved_total = sum(f.reserved_concurrency or 0 for f in sc.functions.values())
        account = AccountPool(sc.account.lambda_concurrency - reserved_total)
        scaling = sc.account.scaling_rate
        pools = {}
        for name in self.function_names:
            f = sc.functions[name]
            prefix = f"function/{name}/"
            pools[name] = FunctionPool(
                name,
                memory_mb=f.memory_mb,
                duration=draws(_scaled(f.duration_ms, f.duration_factor()), self.rng(prefix + "duration")),
                cold_start=draws(f.cold_start_ms, self.rng(prefix + "cold_start")),
                idle_expiry=draws(f.idle_expiry, self.rng(prefix + "idle_expiry")),
                failures=uniforms(self.rng(prefix + "failures")),
                error_fraction=f.error_fraction,
                timeout=f.timeout,
                reserved=f.reserved_concurrency,
                provisioned=f.provisioned_concurrency,
                scaling=TokenBucket(scaling.instances / scaling.per, scaling.instances),
                account=None if f.reserved_concurrency is not None else account,
                init_billed=f.init_billed,
                busy=self._level(),
                live=self._level(),
            )
        return pools

    def _build_routes(self) -> list[RouteStage]:
        sc = self.sc
        stages = []
        for i, r in enumerate(sc.api.routes):
            throttle = r.throttle or sc.api.throttle
            integ = r.integration
            prefix = f"route/{r.route}/"
            pool = None
            function = -1
            latency = None
            error_fraction = 0.0
            if isinstance(integ, LambdaIntegration):
                kind = LAMBDA
                pool = self.pools[integ.function]
                function = self.function_names.index(integ.function)
            else:
                kind = MOCK if isinstance(integ, MockIntegration) else HTTP
                latency = draws(integ.latency_ms, self.rng(prefix + "latency"))
                error_fraction = getattr(integ, "error_fraction", 0.0)
            stages.append(
                RouteStage(
                    index=i,
                    name=r.route,
                    bucket=TokenBucket(throttle.rate, throttle.burst) if throttle else None,
                    cached=sc.route_cached(r),
                    invalid_fraction=r.validation.invalid_fraction if r.validation else 0.0,
                    kind=kind,
                    pool=pool,
                    function=function,
                    latency=latency,
                    error_fraction=error_fraction,
                    failures=uniforms(self.rng(prefix + "failures")),
                    timeout=sc.route_timeout(r),
                )
            )
        return stages

    def _build_auth(self) -> AuthStage:
        a = self.sc.api.authorizer
        if a.type == "none":
            return AuthStage("none")
        if a.type == "lambda":
            tokens = max(c.auth_tokens for c in self.sc.clients)
            return AuthStage(
                "lambda",
                pool=self.pools[a.function],  # type: ignore[index]
                cache=TtlCache(a.cache_ttl) if a.cache_ttl > 0 else None,
                deny_below=round(a.deny_fraction * tokens),
            )
        latency = a.latency_ms or ConstantDist(DEFAULT_AUTH_LATENCY_MS[a.type] / 1000)
        return AuthStage(
            "simple",
            latency=draws(latency, self.rng("authorizer/latency")),
            # IAM answers a request without a valid signature with 403, token authorizers with 401.
            unauthorized=int(Outcome.FORBIDDEN if a.type == "iam" else Outcome.UNAUTHORIZED),
        )

    def _build_client(self, index: int) -> Population:
        sc = self.sc
        c = sc.clients[index]
        prefix = f"client/{c.name}/"
        mix = sc.client_routes(c)
        route_names = [r.route for r in sc.api.routes]
        # In route-name order, so the order of routes in the file does not change which route a draw picks.
        chosen = [(route_names.index(name), w) for name, w in sorted(mix.items()) if w > 0]
        route_index = np.array([i for i, _ in chosen], dtype=np.int64)
        weights = np.array([w for _, w in chosen], dtype=float)
        route_cdf = np.cumsum(weights) / weights.sum()
        retry = None
        if c.retry is not None and c.retry.max_attempts > 1:
            retry = RetryPolicy(
                c.retry.max_attempts,
                c.retry.backoff,
                c.retry.base,
                c.retry.cap,
                c.retry.jitter,
                frozenset(s for s in STATUSES if c.retry.retries(s)),
                uniforms(self.rng(prefix + "retry")),
            )
        plan = None
        if c.usage_plan is not None:
            p = sc.api.usage_plans[c.usage_plan]
            q = p.quota
            period = {"day": 86400.0, "week": 7 * 86400.0, "month": sc.pricing.month}
            plan = UsagePlan(
                p.rate,
                p.burst,
                q.limit if q else None,
                period[q.period] if q else 86400.0,
                q.offset if q else 0,
            )
        streams = {
            name: self.rng(prefix + name)
            for name in ("routes", "api_keys", "bad_keys", "tokens", "bad_tokens", "cache_keys", "validation", "ties")
        }
        keys = c.cache_keys
        return Population(
            index=index,
            name=c.name,
            arrivals=_arrival_process(sc, index),
            arrival_rng=self.rng(prefix + "arrivals"),
            route_cdf=route_cdf,
            route_index=route_index,
            api_keys=c.api_keys,
            invalid_key_fraction=c.invalid_key_fraction if plan is not None else 0.0,
            auth_tokens=c.auth_tokens,
            invalid_token_fraction=sc.api.authorizer.invalid_fraction if sc.api.authorizer.type != "none" else 0.0,
            key_count=keys.count,
            key_cdf=zipf_cdf(keys.count, keys.zipf) if keys.zipf > 0 and keys.count > 1 else None,
            response_bytes=c.response_bytes,
            request_bytes=c.request_bytes,
            retry=retry,
            plan=plan,
            streams=streams,
        )

    def _window(self, t0: float, width: float) -> float:
        """A window from ``t0`` holding about :data:`ARRIVALS_PER_WINDOW` arrivals.

        Why: the window's arrivals are held in memory at once, so a dense burst must be cut into
        short windows, and a quiet stretch is crossed in long ones. Widths double or halve from
        the last one; for a steady rate the first guess stands.
        """
        clients = self.clients
        end = self.duration

        def expected(w: float) -> float:
            return math.fsum(c.arrivals.expected(t0, min(end, t0 + w)) for c in clients)  # order-free

        while t0 + width < end and expected(width) < ARRIVALS_PER_WINDOW / 2:
            width *= 2.0
        while width > 1e-6 and expected(width) > 2 * ARRIVALS_PER_WINDOW:
            width /= 2.0
        return width

    def _fold(self) -> None:
        """Between windows: fold what the window produced, so memory stays flat."""
        self.tally.fold()
        for pool in self.pools.values():
            pool.fold()
        if self.log is not None:
            self.log.spill_if_large()

    def run(self, progress: Callable[[float], None] | None) -> RunLog:
        started = time.perf_counter()
        env = self.env
        step = env.step
        peek = env.peek
        attempt = self.gateway.attempt
        clients = self.clients
        peak = peak_rate(self.sc)
        window = min(self.duration, ARRIVALS_PER_WINDOW / peak if peak > 0 else self.duration)
        gateway = self.gateway
        single = clients[0] if len(clients) == 1 else None
        next_id = 0
        t0 = 0.0
        while t0 < self.duration:
            window = self._window(t0, window)
            t1 = min(self.duration, t0 + window)
            times_per_client = [c.arrivals.times(t0, t1, c.arrival_rng) for c in clients]
            attrs = [c.attributes(len(t)) for c, t in zip(clients, times_per_client, strict=True)]
            if single is not None:
                owners: Iterable[Population] = itertools.repeat(single)
                times = times_per_client[0].tolist()
                columns = [a.tolist() for a in attrs[0]]
            else:
                # Merge the clients' arrivals in time order; ties go by random keys, not the file's order.
                ties = np.concatenate([c.ties(len(t)) for c, t in zip(clients, times_per_client, strict=True)])
                order = np.lexsort((ties, np.concatenate(times_per_client)))
                times = np.concatenate(times_per_client)[order].tolist()
                owner_index = np.concatenate([np.full(len(t), i) for i, t in enumerate(times_per_client)])[order]
                owners = [clients[i] for i in owner_index.tolist()]
                columns = [np.concatenate([a[k] for a in attrs])[order].tolist() for k in range(5)]
            # strict=False: with one client, `owners` repeats it without end.
            for t, client, route, key, token, cache_key, validation in zip(times, owners, *columns, strict=False):
                while gateway.pending and peek() <= t:
                    step()
                attempt(t, Request(next_id, client, route, key, token, cache_key, validation, t))
                next_id += 1
            self._fold()
            if progress is not None:
                progress(t1 / self.duration)
            t0 = t1
        env.run()  # what arrived before the end finishes after it
        self.tally.fold()
        functions = {}
        for name, pool in self.pools.items():
            pool.finish(self.duration)
            f = self.sc.functions[name]
            functions[name] = FunctionRun(
                name=name,
                memory_mb=f.memory_mb,
                arch=f.arch,
                provisioned=f.provisioned_concurrency,
                stats=pool.stats,
                mean_busy=pool.busy_log.mean(),
                peak_busy=max(pool.stats.peak_busy, pool.busy_log.level_at_start()),
                mean_live=pool.live_log.mean(),
                busy_buckets=pool.busy_log.bucket_means(),
                live_buckets=pool.live_log.bucket_means(),
            )
        return RunLog(
            scenario=self.sc,
            seed=self.seed,
            tally=self.tally,
            records=self.log.finish() if self.log is not None else None,
            functions=functions,
            counters=self.gateway.counters,
            client_names=[c.name for c in self.sc.clients],
            route_names=[r.route for r in self.sc.api.routes],
            function_names=self.function_names,
            bucket_width=self.width,
            wall_seconds=time.perf_counter() - started,
            events={"requests": next_id},
        )


def _scaled(dist: Distribution, factor: float) -> Distribution:
    return dist if factor == 1.0 else Scaled(dist, factor)


def run(
    sc: Scenario, seed: int | None = None, *, records: bool, progress: Callable[[float], None] | None = None
) -> RunLog:
    """Simulate ``sc`` once. ``seed`` defaults to the scenario's own.

    ``records``: keep one row per attempt (True), or only the running totals (False). The run's
    size is not checked here: :func:`apisim.budget.check` does that before any work starts.
    """
    seed = sc.simulation.seed if seed is None else seed
    if not 0 <= seed < 2**64:
        raise ValueError(f"a seed is an integer from 0 to 2**64 - 1, got {seed}")
    return _Run(sc, seed, records).run(progress)
