"""The run loop: arrivals in time order, each sent to its client's door; what the run produced.

Arrivals are generated a window at a time (vectorised, per client, then merged in time order)
and each is sent to the door its client calls. SimPy is the ledger's agenda for work that happens
later than its cause (a request resuming after its Lambda authorizer, a client's retry): before
each arrival, every event due by then is processed, so every component is asked in time order.
Function completions and idle expiries stay on each pool's own agenda (see
:mod:`apisim.engine.functions`). Building the run is :mod:`apisim.engine.build`'s job.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apisim.budget import ARRIVALS_PER_WINDOW, peak_rate, websocket_load
from apisim.engine.build import Run
from apisim.engine.clients import Population
from apisim.engine.door import Door, Request, UsageLine
from apisim.engine.functions import FunctionStats
from apisim.engine.records import Records
from apisim.engine.tally import Tally
from apisim.scenario import Scenario


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
    peak_buckets: np.ndarray = field(default_factory=lambda: np.zeros(0))  # highest busy count per bucket
    invocation_buckets: np.ndarray = field(default_factory=lambda: np.zeros(0))  # invocations begun per bucket


@dataclass
class RunLog:
    """Everything one run produced: counts and sketches, optional per-attempt rows, levels, usage."""

    scenario: Scenario
    seed: int
    tally: Tally
    records: Records | None
    functions: dict[str, FunctionRun]
    stages: list[tuple[str, str]]  # (API, stage) by the tally's stage index
    door_usage: list[UsageLine]  # what every door consumed, after warm-up
    account_usage: list[UsageLine]  # what every function consumed, after warm-up
    client_names: list[str]
    route_names: list[str]
    function_names: list[str]
    bucket_width: float
    wall_seconds: float
    events: dict[str, int] = field(default_factory=dict)
    door_results: dict[str, dict[str, Any]] = field(default_factory=dict)  # a door's own summary block, by API
    at: float | None = None  # month time of t = 0, for a window of the month
    engine: str = "python"  # which engine ran it: python, or compiled (apisim.engine.kernel)
    basis: str = "window"  # what the counts cover: this run's window (a month is apisim.month.MonthLog)

    @property
    def usage(self) -> list[UsageLine]:
        """What every door and function consumed, after warm-up."""
        return self.door_usage + self.account_usage

    @property
    def sample(self) -> RunLog:
        """The run whose timeline is plotted: this one."""
        return self

    @property
    def simulated_seconds(self) -> float:
        """The time the counts cover (after warm-up)."""
        return self.measured_seconds

    @property
    def measured_seconds(self) -> float:
        """The time the counts cover (after warm-up)."""
        return self.scenario.simulation.duration - self.scenario.simulation.warmup

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


def _window(clients: list[Population], t0: float, width: float, end: float, extra: float = 0.0) -> float:
    """A window from ``t0`` holding about :data:`ARRIVALS_PER_WINDOW` arrivals.

    Why: the window's arrivals are held in memory at once, so a dense burst must be cut into
    short windows, and a quiet stretch is crossed in long ones. Widths double or halve from
    the last one; for a steady rate the first guess stands.
    """

    def expected(w: float) -> float:
        # ``extra``: work a second the arrivals do not show (a WebSocket API's messages on open connections).
        return math.fsum(c.arrivals.expected(t0, min(end, t0 + w)) for c in clients) + extra * w  # order-free

    while t0 + width < end and expected(width) < ARRIVALS_PER_WINDOW / 2:
        width *= 2.0
    while width > 1e-6 and expected(width) > 2 * ARRIVALS_PER_WINDOW:
        width /= 2.0
    return width


def arrival_windows(run: Run) -> Iterator[tuple[float, np.ndarray, np.ndarray | None, list[np.ndarray]]]:
    """The run's arrivals, window by window: (window end, arrival times in order, each arrival's
    client index (None: there is one client), the five attribute columns (route, API key, token,
    cache key, validation coin)). Both engines take their arrivals from here."""
    sc = run.scenario
    end = sc.simulation.duration
    clients = run.clients
    peak = peak_rate(sc)
    # A WebSocket API's messages happen on the agenda, not as arrivals: windows are sized (and the
    # counts folded between them) for them too, so memory stays flat however few sessions open.
    extra = math.fsum(websocket_load(sc, c)[0] for c in sc.clients if c.connections.websocket) / end
    peak += extra
    window = min(end, ARRIVALS_PER_WINDOW / peak if peak > 0 else end)
    t0 = 0.0
    while t0 < end:
        window = _window(clients, t0, window, end, extra)
        t1 = min(end, t0 + window)
        times_per_client = [c.arrivals.times(t0, t1, c.arrival_rng) for c in clients]
        attrs = [c.attributes(len(t)) for c, t in zip(clients, times_per_client, strict=True)]
        if len(clients) == 1:
            yield t1, times_per_client[0], None, list(attrs[0])
        else:
            # Merge the clients' arrivals in time order; ties go by random keys, not the file's order.
            ties = np.concatenate([c.ties(len(t)) for c, t in zip(clients, times_per_client, strict=True)])
            order = np.lexsort((ties, np.concatenate(times_per_client)))
            times = np.concatenate(times_per_client)[order]
            owner_index = np.concatenate([np.full(len(t), i) for i, t in enumerate(times_per_client)])[order]
            columns = [np.concatenate([a[k] for a in attrs])[order] for k in range(5)]
            yield t1, times, owner_index, columns
        t0 = t1


def drive(run: Run, progress: Callable[[float], None] | None) -> RunLog:
    """Send every arrival to its door in time order, then close the books."""
    started = time.perf_counter()
    sc = run.scenario
    end = sc.simulation.duration
    env = run.env
    step = env.step
    peek = env.peek
    ledger = run.ledger
    clients = run.clients
    for door in run.doors.values():
        door.start([c for c in clients if c.door is door])
    # One door for every client (the common case): its bound method, once, instead of a lookup per request.
    attempt = clients[0].door.attempt if len({id(c.door) for c in clients}) == 1 else None
    next_id = 0
    for t1, arrays, owner_index, attrs in arrival_windows(run):
        times = arrays.tolist()
        columns = [a.tolist() for a in attrs]
        if owner_index is None:
            owners: Iterable[Population] = itertools.repeat(clients[0])
        else:
            owners = [clients[i] for i in owner_index.tolist()]
        # strict=False: with one client, `owners` repeats it without end.
        for t, client, route, key, token, cache_key, validation in zip(times, owners, *columns, strict=False):
            while ledger.pending and peek() <= t:
                step()
            req = Request(next_id, client, route, key, token, cache_key, validation, t)
            if attempt is not None:
                attempt(t, req)
            else:
                client.door.attempt(t, req)
            next_id += 1
        while ledger.pending and peek() < t1:  # what the window's agenda holds, before its counts fold
            step()
        _fold(run)
        if progress is not None:
            progress(t1 / end)
    env.run()  # what arrived before the end finishes after it
    return close(run, started, next_id, engine="python")


def close(run: Run, started: float, requests: int, *, engine: str, pools_finished: bool = False) -> RunLog:
    """Close the books of a run whose arrivals and agenda are done: every door's and function's
    final state, the run's figures. ``pools_finished``: the engine closed the pools itself."""
    sc = run.scenario
    end = sc.simulation.duration
    for door in run.doors.values():
        door.finish(end)
    run.tally.fold()
    functions = {}
    for name, pool in run.account.functions.items():
        if not pools_finished:
            pool.finish(end)
        spec = run.account.specs[name]
        functions[name] = FunctionRun(
            name=name,
            memory_mb=spec.memory_mb,
            arch=spec.arch,
            provisioned=spec.provisioned,
            stats=pool.stats,
            mean_busy=pool.busy_log.mean(),
            peak_busy=max(pool.stats.peak_busy, pool.busy_log.level_at_start()),
            mean_live=pool.live_log.mean(),
            busy_buckets=pool.busy_log.bucket_means(),
            live_buckets=pool.live_log.bucket_means(),
            peak_buckets=np.asarray(pool.busy_log.peaks, dtype=float),
            invocation_buckets=pool.busy_log.bucket_rises(),
        )
    return RunLog(
        scenario=sc,
        seed=run.seed,
        tally=run.tally,
        records=run.log.finish() if run.log is not None else None,
        functions=functions,
        stages=run.stages,
        door_usage=[line for door in run.doors.values() for line in door.usage(run.tally)],
        door_results=door_results(run.doors, run.tally),
        account_usage=run.account.usage(),
        client_names=[c.name for c in sc.clients],
        route_names=run.route_names,
        function_names=list(run.account.functions),
        bucket_width=run.width,
        wall_seconds=time.perf_counter() - started,
        events={"requests": requests},
        at=run.at,
        engine=engine,
    )


def door_results(doors: dict[str, Door], tally: Tally) -> dict[str, dict[str, Any]]:
    """Each door's own block of the summary, keyed by its kind, by API name (doors without one: none)."""
    out = {}
    for name, door in doors.items():
        block = door.results(tally)
        if block is not None:
            out[name] = {door.kind: block}
    return out


def _fold(run: Run) -> None:
    """Between windows: fold what the window produced, so memory stays flat."""
    run.tally.fold()
    for extra in run.tally.extra.values():
        extra.fold()
    for pool in run.account.functions.values():
        pool.fold()
    if run.log is not None:
        run.log.spill_if_large()
