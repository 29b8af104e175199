"""Scenario → the components of one run: the account, the doors, the clients, the ledger and tally.

This is the only engine module that reads the scenario schema. Doors are built by the builder
registered for their kind in :data:`BUILDERS`; a new front door is a new module with its door
class and one builder here. Every source of randomness is a named stream (see
:mod:`apisim.randomness`): names do not depend on the order things are built in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from apisim import defaults
from apisim.budget import bucket_width, websocket_load
from apisim.distributions import Constant as ConstantDist
from apisim.distributions import Distribution, Draw, Exponential, Lognormal, Scaled, draws, uniforms
from apisim.engine.account import Account, FunctionSpec
from apisim.engine.alb import Alb, Connecting
from apisim.engine.apigateway import HTTP, LAMBDA, MOCK, ApiGateway, AuthStep, Caller, RouteStep, StageState
from apisim.engine.cache import SizedTtlCache, TtlCache
from apisim.engine.clients import (
    ArrivalProcess,
    Burst,
    Constant,
    InverseCdf,
    Nothing,
    Poisson,
    Population,
    ProfiledPoisson,
    RetryPolicy,
    Shifted,
    Trace,
    zipf_cdf,
)
from apisim.engine.cloudfront import CloudFrontDoor, EdgeFunction
from apisim.engine.door import Door
from apisim.engine.functions import AccountPool, FunctionPool
from apisim.engine.functionurl import THROTTLED as FUNCTION_URL_THROTTLED
from apisim.engine.functionurl import FunctionUrl
from apisim.engine.ledger import Ledger
from apisim.engine.levels import LevelLog
from apisim.engine.records import AttemptLog
from apisim.engine.tally import Tally
from apisim.engine.throttle import TokenBucket, UsagePlan
from apisim.engine.websocket import Counts, WebSocketApi, WsClient, units
from apisim.months import CalendarPeriods
from apisim.outcomes import Outcome
from apisim.randomness import stream
from apisim.scenario import (
    WS_SPECIAL,
    Api,
    BurstArrival,
    ConstantArrival,
    LambdaIntegration,
    MockIntegration,
    PointsProfile,
    PoissonArrival,
    Scenario,
    TraceArrival,
)
from apisim.scenario import Cache as CacheSpec
from apisim.scenario import FanOut as FanOutSpec
from apisim.scenario import UsagePlan as UsagePlanSpec

STATUSES = (200, 400, 401, 403, 429, 500, 502, 504)


@dataclass
class Run:
    """One run's components, built and connected, ready for the run loop."""

    scenario: Scenario
    seed: int
    env: simpy.Environment
    tally: Tally
    log: AttemptLog | None
    ledger: Ledger
    account: Account
    doors: dict[str, Door]
    clients: list[Population]
    stages: list[tuple[str, str]]  # (door, stage) by the tally's stage index
    route_names: list[str]  # by the records' route index
    width: float
    at: float | None = None


