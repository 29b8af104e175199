"""The scenario file's schema: what a user may write, validated strictly by pydantic v2.

Durations are strings with units (``250ms``, ``30s``, ``5m``) or numbers of seconds; fields ending in
``_ms`` take latency distributions whose bare numbers are milliseconds. Every default below is an
AWS documented default where one exists (see ``apisim/data/limits.yaml``) or an estimate that says so.
Cross-references between sections (a route's function, a client's usage plan) are checked by
:func:`reference_problems`, which reports them with the same located errors as the schema.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from apisim import defaults, months
from apisim.distributions import Constant, Distribution, Empirical, Exponential, Lognormal, Uniform, upper
from apisim.durations import DURATION_REGEX, to_seconds
from apisim.problems import IN_CODE, Loc, Origin
from apisim.slo import Slo

# --------------------------------------------------------------------------------------------
# Hard bounds: values beyond these are mistakes (or attacks), refused by the schema itself.
# How much a run may *cost* in time and memory is checked separately (apisim.budget), with a way
# to force it; these bounds only keep every number inside what the arithmetic can carry.
# --------------------------------------------------------------------------------------------

MAX_RATE = 1e9
"""Requests (or tokens) per second."""
MAX_COUNT = 1_000_000_000
"""Counts of keys, tokens, requests in a bucket, bytes of a message."""
MAX_SIM_SECONDS = 366 * 86400.0
"""A run simulates at most a year."""
MAX_SIGMA = 20.0
"""A lognormal's sigma (p99/median up to e^46): more overflows to infinity in a long run."""
NAME_MAX = 200
MAX_EMPIRICAL = 50_000
"""Values in an empirical distribution."""
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
"""Unicode categories a label may not use: controls, and invisible format characters (zero-width
spaces, bidirectional overrides) that would make two different names look alike."""

# --------------------------------------------------------------------------------------------
# Value types: durations and distributions with units
# --------------------------------------------------------------------------------------------

_NUMBER_OR_DURATION = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION_REGEX}],
}


def _seconds(value: Any) -> float:
    return to_seconds(value, bare_unit_s=1.0)


Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    WithJsonSchema({**_NUMBER_OR_DURATION, "description": "a duration: 250ms, 30s, 5m, 1h, 1d, or seconds"}),
]

_DIST_KEYS: dict[str, tuple[set[str], ...]] = {
    "constant": ({"value"},),
    "exponential": ({"mean"},),
    "lognormal": ({"median", "p99"}, {"mean", "sigma"}),
    "uniform": ({"low", "high"},),
    "empirical": ({"values"},),
}


def _dist_schema(unit: str) -> dict[str, Any]:
    amount = {**_NUMBER_OR_DURATION, "description": f"a number of {unit} or a duration with its unit"}
    shapes: list[dict[str, Any]] = [{**amount, "description": f"constant, in {unit}"}]
    for name, key_sets in _DIST_KEYS.items():
        for keys in key_sets:
            props: dict[str, Any] = {"dist": {"const": name}}
            for key in keys:
                if key == "sigma":
                    props[key] = {"type": "number", "minimum": 0}
                elif key == "values":
                    props[key] = {"type": "array", "items": amount, "minItems": 1}
                else:
                    props[key] = amount
            shapes.append(
                {
                    "type": "object",
                    "properties": props,
                    "required": ["dist", *sorted(keys)],
                    "additionalProperties": False,
                }
            )
    return {"anyOf": shapes, "description": f"a latency distribution (bare numbers in {unit})"}


def parse_distribution(raw: Any, *, bare_unit_s: float) -> Distribution:
    """Build a :class:`Distribution` (in seconds) from its scenario-file form."""
    if isinstance(raw, (Constant, Exponential, Lognormal, Uniform, Empirical)):
        return raw
    if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
        return Constant(to_seconds(raw, bare_unit_s=bare_unit_s))
    if not isinstance(raw, dict):
        raise ValueError(
            "expected a number or a mapping with 'dist' (constant, exponential, lognormal, uniform, empirical)"
        )
    kind = raw.get("dist")
    if not isinstance(kind, str) or kind not in _DIST_KEYS:
        raise ValueError(f"'dist' must be one of {', '.join(_DIST_KEYS)}; got {kind!r}")
    given = set(raw) - {"dist"}
    for keys in _DIST_KEYS[kind]:
        if given == keys:
            break
    else:
        wanted = " or ".join("{" + ", ".join(sorted(k)) + "}" for k in _DIST_KEYS[kind])
        raise ValueError(f"a {kind} distribution takes {wanted}; got {{{', '.join(sorted(given))}}}")

    def amount(key: str) -> float:
        try:
            return to_seconds(raw[key], bare_unit_s=bare_unit_s)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None

    if kind == "constant":
        return Constant(amount("value"))
    if kind == "exponential":
        return Exponential(amount("mean"))
    if kind == "uniform":
        return Uniform(amount("low"), amount("high"))
    if kind == "empirical":
        values = raw["values"]
        if not isinstance(values, list) or not values:
            raise ValueError("values: expected a non-empty list")
        if len(values) > MAX_EMPIRICAL:
            raise ValueError(f"values: at most {MAX_EMPIRICAL:,} values, got {len(values):,}")
        # Sorted: the order values are written in must not change the draws.
        return Empirical(tuple(sorted(to_seconds(v, bare_unit_s=bare_unit_s) for v in values)))
    if "median" in given:
        dist = Lognormal.from_median_p99(amount("median"), amount("p99"))
        if dist.sigma > MAX_SIGMA:
            raise ValueError(f"p99 may be at most e^{MAX_SIGMA * 2.326:.0f} times the median")
        return dist
    sigma = raw["sigma"]
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma):
        raise ValueError(f"sigma: expected a number, got {sigma!r}")
    if sigma > MAX_SIGMA:
        raise ValueError(f"sigma: at most {MAX_SIGMA:g}, got {sigma!r}")
    return Lognormal.from_mean_sigma(amount("mean"), float(sigma))


def _dist_to_spec(dist: Distribution, scale: float) -> Any:
    if isinstance(dist, Constant):
        return dist.value / scale
    if isinstance(dist, Exponential):
        return {"dist": "exponential", "mean": dist.mean_s / scale}
    if isinstance(dist, Lognormal):
        return {"dist": "lognormal", "mean": dist.mean / scale, "sigma": dist.sigma}
    if isinstance(dist, Uniform):
        return {"dist": "uniform", "low": dist.low / scale, "high": dist.high / scale}
    if isinstance(dist, Empirical):
        return {"dist": "empirical", "values": [v / scale for v in dist.values]}
    raise TypeError(dist)


def _dist_type(bare_unit_s: float, unit: str) -> Any:
    return Annotated[
        Any,
        BeforeValidator(lambda v: parse_distribution(v, bare_unit_s=bare_unit_s)),
        PlainSerializer(lambda d: _dist_to_spec(d, bare_unit_s)),
        WithJsonSchema(_dist_schema(unit)),
    ]


LatencyMs = _dist_type(1e-3, "milliseconds")
"""A latency distribution whose bare numbers are milliseconds."""
DurationDist = _dist_type(1.0, "seconds")
"""A duration distribution whose bare numbers are seconds (e.g. idle expiry)."""

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


