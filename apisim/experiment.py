"""The Python API: simulate a scenario and get its numbers as dicts and DataFrames."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apisim import budget, cost, metrics, month
from apisim.engine.build import build
from apisim.engine.engines import choose_engine, run
from apisim.engine.simulation import RunLog
from apisim.loading import load
from apisim.month import MonthLog
from apisim.scenario import Scenario

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd


@dataclass
class Result:
    """One simulated run, or one month estimated from its windows. Tables are built on first use."""

    log: RunLog | MonthLog
    confidence: dict[str, Any] | None = None  # the month's 95% intervals (month basis)

    @property
    def scenario(self) -> Scenario:
        return self.log.scenario

    @cached_property
    def cost(self) -> pd.DataFrame:
        """Monthly cost, one row per line item (``item``, ``quantity``, ``unit``, ``usd``, ``detail``)."""
        import pandas as pd

        return pd.DataFrame(self.cost_rows, columns=cost.BILL_COLUMNS)

    @cached_property
    def cost_rows(self) -> list[dict[str, Any]]:
        """:attr:`cost`'s rows as dicts (what the summary and the terminal table read: no pandas)."""
        return cost.bill_rows(metrics.usage(self.log))

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The headline numbers; the same shape as ``apisim run --json``."""
        s = metrics.summarize(self.log)
        s["cost_monthly_usd"] = cost.cost_summary(self.cost_rows)
        if isinstance(self.log, MonthLog):
            s["month"] = month.block(self.log, self.confidence or {"intervals": {}, "method": "none"})
            s["warnings"] = month.warnings(self.scenario, self.log.design) + self.scenario.advisories()
        else:
            s["month"] = None
            s["warnings"] = month.window_warnings(self.scenario) + self.scenario.advisories()
        s["prices_retrieved"] = cost.prices().retrieved
        return s

    @cached_property
    def requests(self) -> pd.DataFrame:
        """One row per attempt (including warm-up rows, flagged in ``warmup``).

        Only for runs that kept records (``records=True``, or small runs by default).
        """
        return metrics.requests_frame(self.log)

    @property
    def has_records(self) -> bool:
        """Whether per-attempt rows were kept."""
        return self.log.records is not None

    @cached_property
    def latency_quantiles(self) -> pd.DataFrame:
        """The latency distribution of answered attempts after warm-up: ``q`` and ``latency_ms``."""
        return metrics.latency_quantiles(self.log)

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """One row per time bucket."""
        return metrics.timeseries(self.log.sample)

    def __repr__(self) -> str:
        s = self.summary
        p99 = s["latency_ms"]["p99"]
        return (
            f"<apisim.Result {s['scenario']!r} seed={s['seed']} basis={s['basis']} "
            f"attempts={s['requests']['offered']:,} p99={'–' if p99 is None else f'{p99:,.1f}'}ms "
            f"cost=${s['cost_monthly_usd']['total']:,.2f}/month>"
        )

    def _repr_html_(self) -> str:
        """The headline tables as small HTML tables, for a notebook (every name escaped)."""
        import html

        from apisim.formats import frame_html, run_line, summary_tables

        s = self.summary
        title = f"<p><b>{html.escape(s['scenario'])}</b> · seed {s['seed']} · {html.escape(run_line(s))}</p>"
        warnings = "".join(
            f"<p style='background:#fff4c2;padding:.2em .5em'>⚠ {html.escape(w)}</p>" for w in s.get("warnings", [])
        )
        tables = [frame_html(h, rows, t) for t, (h, rows) in summary_tables(s, self.cost).items()]
        return title + warnings + "".join(tables)

    def write(self, out: str | Path, *, overwrite: bool = False) -> Path:
        """Write the summary, tables, figures and report.md into the folder ``out``, atomically.

        ``out`` must be new, empty or written by apisim before; ``overwrite`` lets apisim add its
        files to another folder. Either way only apisim's own files are ever replaced or removed
        (:func:`apisim.output.publish`); anything else raises :class:`apisim.output.OutputRefused`.
        """
        from apisim import __version__
        from apisim.pages import write_run_folder

        source = f"apisim {__version__} · prices of {self.summary['prices_retrieved']}"
        return write_run_folder(self, Path(out), source=source, overwrite=overwrite)


def simulate(
    scenario: Scenario | str | Path,
    seed: int | None = None,
    *,
    force: bool = False,
    records: bool | None = None,
    progress: Callable[[float], None] | None = None,
    basis: str | None = None,
    exact_month: bool = False,
    workers: int | None = 1,
    engine: str | None = None,
) -> Result:
    """Simulate a scenario (object or file path): its month (``simulation.basis: month``, the
    default) or one window (``basis: window``).

    ``seed`` defaults to the scenario's ``simulation.seed``; the same scenario and seed give
    identical numbers in any process. A run above any of :mod:`apisim.budget`'s limits raises
    :class:`~apisim.problems.RunTooLarge` before any work starts; ``force`` lets it go ahead.
    ``records`` keeps one row per attempt (window basis only; default: for runs of up to a
    million attempts; otherwise only running totals, in flat memory). ``progress`` is called with
    the fraction done. ``basis`` overrides the scenario's. The month is estimated from
    representative windows (:mod:`apisim.month`), in ``workers`` processes (None: one per core);
    ``exact_month`` simulates every request of it instead (the reference; slow). ``engine``
    overrides ``simulation.engine`` (auto, python or compiled: the same numbers; the summary's
    ``engine`` says which ran).
    """
    sc = scenario if isinstance(scenario, Scenario) else load(scenario, force=force)
    sc = sc.with_engine(engine)
    if (basis or sc.simulation.basis) == "window" and not exact_month:
        estimate = budget.check(sc, force=force, records=records)
        # (No check_engine here: run() asks the run it builds, before any event, and raises the same error.)
        return Result(run(sc, seed, records=estimate.records, progress=progress))
    return _simulate_month(sc, seed, force=force, exact=exact_month, workers=workers, progress=progress)


def check(
    sc: Scenario,
    *,
    force: bool = False,
    records: bool | None = None,
    basis: str | None = None,
    exact_month: bool = False,
) -> None:
    """Every limit :func:`simulate` checks before it starts (``validate`` makes the same checks)."""
    if (basis or sc.simulation.basis) == "window" and not exact_month:
        estimate = budget.check(sc, force=force, records=records)
        check_engine(sc, records=estimate.records)
        return
    d = month.exact_design(sc) if exact_month else month.design(sc)
    _check_month(sc, d, force=force, exact=exact_month)
    check_engine(sc, records=False)


def check_engine(sc: Scenario, *, records: bool) -> None:
    """With ``simulation.engine: compiled``, that the kernel covers the scenario: raises
    :class:`~apisim.problems.EngineUnavailable` (located at ``simulation.engine``) naming what it does not."""
    if sc.simulation.engine == "compiled":
        choose_engine(build(sc, sc.simulation.seed, records=records), "compiled")


def _check_month(sc: Scenario, d: month.Design, *, force: bool, exact: bool) -> None:
    if force:
        return
    budget.check(d.exact_scenario(sc) if exact else d.window_scenario(sc), records=False)
    budget.check_runs(len(d.windows), sc, "the month's windows")


def _window_job(job: tuple[Scenario, int, float]) -> RunLog:
    scenario, seed, at = job
    return run(scenario, seed, records=False, at=at)


def _simulate_month(
    sc: Scenario,
    seed: int | None,
    *,
    force: bool,
    exact: bool,
    workers: int | None,
    progress: Callable[[float], None] | None,
) -> Result:
    """The month from its windows (or, ``exact``, from one run of all of it)."""
    seed = sc.simulation.seed if seed is None else seed
    d = month.exact_design(sc) if exact else month.design(sc, seed)
    window = d.exact_scenario(sc) if exact else d.window_scenario(sc)
    _check_month(sc, d, force=force, exact=exact)
    check_engine(sc, records=False)
    if exact:
        logs = [run(window, seed, records=False, progress=progress, at=d.windows[0].at)]
        log = month.combine(sc, d, logs, method="exact")
        return Result(log, {"method": "every request of the month simulated: no sampling error", "intervals": {}})
    jobs = [(window, replication_seed(seed, w.slice + 1), w.at) for w in d.windows]
    logs = _map(_window_job, jobs, workers, None if progress is None else lambda done, total: progress(done / total))
    log = month.combine(sc, d, logs, seed=seed)  # the summary names the seed the user gave
    return Result(log, month.confidence(sc, d, logs, log))


def _map(
    fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int | None, progress: Callable[[int, int], None] | None
) -> list[Any]:
    """``fn`` over ``jobs``, in worker processes when ``workers`` > 1 (default: one per core); results
    in the jobs' order. ``progress(done, total)`` is called as jobs end."""
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    out: list[Any] = [None] * len(jobs)
    if workers <= 1:
        for i, job in enumerate(jobs):
            out[i] = fn(job)
            if progress is not None:
                progress(i + 1, len(jobs))
        return out
    # Imported here: concurrent.futures.process (and multiprocessing) take 20 ms to import, a
    # tenth of `import apisim`, and a single run never needs them.
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)
    try:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), start=1):
            out[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(jobs))
    except BaseException:
        # Ctrl-C (or a failed job): waiting for the running jobs could take minutes, so the workers
        # are stopped now; their results would be thrown away anyway.
        _stop(pool)
        raise
    pool.shutdown()
    return out


