"""How much time and memory a run will need, estimated from the validated scenario before any work starts.

Every resource a scenario can ask for has a limit here, and every limit is checked the same way by
``apisim validate``, ``apisim run`` and the Python API: a run above a limit is refused with
:class:`~apisim.problems.RunTooLarge`, which names the file, the line, the estimate and the way to
go ahead anyway (``--force``, ``force=True``). The estimates are upper bounds where one is cheap to
get (retries at their maximum, a burst cut by the end counted whole) and expectations otherwise.

The memory figures are apisim's own working memory on top of the interpreter and libraries
(about 150 MB); the per-item costs were measured on CPython 3.11 (see ``tests/test_budget.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from apisim import defaults
from apisim.problems import Loc, Problem, RunTooLarge
from apisim.scenario import Client, Scenario, TraceArrival

MAX_ATTEMPTS = 30_000_000
"""Attempts (first attempts plus every retry a client may send) a run may make without ``force``:
a few minutes of wall time."""

MAX_MEMORY_BYTES = 350 * 2**20
"""apisim's own working memory a run may need without ``force`` (the process stays under 500 MB)."""

MAX_BUCKETS = 20_000
"""Timeseries buckets (``simulation.duration / simulation.bucket``) without ``force``."""

RECORDS_AUTO_LIMIT = 1_000_000
"""Runs estimated at or below this many attempts keep per-attempt records unless told otherwise
(and only while the records take at most half the memory limit)."""

ARRIVALS_PER_WINDOW = 32_768
"""Arrivals generated at once: the run's working set (see :mod:`apisim.engine.simulation`)."""

# Bytes per item, measured (tests/test_budget.py keeps them honest).
RECORD_BYTES = 340  # one attempt kept as a record, read back as a DataFrame row
WINDOW_ARRIVAL_BYTES = 300  # one arrival in the current window: arrays, lists and tally entries
KEY_STATE_BYTES = 260  # one API key's throttle bucket and quota
CACHE_ENTRY_BYTES = 120  # one entry of the response or authorizer cache
ZIPF_KEY_BYTES = 56  # one key of a Zipf popularity table and the temporaries that build it
ZIPF_GUIDE = (32, 2**20)  # its guide's slices: at most this many per key, and in all (clients.InverseCdf)
ZIPF_GUIDE_SLICE_BYTES = 8  # one slice of the guide: its int32 and, while it is built, a step flag, rounded up
BUCKET_BYTES = 4_000  # one timeseries bucket: its latency sketch and counters
LEVEL_BUCKET_BYTES = 40  # one bucket of a function's busy and live levels
INSTANCE_BYTES = 150  # one execution environment, busy or idle
SESSION_BYTES = 600  # one WebSocket session and its pending event


@dataclass(frozen=True)
class Estimate:
    """What one run is expected to need."""

    first_attempts: float
    attempts: float  # with every retry a client may send: an upper bound
    buckets: int
    records: bool
    memory: dict[str, float] = field(default_factory=dict)  # bytes by part

    @property
    def memory_bytes(self) -> float:
        return sum(self.memory.values())