def label_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a name (a label shown to people, never a path), or None."""
    if not 1 <= len(value) <= NAME_MAX:
        return f"a name has 1 to {NAME_MAX} characters"
    if any(unicodedata.category(ch) in _INVISIBLE for ch in value):
        return (
            "a name may not contain control characters (newlines, tabs, NUL) or invisible ones "
            "(zero-width spaces, direction overrides)"
        )
    return None


def _label(value: str) -> str:
    problem = label_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Name = Annotated[
    str,
    Field(min_length=1, max_length=NAME_MAX, description="a label (never used as a file name)"),
    AfterValidator(_label),
]


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, never silently ignored."""

    # allow_inf_nan=False: an infinite rate or ratio is never meant, and would crash the run.
    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, populate_by_name=True, allow_inf_nan=False, strict=True
    )


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def _utc(value: Any) -> Any:
    """An ISO 8601 date-time in UTC; a time without a zone is read as UTC."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"expected an ISO 8601 date-time such as 2026-04-01T00:00:00Z, got {value!r}") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"expected an ISO 8601 date-time such as 2026-04-01T00:00:00Z, got {value!r}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


UtcTime = Annotated[
    Any,
    BeforeValidator(_utc),
    PlainSerializer(lambda d: d.isoformat().replace("+00:00", "Z")),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "an ISO 8601 date-time (UTC)"}),
]


class Simulation(Strict):
    """What to simulate: the billing month (default) or one window, and with which seed.

    ``basis: month`` estimates the whole calendar month that begins at ``start`` from
    representative windows of ``duration`` (each after its own warm-up); ``basis: window``
    simulates one window of ``duration`` and scales its counts to ``pricing.month``.
    """

    basis: Literal["month", "window"] = Field(
        "month", description="month: the calendar month from start; window: one window, scaled to pricing.month"
    )
    start: UtcTime = Field(
        default_factory=lambda: months.DEFAULT_START,
        description="where t = 0 falls in the calendar (UTC): the month begins here (default 2026-04-01T00:00Z)",
    )

    windows: int = Field(
        16, ge=2, le=400, description="month basis: how many windows represent the month (pairs give the ±)"
    )
    duration: Seconds = Field(
        3600.0,
        ge=0.001,
        le=MAX_SIM_SECONDS,
        description="simulated time, after which no new requests arrive (month basis: each window's, warm-up included)",
    )
    warmup: Seconds = Field(
        0.0,
        ge=0,
        description="initial period excluded from every count and percentile (month basis: raised to the design's "
        "slowest state)",
    )
    seed: int = Field(1, ge=0, le=2**64 - 1, description="base seed; the same seed gives identical numbers")
    bucket: Seconds | None = Field(
        None, ge=1e-6, description="width of a timeseries bucket (default: about 200 buckets)"
    )
    engine: Literal["auto", "python", "compiled"] = Field(
        "auto",
        description="auto: the compiled kernel for runs of 1M attempts or more that it covers, else Python; "
        "python: the readable reference engine; compiled: the kernel or an error (both give the same numbers)",
    )

    @model_validator(mode="after")
    def _warmup_before_end(self) -> Simulation:
        if self.warmup >= self.duration:
            raise ValueError(f"warmup ({self.warmup:g}s) must be shorter than duration ({self.duration:g}s)")
        return self


class Throttle(Strict):
    """A token bucket: ``rate`` tokens per second refill a bucket holding ``burst`` tokens."""

    rate: float = Field(gt=0, le=MAX_RATE, description="steady-state requests per second (refill)")
    burst: int = Field(ge=0, le=MAX_COUNT, description="bucket capacity in requests")


QuotaPeriod = Literal["day", "week", "month"]


class Quota(Strict):
    """A usage plan's request quota per API key."""

    limit: int = Field(gt=0, le=10**15, description="requests allowed per period")
    period: QuotaPeriod = Field(description="day | week | month")
    offset: int = Field(0, ge=0, le=10**15, description="requests subtracted from the limit in the first period")


class UsagePlan(Strict):
    """Per-API-key throttle and quota (REST APIs only), associated with some or all of its API's stages."""

    rate: float | None = Field(None, gt=0, le=MAX_RATE)
    burst: int | None = Field(None, ge=0, le=MAX_COUNT)
    quota: Quota | None = None
    stages: list[Name] | None = Field(
        None, max_length=100, description="the API's stages this plan is associated with (default: all of them)"
    )

    @model_validator(mode="after")
    def _rate_and_burst_together(self) -> UsagePlan:
        if (self.rate is None) != (self.burst is None):
            raise ValueError("a usage plan throttle needs both rate and burst")
        return self

    @property
    def throttle(self) -> Throttle | None:
        return None if self.rate is None else Throttle(rate=self.rate, burst=self.burst or 0)


class Authorizer(Strict):
    """Who may call the API. A Lambda authorizer is a real function with cold starts and a result cache."""

    type: Literal["lambda", "cognito", "iam", "jwt", "none"] = "none"
    function: str | None = Field(None, description="the Lambda authorizer's function (type: lambda)")
    cache_ttl: Seconds = Field(
        float(defaults.value("authorizer_cache_ttl", "default_s")),
        le=float(defaults.value("authorizer_cache_ttl", "max_s")),
        description="result cache TTL per token; 0 disables (AWS default 300s)",
    )
    invalid_fraction: Fraction = Field(0.0, description="share of requests with a bad token: 401 Unauthorized")
    deny_fraction: Fraction = Field(0.0, description="share of tokens whose policy denies: 403 Forbidden (cached)")
    latency_ms: LatencyMs | None = Field(
        None, description="added latency of a non-Lambda authorizer (estimate by default: AWS publishes none)"
    )

    @model_validator(mode="after")
    def _function_iff_lambda(self) -> Authorizer:
        if self.type == "lambda" and not self.function:
            raise ValueError("a lambda authorizer needs 'function'")
        if self.type != "lambda" and self.function:
            raise ValueError(f"'function' is only for type: lambda, not {self.type}")
        return self


class Cache(Strict):
    """A REST API stage's cache cluster."""

    size_gb: Literal[0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237] = Field(
        defaults.value("cache_size_default_gb", "value"), description="one of AWS's cache sizes (AWS default 0.5)"
    )
    ttl: Seconds = Field(
        float(defaults.value("cache_ttl", "default_s")),
        le=float(defaults.value("cache_ttl", "max_s")),
        description="time to live of a cached response (AWS default 300s, max 3600s)",
    )
    hit_latency_ms: LatencyMs = Field(
        Constant(defaults.estimate("cache_hit_latency_ms", "value") / 1000.0),
        description="time to answer from the cache (estimate: AWS publishes none)",
    )
    entry_overhead_bytes: int = Field(
        defaults.estimate("cache_entry_overhead_bytes", "value"),
        ge=0,
        le=MAX_COUNT,
        description="bytes a cached response takes beyond its body (estimate: AWS publishes none)",
    )


class LambdaIntegration(Strict):
    type: Literal["lambda"]
    function: str


class HttpIntegration(Strict):
    type: Literal["http"]
    latency_ms: LatencyMs
    error_fraction: Fraction = Field(0.0, description="share answered with a 5xx by the endpoint (502)")


class MockIntegration(Strict):
    type: Literal["mock"]
    latency_ms: LatencyMs = Field(Constant(0.0))


class AwsIntegration(Strict):
    type: Literal["aws"]
    service: str = Field("dynamodb", description="for the record only")
    latency_ms: LatencyMs
    error_fraction: Fraction = 0.0


Integration = Annotated[
    LambdaIntegration | HttpIntegration | MockIntegration | AwsIntegration, Field(discriminator="type")
]

_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /[^\s\x00-\x1f\x7f]*$")
_WS_ROUTE = re.compile(r"^(\$connect|\$disconnect|\$default|[A-Za-z0-9_.:-]{1,128})$")
"""A WebSocket API's route key: $connect, $disconnect, $default, or the value route selection picks."""
WS_SPECIAL = ("$connect", "$disconnect")
"""Route keys API Gateway calls itself (a connection opening, closing); clients' messages go to the others."""


class Validation(Strict):
    invalid_fraction: Fraction = Field(description="share of requests rejected by request validation (400)")


class Route(Strict):
    """One method on one resource, e.g. ``GET /products``."""

    route: str = Field(
        max_length=2048, description="METHOD /path, e.g. 'GET /products'; a WebSocket API's route key, e.g. $connect"
    )
    integration: Integration
    cache: bool | None = Field(None, description="cache responses (REST; default: GET routes when api.cache is set)")
    throttle: Throttle | None = Field(None, description="per-method bucket (default: the stage's api.throttle)")
    validation: Validation | None = None
    timeout: Seconds | None = Field(
        None, ge=0.05, le=900.0, description="integration timeout (default: 29s REST, 30s HTTP)"
    )

    @field_validator("route")
    @classmethod
    def _route_form(cls, value: str) -> str:
        if not _ROUTE.match(value) and not _WS_ROUTE.match(value):
            raise ValueError(
                "must look like 'GET /path' (METHOD: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY), or for a "
                "WebSocket API be a route key ($connect, $disconnect, $default, or a name like sendMessage)"
            )
        return value

    @property
    def websocket(self) -> bool:
        """Whether this is a WebSocket route key rather than METHOD /path."""
        return not _ROUTE.match(self.route)

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]


class Stage(Strict):
    """One deployment of an API's routes, with its own throttle buckets and cache cluster.

    What a stage does not set it takes from its API (``api.throttle``, ``api.cache``).
    """

    throttle: Throttle | None = Field(None, description="this stage's default method throttle (default: the API's)")
    cache: Cache | None = Field(None, description="this stage's cache cluster, billed per stage (REST only)")