def _ignore_interrupts() -> None:
    """In a worker: leave Ctrl-C to the parent, which stops the workers itself (:func:`_stop`).

    Why: a terminal sends SIGINT to the whole process group, and every worker would print its own
    KeyboardInterrupt traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the jobs not started and terminate the workers, without waiting for the running ones."""
    # The executor has no public way to stop a running job; its processes are the only handle.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=1)
        if process.is_alive():
            process.kill()
            process.join(timeout=1)


def replication_seed(seed: int, replication: int) -> int:
    """The seed of replication ``replication`` of a run seeded ``seed`` (replication 0 is ``seed`` itself).

    Derived with ``SeedSequence`` so replications are independent streams, and computed the
    same way in every process.
    """
    if replication == 0:
        return seed
    return int(np.random.SeedSequence(seed, spawn_key=(replication,)).generate_state(1, dtype=np.uint32)[0])


Job = tuple[Scenario, int]


def _run_job(job: Job, reduce: Callable[[Result], Any] | None = None) -> Any:
    scenario, seed = job
    result = simulate(scenario, seed, records=False, force=True)  # checked before the first job
    return result if reduce is None else reduce(result)


def run_many(
    jobs: Sequence[Job],
    *,
    workers: int | None = None,
    dask: str | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    reduce: Callable[[Result], Any] | None = None,
) -> list[Any]:
    """Simulate many (scenario, seed) jobs, in worker processes when ``workers`` > 1.

    Results come back in the order of ``jobs`` and are identical to running them one by one
    (each run depends only on its scenario and seed). Runs keep no per-attempt records.
    ``workers`` defaults to the machine's cores. ``dask``: the address of a Dask scheduler
    (``tcp://host:8786``) to run on, or ``"local"`` for a ``LocalCluster`` of ``workers``
    processes. ``progress(done, total)`` is called as jobs end. Every job is checked against
    :mod:`apisim.budget`'s limits before the first one starts (``force`` lifts them).
    ``reduce``: a module-level function applied to each result where it was computed; its
    values come back instead of the results (a study that needs a few numbers per run then
    never holds, or sends between processes, every run's tallies).
    """
    if not force and jobs:
        budget.check_runs(len(jobs), jobs[0][0])
    for scenario in {id(sc): sc for sc, _ in jobs}.values():
        if force:
            check_engine(scenario, records=False)  # force lifts the size limits, not what the engine covers
        else:
            check(scenario, records=False)
    if dask is not None:
        return _run_on_dask(jobs, dask, workers, progress, reduce)
    return _map(functools.partial(_run_job, reduce=reduce), jobs, workers, progress)


