"""The Python API: simulate a scenario and get its numbers as dicts and DataFrames."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apisim import budget, cost, metrics
from apisim.engine.simulation import RunLog, run
from apisim.loading import load
from apisim.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Result:
    """One simulated run. Tables are built on first use."""

    log: RunLog

    @property
    def scenario(self) -> Scenario:
        return self.log.scenario

    @cached_property
    def cost(self) -> pd.DataFrame:
        """Monthly cost, one row per line item (``item``, ``quantity``, ``unit``, ``usd``, ``detail``)."""
        return cost.monthly_bill(metrics.usage(self.log))

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The headline numbers; the same shape as ``apisim run --json``."""
        s = metrics.summarize(self.log)
        s["cost_monthly_usd"] = cost.cost_summary(self.cost)
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
        return metrics.timeseries(self.log)

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
) -> Result:
    """Simulate a scenario (object or file path) once.

    ``seed`` defaults to the scenario's ``simulation.seed``; the same scenario and seed give
    identical numbers in any process. A run above any of :mod:`apisim.budget`'s limits raises
    :class:`~apisim.problems.RunTooLarge` before any work starts; ``force`` lets it go ahead.
    ``records`` keeps one row per attempt (default: only for runs of up to a million
    attempts; otherwise only running totals, in flat memory). ``progress`` is called with the
    fraction of simulated time done.
    """
    sc = scenario if isinstance(scenario, Scenario) else load(scenario, force=force)
    estimate = budget.check(sc, force=force, records=records)
    return Result(run(sc, seed, records=estimate.records, progress=progress))


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
    result = Result(run(scenario, seed, records=False))
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
            budget.check(scenario, records=False)
    if dask is not None:
        return _run_on_dask(jobs, dask, workers, progress, reduce)
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    results: list[Any] = [None] * len(jobs)
    if workers <= 1:
        for i, job in enumerate(jobs):
            results[i] = _run_job(job, reduce)
            if progress is not None:
                progress(i + 1, len(jobs))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_run_job, job, reduce): i for i, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(jobs))
    return results


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
