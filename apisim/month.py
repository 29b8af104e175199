"""The month: the scenario's traffic laid over the whole calendar month, estimated from windows.

Simulating every request of a month is the reference (``--exact-month``), and slow: a 1,000 rps
API sends 2.6 billion. The default estimates it as a survey statistician would a population:

1. **Slices.** The month [start, start + 1 month) is cut into slices as long as the scenario's
   measured window (``duration − warmup``).
2. **Strata.** Every slice is described by what the design sees in it, computed exactly from the
   arrival processes: the offered rate in the slice, the rate over the warm-up before it, and,
   per client with a quota, whether its keys' quota is unspent, spent, or changes state. Slices
   alike in these are grouped (a few bins of each rate); a one-off event falls in a stratum of
   its own and is simulated as it is.
3. **Windows.** From each stratum two or more slices are drawn at random and each is simulated
   as a window: a warm-up long enough for the slowest state of the design (idle instances,
   cache and authorizer TTLs, bucket refill) and then the slice, with the traffic and quota state
   of that moment of the month.
4. **Weights.** Each window stands for ``slices in its stratum / windows drawn from it`` slices:
   every count, latency distribution and usage line of the month is the weighted sum of the
   windows'. Quota figures are then set to their exact arithmetic (:mod:`apisim.quotas`).
5. **Confidence.** Windows are paired within strata and the 95% intervals come from balanced
   repeated replication (Fay's variant, ε = 0.5) over the pairs: the month is recomputed with
   half-samples' weights (bill, 429 rate, p99 and cold-start ratio alike) and the spread of
   those recomputations, with Student's t over the pairs, gives the ±. A stratum simulated whole
   adds no sampling error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apisim import cost, defaults, metrics, months
from apisim.distributions import upper
from apisim.engine.build import Run, build, survey_process
from apisim.engine.door import UsageLine
from apisim.engine.functions import FunctionStats
from apisim.engine.simulation import FunctionRun, RunLog, door_results
from apisim.engine.sketch import ACCURACY, WeightedSketch
from apisim.engine.tally import N_OUTCOMES, N_STATUS, Tally
from apisim.outcomes import STATUS, Outcome
from apisim.problems import RunTooLarge
from apisim.quotas import ClientQuota, month_quotas
from apisim.randomness import stream
from apisim.scenario import BurstArrival, PointsProfile, PoissonArrival, Scenario, TraceArrival

MAX_SETTLE_SECONDS = 1800.0
"""The longest warm-up a window is given; a slower state is named in the month's warnings."""

FAY = 0.5
"""Fay's ε for the replicate weights (1 ± ε): keeps every window in every replicate, so a p99 of a
replicate never rests on half the windows alone."""

MAX_SLICE_CLIENTS = 3_000_000
"""Slices × clients a month may be described by (each is an exact integral, in Python): a window of
10 seconds with one client is 259,200 slices; a 1-second window is refused before any work."""

PRE_QUOTA = frozenset({Outcome.THROTTLED, Outcome.UNAUTHORIZED, Outcome.FORBIDDEN})
"""Outcomes decided before the quota step (API key → authorizer → throttles → quota)."""

