"""What every door that invokes a Lambda function directly shares (a function URL, an ALB): no
gateway pipeline, only an optional IAM check, then a synchronous invoke of the route's function.

The doors differ in what a throttled invoke is answered with (a function URL: 429, as Lambda
answers; an ALB: a 5xx) and in their bill, which each door's own module gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apisim.distributions import Draw
from apisim.engine.apigateway import Caller, StageState
from apisim.engine.door import Door, Request
from apisim.engine.ledger import Ledger
from apisim.outcomes import Outcome

OK = int(Outcome.OK)
FORBIDDEN = int(Outcome.FORBIDDEN)
ERROR = int(Outcome.ERROR)


@dataclass
class DirectDoor(Door):
    """A door whose routes (the paths clients name) each invoke a Lambda function, nothing between."""

    name: str
    ledger: Ledger
    overhead: Draw
    stage_states: list[StageState]  # one: the door itself (clients address routes through it)
    throttled: tuple[int, int]  # (outcome, status) of an invoke the function's limits refuse
    iam: bool = False  # AuthType AWS_IAM: an unsigned request (a bad token) is refused with 403
    callers: list[Caller] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stages = [s.name for s in self.stage_states]
        self._answer = self.ledger.answer
        self._warmup = self.ledger.warmup

    def attempt(self, now: float, req: Request) -> None:
        """Send attempt ``req.attempt`` of ``req`` at time ``now``: a function error or its timeout is
        502 (the door waits for the function; its timeout is the only one)."""
        overhead = self.overhead()
        if self.iam and req.token < 0:
            self._answer(now, req, FORBIDDEN, 403, overhead, 0.0, 0.0)
            return
        route = req.client.stage.routes[req.route]
        inv = route.pool.invoke(now, now >= self._warmup)  # type: ignore[union-attr]
        if inv is None:
            outcome, status = self.throttled
            self._answer(now, req, outcome, status, overhead, 0.0, 0.0, -1, -1, route.function)
            return
        was_cold, init, run, failed, billed_ms = inv
        outcome, status = (ERROR, 502) if failed else (OK, 200)
        fn, cold = route.function, 1 if was_cold else 0
        self._answer(now, req, outcome, status, overhead, 0.0, init + run, -1, -1, fn, cold, init, billed_ms)
