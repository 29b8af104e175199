"""Running totals of a run: what every attempt and every request came to, in bounded memory.

The ledger appends five numbers per attempt (one more for an attempt that asked a cache, and four
per finished request) to plain lists; :meth:`Tally.fold` turns them into counts (account-wide, per
stage and per client), latency sketches and per-bucket traffic with numpy, then empties the
lists. The run loop folds after every window of arrivals, so memory does not grow with the number
of requests. The warm-up rule (an attempt counts if it arrived after warm-up) is
:meth:`Ledger.counts`; the fold applies it to the attempts' arrival times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from apisim.engine.sketch import LatencySketch, keys
from apisim.outcomes import Outcome

N_OUTCOMES = len(Outcome)
N_STATUS = 600
N_FLAGS = 9
"""An attempt's cache facts: (authorizer cache + 1) × 3 + (response cache + 1), each -1 not asked, 0 missed, 1 hit."""


def flag_counts(flags: np.ndarray) -> dict[str, int]:
    """Authorizer and response-cache lookups and hits, from counts of the nine flag values."""
    f = np.asarray(flags).reshape(3, 3)  # [authorizer + 1, cache + 1]
    return {
        "auth_lookups": int(f[1:, :].sum()),
        "auth_hits": int(f[2, :].sum()),
        "cache_lookups": int(f[:, 1:].sum()),
        "cache_hits": int(f[:, 2].sum()),
    }