# ----------------------------------------------------------------------------------------------
# Design: slices, strata, windows
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One simulated window: slice ``slice`` of the month, standing for ``weight`` slices."""

    slice: int
    stratum: int
    at: float  # month time of the window's t = 0 (its warm-up begins here)
    weight: float
    pair: int  # replication pair (-1: a stratum simulated whole)
    side: int  # 0 or 1 within the pair
    expected: float = 0.0  # the slice's expected arrivals (exact, from the arrival processes)


@dataclass(frozen=True)
class Design:
    """How a month is estimated: where its windows are and what each stands for."""

    start: Any  # datetime
    seconds: float  # the month's length
    slice_seconds: float
    warmup: float
    settle_reason: str
    slices: int
    strata: list[int]  # slices per stratum
    expected: list[float]  # expected arrivals per stratum (exact)
    windows: list[Window]
    quotas: list[ClientQuota]
    asked: int = 0  # the windows asked for; more are drawn when the month has more kinds of slices

    def weights(self, factors: Sequence[float] | None = None) -> list[float]:
        """Each window's weight: the slices it stands for, calibrated within its stratum so the
        windows' expected arrivals add up to the stratum's exact total (a ratio estimator: the
        month's expected traffic is known exactly; the windows' own arrivals still vary). ``factors``
        multiply the design weights first (a replicate of the confidence interval)."""
        factors = [1.0] * len(self.windows) if factors is None else factors
        base = [w.weight * f for w, f in zip(self.windows, factors, strict=True)]
        drawn: dict[int, float] = {}
        for w, b in zip(self.windows, base, strict=True):
            drawn[w.stratum] = drawn.get(w.stratum, 0.0) + b * w.expected
        out = []
        for w, b in zip(self.windows, base, strict=True):
            total = self.expected[w.stratum]
            out.append(b * total / drawn[w.stratum] if drawn[w.stratum] > 0 and total > 0 else b)
        return out

    @property
    def pairs(self) -> int:
        return 1 + max((w.pair for w in self.windows), default=-1)

    def window_scenario(self, sc: Scenario) -> Scenario:
        """The scenario one window runs: its warm-up and then one slice."""
        sim = sc.simulation.model_copy(update={"duration": self.warmup + self.slice_seconds, "warmup": self.warmup})
        return sc.model_copy(update={"simulation": sim})

    def exact_scenario(self, sc: Scenario) -> Scenario:
        """The scenario of the reference: every request of the month, after a warm-up before it."""
        # The file's timeseries bucket is a window's; over the month the default (~200 buckets) serves.
        sim = sc.simulation.model_copy(
            update={"duration": self.warmup + self.seconds, "warmup": self.warmup, "bucket": None}
        )
        return sc.model_copy(update={"simulation": sim})


def slowest_state(sc: Scenario) -> tuple[float, str]:
    """The slowest state of the design to settle after a change of load, and what it is."""
    slow: list[tuple[float, str]] = [(0.0, "nothing")]
    for name, f in sc.functions.items():
        slow.append((upper(f.idle_expiry), f"function {name}'s idle expiry"))
    for name, api in sc.all_apis.items():
        for stage in api.stage_names():
            c = api.stage(stage).cache
            if c is not None:
                slow.append((c.ttl, f"API {name}'s cache TTL"))
        if api.authorizer.type != "none":
            slow.append((api.authorizer.cache_ttl, f"API {name}'s authorizer TTL"))
        if api.type == "websocket":
            slow.append((float(defaults.value("websocket", "idle_timeout_s")), f"API {name}'s WebSocket idle timeout"))
        if api.cloudfront is not None and api.cloudfront.cache is not None:
            slow.append((api.cloudfront.cache.ttl, f"API {name}'s edge cache TTL"))
        throttles = [api.throttle, *(r.throttle for r in api.routes), *(p.throttle for p in api.usage_plans.values())]
        for t in throttles:
            if t is not None:
                slow.append((t.burst / t.rate, f"API {name}'s throttle refill"))
    t = sc.account.api_throttle
    slow.append((t.burst / t.rate, "the account throttle's refill"))
    # Ties go to the first reason in alphabetical order, not the file's order of functions or APIs.
    return max(sorted(slow, key=lambda x: x[1]), key=lambda x: x[0])


def settle(sc: Scenario) -> tuple[float, str]:
    """A window's warm-up: the scenario's, raised to the slowest state of the design (capped at
    :data:`MAX_SETTLE_SECONDS`), and why."""
    seconds, reason = slowest_state(sc)
    seconds = min(seconds, MAX_SETTLE_SECONDS)
    if sc.simulation.warmup >= seconds:
        return sc.simulation.warmup, "the scenario's warmup"
    return seconds, reason


def _between(sc: Scenario, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Expected arrivals of all clients in each [t0, t1), summed in an order-free way."""
    per_client = []
    for i in range(len(sc.clients)):
        p = survey_process(sc, i)
        per_client.append(np.array([p.mean_between(a, b) for a, b in zip(t0.tolist(), t1.tolist(), strict=True)]))
    if not per_client:
        return np.zeros(t0.shape)
    return np.sort(np.array(per_client), axis=0).sum(axis=0)  # sorted: the clients' order cannot change it