LONG_TIMEOUT_S = float(defaults.value("integration_timeout_s", "rest"))
"""Past this a REST integration timeout needs a quota increase, for regional and private APIs only."""

DEFAULT_STAGE = "default"
"""The name of an API's one stage when it lists none."""


EDGE_REGIONS = ("north_america", "europe")
"""Where a CloudFront distribution's viewers are: the region groups prices.yaml prices (every price class
serves both)."""


class EdgeCache(Strict):
    """CloudFront's cache at the edge: GET and HEAD responses, for ``ttl``."""

    ttl: Seconds = Field(
        float(defaults.value("cloudfront_ttl", "default_s")),
        gt=0,
        le=float(defaults.value("cloudfront_ttl", "max_s")),
        description="time to live of a cached response (CloudFront's default 24h, max one year)",
    )
    keys: Literal["path_and_query", "path"] = Field(
        "path_and_query",
        description="what the cache key holds: path_and_query (the clients' cache_keys spread) or path (one per route)",
    )


class CloudFront(Strict):
    """A CloudFront distribution in front of a door: edge cache hits never reach the origin."""

    origin: Literal["public"] = Field("public", description="the door is the distribution's origin, reached publicly")
    cache: EdgeCache | None = Field(None, description="edge caching (none: every request goes to the origin)")
    functions: Literal["none", "cloudfront_function", "lambda_edge"] = Field(
        "none", description="code run on every viewer request: CloudFront Functions or Lambda@Edge"
    )
    function_ms: LatencyMs | None = Field(
        None, description="the edge function's run time (default: an estimate; Lambda@Edge is billed on it)"
    )
    lambda_edge_memory_mb: int = Field(
        128, ge=128, le=10240, description="Lambda@Edge's memory (viewer triggers: 128 only)"
    )
    # Every price class serves north_america and europe viewers: it changes nothing for the viewers priced.
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_All"
    viewers: Literal[EDGE_REGIONS] = Field(  # type: ignore[valid-type]
        "north_america", description="the region group the viewers are in (its request and transfer prices)"
    )
    edge_ms: LatencyMs | None = Field(None, description="the edge's own time per request (default: an estimate)")
    origin_fetch_ms: LatencyMs | None = Field(
        None, description="the edge's added time to reach the origin on a miss (default: an estimate)"
    )


class WebSocketMetering(Strict):
    """What AWS does not document about a WebSocket API's bill: apisim's choice, which the summary
    shows the other way too (``apis.NAME.websocket.metering``)."""

    connect_disconnect: bool = Field(
        False, description="bill $connect and $disconnect as messages (AWS's worked example does not)"
    )
    connection_minutes: Literal["exact", "per_connection"] = Field(
        "exact", description="exact: the seconds connected / 60; per_connection: each connection rounded up to a minute"
    )


class Api(Strict):
    """A front door: an API Gateway API (``rest``, ``http``) with its pipeline settings, routes and
    stages, a Lambda function URL (``function_url``: its routes all invoke one function), or an
    Application Load Balancer (``alb``: listener rules route paths to Lambda target groups)."""

    type: Literal["rest", "http", "function_url", "alb", "websocket"] = "rest"
    route_selection: str = Field(
        "$request.body.action",
        max_length=200,
        description="websocket: the route selection expression (for the record; clients' messages.routes pick routes)",
    )
    metering: WebSocketMetering = Field(
        default_factory=WebSocketMetering, description="websocket: what the bill counts where AWS does not say"
    )
    invoke_mode: Literal["buffered", "response_stream"] = Field(
        "buffered", description="function_url: buffered (responses up to 6 MB) or response_stream (up to 200 MB)"
    )
    rules: int | None = Field(
        None, ge=1, le=100, description="alb: listener rules a request is evaluated against (default: one per route; "
        "the first 10 are free)"
    )  # fmt: skip
    cloudfront: CloudFront | None = Field(None, description="a CloudFront distribution in front of this door")
    endpoint: Literal["regional", "edge", "private"] = Field(
        "regional", description="REST: regional, edge (edge-optimized) or private; HTTP APIs are regional"
    )
    overhead_ms: LatencyMs | None = Field(
        None, description="the gateway's own time per request (default: an estimate by API type)"
    )
    throttle: Throttle | None = Field(None, description="every stage's default method throttle")
    authorizer: Authorizer = Field(default_factory=Authorizer)
    cache: Cache | None = Field(None, description="every stage's cache, each its own cluster (REST only)")
    usage_plans: dict[Name, UsagePlan] = Field(
        default_factory=dict, max_length=300, description="REST only (at most 300, AWS's quota)"
    )
    routes: list[Route] = Field(min_length=1, max_length=300, description="at most 300 (AWS's quota per API)")
    stages: dict[Name, Stage] = Field(
        default_factory=dict, max_length=100, description=f"deployments of the routes (default: one, '{DEFAULT_STAGE}')"
    )

    def stage_names(self) -> list[str]:
        """The API's stages, in the order written (one named 'default' when none is)."""
        return list(self.stages) or [DEFAULT_STAGE]

    def stage(self, name: str) -> Stage:
        """Stage ``name`` with the API's own settings filled in where it sets none."""
        own = self.stages.get(name) or Stage()
        return Stage.model_construct(throttle=own.throttle or self.throttle, cache=own.cache or self.cache)

    def timeout(self, route: Route) -> float:
        """The integration timeout of ``route`` in seconds."""
        if route.timeout is not None:
            return route.timeout
        return float(defaults.value("integration_timeout_s", self.type))

    def plan_stages(self, plan: str) -> list[str]:
        """The stages usage plan ``plan`` is associated with."""
        listed = self.usage_plans[plan].stages
        return self.stage_names() if listed is None else listed


class ScalingRate(Strict):
    instances: int = Field(defaults.value("scaling_rate", "instances"), gt=0, le=MAX_COUNT)
    per: Seconds = Field(float(defaults.value("scaling_rate", "per_seconds")), gt=0, le=86400.0)


class Account(Strict):
    """Account-wide limits (AWS defaults)."""

    api_throttle: Throttle = Field(
        default_factory=lambda: Throttle(
            rate=defaults.value("account_throttle", "rate"), burst=defaults.value("account_throttle", "burst")
        ),
        description="the account's API Gateway bucket, shared by every API and stage (AWS: 10,000 rps, burst 5,000)",
    )
    lambda_concurrency: int = Field(defaults.value("lambda_concurrency", "value"), gt=0, le=10_000_000)
    unreserved_minimum: int = Field(
        defaults.value("lambda_concurrency", "unreserved_minimum"),
        ge=0,
        le=10_000_000,
        description="concurrency AWS keeps unreserved",
    )
    scaling_rate: ScalingRate = Field(default_factory=ScalingRate)
    websocket_connections: Throttle = Field(
        default_factory=lambda: Throttle(
            rate=defaults.value("websocket", "new_connections_per_s"),
            burst=defaults.estimate("websocket_connections", "burst"),
        ),
        description="new WebSocket connections a second, across every WebSocket API (AWS: 500; the burst an estimate)",
    )
    invoke_rate_burst: Seconds = Field(
        float(defaults.value("lambda_invoke_rate_burst_s", "value")),
        gt=0,
        le=3600.0,
        description="burst of each Lambda invoke rate limit (10 × a concurrency, per second), in seconds of its rate "
        "(an estimate: AWS gives none)",
    )