def bucket_width(sc: Scenario) -> float:
    """The timeseries bucket: the scenario's own, or about 200 buckets at a readable width."""
    sim = sc.simulation
    if sim.bucket is not None:
        return sim.bucket
    raw = sim.duration / 200
    for nice in (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if raw <= nice:
            return float(nice)
    return float(math.ceil(raw / 86400) * 86400)


def client_arrivals(sc: Scenario, client: Client) -> float:
    """Expected first attempts of ``client`` in the run (an upper bound for bursts); a WebSocket
    client's connections, messages and pushes (:func:`websocket_load`)."""
    if client.connections.websocket:
        return websocket_load(sc, client)[0]
    return client.arrival.expected_arrivals(sc.simulation.duration)  # type: ignore[union-attr]


def websocket_load(sc: Scenario, client: Client) -> tuple[float, float]:
    """A WebSocket client's work in one run, about: its ``$connect`` attempts (new sessions and
    reconnects after idle and maximum-duration closes), messages, pings (an upper bound: one every
    keep-alive) and pushes, and the connections it holds open at once (λ·E[S], or its population)."""
    duration = sc.simulation.duration
    conn = client.connections
    limits = defaults.value("websocket")
    if conn.population is not None:
        open_ = float(conn.population.users)
        # Each user's sessions follow one another, a second apart at least (the engine's floor).
        turnover = (conn.session.mean + max(1.0, conn.reconnect.delay)) if conn.session is not None else math.inf
        connects = open_ * duration / turnover
    else:
        assert conn.arrival is not None
        connects = conn.arrival.expected_arrivals(duration)
        mean = conn.session.mean if conn.session is not None else duration
        # As many as the engine starts with (λ·E[S], sessions under way at t = 0), however long the run.
        open_ = connects / duration * mean if duration else 0.0
    m = client.messages
    rate = m.rate_per_connection if m is not None else 0.0
    idle = float(limits["idle_timeout_s"])
    if client.keep_alive is not None and client.keep_alive < idle:
        idles = 0.0  # pings keep every connection from idling
    elif rate > 0:
        gone = 1.0 if m is not None and m.process == "constant" and 1.0 / rate > idle else math.exp(-rate * idle)
        idles = open_ * rate * gone
    else:
        idles = open_ / idle
    reconnects = open_ * duration * (idles / max(open_, 1e-300) + 1.0 / float(limits["max_connection_s"]))
    pings = 1.0 / client.keep_alive if client.keep_alive else 0.0
    messages = open_ * duration * rate
    fan = client.fan_out
    per_message = 0.0 if fan is None else 1.0 if fan.kind == "one_to_one" else (fan.size or open_) - 1.0
    return connects + reconnects + messages * (1.0 + max(0.0, per_message)) + open_ * duration * pings, open_


def peak_rate(sc: Scenario) -> float:
    """The sum of every client's highest arrival rate: sizes the windows of arrivals."""
    return math.fsum(c.arrivals.peak_rate(sc.simulation.duration) for c in sc.clients if c.arrivals is not None)


def estimate(sc: Scenario, *, records: bool | None = None) -> Estimate:
    """Attempts, buckets and working memory of one run of ``sc``.

    ``records``: whether per-attempt rows will be kept (None: apisim's default, for runs of at most
    :data:`RECORDS_AUTO_LIMIT` attempts).
    """
    sim = sc.simulation
    first = {c.name: client_arrivals(sc, c) for c in sc.clients}
    tries = {c.name: first[c.name] * (c.retry.max_attempts if c.retry is not None else 1) for c in sc.clients}
    attempts = math.fsum(tries.values())
    if records is None:  # kept by default only where they fit well within the memory limit
        records = attempts <= RECORDS_AUTO_LIMIT and attempts * RECORD_BYTES <= MAX_MEMORY_BYTES / 2
        # ...and not when the compiled engine is asked for: it keeps totals only (--records picks Python).
        records = records and sc.simulation.engine != "compiled"
    buckets = max(1, math.ceil(sim.duration / bucket_width(sc)))
    memory: dict[str, float] = {}
    if records:
        memory["records"] = attempts * RECORD_BYTES
    # Windows hold about ARRIVALS_PER_WINDOW arrivals (twice that at most), but arrivals at one
    # instant cannot be split: a trace may put many at the same time.
    at_once = sum(c.arrivals.most_at_once for c in sc.clients if isinstance(c.arrivals, TraceArrival))
    memory["window"] = min(max(2 * ARRIVALS_PER_WINDOW, at_once), attempts) * WINDOW_ARRIVAL_BYTES
    keys = 0.0
    for c in sc.clients:
        if c.usage_plan is not None:
            keys += min(c.api_keys, tries[c.name])
    memory["api_keys"] = keys * KEY_STATE_BYTES
    entries = 0.0
    tokens = 0.0
    for name, api in sc.all_apis.items():
        callers = [c for c in sc.clients if sc.client_api(c)[0] == name]
        if not callers:
            continue
        key_space = max(c.cache_keys.count for c in callers)
        for stage in api.stage_names():  # each stage has its own cache
            entries += sum(key_space for r in api.routes if sc.route_cached(r, api, stage))
        if api.authorizer.type == "lambda":
            tokens += max(c.auth_tokens for c in callers)
    if entries:
        memory["response_cache"] = min(entries, attempts) * CACHE_ENTRY_BYTES
    if tokens:
        memory["authorizer_cache"] = min(tokens, attempts) * CACHE_ENTRY_BYTES
    memory["zipf_tables"] = float(
        sum(
            c.cache_keys.count * ZIPF_KEY_BYTES
            + ZIPF_GUIDE_SLICE_BYTES * min(ZIPF_GUIDE[0] * c.cache_keys.count, ZIPF_GUIDE[1])
            for c in sc.clients
            if c.cache_keys.zipf > 0 and c.cache_keys.count > 1
        )
    )
    memory["timeseries"] = buckets * (BUCKET_BYTES + LEVEL_BUCKET_BYTES * len(sc.functions))
    sessions = math.fsum(websocket_load(sc, c)[1] for c in sc.clients if c.connections.websocket)
    if sessions:
        memory["websocket_sessions"] = sessions * SESSION_BYTES
    concurrency = sc.account.lambda_concurrency
    memory["instances"] = min(concurrency, attempts) * INSTANCE_BYTES * max(1, min(len(sc.functions), 4))
    return Estimate(first_attempts=math.fsum(first.values()), attempts=attempts, buckets=buckets,
                    records=records, memory=memory)  # fmt: skip


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def problems(sc: Scenario, *, records: bool | None = None) -> list[tuple[Loc, str, None]]:
    """Every limit ``sc`` exceeds, as ``(location, message, None)``; empty if the run fits."""
    est = estimate(sc, records=records)
    out: list[tuple[Loc, str, None]] = []
    force = "pass --force (force=True in Python) to run it anyway"
    if est.attempts > MAX_ATTEMPTS:
        retries = est.attempts > est.first_attempts
        detail = (
            f"up to {est.attempts:,.0f} attempts ({est.first_attempts:,.0f} requests and the retries clients may send)"
            if retries
            else f"about {est.attempts:,.0f} requests"
        )
        out.append(
            (
                ("simulation", "duration"),
                f"the run would simulate {detail}; the limit is {MAX_ATTEMPTS:,} (a few minutes per 10 million). "
                f"Shorten simulation.duration, or {force}",
                None,
            )
        )
    memory = dict(est.memory)
    if est.buckets > MAX_BUCKETS:
        memory.pop("timeseries")  # said once, here
        out.append(
            (
                ("simulation", "bucket"),
                f"{est.buckets:,} timeseries buckets (duration / bucket); the limit is {MAX_BUCKETS:,}. "
                f"Use a wider bucket, or {force}",
                None,
            )
        )
    total = sum(memory.values())
    if total > MAX_MEMORY_BYTES:
        part, worst = max(memory.items(), key=lambda kv: kv[1])
        out.append(
            (
                _MEMORY_LOCATIONS.get(part, ()),
                f"the run would need about {_mb(total)} of working memory ({part}: {_mb(worst)}); "
                f"the limit is {_mb(MAX_MEMORY_BYTES)}. {_MEMORY_HINTS.get(part, 'Simulate less, or ')}{force}",
                None,
            )
        )
    return out


_MEMORY_LOCATIONS: dict[str, Loc] = {
    "records": ("simulation", "duration"),
    "timeseries": ("simulation", "bucket"),
    "api_keys": ("clients",),
    "response_cache": ("clients",),
    "authorizer_cache": ("clients",),
    "zipf_tables": ("clients",),
    "instances": ("account", "lambda_concurrency"),
    "window": ("clients",),
    "websocket_sessions": ("clients",),
}
_MEMORY_HINTS = {
    "records": "Per-attempt records (--records) cost about 340 bytes each: keep fewer, or shorten the run; ",
    "api_keys": "Each API key holds its own bucket and quota: use fewer api_keys, or ",
    "response_cache": "Every distinct cache key is an entry: use fewer cache_keys, or ",
    "authorizer_cache": "Every distinct token is a cache entry: use fewer auth_tokens, or ",
    "zipf_tables": "A Zipf popularity table holds every key: use fewer cache_keys, or ",
    "window": "A trace's arrivals are held at once: use a shorter trace, or ",
    "timeseries": "Use a wider simulation.bucket, or ",
    "instances": "Lower account.lambda_concurrency, or ",
    "websocket_sessions": "Each open WebSocket connection is held: simulate fewer users or shorter sessions, or ",
}


def check(sc: Scenario, *, force: bool = False, records: bool | None = None) -> Estimate:
    """The run's estimate; raises :class:`RunTooLarge` (located in the scenario's file) above any limit."""
    if not force:
        found = problems(sc, records=records)
        if found:
            raise sc.origin.error(found, RunTooLarge)
    return estimate(sc, records=records)


# ----------------------------------------------------------------------------------------------
# Studies: many runs
# ----------------------------------------------------------------------------------------------

MAX_STUDY_RUNS = 2_000
"""Runs (grid points × replications) a sweep or plan may make without ``force``."""

MAX_STUDY_ATTEMPTS = 300_000_000
"""Attempts, summed over every run of a study, without ``force``: tens of minutes on two cores."""


def check_runs(runs: int, first: Scenario, what: str = "the study") -> None:
    """Refuse more than :data:`MAX_STUDY_RUNS` runs (replications, designs, grid points, a report's)."""
    if runs > MAX_STUDY_RUNS:
        raise RunTooLarge(
            first.origin.source,
            [Problem((), f"{what} would make {runs:,} runs; the limit is {MAX_STUDY_RUNS:,}. "
                         "Make fewer runs, or pass --force (force=True in Python)")],
        )  # fmt: skip


def check_grid(points: int, replications: int, base: Scenario) -> None:
    """Refuse a grid of more than :data:`MAX_STUDY_RUNS` runs, before any of its points is built."""
    runs = points * replications
    if runs > MAX_STUDY_RUNS:
        raise RunTooLarge(
            base.origin.source,
            [
                Problem(
                    (),
                    f"the study would make {runs:,} runs ({points:,} grid points × {replications} replications); "
                    f"the limit is {MAX_STUDY_RUNS:,}. Vary fewer values, or pass --force (force=True in Python)",
                )
            ],
        )


def check_study(scenarios: list[Scenario], replications: int) -> None:
    """Refuse a study whose runs add up to more than :data:`MAX_STUDY_ATTEMPTS` attempts (or any run too large)."""
    total = 0.0
    for sc in scenarios:
        total += check(sc, records=False).attempts * replications
    if total > MAX_STUDY_ATTEMPTS and scenarios:
        raise RunTooLarge(
            scenarios[0].origin.source,
            [
                Problem(
                    (),
                    f"the study would simulate up to {total:,.0f} attempts over {len(scenarios) * replications:,} "
                    f"runs; the limit is {MAX_STUDY_ATTEMPTS:,}. Shorten the runs (--duration), vary fewer values, "
                    "or pass --force (force=True in Python)",
                )
            ],
        )
