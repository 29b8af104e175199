"""The headline figures: what people compare designs on, flat, from one run's summary.

Every study reports these per run (plus ``cost.<item>`` per line item); SLOs are judged on them.
"""

from __future__ import annotations

import math
from typing import Any

HEADLINE = (
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "mean_ms", "rate_429", "error_rate",
    "cold_start_ratio", "cache_hit_ratio", "cost_usd",
)  # fmt: skip
"""The figures every study reports per run (plus ``cost.<item>`` per line item)."""


def headline(summary: dict[str, Any]) -> dict[str, float]:
    """The figures people compare designs on, flat, from one run's summary (NaN where not applicable)."""
    s = summary
    out: dict[str, float] = {}
    lat = s["latency_ms"]
    for key in ("p50", "p90", "p95", "p99", "p999", "mean"):
        out[f"{key}_ms"] = math.nan if lat[key] is None else float(lat[key])
    out["rate_429"] = _nan(s["rate_429"])
    out["error_rate"] = _nan(s["error_rate"])
    invocations = sum(f["invocations"] for f in s["functions"].values())
    colds = sum(f["cold_starts"] for f in s["functions"].values())
    out["cold_start_ratio"] = colds / invocations if invocations else math.nan
    out["cache_hit_ratio"] = _nan(s["cache"]["hit_ratio"])
    out["cost_usd"] = float(s["cost_monthly_usd"]["total"])
    for item, usd in s["cost_monthly_usd"]["items"].items():
        out[f"cost.{item}"] = float(usd)
    return out


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