class Function(Strict):
    """A Lambda function."""

    memory_mb: int = Field(defaults.value("lambda_memory_default_mb", "value"), ge=128, le=10240)
    arch: Literal["x86_64", "arm64"] = "x86_64"
    duration_ms: LatencyMs = Field(description="handler run time per invocation (warm)")
    cold_start_ms: LatencyMs = Field(
        None, validate_default=True, description="init time of a new instance (default: an estimate, median 300ms)"
    )
    idle_expiry: DurationDist = Field(
        None,
        validate_default=True,
        description="how long an idle instance survives (default: uniform 5m–15m, estimate)",
    )
    reserved_concurrency: int | None = Field(None, ge=0, le=10_000_000)
    provisioned_concurrency: int = Field(0, ge=0, le=10_000_000)
    timeout: Seconds = Field(
        float(defaults.value("lambda_timeout_default_s", "value")),
        ge=1.0,
        le=900.0,
        description="function timeout (AWS default 3s)",
    )
    error_fraction: Fraction = Field(0.0, description="share of invocations that fail (502 at the gateway)")
    init_billed: bool = Field(True, description="bill the init phase (on-demand ZIP functions, since 2025-08-01)")
    cpu_fraction: Fraction = Field(
        0.0, description="CPU-bound share of duration_ms, which scales with the vCPU share memory buys (0: none)"
    )
    reference_mb: int | None = Field(
        None, ge=128, le=10240, description="memory at which duration_ms was measured (default: memory_mb)"
    )

    def duration_factor(self) -> float:
        """How much longer (or shorter) a run is at ``memory_mb`` than at ``reference_mb``.

        Lambda gives CPU in proportion to memory, one full vCPU at 1,769 MB; beyond that extra
        vCPUs only help multi-threaded code, so a single-threaded CPU-bound part stops speeding up.
        """
        vcpu = lambda mb: min(mb, 1769) / 1769  # noqa: E731
        reference = self.reference_mb or self.memory_mb
        return (1.0 - self.cpu_fraction) + self.cpu_fraction * vcpu(reference) / vcpu(self.memory_mb)

    @model_validator(mode="before")
    @classmethod
    def _estimated_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            # Estimates, not AWS figures (data/limits.yaml, "estimates").
            if data.get("cold_start_ms") is None:
                cold = defaults.estimate("cold_start_ms")
                data["cold_start_ms"] = {"dist": "lognormal", "median": cold["median"], "p99": cold["p99"]}
            if data.get("idle_expiry") is None:
                idle = defaults.estimate("idle_expiry")
                data["idle_expiry"] = {"dist": "uniform", "low": idle["low"], "high": idle["high"]}
        return data

    @model_validator(mode="after")
    def _provisioned_within_reserved(self) -> Function:
        if self.reserved_concurrency is not None and self.provisioned_concurrency > self.reserved_concurrency:
            raise ValueError(
                f"provisioned_concurrency ({self.provisioned_concurrency}) cannot exceed reserved_concurrency "
                f"({self.reserved_concurrency})"
            )
        return self


class PoissonProfile(Strict):
    type: Literal["diurnal"]
    peak_to_trough: float = Field(gt=1, le=1e6, description="ratio of the busiest to the quietest rate")
    peak_at: Seconds = Field(14 * 3600.0, description="time of day of the peak")
    period: Seconds = Field(86400.0, ge=1.0, le=MAX_SIM_SECONDS)

    @model_validator(mode="after")
    def _peak_within_the_period(self) -> PoissonProfile:
        if not 0 <= self.peak_at < self.period:
            raise ValueError(f"peak_at is a time within the period (0 to {self.period:g}s), not {self.peak_at:g}s")
        return self

    @property
    def amplitude(self) -> float:
        """a in rate(t) = mean × (1 + a cos(2π (t − peak_at) / period))."""
        return (self.peak_to_trough - 1.0) / (self.peak_to_trough + 1.0)

    def rate_at(self, mean: float, t: Any) -> Any:
        """The rate at times ``t`` (an array) around the daily ``mean``."""
        import numpy as np

        # The same expression as before the month basis: window-basis numbers stay identical.
        return mean * (1.0 + self.amplitude * np.cos(2.0 * np.pi * (t - self.peak_at) / self.period))

    def integral(self, mean: float, horizon: float, start: float = 0.0) -> float:
        """∫ rate(t) dt over [start, horizon), exactly."""
        w = 2.0 * math.pi / self.period
        swing = (math.sin(w * (horizon - self.peak_at)) - math.sin(w * (start - self.peak_at))) / w
        return mean * (horizon - start + self.amplitude * swing)


class PointsProfile(Strict):
    """A rate given at points in time, linear between them. ``repeat: daily`` or ``weekly`` repeats the
    points (times within the period) all month; ``none`` (default) keeps the last rate after the last point."""

    type: Literal["points"]
    repeat: Literal["none", "daily", "weekly"] = "none"
    # strict=False on the pair only: a YAML list becomes the tuple; its rate stays a strict number.
    points: list[
        Annotated[tuple[Seconds, Annotated[float, Field(ge=0, le=MAX_RATE, strict=True)]], Field(strict=False)]
    ] = Field(
        min_length=1, max_length=20_000, description="[time, rate] pairs, linear between them, flat after the last"
    )

    @model_validator(mode="after")
    def _increasing(self) -> PointsProfile:
        times = [t for t, _ in self.points]
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError("profile points must be in increasing time order")
        if self.period is not None and (times[0] < 0 or times[-1] >= self.period):
            raise ValueError(f"with repeat: {self.repeat}, every point is within the period (0 to {self.period:g}s)")
        return self

    @property
    def period(self) -> float | None:
        """How often the points repeat (None: they do not)."""
        return {"none": None, "daily": months.DAY, "weekly": months.WEEK}[self.repeat]

    def _table(self) -> tuple[Any, Any]:
        """Times and rates of the points; repeated, one period wraps linearly into the next."""
        import numpy as np

        ts = np.array([t for t, _ in self.points], dtype=float)
        rs = np.array([r for _, r in self.points], dtype=float)
        if self.period is not None:  # close the cycle: the last point runs on to the first one period later
            ts = np.concatenate([[ts[-1] - self.period], ts, [ts[0] + self.period]])
            rs = np.concatenate([[rs[-1]], rs, [rs[0]]])
        return ts, rs

    def rate_at(self, t: Any) -> Any:
        """The rate at times ``t`` (an array), anywhere in the month (or before it)."""
        import numpy as np

        ts, rs = self._table()
        t = np.asarray(t, dtype=float)
        if self.period is not None:
            t = np.mod(t, self.period)
        return np.interp(t, ts, rs)

    def _edges(self, t0: float, t1: float) -> Any:
        """[t0, every point's time in between, t1]: where the rate's slope may change."""
        import numpy as np

        ts = np.array([t for t, _ in self.points], dtype=float)
        if self.period is not None:
            first, last = math.floor(t0 / self.period), math.floor(t1 / self.period)
            ts = (ts[None, :] + self.period * np.arange(first, last + 1)[:, None]).ravel()
        return np.concatenate([[t0], ts[(ts > t0) & (ts < t1)], [t1]])

    def integral(self, horizon: float, start: float = 0.0) -> float:
        """∫ rate(t) dt over [start, horizon) for the piecewise-linear rate, exactly."""
        import numpy as np

        edges = self._edges(start, horizon)
        return float(np.trapezoid(self.rate_at(edges), edges))

    def peak(self, horizon: float, start: float = 0.0) -> float:
        """The highest rate in [start, horizon]."""
        return float(self.rate_at(self._edges(start, horizon)).max())


Profile = Annotated[PoissonProfile | PointsProfile, Field(discriminator="type")]


class PoissonArrival(Strict):
    process: Literal["poisson"]
    rate: float | None = Field(
        None, gt=0, le=MAX_RATE, description="mean requests per second (with a diurnal profile: the daily mean)"
    )
    profile: Profile | None = None

    @model_validator(mode="after")
    def _rate_or_points(self) -> PoissonArrival:
        if isinstance(self.profile, PointsProfile):
            if self.rate is not None:
                raise ValueError("give either 'rate' or a points profile, not both")
        elif self.rate is None:
            raise ValueError("a poisson arrival needs 'rate'")
        return self

    def expected_arrivals(self, horizon: float, start: float = 0.0) -> float:
        """The integral of the rate over [start, horizon)."""
        profile = self.profile
        if profile is None:
            return self.rate * (horizon - start)  # type: ignore[operator]
        if isinstance(profile, PointsProfile):
            return profile.integral(horizon, start)
        return profile.integral(self.rate, horizon, start)  # type: ignore[arg-type]

    def peak_rate(self, horizon: float) -> float:
        """The highest rate the process reaches in [0, horizon]."""
        profile = self.profile
        if profile is None:
            return self.rate  # type: ignore[return-value]
        if isinstance(profile, PointsProfile):
            return profile.peak(horizon)
        return self.rate * (1.0 + profile.amplitude)  # type: ignore[operator]


class ConstantArrival(Strict):
    process: Literal["constant"]
    rate: float = Field(gt=0, le=MAX_RATE, description="requests per second, evenly spaced")
    start: Seconds = 0.0

    def expected_arrivals(self, horizon: float, start: float = 0.0) -> float:
        def before(t: float) -> int:  # arrivals at self.start + k / rate, k ≥ 0, before t
            return max(0, math.ceil((t - self.start) * self.rate - 1e-9))

        return float(max(0, before(horizon) - before(start)))

    def peak_rate(self, horizon: float) -> float:
        return self.rate


