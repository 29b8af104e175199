"""A run's tallies → the numbers people decide with: the summary, the timeseries, the usage to bill.

Everything counts only attempts that arrived after warm-up, and time-weighted levels only the
time after warm-up. Latency is the gateway's Latency metric: from the request reaching the
gateway to the response leaving it, for every attempt answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from apisim.engine.door import UsageLine
from apisim.engine.simulation import RunLog
from apisim.engine.sketch import LatencySketch
from apisim.engine.tally import Tally
from apisim.outcomes import Outcome

if TYPE_CHECKING:
    import pandas as pd

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}


def latency_stats(sketch: LatencySketch) -> dict[str, float | None]:
    """mean, p50, p90, p95, p99, p999 and max in milliseconds (None when nothing was measured).

    Percentiles come from a sketch within 0.5% of the exact value; mean and max are exact.
    """
    out: dict[str, float | None] = {"mean": None if sketch.mean is None else sketch.mean * 1000.0}
    for key, q in PERCENTILES.items():
        v = sketch.quantile(q)
        out[key] = None if v is None else v * 1000.0
    v = sketch.quantile(1.0)
    out["max"] = None if v is None else v * 1000.0
    return out


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class Usage:
    """What the month's bill is computed from: every resource's usage lines, and the times they cover.

    Lines of kind ``count`` were measured over ``window_seconds`` (the simulated time after
    warm-up) and are scaled to ``month_seconds``; lines of kind ``level`` are held all month.
    """

    lines: list[UsageLine]
    window_seconds: float
    month_seconds: float
    free_tier: bool | str  # False, True (a new account's first year) or "always" (allowances that never expire)

    @property
    def month_scale(self) -> float:
        return self.month_seconds / self.window_seconds


def _traffic(tally: Tally, stage: int | None) -> dict[str, Any]:
    """requests, status_counts, rate_429 and error_rate of one stage (or all of them)."""
    per_outcome = tally.outcome_counts(stage)
    offered = int(per_outcome.sum())
    per_status = tally.status_counts(stage)
    errors = sum(n for code, n in per_status.items() if code >= 500)
    return {
        "offered": offered,
        "by_outcome": {o.key: int(per_outcome[o]) for o in Outcome},
        "status_counts": {str(code): n for code, n in per_status.items()},
        "rate_429": _ratio(per_status.get(429, 0), offered),
        "error_rate": _ratio(errors, offered),
    }


def _cache(counts: dict[str, int]) -> dict[str, Any]:
    hits, lookups = counts["cache_hits"], counts["cache_lookups"]
    return {"hits": hits, "misses": lookups - hits, "hit_ratio": _ratio(hits, lookups)}


def _authorizer(counts: dict[str, int]) -> dict[str, Any]:
    hits, lookups = counts["auth_hits"], counts["auth_lookups"]
    return {"lookups": lookups, "calls": lookups - hits, "cache_hit_ratio": _ratio(hits, lookups)}


def _readable(block: dict[str, Any]) -> dict[str, Any]:
    """A door's own block with every latency sketch in it read out as percentiles in ms."""
    out: dict[str, Any] = {}
    for key, value in block.items():
        if isinstance(value, dict):
            out[key] = _readable(value)
        elif hasattr(value, "quantile"):
            out[key] = latency_stats(value)
        else:
            out[key] = value
    return out


def summarize(run: RunLog) -> dict[str, Any]:
    """The summary (the ``--json`` output); its keys are a contract other tools read.

    The top-level figures are the account's (every API and stage together); ``apis`` has the same
    figures per API and stage.
    """
    sc = run.scenario
    tally = run.tally
    traffic = _traffic(tally, None)
    final = tally.request_outcomes()
    measured = run.measured_seconds
    month = run.basis == "month"
    counts = tally.cache_counts()
    functions = {}
    for name, f in run.functions.items():
        s = f.stats
        gb = f.memory_mb / 1024.0
        functions[name] = {
            "invocations": s.invocations,
            "cold_starts": s.cold_starts,
            "cold_start_ratio": _ratio(s.cold_starts, s.invocations),
            "throttles": s.throttles,
            "throttles_by_cause": {
                "concurrency": s.throttles - s.throttles_scaling - s.throttles_rate,
                "scaling_rate": s.throttles_scaling,
                "invoke_rate": s.throttles_rate,
            },
            "errors": s.errors,
            "mean_concurrency": f.mean_busy,
            "max_concurrency": f.peak_busy,
            "mean_instances": f.mean_live,
            "provisioned_concurrency": f.provisioned,
            "provisioned_invocations": s.provisioned_invocations,  # the rest ran on demand (spill-over)
            "billed_gb_seconds": (s.billed_ms_on_demand + s.billed_ms_provisioned) / 1000.0 * gb,
        }
    apis: dict[str, Any] = {}
    for index, (api, stage) in enumerate(run.stages):
        t = _traffic(tally, index)
        block = apis.setdefault(api, {"stages": {}})
        stage_counts = tally.cache_counts([index])
        block["stages"][stage] = {
            "requests": {"offered": t["offered"], "by_outcome": t["by_outcome"]},
            "status_counts": t["status_counts"],
            "rate_429": t["rate_429"],
            "error_rate": t["error_rate"],
            "latency_ms": latency_stats(tally.latency_stage[index]),
            "cache": _cache(stage_counts),
        }
    for api, block in apis.items():
        mine = [i for i, (a, _) in enumerate(run.stages) if a == api]
        block["authorizer"] = _authorizer(tally.cache_counts(mine))
        for kind, own in getattr(run, "door_results", {}).get(api, {}).items():
            block[kind] = _readable(own)
    return {
        "scenario": sc.name,
        "seed": run.seed,
        "basis": "month" if month else "window",
        "engine": run.engine,  # which code computed these numbers (both engines give the same ones)
        "simulated_seconds": run.simulated_seconds,
        "warmup_seconds": run.warmup,
        "month_scale": None if month else sc.pricing.month / measured,
        "requests": {
            "offered": traffic["offered"],
            "offered_per_second": traffic["offered"] / measured,
            "by_outcome": traffic["by_outcome"],
        },
        "status_counts": traffic["status_counts"],
        "rate_429": traffic["rate_429"],
        "error_rate": traffic["error_rate"],
        "latency_ms": latency_stats(tally.latency_all),
        "latency_ok_ms": latency_stats(tally.latency_ok),
        "client": {
            "requests": tally.requests,
            "attempts_per_request": _ratio(tally.attempts_total, tally.requests),
            "by_outcome": {o.key: int(final[o]) for o in Outcome},
            "success_ratio": _ratio(int(final[Outcome.OK] + final[Outcome.CACHE_HIT]), tally.requests),
            "latency_ms": latency_stats(tally.latency_client),
        },
        "cache": _cache(counts),
        "authorizer": _authorizer(counts),
        "functions": functions,
        "apis": apis,
    }


