"""CloudFront in front of a door: an edge cache whose hits never reach the origin door.

For one attempt: the viewer-request edge function (CloudFront Functions or Lambda@Edge), then for
a cacheable request (GET or HEAD, with ``cache`` set) a lookup in the edge cache. A hit is answered
at the edge. Everything else goes to the origin door, unchanged: the origin answers through this
distribution (it stands in for the ledger the origin was built with), which adds the edge's time
and the fetch to the origin, stores a 200 to a cacheable request when the response returns, and
hands the answer on to the run's ledger.

The bill comes from the run's counts, like every door's: CloudFront's HTTPS requests (every
attempt), the bytes it sends to viewers and to the origin (a miss's request), the edge function's
invocations (and Lambda@Edge's GB-seconds: each invocation the run time's mean rounded up to the
millisecond). The origin's own lines stay, but for its data transfer out, which now goes to
CloudFront: free from AWS origins, as AWS documents for cacheable data (assumed for all of it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from apisim.distributions import Draw
from apisim.engine.cache import TtlCache
from apisim.engine.door import Door, Request, UsageLine, bytes_out
from apisim.engine.ledger import Ledger
from apisim.engine.tally import Tally
from apisim.outcomes import Outcome

OK = int(Outcome.OK)
CACHE_HIT = int(Outcome.CACHE_HIT)


@dataclass
class EdgeFunction:
    """The viewer-request function: its kind (``cloudfront_function`` or ``lambda_edge``), run time
    and, for Lambda@Edge, memory and mean billed milliseconds."""

    kind: str
    run: Draw
    memory_mb: int = 128
    mean_ms: float = 0.0


@dataclass
class CloudFrontDoor(Door):
    """A distribution whose origin is another door (built with this as its ledger)."""

    name: str
    ledger: Ledger
    edge: Draw
    origin_fetch: Draw
    cache: TtlCache | None
    cacheable: list[bool]  # by route index: GET or HEAD, with a cache
    key_space: int  # cache keys per route (1: the path alone)
    by_path: bool
    function: EdgeFunction | None
    viewers: str
    origin: Door | None = None
    kind: str = "cloudfront"

    def __post_init__(self) -> None:
        self._answer = self.ledger.answer
        self.warmup = self.ledger.warmup  # what a door reads from its ledger
        self.end = self.ledger.end

    # What the origin sees as its ledger: the agenda is the run's; answers pass through here.
    def at(self, t: float, then: Callable[..., Any], *args: Any) -> None:
        self.ledger.at(t, then, *args)

    @property
    def stages(self) -> list[str]:  # type: ignore[override]
        return self.origin.stages  # type: ignore[union-attr]

    @property
    def stage_states(self) -> Any:
        return self.origin.stage_states  # type: ignore[union-attr]

    @property
    def callers(self) -> Any:
        return self.origin.callers  # type: ignore[union-attr]

    def _key(self, req: Request) -> int:
        return req.route * self.key_space + (0 if self.by_path else req.cache_key)

    def attempt(self, now: float, req: Request) -> None:
        """At the edge: answer a cached response, or send the attempt to the origin."""
        cache = self.cache
        if cache is not None and self.cacheable[req.route] and cache.lookup(self._key(req), now):
            spent = self.edge() + (self.function.run() if self.function is not None else 0.0)
            self._answer(now, req, CACHE_HIT, 200, spent, 0.0, 0.0, -1, 1)
            return
        self.origin.attempt(now, req)  # type: ignore[union-attr]

    def answer(
        self, t0: float, req: Request, outcome: int, status: int, overhead: float, auth_s: float,
        integration_s: float, auth_hit: int = -1, cache: int = -1, *rest: Any,
    ) -> None:  # fmt: skip
        """The origin's answer, on its way back through the edge (same arguments as the ledger's)."""
        spent = self.edge() + self.origin_fetch() + (self.function.run() if self.function is not None else 0.0)
        latency = overhead + auth_s + integration_s + spent
        edge = self.cache
        if edge is not None and self.cacheable[req.route]:
            if status == 200:
                edge.store(self._key(req), t0 + latency)
            cache = 0  # a lookup at the edge that missed
        self._answer(t0, req, outcome, status, overhead + spent, auth_s, integration_s, auth_hit, cache, *rest)

    def usage(self, tally: Tally) -> list[UsageLine]:
        """CloudFront's requests, transfer and edge functions, and the origin's lines (but its
        transfer out, which CloudFront now carries)."""
        resource = f"cloudfront.{self.name}"
        requests = math.fsum(float(tally.by_client[c.client].sum()) for c in self.callers)  # this door's clients
        to_origin = math.fsum(
            float(tally.by_client[c.client].sum() - tally.by_client[c.client, CACHE_HIT]) * c.request_bytes
            for c in self.callers
        )
        v = self.viewers
        lines = [
            UsageLine(resource, "HTTPS requests", f"cloudfront.requests.{v}", requests),
            UsageLine(resource, "data transfer out", f"cloudfront.data_transfer.out.{v}",
                      bytes_out(tally, self.callers, [OK, CACHE_HIT]) / 2**30),
            UsageLine(resource, "data transfer to origin", f"cloudfront.data_transfer.origin.{v}", to_origin / 2**30),
        ]  # fmt: skip
        f = self.function
        if f is not None and f.kind == "cloudfront_function":
            lines.append(UsageLine(resource, "CloudFront Functions", "cloudfront.functions", requests))
        elif f is not None:
            gb_s = requests * math.ceil(f.mean_ms - 1e-9) / 1000.0 * f.memory_mb / 1024.0
            lines.append(UsageLine(resource, "Lambda@Edge requests", "lambda_edge.requests", requests))
            lines.append(UsageLine(resource, "Lambda@Edge duration", "lambda_edge.duration", gb_s))
        reached = _without_hits(tally)
        origin = [line for line in self.origin.usage(reached) if line.price != "data_transfer.out"]  # type: ignore[union-attr,arg-type]
        return lines + origin


def _without_hits(tally: Any) -> Any:
    """The counts the origin saw: the run's, less the edge's hits (a stage cache behind CloudFront is
    refused, so every cache hit is the edge's); a month's windows likewise."""
    by_client = tally.by_client.copy()
    by_client[:, CACHE_HIT] = 0
    parts = getattr(tally, "parts", None)
    return SimpleNamespace(
        by_client=by_client,
        end=getattr(tally, "end", None),
        warmup=getattr(tally, "warmup", None),
        parts=[(_without_hits(t), w) for t, w in parts] if parts else None,
    )
