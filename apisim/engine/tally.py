"""Running totals of a run: what every attempt and every request came to, in bounded memory.

The gateway appends five numbers per attempt (and three per finished request) to plain lists;
:meth:`Tally.fold` turns them into counts, per-client billing counts, per-bucket traffic and
latency sketches with numpy, then empties the lists. The run loop folds after every window of
arrivals, so memory does not grow with the number of requests.
"""

from __future__ import annotations

import math

import numpy as np

from apisim.engine.sketch import LatencySketch, keys
from apisim.outcomes import NOT_BILLED, Outcome

N_OUTCOMES = len(Outcome)
N_STATUS = 600
_NOT_BILLED = np.array(sorted(int(o) for o in NOT_BILLED))


def _ok(outcome: np.ndarray) -> np.ndarray:
    return (outcome == Outcome.OK) | (outcome == Outcome.CACHE_HIT)


class Tally:
    """Counts and latency sketches after warm-up; traffic and latency per time bucket for the whole run."""

    def __init__(self, *, warmup: float, end: float, width: float, clients: int, retries: bool) -> None:
        self.warmup = warmup
        # Without retries every attempt is a whole request: the request totals come from the
        # attempts and the gateway need not report requests separately.
        self.retries = retries
        self.width = width
        self.buckets = max(1, math.ceil(end / width))
        self.clients = clients
        # Per attempt, appended by the gateway.
        self.t: list[float] = []
        self.latency: list[float] = []
        self.outcome: list[int] = []
        self.status: list[int] = []
        self.client: list[int] = []
        # Per request, once its last attempt is answered.
        self.first: list[float] = []
        self.waited: list[float] = []
        self.final: list[int] = []
        self.attempts: list[int] = []
        # Folded totals.
        self.pairs = np.zeros(N_OUTCOMES * N_STATUS, dtype=np.int64)  # (outcome, status) after warm-up
        self.billed_by_client = np.zeros(clients, dtype=np.int64)
        self.ok_by_client = np.zeros(clients, dtype=np.int64)
        self.latency_all = LatencySketch()
        self.latency_ok = LatencySketch()
        self.latency_client = LatencySketch()
        self.final_counts = np.zeros(N_OUTCOMES, dtype=np.int64)
        self.requests = 0
        self.attempts_total = 0
        n = self.buckets
        self.per_bucket = {
            k: np.zeros(n, dtype=np.int64) for k in ("offered", "ok", "cache_hit", "status_429", "status_5xx")
        }
        self.bucket_latency: list[LatencySketch | None] = [None] * n  # made when a bucket sees an attempt

    def fold(self) -> None:
        """Fold the pending attempts and requests into the totals."""
        if self.t:
            self._fold_attempts()
        if self.first:
            self._fold_requests()

    def _fold_attempts(self) -> None:
        t = np.array(self.t)
        latency = np.array(self.latency)
        outcome = np.array(self.outcome, dtype=np.int64)
        status = np.array(self.status, dtype=np.int64)
        client = np.array(self.client, dtype=np.int64)
        for buf in (self.t, self.latency, self.outcome, self.status, self.client):
            buf.clear()
        ok = _ok(outcome)
        lkeys = keys(latency)

        bucket = np.minimum((t // self.width).astype(np.int64), self.buckets - 1)
        n = self.buckets
        pb = self.per_bucket
        pb["offered"] += np.bincount(bucket, minlength=n)
        pb["ok"] += np.bincount(bucket[outcome == Outcome.OK], minlength=n)
        pb["cache_hit"] += np.bincount(bucket[outcome == Outcome.CACHE_HIT], minlength=n)
        pb["status_429"] += np.bincount(bucket[status == 429], minlength=n)
        pb["status_5xx"] += np.bincount(bucket[status >= 500], minlength=n)
        order = np.argsort(bucket, kind="stable")
        sorted_buckets = bucket[order]
        cuts = np.flatnonzero(np.diff(sorted_buckets)) + 1
        for part in np.split(order, cuts):
            b = int(bucket[part[0]])
            sketch = self.bucket_latency[b]
            if sketch is None:
                sketch = self.bucket_latency[b] = LatencySketch()
            sketch.add_many(latency[part], lkeys[part])

        post = t >= self.warmup
        if not post.any():
            return
        outcome, status, client, latency, ok = outcome[post], status[post], client[post], latency[post], ok[post]
        lkeys = lkeys[post]
        self.pairs += np.bincount(outcome * N_STATUS + status, minlength=N_OUTCOMES * N_STATUS)
        billed = ~np.isin(outcome, _NOT_BILLED)
        self.billed_by_client += np.bincount(client[billed], minlength=self.clients)
        self.ok_by_client += np.bincount(client[ok], minlength=self.clients)
        self.latency_all.add_many(latency, lkeys)
        self.latency_ok.add_many(latency[ok], lkeys[ok])
        if not self.retries:
            self.final_counts += np.bincount(outcome, minlength=N_OUTCOMES)
            self.requests += int(outcome.size)
            self.attempts_total += int(outcome.size)
            self.latency_client = self.latency_all  # the same attempts: one sketch serves both

    def _fold_requests(self) -> None:
        first = np.array(self.first)
        waited = np.array(self.waited)
        final = np.array(self.final, dtype=np.int64)
        attempts = np.array(self.attempts, dtype=np.int64)
        for buf in (self.first, self.waited, self.final, self.attempts):
            buf.clear()
        post = first >= self.warmup
        self.final_counts += np.bincount(final[post], minlength=N_OUTCOMES)
        self.requests += int(post.sum())
        self.attempts_total += int(attempts[post].sum())
        self.latency_client.add_many(waited[post])

    # -- read-outs -----------------------------------------------------------------------------

    def outcome_counts(self) -> np.ndarray:
        """Attempts after warm-up per outcome."""
        return self.pairs.reshape(N_OUTCOMES, N_STATUS).sum(axis=1)

    def status_counts(self) -> dict[int, int]:
        """Attempts after warm-up per status code."""
        per_status = self.pairs.reshape(N_OUTCOMES, N_STATUS).sum(axis=0)
        return {int(s): int(per_status[s]) for s in np.flatnonzero(per_status)}
