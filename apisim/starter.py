"""The commented starter scenario that ``apisim init`` writes: every key a newcomer needs, with its
default and unit, in the manner of Infracost's usage-file template.

The values written are AWS's defaults or apisim's (``data/limits.yaml``) except where a starter
needs a choice (the route, the function's run time, the traffic); ``tests/test_cli.py`` loads both
variants and checks that what the comments call a default is the schema's default.
"""

from __future__ import annotations

TYPES = ("rest", "http", "alb", "function_url", "websocket")
"""The front doors ``init --type`` offers."""

_HEAD = """\
# A starter scenario written by `apisim init`: {label} in front of one Lambda function.
# Check it with `apisim validate FILE`, run it with `apisim run FILE`. Durations take units
# (250ms, 30s, 5m, 1h, 1d) or are plain seconds; *_ms latencies are milliseconds or a distribution
# ({{dist: lognormal, median: 60, p99: 300}}, exponential, uniform, constant, empirical).
# Every key is in the README's "The scenario file"; `apisim schema > scenario.schema.json` gives
# editors completion (first line: # yaml-language-server: $schema=scenario.schema.json).
name: starter-{type}
description: {label} in front of one Lambda function

simulation:
  duration: 10m                # each simulated window, warm-up included (default 1h)
  warmup: 1m                   # excluded from every figure (default 0; the month raises it as needed)
  seed: 1                      # the same seed gives the same numbers (default 1)
  basis: month                 # month: the calendar month from `start`, from windows (default); window: one, scaled
  windows: 16                  # windows that represent the month (default 16; more narrows the ±)
  start: 2026-04-01T00:00:00Z  # the month billed (UTC; default 2026-04-01)
"""

_REST = """\
api:
  type: rest                   # rest | http
  endpoint: regional           # regional | edge | private (default regional)
  # throttle: {rate: 5000, burst: 2500}    # the stage's default method throttle (default: none, only the account's)
  # cache: {size_gb: 0.5, ttl: 300s}       # a response cache cluster, billed by the hour (default: none)
  # authorizer: {type: lambda, function: authz, cache_ttl: 300s}   # lambda | cognito | iam | none (default none)
  # usage_plans: {free: {rate: 100, burst: 200, quota: {limit: 100000, period: month}}}  # clients name one
  routes:
    - route: GET /items
      integration: {type: lambda, function: items}   # also {type: http | mock | aws, latency_ms: ...}
      timeout: 29s             # integration timeout (default 29s for REST)
      # cache: true            # GET routes are cached when api.cache is set (default)
      # throttle: {rate: 500, burst: 1000}   # this method's bucket (default: api.throttle)
"""

_HTTP = """\
api:
  type: http                   # rest | http (HTTP APIs are regional; no cache, usage plans or validation)
  # throttle: {rate: 5000, burst: 2500}    # the stage's default route throttle (default: none, only the account's)
  # authorizer: {type: jwt, latency_ms: 1}  # lambda | jwt | iam | none (default none)
  routes:
    - route: GET /items
      integration: {type: lambda, function: items}   # also {type: http | mock | aws, latency_ms: ...}
      timeout: 30s             # integration timeout (default 30s for HTTP APIs, at most 30s)
      # throttle: {rate: 500, burst: 1000}   # this route's bucket (default: api.throttle)
"""

_ALB = """\
api:
  type: alb                    # an Application Load Balancer with Lambda targets
  # rules: 12                  # listener rules a request is evaluated against (default: one per route; 10 free)
  # cloudfront: {cache: {ttl: 1h}}          # a CloudFront distribution in front (default: none)
  routes:                      # each route is a listener rule forwarding to its function's target group
    - route: GET /items
      integration: {type: lambda, function: items}   # Lambda only; bodies up to 1 MB each way
"""

_FUNCTION_URL = """\
api:
  type: function_url           # a Lambda function URL: no throttles, stages, caches or usage plans
  invoke_mode: buffered        # buffered (payloads up to 6 MB, default) | response_stream (responses up to 200 MB)
  # authorizer: {type: iam, invalid_fraction: 0.01}   # AuthType AWS_IAM: unsigned requests get 403 (default none)
  routes:                      # the paths clients call; all invoke the URL's one function
    - route: GET /items
      integration: {type: lambda, function: items}
"""

_WEBSOCKET = """\
api:
  type: websocket              # connections that carry messages both ways; billed per message and connection-minute
  route_selection: $request.body.action   # for the record: clients' messages.routes pick the routes
  # authorizer: {type: lambda, function: authz}   # lambda | iam | none (default none); on $connect only
  # metering: {connect_disconnect: false, connection_minutes: exact}   # what AWS leaves unsaid (defaults shown)
  routes:                      # route keys: $connect, $disconnect, $default or a name
    - {route: $connect, integration: {type: lambda, function: items}}
    - {route: $disconnect, integration: {type: lambda, function: items}}
    - route: sendMessage
      integration: {type: lambda, function: items}
      timeout: 29s             # integration timeout (default 29s, at most 29s)
"""

