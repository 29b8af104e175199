"""The Application Load Balancer door: listener rules route paths to Lambda target groups.

Per attempt it is a direct invoke (:mod:`apisim.engine.direct`): no API keys, usage plans,
throttles, authorizer, validation or response cache. A throttled Lambda is answered with
``limits.yaml``'s ``alb_lambda_throttled_status`` (an estimate: AWS names the reason,
LambdaThrottling, not the status); a function error or timeout is 502, as AWS documents.

The bill is the ALB's hours (held all month) and its LCU-hours. An hour's LCUs are the largest
of four dimensions, each divided by what one LCU covers (``limits.yaml`` ``alb_lcu``): new
connections per second, active connections per minute, GB processed per hour (requests and
responses; 0.4 GB per LCU for Lambda targets) and rule evaluations per second (rules processed
past the first 10, per request). The dimensions are measured from the counted part of the run
and taken as steady within it: a run stands for its hours at its own average rates (under the
month basis each window for its stratum's hours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from apisim import defaults
from apisim.engine.direct import OK, DirectDoor
from apisim.engine.door import UsageLine, bytes_out
from apisim.engine.tally import Tally


@dataclass(frozen=True)
class Connecting:
    """How one client of the ALB uses connections (its requests per connection, and keep-alive)."""

    client: int
    per_connection: int
    keep_alive: bool


@dataclass(frozen=True)
class LcuHour:
    """One hour's load on each LCU dimension, in LCUs, and the LCUs billed (the largest)."""

    new_connections: float
    active_connections: float
    processed_bytes: float
    rule_evaluations: float

    @property
    def billed(self) -> float:
        return max(self.new_connections, self.active_connections, self.processed_bytes, self.rule_evaluations)


def lcu_hour(new_per_s: float, active_per_min: float, gb_per_hour: float, requests_per_s: float, rules: int) -> LcuHour:
    """The LCUs of an hour at these steady rates (AWS's LCU arithmetic; capacities from limits.yaml)."""
    lcu = defaults.value("alb_lcu")
    evaluations = requests_per_s * max(0, rules - int(lcu["free_rules"]))
    return LcuHour(
        new_connections=new_per_s / float(lcu["new_connections_per_s"]),
        active_connections=active_per_min / float(lcu["active_connections_per_min"]),
        processed_bytes=gb_per_hour / float(lcu["processed_gb_per_hour_lambda"]),
        rule_evaluations=evaluations / float(lcu["rule_evaluations_per_s"]),
    )


@dataclass
class Alb(DirectDoor):
    """One ALB: its routes are listener rules, each forwarding to its Lambda function."""

    kind: str = "alb"
    rules: int = 1  # listener rules each request is evaluated against
    connecting: list[Connecting] = field(default_factory=list)
    idle_timeout: float = 60.0

    def load(self, tally: Tally) -> LcuHour:
        """The LCU dimensions of the counted part of the run, as rates held for an hour."""
        return lcu_hour(**self.rates(tally), rules=self.rules)

    def rates(self, tally: Tally) -> dict[str, float]:
        """The counted part of the run's average rates on each LCU dimension.

        A connection carries ``per_connection`` requests; with keep-alive it stays open about the
        idle timeout after its last request, so the active connections are (Little's law) the new
        connections per second times that; without, about a request's time (taken as 1 s).
        """
        seconds = max(tally.end - tally.warmup, 1e-9)
        requests = new = active = 0.0
        processed = 0.0
        sizes = {c.client: c for c in self.callers}
        for c in self.connecting:
            attempts = float(tally.by_client[c.client].sum())
            requests += attempts
            opened = attempts / c.per_connection
            new += opened
            active += opened / seconds * (self.idle_timeout if c.keep_alive else 1.0)
            processed += attempts * sizes[c.client].request_bytes
        processed += bytes_out(tally, self.callers, [OK])  # responses, and error answers
        return {
            "new_per_s": new / seconds,
            "active_per_min": active,  # connections open at a time, sampled each minute
            "gb_per_hour": processed / 2**30 / seconds * 3600.0,
            "requests_per_s": requests / seconds,
        }

    def results(self, tally: Tally) -> dict[str, Any]:
        """The summary's ``apis.NAME.alb`` block: the LCU dimensions' average rates over the counted
        time (under the month basis the windows' rates weighted by the hours each stands for), and
        the LCU-hours billed (each window's largest dimension, as the bill prices them)."""
        parts = getattr(tally, "parts", None) or [(tally, 1.0)]
        spans = [w * max(t.end - t.warmup, 0.0) for t, w in parts]
        total = math.fsum(spans)
        mean = dict.fromkeys(("new_per_s", "active_per_min", "gb_per_hour", "requests_per_s"), 0.0)
        for (t, _), span in zip(parts, spans, strict=True):
            for key, value in self.rates(t).items():
                mean[key] += value * span / total if total else 0.0
        return {
            "new_connections_per_s": mean["new_per_s"],
            "active_connections_per_min": mean["active_per_min"],
            "processed_gb_per_hour": mean["gb_per_hour"],
            "requests_per_s": mean["requests_per_s"],
            "rules": self.rules,
            "lcu_hours": math.fsum(w * self.load(t).billed * max(t.end - t.warmup, 0.0) / 3600.0 for t, w in parts),
        }

    def usage(self, tally: Tally) -> list[UsageLine]:
        """The ALB's hours (all month), its LCU-hours over the counted run, and bytes out.

        A month estimated from windows prices each window's LCUs at its own rates and weights
        them (``tally.parts``): the hourly maximum is not linear in the counts.
        """
        resource = f"alb.{self.name}"
        parts = getattr(tally, "parts", None) or [(tally, 1.0)]
        lcu_hours = sum(w * self.load(t).billed * max(t.end - t.warmup, 0.0) / 3600.0 for t, w in parts)
        gb = bytes_out(tally, self.callers, [OK]) / 2**30
        return [
            UsageLine(resource, "load balancer hours", "elb.application.hours", 1.0, kind="level"),
            UsageLine(resource, "LCU hours", "elb.application.lcu_hours", lcu_hours),
            UsageLine(resource, "data transfer out", "data_transfer.out", gb),
        ]