def usage(run: RunLog) -> Usage:
    """What every resource consumed after warm-up, with the time it was measured over (under the
    month basis: the whole month, estimated from its windows, so nothing is scaled)."""
    sc = run.scenario
    month = run.basis == "month"
    return Usage(
        lines=run.usage,
        window_seconds=run.measured_seconds,
        month_seconds=run.measured_seconds if month else sc.pricing.month,
        free_tier=sc.pricing.free_tier,
    )


def timeseries(run: RunLog) -> pd.DataFrame:
    """One row per time bucket: traffic, outcomes, latency percentiles, concurrency per function."""
    import pandas as pd

    tally = run.tally
    width = run.bucket_width
    n = tally.buckets
    frame = pd.DataFrame({"t": np.arange(n) * width})
    frame["warmup"] = frame["t"] < run.warmup
    for key, counts in tally.per_bucket.items():
        frame[key] = counts
    frame["offered_per_second"] = frame["offered"] / width
    for label, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
        values = [None if s is None else s.quantile(q) for s in tally.bucket_latency]
        frame[label] = [np.nan if v is None else v * 1000.0 for v in values]
    for name, extra in sorted(tally.extra.items()):
        for column, values in extra.timeseries(name).items():
            frame[column] = values[:n]  # a door's own levels (a WebSocket API's open connections)
    for name, f in run.functions.items():
        frame[f"concurrency.{name}"] = f.busy_buckets[:n]
        frame[f"instances.{name}"] = f.live_buckets[:n]
        if len(f.peak_buckets):
            frame[f"peak.{name}"] = f.peak_buckets[:n]  # the most busy at once in the bucket
        if len(f.invocation_buckets):
            frame[f"invocations.{name}"] = f.invocation_buckets[:n]  # warm-up's too, like every column
    return frame


def latency_quantiles(run: RunLog, points: int = 999) -> pd.DataFrame:
    """Answered attempts' latency at evenly spaced quantiles, plus 20 a decade beyond p99.9 as far as
    the count reaches (a tail plot on log axes needs them; from the sketch)."""
    import pandas as pd

    sketch = run.tally.latency_all
    qs = np.linspace(0.0, 1.0, points + 2)[1:-1]
    deepest = min(math.log10(max(sketch.count, 1)), 7.0)  # no quantile finer than one attempt in the count
    if deepest > 3.0:
        qs = np.union1d(qs, 1.0 - np.logspace(-3.0, -deepest, int(20 * (deepest - 3.0)) + 1))
    values = [sketch.quantile(float(q)) for q in qs] if sketch.count else []
    return pd.DataFrame({"q": qs[: len(values)], "latency_ms": np.array(values, dtype=float) * 1000.0})


def requests_frame(run: RunLog) -> pd.DataFrame:
    """One row per attempt, with readable categories and latencies in milliseconds."""
    import pandas as pd

    a = run.attempts
    outcome_names = [o.key for o in Outcome]
    frame = pd.DataFrame(
        {
            "request_id": a["request_id"],
            "attempt": a["attempt"],
            "client": pd.Categorical.from_codes(a["client"], run.client_names),
            "route": pd.Categorical.from_codes(a["route"], run.route_names),
            "t_arrival": a["t_arrival"],
            "latency_ms": a["latency"] * 1000.0,
            "outcome": pd.Categorical.from_codes(a["outcome"], outcome_names),
            "status": a["status"],
            "overhead_ms": a["overhead"] * 1000.0,
            "auth_ms": a["auth"] * 1000.0,
            "integration_ms": a["integration"] * 1000.0,
            "auth_cache_hit": pd.array(
                np.where(a["auth_cache_hit"] < 0, None, a["auth_cache_hit"] == 1), dtype="boolean"
            ),
            "function": pd.Categorical.from_codes(a["function"], run.function_names) if run.function_names else None,
            "cold_start": pd.array(np.where(a["cold_start"] < 0, None, a["cold_start"] == 1), dtype="boolean"),
            "init_ms": a["init"] * 1000.0,
            "billed_ms": a["billed_ms"],
            "warmup": a["t_arrival"] < run.warmup,
        }
    )
    return frame