_WEBSOCKET_CLIENT = """\
    connections:               # a WebSocket client opens connections instead of sending requests
      arrival: {process: poisson, rate: 2}   # new sessions a second; or population: {users: 1000}
      session: {dist: lognormal, median: 20m, p99: 3h}   # how long a user stays (2 h connections, then reconnect)
      reconnect: {on: [max_duration, idle], delay: 1s}   # default (the delay an estimate)
    messages: {rate_per_connection: 0.01, routes: {sendMessage: 1.0}, bytes: 500}   # per open connection
    keep_alive: 9m             # an app-level ping after 9 minutes without a message (billed); none: no pings
    fan_out: {kind: room, size: 10}   # pushes through @connections per message: one_to_one | room | broadcast
"""

_CONNECTIONS = """\
    connections: {keep_alive: true, requests_per_connection: 10}   # an ALB bills new and active connections
"""

_TAIL = """\

functions:
  items:
    duration_ms: {dist: lognormal, median: 60, p99: 300}   # required: the handler's warm run time, ms
    memory_mb: 128             # 128..10240 MB (default 128); CPU grows with memory (see cpu_fraction)
    arch: x86_64               # x86_64 | arm64 (default x86_64; arm64 is cheaper per GB-second)
    timeout: 3s                # the function's timeout (default 3s, AWS's)
    cold_start_ms: {dist: lognormal, median: 300, p99: 1200}   # default (an estimate: measure yours)
    idle_expiry: {dist: uniform, low: 5m, high: 15m}        # an idle instance's lifetime (default; an estimate)
    provisioned_concurrency: 0 # always-warm instances, billed all month (default 0)
    # reserved_concurrency: 100  # a cap on this function's instances (default: none)
    error_fraction: 0          # share of invocations that fail: 502 (default 0)

account:                       # AWS's defaults per account and region
  api_throttle: {rate: 10000, burst: 5000}   # requests/s and bucket size, shared by every API
  lambda_concurrency: 1000     # concurrent executions in the region
  unreserved_minimum: 100      # kept free of reservations
  scaling_rate: {instances: 1000, per: 10s}   # new instances per function

clients:
  - name: users
    arrival: {process: poisson, rate: 20}   # requests/s; also constant, burst, trace, and profiles:
    #   {process: poisson, rate: 20, profile: {type: diurnal, peak_to_trough: 4, peak_at: 14h}}
    #   {process: burst, rate: 1500, duration: 5s, start: 1s, every: 10m}
    request_bytes: 1024        # bytes in, per request (default 1024)
    response_bytes: 1024       # bytes out, per 200 answer (default 1024)
    # retry: {max_attempts: 3, backoff: exponential, base: 100ms, cap: 5s, jitter: full, on: [429, 5xx]}

pricing:
  region: us-east-1            # the price table's region (default us-east-1)
  month: 730h                  # the month a window basis scales to (default 730h)
  free_tier: false             # false | always | true: which free allowances to take (default false)

# slos: ["p99<800ms", "rate_429<0.001"]   # judged by `apisim report` (and plan's --slo)
"""

_REST_CLIENT = """\
    # usage_plan: free          # REST: the usage plan its API keys belong to (default: none)
    # api_keys: 50              # keys sharing the traffic, each with its own bucket and quota (default 1)
"""


def starter(api_type: str = "http") -> str:
    """The starter scenario's text for a door of ``api_type`` (one of :data:`TYPES`)."""
    if api_type not in TYPES:
        raise ValueError(f"the type is one of {', '.join(TYPES)}, not {api_type!r}")
    label = {
        "rest": "a REST API", "http": "an HTTP API", "alb": "an Application Load Balancer",
        "function_url": "a Lambda function URL", "websocket": "a WebSocket API",
    }[api_type]  # fmt: skip
    head = _HEAD.format(label=label, type=api_type.replace("_", "-"))
    api = {"rest": _REST, "http": _HTTP, "alb": _ALB, "function_url": _FUNCTION_URL, "websocket": _WEBSOCKET}[api_type]
    tail = _TAIL
    if api_type == "rest":
        tail = tail.replace("\n\npricing:", "\n" + _REST_CLIENT + "\npricing:")
    if api_type == "alb":
        tail = tail.replace("\n\npricing:", "\n" + _CONNECTIONS + "\npricing:")
    if api_type == "websocket":
        start = tail.index("    arrival: {process: poisson")
        end = tail.index("    # retry:")  # a message's size is messages.bytes
        tail = tail[:start] + _WEBSOCKET_CLIENT + tail[end:]
    return head + "\n" + api + tail