class Builder:
    """Builds one run; ``rng(name)`` gives the named streams."""

    def __init__(self, sc: Scenario, seed: int, at: float | None = None) -> None:
        self.sc = sc
        self.seed = seed
        self.at = at
        sim = sc.simulation
        self.warmup = sim.warmup
        self.duration = sim.duration
        self.width = bucket_width(sc)

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, name)

    def level(self) -> LevelLog:
        return LevelLog(self.warmup, self.duration, self.width)

    def account(self) -> Account:
        sc = self.sc
        # AWS: "Provisioned concurrency counts towards a function's reserved concurrency and Regional
        # quotas": an unreserved function's provisioned environments leave the shared pool for good.
        committed = sum(
            f.reserved_concurrency if f.reserved_concurrency is not None else f.provisioned_concurrency
            for f in sc.functions.values()
        )
        throttle = sc.account.api_throttle
        account = Account(
            TokenBucket(throttle.rate, throttle.burst), AccountPool(sc.account.lambda_concurrency - committed)
        )
        scaling = sc.account.scaling_rate
        per = float(defaults.value("lambda_invoke_rate", "per_concurrency"))
        burst_s = sc.account.invoke_rate_burst

        def invoke_rate(concurrency: int) -> TokenBucket:
            # AWS gives the rate, not the burst (an estimate); a bucket holds at least the one token
            # a request needs, or a short estimate would refuse everything.
            return TokenBucket(per * concurrency, max(1.0, per * concurrency * burst_s))

        # AWS: "Across all functions in your account, Lambda enforces a requests per second limit
        # that's equal to 10 times your account concurrency", and each function's reservation and
        # provisioned concurrency have their own.
        account_rate = invoke_rate(sc.account.lambda_concurrency)
        for name in sorted(sc.functions):
            f = sc.functions[name]
            prefix = f"function/{name}/"
            pool = FunctionPool(
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
                account=None if f.reserved_concurrency is not None else account.unreserved,
                init_billed=f.init_billed,
                init_limit=float(defaults.value("lambda_init_limit_s", "value")),
                # Reserved 0 refuses every request by concurrency: no rate bucket to blame instead.
                invoke_rate=invoke_rate(f.reserved_concurrency) if f.reserved_concurrency else None,
                account_rate=account_rate,
                provisioned_rate=invoke_rate(f.provisioned_concurrency) if f.provisioned_concurrency else None,
                busy=self.level(),
                live=self.level(),
            )
            account.add_function(pool, FunctionSpec(f.memory_mb, f.arch, f.provisioned_concurrency))
        return account


def arrival_process(sc: Scenario, index: int, *, before: bool = False) -> ArrivalProcess:
    """Client ``index``'s arrivals as the engine generates them, in the scenario's time.

    ``before``: traffic that recurs (a steady rate from the start, repeating bursts) also ran
    before t = 0, as it did before the billing month began (a month window's warm-up may start
    there).
    """
    arrival = sc.clients[index].arrivals
    if arrival is None:
        return Nothing()
    if isinstance(arrival, PoissonArrival):
        profile = arrival.profile
        if profile is None:
            return Poisson(arrival.rate)  # type: ignore[arg-type]
        if isinstance(profile, PointsProfile):
            return ProfiledPoisson(
                profile.rate_at, lambda t0, t1: profile.peak(t1, t0), lambda t0, t1: profile.integral(t1, t0)
            )
        mean = arrival.rate
        assert mean is not None
        return ProfiledPoisson(
            lambda t: profile.rate_at(mean, t),
            lambda t0, t1: mean * (1.0 + profile.amplitude),
            lambda t0, t1: profile.integral(mean, t1, t0),
        )
    if isinstance(arrival, ConstantArrival):
        return Constant(arrival.rate, arrival.start, always=before and arrival.start <= 0)
    if isinstance(arrival, BurstArrival):
        return Burst(
            arrival.rate, arrival.duration, arrival.start, arrival.every, arrival.per_burst,
            always=before and arrival.every is not None,
        )  # fmt: skip
    assert isinstance(arrival, TraceArrival)
    return Trace(arrival.times, arrival.period)


@dataclass(frozen=True)
class Load:
    """What the month's survey weighs a client by: an arrival process's expected counts times
    ``factor``. It generates nothing (a WebSocket client's load is messages on the agenda)."""

    base: ArrivalProcess
    factor: float = 1.0

    def mean_between(self, t0: float, t1: float) -> float:
        """The expected load in [t0, t1)."""
        return self.base.mean_between(t0, t1) * self.factor


def survey_process(sc: Scenario, index: int) -> Load:
    """What the month's survey weighs client ``index`` by (its strata, its windows' weights): its
    arrivals, recurring before t = 0 too; for a WebSocket client its attempts (connects, messages,
    pings, pushes) at their steady rate, shaped like its connection arrivals where it has them."""
    c = sc.clients[index]
    process = arrival_process(sc, index, before=True)
    if not c.connections.websocket:
        return Load(process)
    duration = sc.simulation.duration
    work, _ = websocket_load(sc, c)
    if c.connections.arrival is None:
        return Load(Poisson(work / duration))
    return Load(process, work / max(process.mean_between(0.0, duration), 1e-300))


