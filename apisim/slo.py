"""Service-level objectives: ``p99<800ms``, ``rate_429<0.001``, ``cold_start_ratio<=0.01``."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from apisim.durations import to_seconds

LATENCY = ("p50", "p90", "p95", "p99", "p999", "mean")
_SLO = re.compile(r"^\s*(p50|p90|p95|p99|p999|mean|rate_429|error_rate|cold_start_ratio)\s*(<=|<)\s*(\S+)\s*$")
_OPS = {"<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Slo:
    """A service-level objective such as ``p99<800ms`` or ``rate_429<0.001``."""

    metric: str  # a headline column
    op: str
    limit: float
    text: str

    @classmethod
    def parse(cls, text: str) -> Slo:
        m = _SLO.match(text)
        if m is None:
            raise ValueError(
                f"cannot read SLO {text!r}: expected METRIC<VALUE or METRIC<=VALUE with METRIC one of "
                "p50, p90, p95, p99, p999, mean (latency: 800ms, 1s or milliseconds), "
                "rate_429, error_rate, cold_start_ratio"
            )
        name, op, raw = m.groups()
        try:
            if name in LATENCY:
                value = float(raw) if raw.replace(".", "", 1).isdigit() else raw
                return cls(f"{name}_ms", op, to_seconds(value, bare_unit_s=1e-3) * 1000.0, text.strip())
            limit = float(raw)
            if not math.isfinite(limit) or limit < 0:
                raise ValueError(f"the limit must be a finite number ≥ 0, got {raw!r}")
            return cls(name, op, limit, text.strip())
        except ValueError as exc:
            raise ValueError(f"cannot read SLO {text!r}: {exc}") from None

    def met(self, value: float) -> bool:
        """Whether a measured value meets the objective (NaN, nothing measured, counts as met)."""
        return math.isnan(value) or _OPS[self.op](value, self.limit)

    def judge(self, value: float, half_width: float = math.nan) -> str:
        """``met`` if the whole 95% interval ``value ± half_width`` meets the objective, ``failed``
        if none of it does, else ``uncertain`` (no half-width: judged on the value alone)."""
        half = 0.0 if math.isnan(half_width) else half_width
        low, high = self.met(value - half), self.met(value + half)
        return "met" if low and high else ("failed" if not low and not high else "uncertain")

    def measured(self, value: float, half_width: float = math.nan) -> str:
        """The value an objective was judged on, for a person: ``759.6 ± 162.3`` (no exponents)."""
        shown = _number(value)
        return shown if math.isnan(half_width) else f"{shown} ± {_number(half_width)}"


def _number(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 1 or x == 0 else f"{x:.3g}"
