"""A run's records → the numbers people decide with: the summary, the timeseries, usage to bill.

Everything counts only attempts that arrived after warm-up, and time-weighted levels only the
time after warm-up. Latency is the gateway's Latency metric: from the request reaching the
gateway to the response leaving it, for every attempt answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from apisim.engine.simulation import RunLog
from apisim.engine.sketch import LatencySketch
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
    """What the month's bill is computed from, already scaled to one billing month."""

    api_type: str
    api_requests: float  # billed requests (REST) or metered units (HTTP)
    cache_size_gb: float | None
    month_hours: float
    lambda_requests: float
    gb_seconds: dict[str, float]  # on-demand duration, per architecture
    provisioned_gb_seconds: dict[str, float]  # configured provisioned concurrency × memory × month
    provisioned_duration_gb_seconds: dict[str, float]  # duration of invocations served by provisioned instances
    transfer_gb: float
    free_tier: bool


def summarize(run: RunLog) -> dict[str, Any]:
    """The summary (the ``--json`` output); its keys are a contract other tools read."""
    sc = run.scenario
    tally = run.tally
    per_outcome = tally.outcome_counts()
    offered = int(per_outcome.sum())
    by_outcome = {o.key: int(per_outcome[o]) for o in Outcome}
    per_status = tally.status_counts()
    status_counts = {str(code): n for code, n in per_status.items()}
    errors = sum(n for code, n in per_status.items() if code >= 500)
    measured = sc.simulation.duration - sc.simulation.warmup
    c = run.counters
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
                "concurrency": s.throttles - s.throttles_scaling,
                "scaling_rate": s.throttles_scaling,
            },
            "errors": s.errors,
            "mean_concurrency": f.mean_busy,
            "max_concurrency": f.peak_busy,
            "mean_instances": f.mean_live,
            "provisioned_concurrency": f.provisioned,
            "billed_gb_seconds": (s.billed_ms_on_demand + s.billed_ms_provisioned) / 1000.0 * gb,
        }
    return {
        "scenario": sc.name,
        "seed": run.seed,
        "simulated_seconds": measured,
        "warmup_seconds": sc.simulation.warmup,
        "month_scale": sc.pricing.month / measured,
        "requests": {
            "offered": offered,
            "offered_per_second": offered / measured,
            "by_outcome": by_outcome,
        },
        "status_counts": status_counts,
        "rate_429": _ratio(per_status.get(429, 0), offered),
        "error_rate": _ratio(errors, offered),
        "latency_ms": latency_stats(tally.latency_all),
        "latency_ok_ms": latency_stats(tally.latency_ok),
        "client": {
            "requests": tally.requests,
            "attempts_per_request": _ratio(tally.attempts_total, tally.requests),
            "by_outcome": {o.key: int(tally.final_counts[o]) for o in Outcome},
            "success_ratio": _ratio(
                int(tally.final_counts[Outcome.OK] + tally.final_counts[Outcome.CACHE_HIT]), tally.requests
            ),
            "latency_ms": latency_stats(tally.latency_client),
        },
        "cache": {
            "hits": c.cache_hits,
            "misses": c.cache_misses,
            "hit_ratio": _ratio(c.cache_hits, c.cache_hits + c.cache_misses),
        },
        "authorizer": {
            "lookups": c.auth_lookups,
            "calls": c.auth_lookups - c.auth_hits,
            "cache_hit_ratio": _ratio(c.auth_hits, c.auth_lookups),
        },
        "functions": functions,
    }


def usage(run: RunLog) -> Usage:
    """Counts after warm-up, scaled to the pricing month."""
    sc = run.scenario
    tally = run.tally
    measured = sc.simulation.duration - sc.simulation.warmup
    scale = sc.pricing.month / measured
    if sc.api.type == "http":
        unit = 524288
        per_request = np.array([max(1, math.ceil((c.request_bytes + c.response_bytes) / unit)) for c in sc.clients])
        api_units = float((tally.billed_by_client * per_request).sum())
    else:
        api_units = float(tally.billed_by_client.sum())
    response_bytes = np.array([c.response_bytes for c in sc.clients], dtype=float)
    transfer_gb = float((tally.ok_by_client * response_bytes).sum()) / 2**30
    gb_s: dict[str, float] = {"x86_64": 0.0, "arm64": 0.0}
    pc_gb_s: dict[str, float] = {"x86_64": 0.0, "arm64": 0.0}
    pc_config: dict[str, float] = {"x86_64": 0.0, "arm64": 0.0}
    lambda_requests = 0
    for f in run.functions.values():
        gb = f.memory_mb / 1024.0
        lambda_requests += f.stats.invocations
        gb_s[f.arch] += f.stats.billed_ms_on_demand / 1000.0 * gb * scale
        pc_gb_s[f.arch] += f.stats.billed_ms_provisioned / 1000.0 * gb * scale
        pc_config[f.arch] += f.provisioned * gb * sc.pricing.month
    return Usage(
        api_type=sc.api.type,
        api_requests=api_units * scale,
        cache_size_gb=sc.api.cache.size_gb if sc.api.cache is not None and sc.api.cache.ttl > 0 else None,
        month_hours=sc.pricing.month / 3600.0,
        lambda_requests=lambda_requests * scale,
        gb_seconds=gb_s,
        provisioned_gb_seconds=pc_config,
        provisioned_duration_gb_seconds=pc_gb_s,
        transfer_gb=transfer_gb * scale,
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
    for name, f in run.functions.items():
        frame[f"concurrency.{name}"] = f.busy_buckets[:n]
        frame[f"instances.{name}"] = f.live_buckets[:n]
    return frame


def latency_quantiles(run: RunLog, points: int = 999) -> pd.DataFrame:
    """Answered attempts' latency at evenly spaced quantiles (for CDF plots; from the sketch)."""
    import pandas as pd

    qs = np.linspace(0.0, 1.0, points + 2)[1:-1]
    sketch = run.tally.latency_all
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
