"""The Python API: simulate a scenario and get its numbers as dicts and DataFrames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from apisim import cost, metrics
from apisim.engine.simulation import RunLog, run
from apisim.loading import load
from apisim.scenario import Scenario


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

    def write(self, out: str | Path) -> Path:
        """Write the summary, tables, figures and report.md into the folder ``out``, atomically."""
        from apisim.report import write_run_report

        return write_run_report(self, Path(out))


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
    identical numbers in any process. ``force`` lets a run estimated too large go ahead.
    ``records`` keeps one row per attempt (default: only for runs of up to a million
    attempts; otherwise only running totals, in flat memory). ``progress`` is called with the
    fraction of simulated time done.
    """
    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    return Result(run(sc, seed, force=force, records=records, progress=progress))
