"""The Lambda function URL door: an HTTPS endpoint straight to one function, with none of a gateway's
features (no throttles, usage plans, caches, authorizers or validation) and no charge of its own.

For one attempt: AuthType AWS_IAM (an unsigned request gets 403) → a synchronous invoke of the
function, which the function's own limits throttle (its reserved concurrency and 10 × it requests
per second, the account's pool and rate): a throttled invoke is answered 429, as Lambda answers
it. A function error or timeout is 502 (the URL waits for the function: its timeout is the only
one). Payload limits are checked when the scenario is validated (every request of a client has
the same size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from apisim.distributions import Draw
from apisim.engine.apigateway import Caller, StageState
from apisim.engine.door import Door, Request, UsageLine
from apisim.engine.ledger import Ledger
from apisim.engine.tally import Tally
from apisim.outcomes import Outcome

OK = int(Outcome.OK)
THROTTLED = int(Outcome.THROTTLED)
FORBIDDEN = int(Outcome.FORBIDDEN)
ERROR = int(Outcome.ERROR)


@dataclass
class FunctionUrl(Door):
    """One function URL. Its routes (paths clients name) all invoke the URL's function."""

    name: str
    ledger: Ledger
    overhead: Draw
    stage_states: list[StageState]  # one: the URL (clients address routes through it)
    iam: bool  # AuthType AWS_IAM: an unsigned request (a bad token) is refused with 403
    callers: list[Caller] = field(default_factory=list)
    kind: str = "function_url"

    def __post_init__(self) -> None:
        self.stages = [s.name for s in self.stage_states]
        self._answer = self.ledger.answer
        self._warmup = self.ledger.warmup

    def attempt(self, now: float, req: Request) -> None:
        """Send attempt ``req.attempt`` of ``req`` at time ``now``."""
        overhead = self.overhead()
        if self.iam and req.token < 0:
            self._answer(now, req, FORBIDDEN, 403, overhead, 0.0, 0.0)
            return
        route = req.client.stage.routes[req.route]
        inv = route.pool.invoke(now, now >= self._warmup)  # type: ignore[union-attr]
        if inv is None:
            self._answer(now, req, THROTTLED, 429, overhead, 0.0, 0.0, -1, -1, route.function)
            return
        was_cold, init, run, failed, billed_ms = inv
        outcome, status = (ERROR, 502) if failed else (OK, 200)
        fn, cold = route.function, 1 if was_cold else 0
        self._answer(now, req, outcome, status, overhead, 0.0, init + run, -1, -1, fn, cold, init, billed_ms)

    def usage(self, tally: Tally) -> list[UsageLine]:
        """Bytes out to the internet (a 200 its response, any other answer Lambda's error message);
        a function URL itself costs nothing, and its function bills as every function does."""
        answered = [OK]
        refused = [int(o) for o in Outcome if int(o) not in answered]
        out_bytes = math.fsum(
            float(tally.by_client[c.client, answered].sum()) * c.response_bytes
            + float(tally.by_client[c.client, refused].sum()) * c.error_response_bytes
            for c in self.callers
        )
        return [UsageLine(f"url.{self.name}", "data transfer out", "data_transfer.out", out_bytes / 2**30)]
