"""A run's records → the numbers people decide with: the summary, the timeseries, usage to bill.

Everything counts only attempts that arrived after warm-up, and time-weighted levels only the
time after warm-up. Latency is the gateway's Latency metric: from the request reaching the
gateway to the response leaving it, for every attempt answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from apisim.engine.simulation import RunLog
from apisim.outcomes import NOT_BILLED, Outcome

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


def latency_stats(latency_s: np.ndarray) -> dict[str, float | None]:
    """mean, p50, p90, p95, p99, p999 and max, in milliseconds (None when there is nothing to measure)."""
    keys = ["mean", *PERCENTILES, "max"]
    if latency_s.size == 0:
        return dict.fromkeys(keys)
    ms = latency_s * 1000.0
    q = np.percentile(ms, list(PERCENTILES.values()))
    out: dict[str, float | None] = {"mean": float(ms.mean())}
    out.update({k: float(v) for k, v in zip(PERCENTILES, q, strict=True)})
    out["max"] = float(ms.max())
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
    scale: float


def post_warmup(run: RunLog) -> np.ndarray:
    """Mask of attempts that count (arrived after warm-up)."""
    return run.attempts["t_arrival"] >= run.warmup


def summarize(run: RunLog) -> dict[str, Any]:
    """The summary (the ``--json`` output); its keys are a contract other tools read."""
    sc = run.scenario
    a = run.attempts
    keep = post_warmup(run)
    outcome = a["outcome"][keep]
    status = a["status"][keep]
    latency = a["latency"][keep]
    offered = int(keep.sum())
    by_outcome = {o.key: int(np.count_nonzero(outcome == o)) for o in Outcome}
    codes, counts = np.unique(status, return_counts=True)
    status_counts = {str(int(c)): int(n) for c, n in zip(codes, counts, strict=True)}
    ok_mask = (outcome == Outcome.OK) | (outcome == Outcome.CACHE_HIT)
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
            "errors": s.errors,
            "mean_concurrency": f.mean_busy,
            "max_concurrency": f.peak_busy,
            "mean_instances": f.mean_live,
            "provisioned_concurrency": f.provisioned,
            "billed_gb_seconds": (s.billed_ms_on_demand + s.billed_ms_provisioned) / 1000.0 * gb,
        }
    summary: dict[str, Any] = {
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
        "rate_429": _ratio(status_counts.get("429", 0), offered),
        "error_rate": _ratio(int(np.count_nonzero(status >= 500)), offered),
        "latency_ms": latency_stats(latency),
        "latency_ok_ms": latency_stats(latency[ok_mask]),
        "client": client_summary(run),
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
    return summary


def client_summary(run: RunLog) -> dict[str, Any]:
    """End to end per request: the final outcome after retries, and the time the caller waited."""
    a = run.attempts
    rid = a["request_id"]
    if rid.size == 0:
        return {
            "requests": 0,
            "attempts_per_request": None,
            "by_outcome": {},
            "success_ratio": None,
            "latency_ms": latency_stats(rid.astype(float)),
        }
    order = np.lexsort((a["attempt"], rid))
    rid_sorted = rid[order]
    starts = np.flatnonzero(np.r_[True, rid_sorted[1:] != rid_sorted[:-1]])
    ends = np.r_[starts[1:], rid_sorted.size] - 1
    first = order[starts]
    last = order[ends]
    keep = a["t_arrival"][first] >= run.warmup
    first, last = first[keep], last[keep]
    final = a["outcome"][last]
    waited = a["t_arrival"][last] + a["latency"][last] - a["t_arrival"][first]
    attempts = (ends - starts + 1)[keep]
    n = int(keep.sum())
    ok = int(np.count_nonzero((final == Outcome.OK) | (final == Outcome.CACHE_HIT)))
    return {
        "requests": n,
        "attempts_per_request": float(attempts.mean()) if n else None,
        "by_outcome": {o.key: int(np.count_nonzero(final == o)) for o in Outcome},
        "success_ratio": _ratio(ok, n),
        "latency_ms": latency_stats(waited),
    }


def usage(run: RunLog) -> Usage:
    """Counts after warm-up, scaled to the pricing month."""
    sc = run.scenario
    a = run.attempts
    keep = post_warmup(run)
    outcome = a["outcome"][keep]
    billed = ~np.isin(outcome, [int(o) for o in NOT_BILLED])
    client = a["client"][keep]
    measured = sc.simulation.duration - sc.simulation.warmup
    scale = sc.pricing.month / measured
    if sc.api.type == "http":
        unit = 524288
        per_client = np.array(
            [max(1, math.ceil((c.request_bytes + c.response_bytes) / unit)) for c in sc.clients], dtype=float
        )
        api_units = float(per_client[client[billed]].sum())
    else:
        api_units = float(np.count_nonzero(billed))
    ok = (outcome == Outcome.OK) | (outcome == Outcome.CACHE_HIT)
    response_bytes = np.array([c.response_bytes for c in sc.clients], dtype=float)
    transfer_gb = float(response_bytes[client[ok]].sum()) / 2**30
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
        scale=scale,
    )


def timeseries(run: RunLog) -> pd.DataFrame:
    """One row per time bucket: traffic, outcomes, latency percentiles, concurrency per function."""
    a = run.attempts
    width = run.bucket_width
    n = max(1, math.ceil(run.duration / width))
    bucket = np.minimum((a["t_arrival"] // width).astype(np.int64), n - 1)
    outcome = a["outcome"]
    status = a["status"]
    frame = pd.DataFrame({"t": np.arange(n) * width})
    frame["warmup"] = frame["t"] < run.warmup
    frame["offered"] = np.bincount(bucket, minlength=n)
    frame["ok"] = np.bincount(bucket, weights=(outcome == Outcome.OK), minlength=n).astype(np.int64)
    frame["cache_hit"] = np.bincount(bucket, weights=(outcome == Outcome.CACHE_HIT), minlength=n).astype(np.int64)
    frame["status_429"] = np.bincount(bucket, weights=(status == 429), minlength=n).astype(np.int64)
    frame["status_5xx"] = np.bincount(bucket, weights=(status >= 500), minlength=n).astype(np.int64)
    frame["offered_per_second"] = frame["offered"] / width
    lat = pd.Series(a["latency"] * 1000.0).groupby(bucket)
    for label, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
        frame[label] = lat.quantile(q).reindex(range(n)).to_numpy()
    for name, f in run.functions.items():
        frame[f"concurrency.{name}"] = f.busy_buckets[:n]
        frame[f"instances.{name}"] = f.live_buckets[:n]
    return frame


def requests_frame(run: RunLog) -> pd.DataFrame:
    """One row per attempt, with readable categories and latencies in milliseconds."""
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