# ----------------------------------------------------------------------------------------------
# Doors, by kind
# ----------------------------------------------------------------------------------------------


def build_api_gateway(b: Builder, name: str, api: Api, ledger: Ledger, account: Account, first_stage: int) -> Door:
    """An API Gateway REST or HTTP API: its routes, authorizer and stages.

    Streams keep the names of a one-API scenario (``gateway/overhead``, ``route/GET /a/latency``);
    with several APIs each API's are prefixed ``api/NAME/``, and with several stages a stage's
    cache draws are named by the stage.
    """
    sc = b.sc
    prefix = "" if sc.apis is None else f"api/{name}/"
    clients = [c for c in sc.clients if sc.client_api(c)[0] == name]
    function_names = list(account.functions)
    steps = []  # the parts of each route every stage shares
    for i, r in enumerate(api.routes):
        integ = r.integration
        pool, function, latency, error_fraction = None, -1, None, 0.0
        if isinstance(integ, LambdaIntegration):
            kind = LAMBDA
            pool = account.functions[integ.function]
            function = function_names.index(integ.function)
        else:
            kind = MOCK if isinstance(integ, MockIntegration) else HTTP
            latency = draws(integ.latency_ms, b.rng(f"{prefix}route/{r.route}/latency"))
            error_fraction = getattr(integ, "error_fraction", 0.0)
        steps.append(
            RouteStep(
                index=i,
                name=r.route,
                bucket=None,
                cached=False,
                invalid_fraction=r.validation.invalid_fraction if r.validation else 0.0,
                kind=kind,
                pool=pool,
                function=function,
                latency=latency,
                error_fraction=error_fraction,
                failures=uniforms(b.rng(f"{prefix}route/{r.route}/failures")),
                timeout=api.timeout(r),
            )
        )
    stage_names = api.stage_names()
    states = []
    for s, stage_name in enumerate(stage_names):
        stage = api.stage(stage_name)
        routes = []
        for r, step in zip(api.routes, steps, strict=True):
            throttle = r.throttle or stage.throttle
            bucket = TokenBucket(throttle.rate, throttle.burst) if throttle else None
            routes.append(dataclasses.replace(step, bucket=bucket, cached=sc.route_cached(r, api, stage_name)))
        state = StageState(stage_name, first_stage + s, routes)
        if stage.cache is not None:
            state.cache_size_gb = stage.cache.size_gb  # billed for every hour it exists, whatever its TTL
        if stage.cache is not None and stage.cache.ttl > 0:
            state.cache = _response_cache(stage.cache, routes, clients)
            own = "gateway" if len(stage_names) == 1 else f"stage/{stage_name}"
            hit_stream = f"{prefix}{own}/cache_hit"
            state.hit_latency = draws(stage.cache.hit_latency_ms, b.rng(hit_stream))
        states.append(state)
    return ApiGateway(
        name=name,
        kind=api.type,
        ledger=ledger,
        account=account,
        overhead=_overhead(b, name, api),
        auth=_auth(b, api, clients, account, prefix),
        stage_states=states,
        key_space=max((c.cache_keys.count for c in clients), default=1),
    )


def _response_cache(cache: CacheSpec, routes: list[RouteStep], clients: list) -> TtlCache:
    """A stage's response cache: LRU within the cluster's bytes, unless every possible entry fits
    (then no entry is ever evicted, and the plain TTL cache gives the same answers faster)."""
    capacity = int(cache.size_gb * 2**30)
    entry = max((c.response_bytes for c in clients), default=0) + cache.entry_overhead_bytes
    keys = sum(r.cached for r in routes) * max((c.cache_keys.count for c in clients), default=1)
    if keys * entry <= capacity:
        return TtlCache(cache.ttl)
    return SizedTtlCache(cache.ttl, capacity)