class BurstArrival(Strict):
    process: Literal["burst"]
    rate: float = Field(gt=0, le=MAX_RATE, description="requests per second during the burst, evenly spaced")
    duration: Seconds = Field(gt=0)
    start: Seconds = 0.0
    every: Seconds | None = Field(None, ge=1e-6, description="repeat the burst with this period (at least duration)")

    @model_validator(mode="after")
    def _bursts_apart(self) -> BurstArrival:
        if self.every is not None and self.every < self.duration:
            raise ValueError(f"every ({self.every:g}s) must be at least the burst's duration ({self.duration:g}s)")
        return self

    @property
    def per_burst(self) -> int:
        """Requests in one burst: at ``start + k / rate`` for every k with ``k / rate < duration`` (at least one)."""
        return max(1, math.ceil(self.duration * self.rate - 1e-9))

    def bursts(self, horizon: float) -> int:
        """How many bursts begin before ``horizon``."""
        if self.start >= horizon:
            return 0
        return 1 if self.every is None else math.floor((horizon - self.start) / self.every - 1e-12) + 1

    def expected_arrivals(self, horizon: float) -> float:
        """At most this many arrivals in [0, horizon) (a burst cut by the horizon counts whole)."""
        return float(self.per_burst * self.bursts(horizon))

    def peak_rate(self, horizon: float) -> float:
        return self.rate


class TraceArrival(Strict):
    process: Literal["trace"]
    file: str = Field(
        min_length=1,
        max_length=4096,
        description="CSV (or .csv.gz) with a column of arrival times in seconds (relative to the file's folder)",
    )
    column: str = Field("t", min_length=1, max_length=200)
    repeat: Literal["none", "daily", "weekly"] = Field(
        "none", description="replay the trace every day or week of the month (its times within the period)"
    )
    _times: Any = PrivateAttr(None)  # the arrival times, read and checked when the scenario is loaded

    _peak: float = PrivateAttr(0.0)
    _most_at_once: int = PrivateAttr(0)

    @property
    def times(self) -> Any:
        """The trace's arrival times in seconds (a sorted numpy array), read when the scenario is loaded."""
        if self._times is None:
            raise ValueError(f"trace {self.file!r} has not been read (load the scenario with apisim.load)")
        return self._times

    def attach(self, times: Any) -> None:
        """Keep the trace's arrival times (sorted, finite, ≥ 0), read and checked by :mod:`apisim.traces`."""
        import numpy as np

        self._times = times
        if times.size:
            _, per_second = np.unique(np.floor(times), return_counts=True)
            self._peak = float(per_second.max())
            _, same_instant = np.unique(times, return_counts=True)
            self._most_at_once = int(same_instant.max())

    @property
    def most_at_once(self) -> int:
        """The most arrivals the trace has at one instant (they cannot be split into windows)."""
        return self._most_at_once

    @property
    def period(self) -> float | None:
        """How often the trace repeats (None: it plays once)."""
        return {"none": None, "daily": months.DAY, "weekly": months.WEEK}[self.repeat]

    def expected_arrivals(self, horizon: float, start: float = 0.0) -> float:
        import numpy as np

        period = self.period
        if period is None:
            return float(np.searchsorted(self.times, horizon) - np.searchsorted(self.times, start))
        copies = range(math.floor(start / period) - 1, math.floor(horizon / period) + 1)
        return float(
            sum(np.searchsorted(self.times, horizon - k * period) - np.searchsorted(self.times, start - k * period)
                for k in copies)
        )  # fmt: skip

    def peak_rate(self, horizon: float) -> float:
        """The most arrivals in any one second of the trace, per second."""
        self.times  # noqa: B018 (raises if the trace was never read)
        return self._peak


Arrival = Annotated[PoissonArrival | ConstantArrival | BurstArrival | TraceArrival, Field(discriminator="process")]


class CacheKeys(Strict):
    count: int = Field(1, ge=1, le=MAX_COUNT, description="distinct cacheable responses")
    zipf: float = Field(0.0, ge=0, le=10, description="popularity exponent: p(k) ∝ k^-zipf; 0 is uniform")


_RETRY_ON = re.compile(r"^([45][0-9][0-9]|[45]xx)$")


class Retry(Strict):
    max_attempts: int = Field(3, ge=1, le=20)
    backoff: Literal["exponential", "constant"] = "exponential"
    base: Seconds = Field(0.1, le=86400.0, description="first backoff")
    cap: Seconds = Field(20.0, le=86400.0, description="longest backoff")
    jitter: Literal["full", "equal", "none"] = "full"
    on: list[
        Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)]
    ] = Field(
        default_factory=lambda: ["429", "5xx"], description="status codes (429, 503) or classes (4xx, 5xx) to retry"
    )

    @model_validator(mode="after")
    def _statuses(self) -> Retry:
        bad = [s for s in self.on if not _RETRY_ON.match(str(s))]
        if bad:
            raise ValueError(f"retry.on takes error status codes like 429, 503 or classes 4xx, 5xx; got {bad}")
        return self

    def retries(self, status: int) -> bool:
        code = str(status)
        return code in self.on or f"{code[0]}xx" in self.on


class Population(Strict):
    """A WebSocket client's fixed population of users, each holding a connection (and reconnecting)."""

    users: int = Field(ge=1, le=MAX_COUNT, description="users, each with one connection while online")
    online: Literal["always"] = Field(
        "always", description="always: every user is online all the time (their sessions follow one another)"
    )


CLOSE_CAUSES = ("client", "idle", "max_duration", "1009")
"""Why a WebSocket connection closes: the client ended its session, 10 minutes without a client
message, the 2 hours maximum, or a message past 128 KB (close code 1009)."""


class Reconnect(Strict):
    """When a WebSocket client reconnects after API Gateway closed its connection, and how soon."""

    on: list[Literal["idle", "max_duration", "1009"]] = Field(
        default_factory=lambda: ["max_duration", "idle"],
        description="closes after which the client reconnects (its session goes on): idle, max_duration, 1009",
    )
    delay: Seconds = Field(
        float(defaults.estimate("websocket_connections", "reconnect_delay_s")),
        ge=0.0,
        le=86400.0,
        description="wait before reconnecting (estimate, default 1s)",
    )


class Connections(Strict):
    """How a client's requests share connections: an ALB bills new and active connections. A
    WebSocket client's connections: when they open (``arrival`` or ``population``), how long the
    client wants to stay (``session``), and when it reconnects."""

    keep_alive: bool = Field(
        defaults.estimate("connections", "keep_alive"), description="connections stay open between requests (estimate)"
    )
    requests_per_connection: int | None = Field(
        None,
        ge=1,
        le=MAX_COUNT,
        description="requests sent on one connection (default: 1 without keep_alive, else an estimate, 10)",
    )

    arrival: Arrival | None = Field(None, description="websocket: when new connections (sessions) open")
    population: Population | None = Field(None, description="websocket: a fixed population that stays connected")
    session: DurationDist | None = Field(
        None, description="websocket: how long a client wants to stay (default: for ever); longer sessions reconnect"
    )
    reconnect: Reconnect = Field(default_factory=Reconnect, description="websocket: reconnecting after a close")
    disconnect_lost_fraction: Fraction = Field(
        0.0,
        description="websocket: share of closes whose $disconnect never runs (best-effort): the app keeps a stale "
        "id, and a push to it answers 410",
    )

    @property
    def websocket(self) -> bool:
        """Whether these are a WebSocket client's connections (they open by themselves)."""
        return self.arrival is not None or self.population is not None

    @model_validator(mode="after")
    def _one_without_keep_alive(self) -> Connections:
        if self.arrival is not None and self.population is not None:
            raise ValueError("give connections.arrival (connections opening over time) or population, not both")
        if not self.keep_alive and (self.requests_per_connection or 1) != 1:
            raise ValueError("without keep_alive each request opens its own connection: requests_per_connection 1")
        return self

    def per_connection(self) -> int:
        """Requests sent on one connection."""
        if not self.keep_alive:
            return 1
        return self.requests_per_connection or int(defaults.estimate("connections", "requests_per_connection"))


class Messages(Strict):
    """What a WebSocket client sends on an open connection."""

    rate_per_connection: float = Field(ge=0, le=MAX_RATE, description="messages a second on each open connection")
    process: Literal["poisson", "constant"] = Field(
        "poisson", description="poisson, or constant (evenly spaced within a session, from a random phase)"
    )
    routes: dict[str, Annotated[float, Field(ge=0)]] | None = Field(
        None, description="share of messages per route key (default: even across the routes but $connect/$disconnect)"
    )
    bytes: int = Field(
        defaults.estimate("payload_bytes", "request"), ge=0, le=MAX_COUNT, description="a message's size (estimate)"
    )