DASK_CONNECT_SECONDS = 4
"""How long to wait for a Dask scheduler before saying it cannot be reached."""


class DaskUnavailable(Exception):
    """No Dask cluster to run on: not installed, or the scheduler cannot be reached; ``str()`` says which."""


def _connect(client_class: Any, address: str) -> Any:
    """A Dask client for ``address``, or :class:`DaskUnavailable` within about DASK_CONNECT_SECONDS.

    Why a thread: a listener that accepts the connection but never speaks Dask's protocol would
    hold the client's own handshake for ever.
    """
    import threading

    answer: list[Any] = []

    def connect() -> None:
        try:
            answer.append(client_class(address, timeout=DASK_CONNECT_SECONDS))
        except BaseException as exc:  # handed to the caller below
            answer.append(exc)

    # A daemon thread: if the handshake never ends, it must not keep the process alive either.
    thread = threading.Thread(target=connect, name="apisim-dask-connect", daemon=True)
    thread.start()
    thread.join(DASK_CONNECT_SECONDS + 1)
    if not answer:
        raise DaskUnavailable(f"no Dask scheduler answered at {address!r} within {DASK_CONNECT_SECONDS} s")
    if isinstance(answer[0], (OSError, TimeoutError, ValueError, TypeError)):
        raise DaskUnavailable(f"cannot connect to a Dask scheduler at {address!r}: {answer[0]}")
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def _run_on_dask(
    jobs: Sequence[Job],
    address: str,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    reduce: Callable[[Result], Any] | None,
) -> list[Any]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise DaskUnavailable("--dask needs dask.distributed: pip install 'apisim[dask]'") from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = _connect(Client, address)
    try:
        futures = [client.submit(_run_job, job, reduce, pure=False) for job in jobs]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(jobs)
        for done, future in enumerate(as_completed(futures), start=1):
            results[index[future.key]] = future.result()
            if progress is not None:
                progress(done, len(jobs))
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def replicate(
    scenario: Scenario | str | Path,
    replications: int,
    *,
    seed: int | None = None,
    workers: int | None = None,
    force: bool = False,
) -> list[Result]:
    """``replications`` independent runs of one scenario (seeds from :func:`replication_seed`)."""
    sc = scenario if isinstance(scenario, Scenario) else load(scenario, force=force)
    base = sc.simulation.seed if seed is None else seed
    return run_many([(sc, replication_seed(base, r)) for r in range(replications)], workers=workers, force=force)