def _auth(b: Builder, api: Api, clients: list, account: Account, prefix: str) -> AuthStep:
    a = api.authorizer
    if a.type == "none":
        return AuthStep("none")
    if a.type == "lambda":
        tokens = max((c.auth_tokens for c in clients), default=1)
        return AuthStep(
            "lambda",
            pool=account.functions[a.function],  # type: ignore[index]
            cache=TtlCache(a.cache_ttl) if a.cache_ttl > 0 else None,
            deny_below=round(a.deny_fraction * tokens),
        )
    latency = a.latency_ms or ConstantDist(defaults.estimate("authorizer_latency_ms", a.type) / 1000)
    return AuthStep(
        "simple",
        latency=draws(latency, b.rng(f"{prefix}authorizer/latency")),
        # IAM answers a request without a valid signature with 403, token authorizers with 401.
        unauthorized=int(Outcome.FORBIDDEN if a.type == "iam" else Outcome.UNAUTHORIZED),
    )


def _direct_routes(b: Builder, api: Api, account: Account) -> list[RouteStep]:
    """The routes of a door that invokes Lambda functions directly (each route's own function)."""
    function_names = list(account.functions)
    routes = []
    for i, r in enumerate(api.routes):
        function = r.integration.function  # type: ignore[union-attr]  # checked: such a door's are Lambda
        routes.append(
            RouteStep(
                index=i, name=r.route, bucket=None, cached=False, invalid_fraction=0.0, kind=LAMBDA,
                pool=account.functions[function], function=function_names.index(function), latency=None,
                error_fraction=0.0, failures=None, timeout=api.timeout(r),
            )
        )  # fmt: skip
    return routes


def _overhead(b: Builder, name: str, api: Api) -> Draw:
    """A door's own time per request: the file's, or the estimate for its type (limits.yaml).
    The stream is named like an API's (``gateway/overhead``, or ``api/NAME/gateway/overhead``)."""
    overhead = api.overhead_ms
    if overhead is None:
        estimate = defaults.estimate("overhead_ms", api.type)
        overhead = Lognormal.from_median_p99(estimate["median"] / 1000, estimate["p99"] / 1000)
    prefix = "" if b.sc.apis is None else f"api/{name}/"
    return draws(overhead, b.rng(f"{prefix}gateway/overhead"))


def build_function_url(b: Builder, name: str, api: Api, ledger: Ledger, account: Account, first_stage: int) -> Door:
    """A Lambda function URL: its routes (all invoking its one function) on its one "stage", the URL."""
    return FunctionUrl(
        name=name,
        ledger=ledger,
        overhead=_overhead(b, name, api),
        stage_states=[StageState(api.stage_names()[0], first_stage, _direct_routes(b, api, account))],
        throttled=FUNCTION_URL_THROTTLED,
        iam=api.authorizer.type == "iam",
    )


def build_alb(b: Builder, name: str, api: Api, ledger: Ledger, account: Account, first_stage: int) -> Door:
    """An ALB: its listener rules (routes) forward to Lambda target groups; its clients' connections."""
    sc = b.sc
    connecting = [
        Connecting(i, c.connections.per_connection(), c.connections.keep_alive)
        for i, c in enumerate(sc.clients)
        if sc.client_api(c)[0] == name
    ]
    return Alb(
        name=name,
        ledger=ledger,
        overhead=_overhead(b, name, api),
        stage_states=[StageState(api.stage_names()[0], first_stage, _direct_routes(b, api, account))],
        throttled=(int(Outcome.BACKEND_THROTTLED), int(defaults.value("alb_lambda_throttled_status", "value"))),
        rules=api.rules if api.rules is not None else len(api.routes),
        connecting=connecting,
        idle_timeout=float(defaults.value("alb_idle_timeout_s", "value")),
    )