class FanOut(Strict):
    """What the backend pushes back through @connections for each message: one push per peer."""

    kind: Literal["one_to_one", "room", "broadcast"] = Field(
        description="one_to_one: 1 push; room: size − 1 pushes (the sender's peers); broadcast: every other connection"
    )
    size: int | None = Field(None, ge=2, le=MAX_COUNT, description="room: the room's members, the sender included")
    bytes: int | None = Field(None, ge=0, le=MAX_COUNT, description="a push's size (default: the message's)")

    @model_validator(mode="after")
    def _room_size(self) -> FanOut:
        if (self.kind == "room") != (self.size is not None):
            raise ValueError("a room has a size (members, the sender included); other kinds take none")
        return self


def _none_is_none(value: Any) -> Any:
    return None if value == "none" else value


class Client(Strict):
    """A population of callers with one arrival process (a WebSocket client: its connections)."""

    name: Name
    api: str | None = Field(None, description="the API it calls (default: the scenario's only API)")
    stage: str | None = Field(None, description="the API's stage it calls (default: the API's only stage)")
    usage_plan: str | None = None
    api_keys: int = Field(1, ge=1, le=MAX_COUNT, description="distinct API keys; each has its own bucket and quota")
    invalid_key_fraction: Fraction = Field(0.0, description="requests with a missing or wrong API key (403)")
    arrival: Arrival | None = Field(
        None, description="when requests arrive (a WebSocket client gives connections.arrival or population instead)"
    )
    routes: dict[str, Annotated[float, Field(ge=0)]] | None = Field(
        None, description="share of requests per route (default: even across all routes)"
    )
    cache_keys: CacheKeys = Field(default_factory=CacheKeys)
    auth_tokens: int = Field(1, ge=1, le=MAX_COUNT, description="distinct bearer tokens (drives the authorizer cache)")
    request_bytes: int = Field(
        defaults.estimate("payload_bytes", "request"), ge=0, le=MAX_COUNT, description="estimate (default 1 KB)"
    )
    response_bytes: int = Field(
        defaults.estimate("payload_bytes", "response"), ge=0, le=MAX_COUNT, description="estimate (default 1 KB)"
    )
    error_response_bytes: int = Field(
        defaults.estimate("payload_bytes", "error_response"),
        ge=0,
        le=MAX_COUNT,
        description="bytes of a 4xx/5xx answer, billed as data transfer out (estimate, default 300)",
    )
    connections: Connections = Field(
        default_factory=lambda: Connections(), description="how it uses connections (an ALB bills them; estimate)"
    )
    retry: Retry | None = None
    messages: Messages | None = Field(None, description="websocket: what the client sends on each connection")
    keep_alive: Annotated[Seconds | None, BeforeValidator(_none_is_none)] = Field(
        None,
        gt=0,
        le=86400.0,
        description="websocket: an app-level ping after this long without a message (billed; none: no pings)",
    )
    fan_out: FanOut | None = Field(None, description="websocket: pushes back through @connections per message")

    @model_validator(mode="after")
    def _something_arrives(self) -> Client:
        if self.arrival is None and not self.connections.websocket:
            raise ValueError(
                "give arrival (when requests arrive), or for a WebSocket API connections.arrival or "
                "connections.population"
            )
        if self.arrival is not None and self.connections.websocket:
            raise ValueError("a WebSocket client's arrivals are its connections: give connections.arrival, not arrival")
        return self

    @property
    def arrivals(self) -> Arrival | None:
        """What arrives: requests, or a WebSocket client's new connections (None: a fixed population)."""
        return self.arrival if self.arrival is not None else self.connections.arrival


class Pricing(Strict):
    region: Literal["us-east-1"] = "us-east-1"
    month: Seconds = Field(
        730 * 3600.0, ge=1.0, le=MAX_SIM_SECONDS, description="hours in a billing month (AWS uses 730)"
    )
    free_tier: bool | Literal["always"] = Field(
        False,
        description="true: a new account's first-year free tier (API Gateway's 12 months and every allowance "
        "that never expires); always: only those that never expire (Lambda's, data transfer's); false: none",
    )


