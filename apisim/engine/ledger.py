"""The ledger: what every door shares, so a door only decides how an attempt ends.

It owns the run's one agenda (the SimPy environment the run loop steps on, and the count of
events pending on it), the tally and the optional per-attempt records, the single warm-up rule
(an attempt counts if it arrived after warm-up, and so does everything it causes), and the
client's side of an answer: whether to retry, and when, handing the retry back to the client's
door.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from apisim.engine.door import Request
from apisim.engine.records import AttemptLog
from apisim.engine.tally import Tally


class Ledger:
    """Records answers, schedules what must wait, and sends retries."""

    def __init__(self, env: simpy.Environment, tally: Tally, log: AttemptLog | None, *, warmup: float, end: float):
        self.env = env
        self.tally = tally
        self.warmup = warmup
        self.end = end
        self.pending = 0  # events scheduled on the agenda and not yet processed
        self._record = log.record if log is not None else None
        # Bound appends: answer() runs once per attempt, the hottest code in apisim.
        self._t = tally.t.append
        self._latency = tally.latency.append
        self._outcome = tally.outcome.append
        self._status = tally.status.append
        self._client = tally.client.append
        self._flags = tally.flags.append
        self._track_requests = tally.retries

    def counts(self, t0: float) -> bool:
        """The warm-up rule: whether an attempt that arrived at ``t0`` (and all it causes) is counted."""
        return t0 >= self.warmup

    # -- the agenda ----------------------------------------------------------------------------

    def at(self, t: float, then: Callable[..., Any], *args: Any) -> None:
        """Call ``then(*args)`` at time ``t`` (not before now)."""
        event = self.env.timeout(max(0.0, t - self.env.now), (then, args))
        event.callbacks.append(self._fire)
        self.pending += 1

    def _fire(self, event: simpy.Event) -> None:
        self.pending -= 1
        then, args = event.value
        then(*args)

    # -- answers -------------------------------------------------------------------------------

    def answer(
        self,
        t0: float,
        req: Request,
        outcome: int,
        status: int,
        overhead: float,
        auth_s: float,
        integration_s: float,
        auth_hit: int = -1,
        cache: int = -1,
        function: int = -1,
        cold: int = -1,
        init: float = 0.0,
        billed_ms: int = 0,
    ) -> None:
        """Attempt ``req.attempt`` of ``req``, sent at ``t0``, ended in ``outcome``/``status`` after the
        latency parts given.

        ``auth_hit``: the authorizer's result cache answered (1), missed (0) or was not asked (-1);
        ``cache``: the response cache answered (1), missed (0) or was not asked (-1); ``function``:
        the integration's function index (-1: none), with ``cold``, ``init`` and ``billed_ms``.
        """
        latency = overhead + auth_s + integration_s
        client = req.client
        self._t(t0)
        self._latency(latency)
        self._outcome(outcome)
        self._status(status)
        self._client(client.index)
        if (auth_hit != -1 or cache != -1) and t0 >= self.warmup:  # the warm-up rule, here for cache facts
            self._flags(client.index * 9 + (auth_hit + 1) * 3 + cache + 1)
        if self._record is not None:
            self._record(
                req.id, req.attempt, client.index, req.route + client.route_offset, t0, latency, outcome, status,
                overhead, auth_s, integration_s, auth_hit, function, cold, init, billed_ms,
            )  # fmt: skip
        retry = client.retry
        if retry is not None and status in retry.statuses and req.attempt < retry.max_attempts:
            again = t0 + latency + retry.delay(req.attempt)
            if again < self.end:
                req.attempt += 1
                self.at(again, client.door.attempt, again, req)
                return
        if self._track_requests:  # the request is over: its last attempt has been answered
            tally = self.tally
            tally.first.append(req.first)
            tally.waited.append(t0 + latency - req.first)
            tally.final.append(outcome)
            tally.attempts.append(req.attempt)