def _cloudfront(b: Builder, name: str, api: Api, ledger: Ledger) -> CloudFrontDoor:
    """The distribution in front of door ``name`` (its origin is attached once built)."""
    sc = b.sc
    cf = api.cloudfront
    assert cf is not None
    prefix = ("" if sc.apis is None else f"api/{name}/") + "cloudfront/"

    def latency(given: Distribution | None, what: str) -> Draw:
        if given is None:
            estimate = defaults.estimate("overhead_ms", what)
            given = Lognormal.from_median_p99(estimate["median"] / 1000, estimate["p99"] / 1000)
        return draws(given, b.rng(prefix + what))

    function = None
    if cf.functions != "none":
        run = cf.function_ms or ConstantDist(defaults.estimate("edge_function_ms", cf.functions) / 1000)
        memory = cf.lambda_edge_memory_mb
        function = EdgeFunction(cf.functions, draws(run, b.rng(prefix + "function")), memory, run.mean * 1000.0)
    clients = [c for c in sc.clients if sc.client_api(c)[0] == name]
    by_path = cf.cache is not None and cf.cache.keys == "path"
    return CloudFrontDoor(
        name=name,
        ledger=ledger,
        edge=latency(cf.edge_ms, "cloudfront_edge"),
        origin_fetch=latency(cf.origin_fetch_ms, "cloudfront_origin_fetch"),
        cache=TtlCache(cf.cache.ttl) if cf.cache is not None else None,
        cacheable=[cf.cache is not None and r.method in ("GET", "HEAD") for r in api.routes],
        key_space=1 if by_path else max((c.cache_keys.count for c in clients), default=1),
        by_path=by_path,
        function=function,
        viewers=cf.viewers,
    )


def build_websocket(b: Builder, name: str, api: Api, ledger: Ledger, account: Account, first_stage: int) -> Door:
    """A WebSocket API: its routes (``$connect``, ``$disconnect``, message routes) and its clients' sessions.

    Streams are named like a REST API's (``api/NAME/`` prefixed with several APIs), each client's
    under ``client/NAME/ws/``.
    """
    sc = b.sc
    prefix = "" if sc.apis is None else f"api/{name}/"
    # The routes as an API Gateway API builds them (integration, throttle, timeout), on one stage.
    gateway = build_api_gateway(b, name, api, ledger, account, first_stage)
    assert isinstance(gateway, ApiGateway)
    state = gateway.stage_states[0]
    by_name = {r.name: r for r in state.routes}
    message_routes = [r.route for r in api.routes if r.route not in WS_SPECIAL]
    limits = defaults.value("websocket")
    frame = int(limits["frame_bytes"])
    clients = {}
    for i, c in enumerate(sc.clients):
        if sc.client_api(c)[0] != name:
            continue
        own = f"client/{c.name}/ws/"
        m = c.messages
        mix = (m.routes if m is not None and m.routes is not None else None) or {
            r: 1.0 / len(message_routes) for r in message_routes
        }
        chosen = [(r, w) for r, w in sorted(mix.items()) if w > 0]
        weights = np.array([w for _, w in chosen], dtype=float)
        size = m.bytes if m is not None else 0
        fan = c.fan_out
        push_bytes = fan.bytes if fan is not None and fan.bytes is not None else size
        clients[i] = WsClient(
            population=c.connections.population.users if c.connections.population is not None else 0,
            session=draws(c.connections.session, b.rng(own + "session")) if c.connections.session else None,
            session_mean=c.connections.session.mean if c.connections.session else math.inf,
            rate=m.rate_per_connection if m is not None else 0.0,
            constant=m is not None and m.process == "constant",
            uniform=uniforms(b.rng(own + "uniform")),
            exponential=draws(Exponential(1.0), b.rng(own + "gaps")),
            route_cdf=np.cumsum(weights) / weights.sum() if len(chosen) else np.ones(1),
            route_index=[by_name[r].index for r, _ in chosen] or [0],
            message_units=units(size, frame),
            too_large=size > int(limits["message_bytes"]),
            keep_alive=c.keep_alive if c.keep_alive is not None else math.inf,
            pushes=_pushes(fan),
            push_units=units(push_bytes, frame),
            push_bytes=push_bytes,
            reconnect_on=frozenset(c.connections.reconnect.on),
            delay=c.connections.reconnect.delay,
            lost_fraction=c.connections.disconnect_lost_fraction,
            coins=uniforms(b.rng(own + "coins")),
            # A window of its own (not the month's) starts as if the traffic had run before it.
            steady_rate=arrival_process(sc, i, before=True).mean_between(-3600.0, 0.0) / 3600.0
            if b.at is None
            else 0.0,
        )
    if account.connections is None:  # one bucket for every WebSocket API of the account
        t = sc.account.websocket_connections
        account.connections = TokenBucket(t.rate, t.burst)
    callback = defaults.estimate("overhead_ms", "websocket_callback")
    return WebSocketApi(
        name=name,
        ledger=ledger,
        api_bucket=account.api_bucket,
        connect_bucket=account.connections,
        overhead=gateway.overhead,
        callback=draws(
            Lognormal.from_median_p99(callback["median"] / 1000, callback["p99"] / 1000),
            b.rng(f"{prefix}gateway/callback"),
        ),
        auth=gateway.auth,
        stage_states=[state],
        connect_route=by_name.get("$connect"),
        disconnect_route=by_name.get("$disconnect"),
        clients=clients,
        counts=Counts([r.route for r in api.routes], b.warmup, b.duration, b.width),
        idle=float(limits["idle_timeout_s"]),
        max_duration=float(limits["max_connection_s"]),
        frame=frame,
        metering=api.metering,
    )