class Scenario(Strict):
    """A whole design under a whole workload."""

    name: Name
    description: str = Field("", max_length=10_000)
    simulation: Simulation = Field(default_factory=Simulation)
    api: Api | None = Field(None, description="the one API (an API named after the scenario); or give apis")
    apis: dict[Name, Api] | None = Field(
        None, min_length=1, max_length=100, description="several APIs in one account, by name (instead of api)"
    )
    functions: dict[Name, Function] = Field(default_factory=dict, max_length=1000)
    account: Account = Field(default_factory=Account)
    clients: list[Client] = Field(min_length=1, max_length=1000)
    pricing: Pricing = Field(default_factory=Pricing)
    slos: list[str] = Field(
        default_factory=list,
        max_length=100,
        description='objectives this design must meet, e.g. "p99<800ms", "rate_429<0.001"',
    )
    # Not fields: a file cannot set them. Both are carried by copies (model_copy, pickling to workers).
    _origin: Origin = PrivateAttr(IN_CODE)
    _base_dir: str = PrivateAttr(".")

    @property
    def origin(self) -> Origin:
        """The file this scenario was read from and the line of each field (for located errors)."""
        return self._origin

    @property
    def base_dir(self) -> str:
        """The folder the scenario file was read from; relative trace paths start there."""
        return self._base_dir

    @field_validator("slos")
    @classmethod
    def _readable_slos(cls, values: list[str]) -> list[str]:
        for text in values:
            Slo.parse(text)
        return values

    @model_validator(mode="after")
    def _api_or_apis(self) -> Scenario:
        if (self.api is None) == (self.apis is None):
            raise ValueError("give either api (one API) or apis (several, by name)")
        return self

    def with_times(
        self,
        duration: float | None = None,
        warmup: float | None = None,
        *,
        basis: str | None = None,
        windows: int | None = None,
    ) -> Scenario:
        """A copy whose runs last ``duration`` seconds, the first ``warmup`` of them not counted, on
        ``basis`` (month or window) with ``windows`` windows for a month (None keeps the scenario's own).

        Checked like the file's own values; raises ``ValueError`` with a message for a person.
        """
        if duration is None and warmup is None and basis is None and windows is None:
            return self
        sim = self.simulation
        changes: dict[str, Any] = {"duration": sim.duration if duration is None else duration}
        changes["warmup"] = sim.warmup if warmup is None else warmup
        if basis is not None:
            changes["basis"] = basis
        if windows is not None:
            changes["windows"] = windows
        try:
            new = Simulation.model_validate({**sim.model_dump(), **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "simulation"
            raise ValueError(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None
        return self.model_copy(update={"simulation": new})

    def with_engine(self, engine: str | None) -> Scenario:
        """A copy run by ``engine`` (auto, python or compiled; None keeps the scenario's own): the
        numbers do not change, only which code computes them and how fast."""
        if engine is None or engine == self.simulation.engine:
            return self
        if engine not in ("auto", "python", "compiled"):
            raise ValueError(f"engine is auto, python or compiled, not {engine!r}")
        return self.model_copy(update={"simulation": self.simulation.model_copy(update={"engine": engine})})

    def advisories(self) -> list[str]:
        """What AWS says about the design that the simulation does not decide (shown as warnings)."""
        out = []
        for name, api in self.all_apis.items():
            long = [r.route for r in api.routes if api.type == "rest" and (r.timeout or 0.0) > LONG_TIMEOUT_S]
            if long:
                out.append(
                    f"API {name}: integration timeouts past {LONG_TIMEOUT_S:g}s ({', '.join(long)}) need a quota "
                    "increase from AWS, which may lower the account throttle (account.api_throttle); the run uses "
                    "the throttle the file gives"
                )
        return out

    @property
    def all_apis(self) -> dict[str, Api]:
        """Every API by name (``api:`` is one API named after the scenario)."""
        return self.apis if self.apis is not None else {self.name: self.api}  # type: ignore[dict-item]

    def api_loc(self, name: str) -> Loc:
        """Where API ``name`` is written in the file."""
        return ("api",) if self.apis is None else ("apis", name)

    def client_api(self, client: Client) -> tuple[str, Api]:
        """The name and settings of the API ``client`` calls."""
        apis = self.all_apis
        name = client.api if client.api is not None else next(iter(apis))
        return name, apis[name]

    def client_stage(self, client: Client) -> str:
        """The stage ``client`` calls."""
        return client.stage if client.stage is not None else self.client_api(client)[1].stage_names()[0]

    def route_cached(self, route: Route, api: Api | None = None, stage: str | None = None) -> bool:
        """Whether responses of ``route`` go through the cache of ``stage`` of ``api`` (default: the only API)."""
        api = api or next(iter(self.all_apis.values()))
        cache = api.stage(stage or api.stage_names()[0]).cache
        if cache is None or cache.ttl <= 0:
            return False
        return route.method == "GET" if route.cache is None else route.cache

    def route_timeout(self, route: Route, api: Api | None = None) -> float:
        """The integration timeout of ``route`` of ``api`` (default: the only API) in seconds."""
        return (api or next(iter(self.all_apis.values()))).timeout(route)

    def client_routes(self, client: Client) -> dict[str, float]:
        """The client's route mix, defaulting to an even spread over its API's routes."""
        if client.routes is not None:
            return client.routes
        routes = self.client_api(client)[1].routes
        return {r.route: 1.0 / len(routes) for r in routes}


def _api_problems(sc: Scenario, name: str, api: Api) -> list[tuple[Loc, str, Any]]:
    out: list[tuple[Loc, str, Any]] = []
    at = sc.api_loc(name)
    functions = sorted(sc.functions)
    known = f"defined functions: {', '.join(functions) or 'none'}"
    rest = api.type == "rest"
    if api.type in ("function_url", "alb"):
        out += _direct_problems(api, at)
    out += _websocket_problems(api, at)
    if api.type != "function_url" and api.invoke_mode != "buffered":
        out.append(((*at, "invoke_mode"), "invoke_mode is a function URL's (type: function_url)", api.invoke_mode))
    if api.cloudfront is not None:
        cf = api.cloudfront
        if any(api.stage(name).cache is not None for name in api.stage_names()):
            message = "a stage cache behind CloudFront is not modelled: cache at the edge (cloudfront.cache) or here"
            out.append(((*at, "cloudfront"), message, None))
        if cf.functions == "none" and cf.function_ms is not None:
            out.append(((*at, "cloudfront", "function_ms"), "function_ms needs functions: an edge function", None))
        if cf.lambda_edge_memory_mb != 128:
            message = "a viewer-request Lambda@Edge function has 128 MB (AWS's quota for viewer triggers)"
            out.append(((*at, "cloudfront", "lambda_edge_memory_mb"), message, cf.lambda_edge_memory_mb))
        limit = {"cloudfront_function": 0.001, "lambda_edge": 5.0}.get(cf.functions)
        if limit is not None and cf.function_ms is not None and upper(cf.function_ms) > limit:
            message = f"a viewer-request {cf.functions} runs at most {limit * 1000:g} ms (AWS's quota)"
            out.append(((*at, "cloudfront", "function_ms"), message, None))
        if len(api.stage_names()) > 1:
            message = "CloudFront in front of several stages is not modelled: one distribution per stage"
            out.append(((*at, "cloudfront"), message, None))
        if cf.cache is not None and any(p.quota is not None for p in api.usage_plans.values()):
            message = "usage-plan quotas behind an edge cache are not modelled (hits never reach the quota)"
            out.append(((*at, "cloudfront", "cache"), message, None))
        if api.endpoint == "private":
            out.append(((*at, "cloudfront"), "a private API cannot be CloudFront's public origin", None))
    if api.type == "alb" and api.rules is not None and api.rules < len(api.routes):
        message = f"an ALB has a listener rule per route: at least {len(api.routes)}"
        out.append(((*at, "rules"), message, api.rules))
    if api.type != "alb" and api.rules is not None:
        out.append(((*at, "rules"), "rules are an ALB's listener rules (type: alb)", api.rules))
    seen_routes: set[str] = set()
    for i, route in enumerate(api.routes):
        if route.route in seen_routes:
            out.append(((*at, "routes", i, "route"), "route defined twice", route.route))
        seen_routes.add(route.route)
        integ = route.integration
        if isinstance(integ, LambdaIntegration) and integ.function not in sc.functions:
            out.append(((*at, "routes", i, "integration", "function"), f"no such function ({known})", integ.function))
        if not rest and route.cache:
            out.append(((*at, "routes", i, "cache"), "response caching is REST only (HTTP APIs have no cache)", None))
        if not rest and route.validation is not None:
            out.append(((*at, "routes", i, "validation"), "request validation is REST only", None))
        if api.type == "http" and route.timeout is not None and route.timeout > 30:
            out.append(((*at, "routes", i, "timeout"), "an HTTP API integration timeout is at most 30s", route.timeout))
        if rest and api.endpoint == "edge" and route.timeout is not None and route.timeout > LONG_TIMEOUT_S:
            out.append(
                (
                    (*at, "routes", i, "timeout"),
                    f"an edge-optimized REST API's integration timeout is at most {LONG_TIMEOUT_S:g}s (AWS allows "
                    "more only for regional and private REST APIs); use endpoint: regional, or a shorter timeout",
                    route.timeout,
                )
            )
    if not rest and api.endpoint != "regional":
        kind = "HTTP APIs have" if api.type == "http" else f"{DIRECT.get(api.type, 'a WebSocket API')} has"
        out.append(((*at, "endpoint"), f"{kind} regional endpoints only", api.endpoint))
    if not rest and api.cache is not None:
        out.append(((*at, "cache"), "the API cache is REST only; use type: rest or remove cache", None))
    for stage_name, stage in api.stages.items():
        if not rest and stage.cache is not None:
            out.append(((*at, "stages", stage_name, "cache"), "the API cache is REST only", None))
    if not rest and api.usage_plans:
        out.append(((*at, "usage_plans"), "usage plans and API keys are REST only", None))
    stages = api.stage_names()
    for plan_name, plan in api.usage_plans.items():
        for j, stage_name in enumerate(plan.stages or []):
            if stage_name not in stages:
                message = f"no such stage (defined: {', '.join(stages)})"
                out.append(((*at, "usage_plans", plan_name, "stages", j), message, stage_name))
    auth = api.authorizer
    if auth.type == "lambda" and auth.function not in sc.functions:
        out.append(((*at, "authorizer", "function"), f"no such function ({known})", auth.function))
    allowed_auth = {
        "rest": {"lambda", "cognito", "iam", "none"},
        "http": {"lambda", "jwt", "iam", "none"},
        "function_url": {"iam", "none"},  # AuthType AWS_IAM or NONE
        "alb": {"none"},  # its OIDC/Cognito actions are not modelled
        "websocket": {"lambda", "iam", "none"},  # on $connect only
    }[api.type]
    if auth.type not in allowed_auth:
        out.append(
            (
                (*at, "authorizer", "type"),
                f"{DIRECT.get(api.type, f'a {api.type} API')} supports {', '.join(sorted(allowed_auth))}",
                auth.type,
            )
        )
    return out


DIRECT = {"function_url": "a function URL", "alb": "an ALB"}
"""Doors that invoke Lambda functions directly: how messages name them."""


def _websocket_problems(api: Api, at: Loc) -> list[tuple[Loc, str, Any]]:
    """Route keys for a WebSocket API (METHOD /path for every other door), its 29 s integration
    timeout, and what it does not have (CloudFront in front is not modelled)."""
    out: list[tuple[Loc, str, Any]] = []
    ws = api.type == "websocket"
    limit = float(defaults.value("websocket", "integration_timeout_s"))
    for i, route in enumerate(api.routes):
        if route.websocket and not ws:
            message = "must look like 'GET /path' (route keys like $connect are a WebSocket API's: type: websocket)"
            out.append(((*at, "routes", i, "route"), message, route.route))
        if ws and not route.websocket:
            message = "a WebSocket API's routes are route keys: $connect, $disconnect, $default or a name (sendMessage)"
            out.append(((*at, "routes", i, "route"), message, route.route))
        if ws and route.timeout is not None and route.timeout > limit:
            message = f"a WebSocket API's integration timeout is at most {limit:g}s"
            out.append(((*at, "routes", i, "timeout"), message, route.timeout))
    if ws and api.cloudfront is not None:
        out.append(((*at, "cloudfront"), "CloudFront in front of a WebSocket API is not modelled", None))
    if not ws and api.metering != WebSocketMetering():
        out.append(((*at, "metering"), "metering is a WebSocket API's (type: websocket)", None))
    return out


WEBSOCKET_ONLY = ("messages", "keep_alive", "fan_out")
"""A client's keys that only a WebSocket API's client has."""


def _websocket_client_problems(
    sc: Scenario, i: int, client: Client, api_name: str, api: Api
) -> list[tuple[Loc, str, Any]]:
    """A WebSocket client opens connections and sends messages to route keys; no other client does."""
    out: list[tuple[Loc, str, Any]] = []
    at = ("clients", i)
    if api.type != "websocket":
        if client.connections.websocket:
            which = "arrival" if client.connections.arrival is not None else "population"
            message = f"connections.{which} is a WebSocket client's ({api_name} is type {api.type}): give arrival"
            out.append(((*at, "connections", which), message, None))
        for key in WEBSOCKET_ONLY:
            if getattr(client, key) is not None:
                out.append(((*at, key), f"{key} is a WebSocket client's ({api_name} is type {api.type})", None))
        return out
    if not client.connections.websocket:
        message = f"{api_name} is a WebSocket API: its clients give connections.arrival or connections.population"
        out.append(((*at, "arrival"), message, None))
    if client.routes is not None:
        out.append(((*at, "routes"), "a WebSocket client's messages.routes share its messages among routes", None))
    targets = [r.route for r in api.routes if r.route not in WS_SPECIAL]
    m = client.messages
    if m is not None and m.rate_per_connection > 0:
        if not targets:
            message = f"{api_name} has no route for messages (only $connect/$disconnect): add $default or a route key"
            out.append(((*at, "messages"), message, None))
        for name in m.routes or {}:
            if name not in targets:
                message = f"no message route {name} in {api_name} (defined: {', '.join(sorted(targets)) or 'none'})"
                out.append(((*at, "messages", "routes", name), message, name))
        if m.routes is not None:
            total = sum(m.routes.values())
            if not math.isclose(total, 1.0, abs_tol=1e-6):
                message = f"route shares must add up to 1, they add up to {total:g}"
                out.append(((*at, "messages", "routes"), message, total))
    if client.fan_out is not None and (m is None or m.rate_per_connection == 0):
        out.append(((*at, "fan_out"), "pushes answer messages: give messages with a rate", None))
    largest = int(defaults.value("websocket", "message_bytes"))
    if client.fan_out is not None and (client.fan_out.bytes or 0) > largest:
        message = f"an @connections push carries at most {largest:,} bytes (128 KB, AWS's message quota)"
        out.append(((*at, "fan_out", "bytes"), message, client.fan_out.bytes))
    return out


def _direct_problems(api: Api, at: Loc) -> list[tuple[Loc, str, Any]]:
    """What a door that invokes Lambda directly is not: no gateway features (throttles, stages,
    usage plans, caches, validation), no timeout of its own (the function's applies), and for a
    function URL one function behind it."""
    out: list[tuple[Loc, str, Any]] = []
    door = DIRECT[api.type]
    no_throttle = f"{door} has no throttle: its functions' reserved concurrency limits it (10 × rps)"
    targets = set()
    for i, route in enumerate(api.routes):
        integ = route.integration
        if not isinstance(integ, LambdaIntegration):
            out.append(((*at, "routes", i, "integration"), f"{door} here invokes Lambda functions", integ.type))
        else:
            targets.add(integ.function)
        if route.timeout is not None:
            message = f"{door} has no timeout of its own: the function's timeout applies"
            out.append(((*at, "routes", i, "timeout"), message, route.timeout))
        if route.throttle is not None:
            out.append(((*at, "routes", i, "throttle"), no_throttle, None))
    if api.type == "function_url" and len(targets) > 1:
        message = f"a function URL belongs to one function; these routes name {', '.join(sorted(targets))}"
        out.append(((*at, "routes"), message, None))
    if api.throttle is not None:
        out.append(((*at, "throttle"), no_throttle, None))
    if api.stages:
        out.append(((*at, "stages"), f"{door} has no stages", None))
    return out


def _client_problems(sc: Scenario, i: int, client: Client) -> list[tuple[Loc, str, Any]]:
    out: list[tuple[Loc, str, Any]] = []
    apis = sc.all_apis
    if client.api is None and len(apis) > 1:
        return [(("clients", i, "api"), f"say which API this client calls (defined: {', '.join(apis)})", None)]
    if client.api is not None and client.api not in apis:
        return [(("clients", i, "api"), f"no such API (defined: {', '.join(apis)})", client.api)]
    api_name, api = sc.client_api(client)
    out += _websocket_client_problems(sc, i, client, api_name, api)
    stages = api.stage_names()
    if client.stage is None and len(stages) > 1:
        out.append(
            (("clients", i, "stage"), f"say which stage of {api_name} this client calls ({', '.join(stages)})", None)
        )
    elif client.stage is not None and client.stage not in stages:
        message = f"no such stage of {api_name} (defined: {', '.join(stages)})"
        out.append((("clients", i, "stage"), message, client.stage))
    if client.usage_plan is not None:
        if client.usage_plan not in api.usage_plans:
            plans = ", ".join(sorted(api.usage_plans)) or "none"
            message = f"no such usage plan in {api_name} (defined: {plans})"
            out.append((("clients", i, "usage_plan"), message, client.usage_plan))
        elif not out and sc.client_stage(client) not in api.plan_stages(client.usage_plan):
            out.append(
                (
                    ("clients", i, "usage_plan"),
                    f"usage plan {client.usage_plan} is not associated with stage {sc.client_stage(client)} "
                    f"(its stages: {', '.join(api.plan_stages(client.usage_plan))})",
                    client.usage_plan,
                )
            )
    if api.type in DIRECT:
        if api.type == "function_url":
            limits = defaults.value("function_url_payload_bytes")
            largest = {"request_bytes": limits["request"], "response_bytes": limits[api.invoke_mode]}
            door = f"a function URL ({api.invoke_mode})"
        else:
            limits = defaults.value("alb_lambda_body_bytes")
            largest = {"request_bytes": limits["request"], "response_bytes": limits["response"]}
            door = "an ALB with Lambda targets (it answers 413 to a larger request body, 502 to a larger response)"
        for key, limit in largest.items():
            if getattr(client, key) > limit:
                size = f"{limit:,} bytes ({limit / 2**20:g} MB; AWS refuses larger)"
                message = f"{api_name} is {door}: payloads of at most {size}"
                out.append((("clients", i, key), message, getattr(client, key)))
    if client.usage_plan is None and client.invalid_key_fraction:
        out.append(
            (
                ("clients", i, "invalid_key_fraction"),
                "only a client with a usage_plan sends API keys; set usage_plan or remove this",
                client.invalid_key_fraction,
            )
        )
    if client.routes is not None:
        defined = [r.route for r in api.routes]
        for name in client.routes:
            if name not in defined:
                message = f"no such route in {api_name} (defined: {', '.join(sorted(defined))})"
                out.append((("clients", i, "routes", name), message, name))
        total = sum(client.routes.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            out.append((("clients", i, "routes"), f"route shares must add up to 1, they add up to {total:g}", total))
    return out


def reference_problems(sc: Scenario) -> list[tuple[Loc, str, Any]]:
    """Problems no single section can see: references between sections and REST-only features.

    Returns ``(location, message, offending value)`` triples; empty when the scenario is coherent.
    """
    out: list[tuple[Loc, str, Any]] = []
    for name, api in sc.all_apis.items():
        out += _api_problems(sc, name, api)
    account = sc.account
    if account.unreserved_minimum > account.lambda_concurrency:
        out.append(
            (
                ("account", "unreserved_minimum"),
                f"cannot exceed account.lambda_concurrency ({account.lambda_concurrency})",
                account.unreserved_minimum,
            )
        )
    reserved = sum(f.reserved_concurrency or 0 for f in sc.functions.values())
    limit = account.lambda_concurrency - account.unreserved_minimum
    kept = (
        f"(account.lambda_concurrency {account.lambda_concurrency} minus {account.unreserved_minimum} kept unreserved)"
    )
    if reserved > limit:
        message = f"reserved concurrency adds up to {reserved}, but at most {limit} may be reserved {kept}"
        out.append((("functions",), message, reserved))
    else:
        # AWS: provisioned concurrency counts towards the function's reservation and the Regional quota.
        committed = reserved + sum(
            f.provisioned_concurrency for f in sc.functions.values() if f.reserved_concurrency is None
        )
        if committed > limit:
            out.append(
                (
                    ("functions",),
                    f"reserved plus provisioned concurrency adds up to {committed}, but at most {limit} may be "
                    f"committed {kept}",
                    committed,
                )
            )
    names: set[str] = set()
    for i, client in enumerate(sc.clients):
        if client.name in names:
            out.append((("clients", i, "name"), "client name used twice", client.name))
        names.add(client.name)
        out += _client_problems(sc, i, client)
    return out