def _levels(x: np.ndarray, b: int) -> np.ndarray:
    """Levels of the rate ``x``: 0 for slices without traffic, then up to ``b`` levels of about equal
    numbers of busy slices (fewer where values repeat), cut on the logarithm of the rate, so a
    sinusoid gets narrow strata, and a burst among quiet slices never shares a level with them."""
    out = np.zeros(x.shape, dtype=np.int64)
    busy = x > 0
    if not busy.any():
        return out
    logs = np.log(x[busy])
    if b <= 1 or float(logs.max() - logs.min()) <= 1e-9:
        out[busy] = 1
        return out
    edges = np.unique(np.quantile(logs, np.linspace(0, 1, b + 1)[1:-1]))
    out[busy] = 1 + np.searchsorted(edges, logs, side="right")
    return out


def design(sc: Scenario, seed: int | None = None, windows: int | None = None) -> Design:
    """Slices, strata and the windows that will be simulated, for the month from ``simulation.start``
    (``windows``: how many, by default ``simulation.windows``)."""
    sim = sc.simulation
    windows = sim.windows if windows is None else windows
    seed = sim.seed if seed is None else seed
    seconds = months.month_seconds(sim.start)
    n = max(1, round(seconds / (sim.duration - sim.warmup)))
    if n * max(1, len(sc.clients)) > MAX_SLICE_CLIENTS:
        raise sc.origin.error(
            [(("simulation", "duration"), f"under the month basis each window covers duration − warmup = "
              f"{sim.duration - sim.warmup:g}s, which cuts the month into {n:,} slices for {len(sc.clients)} "
              f"client(s); the limit is {MAX_SLICE_CLIENTS:,} slices × clients. Use a longer duration, or "
              "basis: window for one short window", sim.duration)],
            RunTooLarge,
        )  # fmt: skip
    width = seconds / n
    warmup, reason = settle(sc)
    begin = np.arange(n) * width
    end = begin + width
    expected = _between(sc, begin, end)
    rate = expected / width
    prior = _between(sc, begin - warmup, begin) / warmup if warmup > 0 else rate
    # A slice whose warm-up saw a quite different load (after a burst, a step) is a transition.
    swing = np.where(prior > 1.25 * rate + 1e-12, 2, np.where(rate > 1.25 * prior + 1e-12, 1, 0))
    # Quota columns in client-name order: the file's order of clients cannot change the strata.
    quotas = sorted(month_quotas(sc, sim.start, seconds), key=lambda q: q.name)
    state = np.zeros((n, max(1, len(quotas))), dtype=np.int64)
    for j, q in enumerate(quotas):
        for k in range(n):
            a, b = begin[k] - warmup, end[k]
            if q.changes(a, b):
                state[k, j] = 1
            elif q.exhausted(max(0.0, a)):
                state[k, j] = 2
    kind = np.unique(np.column_stack([state, swing]), axis=0, return_inverse=True)[1].reshape(-1)
    budget = max(2, windows)
    for b in range(max(1, budget // 2 - 1), 0, -1):
        keys = np.stack([kind, _levels(rate, b)], axis=1)
        uniq, stratum = np.unique(keys, axis=0, return_inverse=True)
        stratum = stratum.reshape(-1)
        sizes = np.bincount(stratum, minlength=len(uniq))
        if int(np.minimum(sizes, 2).sum()) <= budget:
            break
    # Two windows per stratum (a stratum of one or two slices is simulated whole); spare pairs go
    # where the most traffic is, per window drawn.
    load = np.bincount(stratum, weights=rate, minlength=len(sizes))
    take = np.minimum(sizes, 2)
    spare = budget - int(take.sum())
    open_ = (sizes > 2) & (load > 0)
    while spare >= 2 and open_.any():
        score = np.where(open_ & (take + 2 <= sizes), load / take, -1.0)
        h = int(np.argmax(score))
        if score[h] < 0:
            break
        take[h] += 2
        spare -= 2
    rng = stream(seed, "month/windows")
    chosen: list[Window] = []
    pair = 0
    for h in range(len(sizes)):
        members = np.flatnonzero(stratum == h)
        m = int(take[h])
        picks = members if m >= members.size else rng.choice(members, size=m, replace=False)
        whole = m >= members.size
        for i, s in enumerate(picks.tolist()):
            p, side = (-1, 0) if whole else (pair + i // 2, i % 2)
            chosen.append(Window(int(s), h, float(begin[s] - warmup), members.size / m, p, side, float(expected[s])))
        if not whole:
            pair += m // 2
    chosen.sort(key=lambda w: w.slice)
    totals = np.bincount(stratum, weights=expected, minlength=len(sizes))
    return Design(
        sim.start, seconds, width, warmup, reason, n, sizes.tolist(), totals.tolist(), chosen, quotas, asked=windows
    )


def exact_design(sc: Scenario) -> Design:
    """The reference: one run over the whole month after a warm-up before it."""
    sim = sc.simulation
    seconds = months.month_seconds(sim.start)
    warmup, reason = settle(sc)
    window = Window(0, 0, -warmup, 1.0, -1, 0)
    return Design(
        sim.start, seconds, seconds, warmup, reason, 1, [1], [0.0], [window], month_quotas(sc, sim.start, seconds)
    )


# ----------------------------------------------------------------------------------------------
# Combining windows into the month
# ----------------------------------------------------------------------------------------------


def whole(values: np.ndarray) -> np.ndarray:
    """Round estimates to whole numbers that add up to the rounded total (largest remainder)."""
    values = np.clip(np.asarray(values, dtype=float), 0.0, None)
    floor = np.floor(values)
    short = round(float(values.sum())) - int(floor.sum())
    if short > 0:
        floor[np.argsort(floor - values, kind="stable")[:short]] += 1.0
    return floor.astype(np.int64)


class MonthTally(Tally):
    """The month's counts and latency distributions: the windows' after warm-up, weighted."""

    def __init__(self, logs: Sequence[RunLog], weights: Sequence[float]) -> None:
        first = logs[0].tally
        # Each window's own tally with its weight: a door whose price is not linear in the counts
        # (an ALB's hourly LCUs, the largest of four rates) prices each window, then weights them.
        self.parts = [(log.tally, w) for log, w in zip(logs, weights, strict=True)]
        self.extra: dict[str, Any] = {}  # doors' own counts live in the parts' tallies
        self.client_stage = first.client_stage
        self.clients = first.clients
        self.stages = first.stages
        self.retries = first.retries
        self.pairs = sum(w * log.tally.pairs.astype(float) for log, w in zip(logs, weights, strict=True))
        self.by_client = sum(w * log.tally.by_client.astype(float) for log, w in zip(logs, weights, strict=True))
        self.flags_by_client = sum(
            w * log.tally.flags_by_client.astype(float) for log, w in zip(logs, weights, strict=True)
        )
        self.final_counts = sum(w * log.tally.final_counts.astype(float) for log, w in zip(logs, weights, strict=True))
        self.requests = int(self.request_outcomes().sum())
        self.attempts_total = round(
            math.fsum(w * log.tally.attempts_total for log, w in zip(logs, weights, strict=True))
        )

        def mix(get: Any) -> WeightedSketch:
            return WeightedSketch([(get(log.tally), w) for log, w in zip(logs, weights, strict=True)])

        self.latency_all = mix(lambda t: t.latency_all)  # type: ignore[assignment]
        self.latency_ok = mix(lambda t: t.latency_ok)  # type: ignore[assignment]
        self.latency_client = mix(lambda t: t.latency_client)  # type: ignore[assignment]
        self.latency_stage = [mix(lambda t, s=s: t.latency_stage[s]) for s in range(self.stages)]  # type: ignore[misc]

    # The weighted counts are estimates with fractions; the read-outs are whole attempts whose
    # parts add up to their total (a user sums ``by_outcome`` and expects ``offered``).
    def outcome_counts(self, stage: int | None = None) -> np.ndarray:
        """Attempts per outcome over the month, whole numbers that add up to the month's total."""
        return whole(super().outcome_counts(stage))

    def request_outcomes(self) -> np.ndarray:
        """Client requests over the month per final outcome, whole numbers that add up to the total."""
        return whole(self.final_counts)

    def status_counts(self, stage: int | None = None) -> dict[int, int]:
        """Attempts per status code over the month, whole numbers that add up to the month's total."""
        per_status = whole(self._pairs(stage).sum(axis=0))
        return {int(s): int(per_status[s]) for s in np.flatnonzero(per_status)}

    def refuse_by_quota(self, client: int, admitted: float) -> None:
        """Set the client's attempts past the quota step to ``admitted``; the rest become quota refusals."""
        past = [int(o) for o in Outcome if o not in PRE_QUOTA and o != Outcome.QUOTA_EXCEEDED]
        now = float(self.by_client[client, past].sum())
        if now <= 0:
            return
        factor = admitted / now
        stage = int(self.client_stage[client])
        grid = self.pairs[stage].reshape(N_OUTCOMES, N_STATUS)
        moved = 0.0
        for o in past:
            mine = self.by_client[client, o]
            delta = mine * (factor - 1.0)
            row = grid[o]
            if row.sum() > 0:
                row += delta * row / row.sum()
            self.by_client[client, o] += delta
            moved -= delta
        q = int(Outcome.QUOTA_EXCEEDED)
        self.by_client[client, q] = max(0.0, self.by_client[client, q] + moved)
        grid[q, STATUS[Outcome.QUOTA_EXCEEDED]] = max(0.0, grid[q, STATUS[Outcome.QUOTA_EXCEEDED]] + moved)
        self.pairs[stage] = grid.reshape(-1)


@dataclass
class MonthStats:
    """A function's counts over the month (estimates: the windows' weighted sums)."""

    invocations: int = 0
    cold_starts: int = 0
    throttles: int = 0
    throttles_scaling: int = 0
    throttles_rate: int = 0
    errors: int = 0
    billed_ms_on_demand: float = 0.0
    billed_ms_provisioned: float = 0.0
    provisioned_invocations: int = 0
    peak_busy: int = 0


@dataclass
class MonthLog:
    """The month's figures in the shape of one run's (:class:`~apisim.engine.simulation.RunLog`)."""

    scenario: Scenario
    seed: int
    design: Design
    method: str
    tally: MonthTally
    functions: dict[str, FunctionRun]
    stages: list[tuple[str, str]]
    door_usage: list[UsageLine]
    account_usage: list[UsageLine]
    client_names: list[str]
    route_names: list[str]
    function_names: list[str]
    sample: RunLog  # the busiest window: its timeline is the one plotted
    windows: list[RunLog] = field(repr=False)
    wall_seconds: float = 0.0
    door_results: dict[str, dict[str, Any]] = field(default_factory=dict)  # a door's own summary block, by API
    records: None = None
    basis: str = "month"
    at: None = None

    @property
    def usage(self) -> list[UsageLine]:
        return self.door_usage + self.account_usage

    @property
    def attempts(self) -> dict[str, np.ndarray]:
        raise ValueError(
            "a month keeps no per-attempt rows (it is estimated from many windows): simulate one window "
            "with basis='window' and records=True"
        )

    @property
    def measured_seconds(self) -> float:
        return self.design.seconds

    @property
    def simulated_seconds(self) -> float:
        return math.fsum(w.scenario.simulation.duration for w in self.windows)

    @property
    def warmup(self) -> float:
        return self.design.warmup

    @property
    def bucket_width(self) -> float:
        return self.sample.bucket_width

    @property
    def events(self) -> dict[str, int]:
        return {"requests": sum(w.events.get("requests", 0) for w in self.windows)}

    @property
    def engine(self) -> str:
        """Which engine ran the windows: python, compiled, or both (``compiled+python``)."""
        return "+".join(sorted({w.engine for w in self.windows}))


def _functions(logs: Sequence[RunLog], weights: Sequence[float], share: Sequence[float]) -> dict[str, FunctionRun]:
    out = {}
    for name, f in logs[0].functions.items():
        stats = MonthStats()
        for fld in dataclasses.fields(FunctionStats):
            values = [getattr(log.functions[name].stats, fld.name) for log in logs]
            if fld.name == "peak_busy":
                total: float = max(values)
            else:
                total = math.fsum(w * v for w, v in zip(weights, values, strict=True))
                if fld.name.startswith("billed"):
                    setattr(stats, fld.name, total)
                    continue
                total = round(total)
            setattr(stats, fld.name, total)
        runs = [log.functions[name] for log in logs]
        out[name] = dataclasses.replace(
            f,
            stats=stats,  # type: ignore[arg-type]
            mean_busy=math.fsum(s * r.mean_busy for s, r in zip(share, runs, strict=True)),
            peak_busy=max(r.peak_busy for r in runs),
            mean_live=math.fsum(s * r.mean_live for s, r in zip(share, runs, strict=True)),
        )
    return out


def _account_usage(logs: Sequence[RunLog], weights: Sequence[float]) -> list[UsageLine]:
    merged: dict[tuple[Any, ...], UsageLine] = {}
    for log, w in zip(logs, weights, strict=True):
        for line in log.account_usage:
            key = (line.resource, line.component, line.price, line.kind, tuple(sorted(line.meter.items())))
            amount = line.amount if line.kind == "level" else w * line.amount
            old = merged.get(key)
            if old is None:
                merged[key] = dataclasses.replace(line, amount=amount)
            elif line.kind != "level":
                merged[key] = dataclasses.replace(old, amount=old.amount + amount)
    return list(merged.values())


def blueprint(sc: Scenario, d: Design) -> Run:
    """The run's components, built but not run: its doors price the month's counts."""
    return build(d.window_scenario(sc), sc.simulation.seed, records=False, at=0.0)


def combine(
    sc: Scenario,
    d: Design,
    logs: Sequence[RunLog],
    *,
    weights: Sequence[float] | None = None,
    parts: Run | None = None,
    method: str = "stratified windows",
    seed: int | None = None,
) -> MonthLog:
    """The month from its windows' runs (in ``d.windows`` order), each weighted by the slices it
    stands for (``weights`` overrides them: a replicate of the confidence interval). ``seed``: the
    month's (the windows run on seeds derived from it); by default the first window's."""
    w = d.weights() if weights is None else list(weights)
    tally = MonthTally(logs, w)
    exact = method == "exact"
    if not exact:
        for q in d.quotas:  # the quota's ground truth: its arithmetic over the calendar
            if not any(p.spent_at is not None for p in q.periods):
                continue  # never spent: the windows' counts stand (retries included)
            tally.refuse_by_quota(q.client, q.admitted)
    parts = parts or blueprint(sc, d)
    door_usage = [line for door in parts.doors.values() for line in door.usage(tally)]
    results = door_results(parts.doors, tally)
    seconds = d.slice_seconds
    share = [x * seconds / d.seconds for x in w]
    busiest = max(range(len(logs)), key=lambda i: (logs[i].tally.requests, -i))
    first = logs[0]
    return MonthLog(
        scenario=sc,
        seed=first.seed if seed is None else seed,
        design=d,
        method=method,
        tally=tally,
        functions=_functions(logs, w, share),
        stages=first.stages,
        door_usage=door_usage,
        account_usage=_account_usage(logs, w),
        client_names=first.client_names,
        route_names=first.route_names,
        function_names=first.function_names,
        sample=logs[busiest],
        windows=list(logs),
        wall_seconds=math.fsum(log.wall_seconds for log in logs),
        door_results=results,
    )


# ----------------------------------------------------------------------------------------------
# The month's figures and their confidence
# ----------------------------------------------------------------------------------------------


def figures(log: MonthLog | RunLog) -> dict[str, float | None]:
    """The figures that carry a ±: the bill, the 429 rate, p99 and the cold-start ratio."""
    bill = cost.bill_rows(metrics.usage(log))
    counts = log.tally.outcome_counts()
    offered = float(counts.sum())
    status = log.tally.status_counts()
    p99 = log.tally.latency_all.quantile(0.99)
    inv = math.fsum(f.stats.invocations for f in log.functions.values())
    cold = math.fsum(f.stats.cold_starts for f in log.functions.values())
    return {
        "cost_total": math.fsum(float(r["usd"]) for r in bill),
        "rate_429": status.get(429, 0) / offered if offered else None,
        "p99_ms": None if p99 is None else p99 * 1000.0,
        "cold_start_ratio": cold / inv if inv else None,
    }


def _hadamard(n: int) -> np.ndarray:
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def confidence(sc: Scenario, d: Design, logs: Sequence[RunLog], month: MonthLog) -> dict[str, Any]:
    """95% intervals of :func:`figures` by balanced repeated replication over the window pairs."""
    pairs = d.pairs
    point = figures(month)
    if pairs == 0:
        return {"method": "every slice simulated: no sampling error", "pairs": 0, "intervals": {}}
    h = _hadamard(pairs + 1)[:, 1 : pairs + 1]  # columns orthogonal to the all-ones one
    parts = blueprint(sc, d)
    reps: list[dict[str, float | None]] = []
    for row in h:
        factors = [
            1.0 if win.pair < 0 else 1.0 + FAY * row[win.pair] * (1 if win.side == 0 else -1) for win in d.windows
        ]
        reps.append(figures(combine(sc, d, logs, weights=d.weights(factors), parts=parts)))
    t = _t975(pairs)
    intervals: dict[str, dict[str, float] | None] = {}
    for key, value in point.items():
        values = [r[key] for r in reps]
        if value is None or any(v is None for v in values):
            intervals[key] = None
            continue
        var = math.fsum((v - value) ** 2 for v in values) / (len(values) * FAY**2)  # type: ignore[operator]
        half = t * math.sqrt(var)
        if key == "p99_ms":  # a sketch's percentile is known within its relative accuracy, never better
            half = max(half, ACCURACY * value)
        intervals[key] = {"low": value - half, "high": value + half, "plus_minus": half}
    return {
        "method": f"balanced repeated replication (Fay, ε = {FAY}) over {pairs} window pairs, t with {pairs} df",
        "pairs": pairs,
        "intervals": intervals,
    }


# ----------------------------------------------------------------------------------------------
# What the month rests on
# ----------------------------------------------------------------------------------------------


def one_off(sc: Scenario) -> list[str]:
    """The clients whose traffic happens once, not all month."""
    out = []
    for c in sc.clients:
        a = c.arrival
        if isinstance(a, BurstArrival) and a.every is None:
            out.append(f"client {c.name}'s burst happens once, at {a.start:g}s")
        elif isinstance(a, TraceArrival) and a.repeat == "none":
            out.append(f"client {c.name}'s trace plays once")
        elif isinstance(a, PoissonArrival) and isinstance(a.profile, PointsProfile) and a.profile.repeat == "none":
            out.append(f"client {c.name}'s points profile runs once; its last rate holds for the rest of the month")
    return out


def warnings(sc: Scenario, d: Design) -> list[str]:
    """Assumptions a person should see behind the month's figures."""
    out = []
    for text in one_off(sc):
        out.append(f"the month's figures include a one-off event: {text}")
    slowest, what = slowest_state(sc)
    if d.warmup < slowest:
        out.append(
            f"windows warm up for {d.warmup:g}s, less than the slowest state of the design ({what}: "
            f"{slowest:g}s); figures right after a change of load may carry start-up effects"
        )
    for q in d.quotas:
        spent = [p for p in q.periods if p.spent_at is not None]
        if spent:
            refused = 1.0 - q.admitted / q.offered if q.offered else 0.0
            first = months.at(d.start, spent[0].spent_at)  # type: ignore[arg-type]
            out.append(
                f"client {q.name}'s {q.keys} keys spend their {q.period.upper()} quota of {q.limit:,} "
                f"({len(spent)} of {len(q.periods)} periods; first at {first}): about {refused:.1%} of its "
                f"requests are refused with 429 Limit Exceeded and not billed (in the month's counts; the "
                "charts over time show them only if their window falls after the quota ran out)"
            )
    return out


def window_warnings(sc: Scenario) -> list[str]:
    """Under ``basis: window``: where one window scaled to a month may not be the month."""
    sim = sc.simulation
    measured = sim.duration - sim.warmup
    out = []
    for c in sc.clients:
        a = c.arrival
        period = None
        if isinstance(a, PoissonArrival) and a.profile is not None:
            period = a.profile.period
        elif isinstance(a, BurstArrival):
            period = a.every
        elif isinstance(a, TraceArrival):
            period = a.period
        if period is not None and measured < period:
            out.append(f"the window ({measured:g}s) is shorter than client {c.name}'s period ({period:g}s)")
    for text in one_off(sc):
        out.append(f"the window is scaled to a month, yet {text}")
    slowest, what = slowest_state(sc)
    if measured < slowest:
        out.append(f"the window ({measured:g}s) is shorter than the slowest state of the design ({what}: {slowest:g}s)")
    if sim.warmup < slowest:
        out.append(f"warm-up ({sim.warmup:g}s) is shorter than the slowest state of the design ({what}: {slowest:g}s)")
    return out


def _quota_block(q: ClientQuota) -> dict[str, Any]:
    return {
        "client": q.name,
        "plan": q.plan,
        "keys": q.keys,
        "limit": q.limit,
        "period": q.period,
        "offset": q.offset,
        "offered": q.offered,
        "admitted": q.admitted,
        "periods_spent": sum(p.spent_at is not None for p in q.periods),
        "periods": len(q.periods),
    }


def block(log: MonthLog, ci: dict[str, Any]) -> dict[str, Any]:
    """The summary's ``month`` block."""
    d = log.design
    tally = log.tally
    counts = tally.outcome_counts()
    point = figures(log)
    expected = math.fsum(
        survey_process(log.scenario, i).mean_between(0.0, d.seconds) for i in range(len(log.scenario.clients))
    )
    return {
        "basis": "month",
        "start": d.start.isoformat().replace("+00:00", "Z"),
        "seconds": d.seconds,
        "days": d.seconds / 86400.0,
        "method": log.method,
        "windows": len(d.windows),
        "windows_asked": d.asked or len(d.windows),
        "window_seconds": d.slice_seconds,
        "window_warmup_seconds": d.warmup,
        "warmup_reason": d.settle_reason,
        "strata": len(d.strata),
        "simulated_seconds": log.simulated_seconds,
        "offered": int(counts.sum()),
        "requests_expected": expected,
        "by_outcome": {o.key: int(counts[o]) for o in Outcome},
        "rate_429": point["rate_429"],
        "latency_ms": metrics.latency_stats(tally.latency_all),  # type: ignore[arg-type]
        "cold_start_ratio": point["cold_start_ratio"],
        "cost_total": point["cost_total"],
        "quotas": [_quota_block(q) for q in d.quotas],
        "ci95": ci["intervals"],
        "ci_method": ci["method"],
    }