def _pushes(fan: FanOutSpec | None) -> Callable[[int], int]:
    """Pushes per message, given the connections open (the sender's among them)."""
    if fan is None:
        return lambda open_: 0
    if fan.kind == "one_to_one":
        return lambda open_: 1
    if fan.kind == "room":
        size = int(fan.size or 2)
        return lambda open_: size - 1
    return lambda open_: max(0, open_ - 1)


DoorBuilder = Callable[[Builder, str, Api, Ledger, Account, int], Door]
BUILDERS: dict[str, DoorBuilder] = {
    "rest": build_api_gateway,
    "http": build_api_gateway,
    "function_url": build_function_url,
    "alb": build_alb,
    "websocket": build_websocket,
}
"""How to build a door, by the kind the scenario gives it."""


# ----------------------------------------------------------------------------------------------
# Clients
# ----------------------------------------------------------------------------------------------


def _client(b: Builder, index: int, door: ApiGateway, route_offset: int) -> Population:
    sc = b.sc
    c = sc.clients[index]
    prefix = f"client/{c.name}/"
    _, api = sc.client_api(c)
    stage = door.stage_states[door.stages.index(sc.client_stage(c))]
    mix = sc.client_routes(c)
    route_names = [r.route for r in api.routes]
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
            uniforms(b.rng(prefix + "retry")),
        )
    arrivals = arrival_process(sc, index, before=b.at is not None)
    if b.at:
        arrivals = Shifted(arrivals, b.at)
    plan = None
    if c.usage_plan is not None:
        p = api.usage_plans[c.usage_plan]
        plan = UsagePlan(p.rate, p.burst)
        if p.quota is not None:
            plan = _quota_plan(b, p, arrival_process(sc, index), c.api_keys, quota_share(sc, index))
    streams = {
        name: b.rng(prefix + name)
        for name in ("routes", "api_keys", "bad_keys", "tokens", "bad_tokens", "cache_keys", "validation", "ties")
    }
    keys = c.cache_keys
    authorizer = api.authorizer
    cache = api.stage(sc.client_stage(c)).cache
    return Population(
        index=index,
        name=c.name,
        arrivals=arrivals,
        arrival_rng=b.rng(prefix + "arrivals"),
        route_cdf=route_cdf,
        route_index=route_index,
        api_keys=c.api_keys,
        invalid_key_fraction=c.invalid_key_fraction if plan is not None else 0.0,
        auth_tokens=c.auth_tokens,
        invalid_token_fraction=authorizer.invalid_fraction if authorizer.type != "none" else 0.0,
        key_count=keys.count,
        key_cdf=InverseCdf(zipf_cdf(keys.count, keys.zipf)) if keys.zipf > 0 and keys.count > 1 else None,
        response_bytes=c.response_bytes,
        request_bytes=c.request_bytes,
        entry_bytes=c.response_bytes + (cache.entry_overhead_bytes if cache is not None else 0),
        retry=retry,
        plan=plan,
        streams=streams,
        door=door,
        stage=stage,
        route_offset=route_offset,
    )