class Tally:
    """Counts and latency sketches after warm-up; traffic and latency per time bucket for the whole run."""

    def __init__(
        self, *, warmup: float, end: float, width: float, client_stage: Sequence[int], stages: int, retries: bool
    ) -> None:
        self.warmup = warmup
        self.end = end  # counting runs from warmup to end: a door's hourly rates need the span
        # Without retries every attempt is a whole request: the request totals come from the
        # attempts and the ledger need not report requests separately.
        self.retries = retries
        self.width = width
        self.buckets = max(1, math.ceil(end / width))
        self.client_stage = np.asarray(client_stage, dtype=np.int64)
        self.clients = len(client_stage)
        self.stages = stages
        # Per attempt, appended by the ledger.
        self.t: list[float] = []
        self.latency: list[float] = []
        self.outcome: list[int] = []
        self.status: list[int] = []
        self.client: list[int] = []
        self.flags: list[int] = []  # client × 9 + flag, only for counted attempts that asked a cache
        # Per request, once its last attempt is answered.
        self.first: list[float] = []
        self.waited: list[float] = []
        self.final: list[int] = []
        self.attempts: list[int] = []
        # Folded totals, after warm-up.
        self.pairs = np.zeros((stages, N_OUTCOMES * N_STATUS), dtype=np.int64)  # (outcome, status) per stage
        self.by_client = np.zeros((self.clients, N_OUTCOMES), dtype=np.int64)  # outcomes per client
        self.flags_by_client = np.zeros((self.clients, N_FLAGS), dtype=np.int64)
        self.latency_all = LatencySketch()
        self.latency_ok = LatencySketch()
        self.latency_client = LatencySketch()
        # One stage: its sketch is the account's (no second copy of every latency).
        self.latency_stage = [self.latency_all] if stages == 1 else [LatencySketch() for _ in range(stages)]
        self.final_counts = np.zeros(N_OUTCOMES, dtype=np.int64)
        self.requests = 0
        self.attempts_total = 0
        n = self.buckets
        kinds = ("offered", "ok", "cache_hit", "status_429", "status_4xx", "status_5xx")
        self.per_bucket = {k: np.zeros(n, dtype=np.int64) for k in kinds}
        self.bucket_latency: list[LatencySketch | None] = [None] * n  # made when a bucket sees an attempt
        # A door's own counts beyond attempts (a WebSocket API's connections and messages), by door
        # name: kept here so a month weights each window's as it weights every other count.
        self.extra: dict[str, Any] = {}

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
        flags = np.array(self.flags, dtype=np.int64)
        for buf in (self.t, self.latency, self.outcome, self.status, self.client, self.flags):
            buf.clear()
        self.fold_attempts(t, latency, outcome, status, client, flags)

    def fold_attempts(
        self,
        t: np.ndarray,
        latency: np.ndarray,
        outcome: np.ndarray,
        status: np.ndarray,
        client: np.ndarray,
        flags: np.ndarray,
    ) -> None:
        """Fold a batch of attempts (the ledger's columns, as arrays) into the totals."""
        if flags.size:  # already cut at warm-up by the ledger (only counted attempts are appended)
            self.flags_by_client += np.bincount(flags, minlength=self.flags_by_client.size).reshape(
                self.flags_by_client.shape
            )
        ok = (outcome == Outcome.OK) | (outcome == Outcome.CACHE_HIT)
        lkeys = keys(latency)

        # floor(t / width), not t // width: numpy's floor division of floats is ten times slower. They
        # differ only for a time on an edge k·width when width is not exact in binary (1.0 // 0.1 is
        # 9): floor puts it in bucket k, as the edges k·width say.
        bucket = np.minimum(np.floor(t / self.width).astype(np.int64), self.buckets - 1)
        n = self.buckets
        pb = self.per_bucket
        # One count per (bucket, outcome kind, status kind) instead of six masked copies (2× faster):
        # outcome kind 0 other, 1 OK, 2 cache hit; status kind 0 below 400, 1 other 4xx, 2 429, 3 5xx.
        kind = (outcome == Outcome.OK).view(np.int8) + (outcome == Outcome.CACHE_HIT).view(np.int8) * 2
        kind = kind.astype(np.int64) * 4
        kind += (status >= 400).view(np.int8) + (status >= 500).view(np.int8) * 2 + (status == 429).view(np.int8)
        c = np.bincount(bucket * 12 + kind, minlength=n * 12).reshape(n, 3, 4)
        pb["offered"] += c.sum(axis=(1, 2))
        pb["ok"] += c[:, 1, :].sum(axis=1)
        pb["cache_hit"] += c[:, 2, :].sum(axis=1)
        pb["status_429"] += c[:, :, 2].sum(axis=1)
        pb["status_4xx"] += c[:, :, 1:3].sum(axis=(1, 2))
        pb["status_5xx"] += c[:, :, 3].sum(axis=1)
        # Each bucket's attempts into its sketch. They usually come in time order (always without
        # retries), so each bucket's are one slice: no sort and no copies (4× faster).
        if bucket.size and bool(np.all(bucket[1:] >= bucket[:-1])):
            cuts = [0, *(np.flatnonzero(bucket[1:] != bucket[:-1]) + 1).tolist(), bucket.size]
            parts = [slice(lo, hi) for lo, hi in pairwise(cuts)]
        else:
            order = np.argsort(bucket, kind="stable")
            parts = np.split(order, np.flatnonzero(np.diff(bucket[order])) + 1)
        for part in parts:
            b = int(bucket[part.start if isinstance(part, slice) else part[0]])
            sketch = self.bucket_latency[b]
            if sketch is None:
                sketch = self.bucket_latency[b] = LatencySketch()
            sketch.add_many(latency[part], lkeys[part])

        post = t >= self.warmup  # the warm-up rule, for every count below
        if not post.all():  # (all: the usual batch, kept without six masked copies)
            if not post.any():
                return
            outcome, status, client = outcome[post], status[post], client[post]
            latency, ok, lkeys = latency[post], ok[post], lkeys[post]
        stage = self.client_stage[client]
        pairs = (stage * N_OUTCOMES + outcome) * N_STATUS + status
        self.pairs += np.bincount(pairs, minlength=self.pairs.size).reshape(self.pairs.shape)
        self.by_client += np.bincount(client * N_OUTCOMES + outcome, minlength=self.by_client.size).reshape(
            self.by_client.shape
        )
        self.latency_all.add_many(latency, lkeys)
        if ok.all():
            self.latency_ok.add_many(latency, lkeys)
        else:
            self.latency_ok.add_many(latency[ok], lkeys[ok])
        if self.stages > 1:
            for s in np.unique(stage).tolist():
                mine = stage == s
                self.latency_stage[s].add_many(latency[mine], lkeys[mine])
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
        self.fold_requests(first, waited, final, attempts)

    def fold_requests(self, first: np.ndarray, waited: np.ndarray, final: np.ndarray, attempts: np.ndarray) -> None:
        """Fold a batch of finished requests (first sent, time to the last answer, outcome, attempts)."""
        post = first >= self.warmup
        self.final_counts += np.bincount(final[post], minlength=N_OUTCOMES)
        self.requests += int(post.sum())
        self.attempts_total += int(attempts[post].sum())
        self.latency_client.add_many(waited[post])

    # -- read-outs -----------------------------------------------------------------------------

    def _pairs(self, stage: int | None) -> np.ndarray:
        pairs = self.pairs.sum(axis=0) if stage is None else self.pairs[stage]
        return pairs.reshape(N_OUTCOMES, N_STATUS)

    def outcome_counts(self, stage: int | None = None) -> np.ndarray:
        """Attempts after warm-up per outcome (of one stage, or all)."""
        return self._pairs(stage).sum(axis=1)

    def request_outcomes(self) -> np.ndarray:
        """Client requests after warm-up per final outcome (after the client's retries)."""
        return self.final_counts

    def status_counts(self, stage: int | None = None) -> dict[int, int]:
        """Attempts after warm-up per status code (of one stage, or all)."""
        per_status = self._pairs(stage).sum(axis=0)
        return {int(s): int(per_status[s]) for s in np.flatnonzero(per_status)}

    def cache_counts(self, stages: Sequence[int] | None = None) -> dict[str, int]:
        """Authorizer and response-cache lookups and hits after warm-up (of some stages, or all)."""
        if stages is None:
            return flag_counts(self.flags_by_client.sum(axis=0))
        mine = np.isin(self.client_stage, list(stages))
        return flag_counts(self.flags_by_client[mine].sum(axis=0))