def quota_share(sc: Scenario, index: int) -> float:
    """The share of client ``index``'s requests that reach the quota step: those not refused before
    it for a bad API key (403) or a bad token (401); throttles and retries are not foreseen."""
    c = sc.clients[index]
    share = 1.0 - c.invalid_key_fraction
    authorizer = sc.client_api(c)[1].authorizer
    if authorizer.type != "none":
        share *= 1.0 - authorizer.invalid_fraction
    return share


def _quota_plan(b: Builder, p: UsagePlanSpec, arrivals: ArrivalProcess, keys: int, share: float) -> UsagePlan:
    """A usage plan whose quota periods follow the calendar from ``simulation.start``.

    A window that begins inside the month (``at`` > 0) finds each key's quota already partly
    spent: by the key's expected share of the client's requests since the period began that
    reached the quota step (:func:`quota_share`).
    """
    q = p.quota
    assert q is not None
    at = b.at or 0.0
    sim = b.sc.simulation
    periods = CalendarPeriods(q.period, sim.start, max(0.0, at) + sim.duration)
    used = 0
    index, begin, _ = periods.containing(at)
    if index >= 0 and at > begin:
        allowed = q.limit - (q.offset if index == 0 else 0)
        used = min(allowed, round(arrivals.mean_between(begin, at) * share / keys))
    return UsagePlan(p.rate, p.burst, q.limit, periods, q.offset, at, used)


def build(sc: Scenario, seed: int, *, records: bool, at: float | None = None) -> Run:
    """Every component of one run of ``sc`` under ``seed``, connected.

    ``at``: the run is a window of the month whose t = 0 falls at month time ``at`` (seconds
    from ``simulation.start``; negative for a warm-up before the month): traffic that recurs ran
    before it, and quotas count from the calendar. None: the run is the scenario's own window.
    """
    b = Builder(sc, seed, at)
    stages: list[tuple[str, str]] = []
    for name, api in sc.all_apis.items():
        stages += [(name, s) for s in api.stage_names()]
    client_stage = [stages.index((sc.client_api(c)[0], sc.client_stage(c))) for c in sc.clients]
    env = simpy.Environment()
    log = AttemptLog() if records else None
    tally = Tally(
        warmup=b.warmup,
        end=b.duration,
        width=b.width,
        client_stage=client_stage,
        stages=len(stages),
        retries=any(c.retry is not None and c.retry.max_attempts > 1 for c in sc.clients),
    )
    ledger = Ledger(env, tally, log, warmup=b.warmup, end=b.duration)
    account = b.account()
    doors: dict[str, Door] = {}
    offsets: dict[str, int] = {}
    route_names: list[str] = []
    first_stage = 0
    for name, api in sc.all_apis.items():
        # CloudFront stands between its origin door and the ledger: the origin answers through it.
        edge = _cloudfront(b, name, api, ledger) if api.cloudfront is not None else None
        door = BUILDERS[api.type](b, name, api, edge or ledger, account, first_stage)  # type: ignore[arg-type]
        if edge is not None:
            edge.origin = door
            door = edge
        doors[name] = door
        first_stage += len(api.stage_names())
        offsets[name] = len(route_names)
        route_names += [r.route if sc.apis is None else f"{name} {r.route}" for r in api.routes]
    clients = []
    for i, c in enumerate(sc.clients):
        api_name = sc.client_api(c)[0]
        door = doors[api_name]
        clients.append(_client(b, i, door, offsets[api_name]))  # type: ignore[arg-type]
        door.callers.append(  # type: ignore[attr-defined]
            Caller(i, door.stages.index(sc.client_stage(c)), c.request_bytes, c.response_bytes, c.error_response_bytes)
        )
    return Run(sc, seed, env, tally, log, ledger, account, doors, clients, stages, route_names, b.width, at)


def _scaled(dist: Distribution, factor: float) -> Distribution:
    return dist if factor == 1.0 else Scaled(dist, factor)
