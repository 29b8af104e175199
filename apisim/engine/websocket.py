"""The WebSocket API door: connections that open, carry messages both ways, and close.

A WebSocket client is a source of *sessions*: a user's wish to stay connected for a while (for
ever, for a fixed population). A session holds one connection at a time. API Gateway closes a
connection after 10 minutes without a client message (idle) and after 2 hours (max duration),
and a message past 128 KB closes it with code 1009; the client reconnects after the closes its
``reconnect.on`` names, and its session goes on. Every other close ends the session.

Opening a connection is the ``$connect`` attempt: the account's new-connection bucket (500 a
second), the account's request bucket, the authorizer (on ``$connect`` only), then the
``$connect`` route's integration; any refusal is the attempt's answer (retried as the client's
``retry`` says). A message on an open connection takes the account's bucket and its route's
throttle, runs its route's integration and, if it succeeds, the function pushes ``fan_out``
messages to peers through ``@connections`` (each a call on the account's bucket; a push to a
stale connection id, left by a lost ``$disconnect``, answers 410 and the app forgets the id).
An app-level ping (``keep_alive``) is sent after that long without a message: it is billed and
keeps the connection from idling, and invokes nothing.

Each session has one pending event on the ledger's agenda at a time (its next message, ping or
close), so the work is proportional to the messages, not to the connections' length. The door
counts in :class:`Counts` (kept in the tally, so a month weights it like every other count);
messages and ``$connect`` attempts are also the tally's attempts (``latency_ms``, 429s, 5xx).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apisim.distributions import Draw
from apisim.engine.apigateway import LAMBDA, AuthStep, Caller, RouteStep, StageState
from apisim.engine.door import Door, Request, UsageLine
from apisim.engine.ledger import Ledger
from apisim.engine.levels import LevelLog
from apisim.engine.sketch import LatencySketch, WeightedSketch
from apisim.engine.tally import Tally
from apisim.engine.throttle import TokenBucket
from apisim.outcomes import Outcome

OK = int(Outcome.OK)
THROTTLED = int(Outcome.THROTTLED)
UNAUTHORIZED = int(Outcome.UNAUTHORIZED)
FORBIDDEN = int(Outcome.FORBIDDEN)
BACKEND_THROTTLED = int(Outcome.BACKEND_THROTTLED)
TIMEOUT = int(Outcome.TIMEOUT)
ERROR = int(Outcome.ERROR)

INTERNAL_IDS = 1 << 48
"""Where the ids of attempts the door makes itself (reconnects, messages) start: after any arrival's."""


def units(size: int, frame: int) -> int:
    """Billed messages for one message of ``size`` bytes: one per started ``frame`` (32 KB), at least one."""
    return max(1, math.ceil(size / frame))


@dataclass
class WsClient:
    """One client's WebSocket behaviour at runtime."""

    population: int  # users always online (0: sessions open as the client's arrivals say)
    session: Draw | None  # wanted session length (None: for ever)
    session_mean: float
    rate: float  # messages a second on an open connection
    constant: bool  # evenly spaced messages (else Poisson)
    uniform: Draw  # U(0, 1): phases, route picks
    exponential: Draw  # Exp(1)
    route_cdf: np.ndarray
    route_index: list[int]  # message routes, by the door's route index
    message_units: int
    too_large: bool  # its messages close the connection with 1009
    keep_alive: float  # a ping after this long without a message (inf: none)
    pushes: Callable[[int], int]  # pushes per message, given the connections open
    push_units: int
    push_bytes: int
    reconnect_on: frozenset[str]
    delay: float
    lost_fraction: float
    coins: Draw  # U(0, 1): lost disconnects
    steady_rate: float = 0.0  # new sessions a second before t = 0, for a window that starts mid-traffic


class Session:
    """A user's stay, holding at most one connection at a time."""

    __slots__ = ("client", "end", "gen", "last", "max_at", "next_msg", "open", "opened", "token", "ws")

    def __init__(self, client: Any, ws: WsClient, end: float, token: int) -> None:
        self.client = client  # the engine's Population
        self.ws = ws
        self.token = token  # the user's bearer token, presented at every $connect (-1: an invalid one)
        self.end = end  # when the user leaves (inf: never)
        self.open = False
        self.opened = 0.0
        self.max_at = math.inf
        self.last = 0.0  # the last client message or ping on the connection
        self.next_msg = math.inf
        self.gen = 0  # the pending event's generation: an older event is stale


class Attempt(Request):
    """A ``$connect`` or a message of one session."""

    __slots__ = ("message", "session")


@dataclass
class Counts:
    """What one run's WebSocket API counted after warm-up (a month weights each window's)."""

    routes: list[str]
    warmup: float
    end: float
    width: float
    n: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    refused: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    per_route: dict[str, list[float]] = field(default_factory=dict)
    latency: LatencySketch = field(default_factory=LatencySketch)
    _pending: list[float] = field(default_factory=list)
    peak: int = 0

    def __post_init__(self) -> None:
        self.open = LevelLog(self.warmup, self.end, self.width)
        self.per_route = {r: [0.0, 0.0] for r in self.routes}

    def fold(self) -> None:
        """Fold the pending message latencies into the sketch (between windows of arrivals)."""
        if self._pending:
            self.latency.add_many(np.array(self._pending))
            self._pending.clear()
        self.open.fold()

    def timeseries(self, name: str) -> dict[str, np.ndarray]:
        """Columns for the run's timeseries: connections open, on average in each bucket."""
        return {f"connections.{name}": self.open.bucket_means()}


@dataclass
class WebSocketApi(Door):
    """One WebSocket API: its routes on its one stage, its clients' sessions, and their bill."""

    name: str
    ledger: Ledger
    api_bucket: TokenBucket
    connect_bucket: TokenBucket
    overhead: Draw
    callback: Draw  # one @connections push's time, from the function
    auth: AuthStep
    stage_states: list[StageState]
    connect_route: RouteStep | None
    disconnect_route: RouteStep | None
    clients: dict[int, WsClient]
    counts: Counts
    idle: float
    max_duration: float
    frame: int
    metering: Any  # scenario.WebSocketMetering
    kind: str = "websocket"
    callers: list[Caller] = field(default_factory=list)
    stale: int = 0  # connection ids the app keeps after a lost $disconnect
    live: dict[Session, None] = field(default_factory=dict)  # insertion-ordered: sums are reproducible
    next_id: int = INTERNAL_IDS

    def __post_init__(self) -> None:
        self.stages = [s.name for s in self.stage_states]
        self._answer = self.ledger.answer
        self._warmup = self.ledger.warmup
        self._end = self.ledger.end
        self.ledger.tally.extra[self.name] = self.counts

    # -- sessions --------------------------------------------------------------------------

    def start(self, populations: list[Any]) -> None:
        """Sessions already under way when the run begins (t = 0), near their steady state.

        A population's users are all connected, each connection's age uniform over the 2 hours.
        A client whose sessions arrive has about λ·E[S] in progress (M/G/∞, λ the last hour's
        rate): each session's length is drawn in proportion to its length and its age uniform
        within it; its connection is as old as the session (or, if it reconnects after the
        2 hours, as old as the session's last 2-hour stretch), and one that would have closed
        already is not there. The time since a connection's last message is uniform over the gap
        it would leave; the warm-up settles the rest (idle closes before t = 0).
        """
        for p in populations:
            ws = self.clients[p.index]
            if ws.population:
                for _ in range(ws.population):
                    end = math.inf if ws.session is None else ws.session()
                    self._resume(p, ws, end, -ws.uniform() * self.max_duration)
                continue
            rate0 = p.arrivals.mean_between(-3600.0, 0.0) / 3600.0 or ws.steady_rate
            if ws.session is None or rate0 <= 0:
                continue
            lengths = np.array([ws.session() for _ in range(4096)])
            count = int(np.random.default_rng(int(ws.uniform() * 2**32)).poisson(rate0 * ws.session_mean))
            weights = np.cumsum(lengths) / lengths.sum()
            again = "max_duration" in ws.reconnect_on
            for _ in range(count):
                length = float(lengths[min(int(np.searchsorted(weights, ws.uniform())), len(lengths) - 1)])
                full = length * ws.uniform()
                if again:
                    age = math.fmod(full, self.max_duration)
                elif full >= self.max_duration:
                    continue  # its one connection has closed at the 2 hours
                else:
                    age = full
                self._resume(p, ws, length - full, -age)

    def _token(self, client: Any) -> int:
        """A user's token, from the client's own streams (a population's users, reconnects keep it)."""
        return int(client.attributes(1)[2][0])

    def _resume(self, client: Any, ws: WsClient, end: float, opened: float) -> None:
        s = Session(client, ws, end, self._token(client))
        if s.token < max(0, self.auth.deny_below if self.auth.kind == "lambda" else 0):
            # A user whose token is refused was never connected: it tries within its first second.
            again = ws.uniform()
            self.ledger.at(again, self._connect, again, self._new_attempt(again, s, -1, False))
            return
        if ws.rate > 0:  # users already under way are at every phase of their messages
            s.next_msg = (ws.uniform() if ws.constant else ws.exponential()) / ws.rate
        self._open(0.0, s, opened=opened)
        gap = min(self.idle, ws.keep_alive, 1.0 / ws.rate if ws.rate > 0 else math.inf)
        s.last = max(s.opened, -ws.uniform() * gap)
        self._schedule(s)

    def attempt(self, now: float, req: Request) -> None:
        """A new session's ``$connect`` (an arrival of the client), or a retried attempt of a session."""
        if not isinstance(req, Attempt):
            ws = self.clients[req.client.index]
            end = math.inf if ws.session is None else now + ws.session()
            session = Session(req.client, ws, end, req.token)
            again = Attempt(req.id, req.client, req.route, req.api_key, req.token, -1, 0.0, now)
            again.session, again.message = session, False
            self._connect(now, again)
        elif req.message:
            if req.session.open:  # a retried message goes on its connection, if it is still open
                self._message(now, req.session, req)
        else:
            self._connect(now, req)

    def _new_attempt(self, now: float, s: Session, route: int, message: bool) -> Attempt:
        req = Attempt(self.next_id, s.client, route, -1, s.token, -1, 0.0, now)
        self.next_id += 1
        req.session, req.message = s, message
        return req

    def _connect(self, now: float, req: Attempt) -> None:
        s = req.session
        counted = now >= self._warmup
        overhead = self.overhead()
        route = self.connect_route
        index = route.index if route is not None else -1
        req.route = index
        if not self.connect_bucket.try_take(now):
            self._refuse(now, req, THROTTLED, 429, overhead, 0.0, 0.0)
            return
        if not self.api_bucket.try_take(now):
            self._refuse(now, req, THROTTLED, 429, overhead, 0.0, 0.0)
            return
        auth_s = 0.0
        auth = self.auth
        if auth.kind == "lambda":
            inv = auth.pool.invoke(now, counted)  # type: ignore[union-attr]
            if inv is None:
                self._refuse(now, req, BACKEND_THROTTLED, 500, overhead, 0.0, 0.0)
                return
            _, init, run, failed, _ = inv
            auth_s = init + run
            if failed:
                self._refuse(now, req, ERROR, 500, overhead, auth_s, 0.0)
                return
            if req.token < 0:
                self._refuse(now, req, UNAUTHORIZED, 401, overhead, auth_s, 0.0)
                return
            if req.token < auth.deny_below:
                self._refuse(now, req, FORBIDDEN, 403, overhead, auth_s, 0.0)
                return
        elif auth.kind == "simple":
            auth_s = auth.latency()  # type: ignore[misc]
            if req.token < 0:
                status = 401 if auth.unauthorized == UNAUTHORIZED else 403
                self._refuse(now, req, auth.unauthorized, status, overhead, auth_s, 0.0)
                return
        if counted:
            self.counts.n["connect_count"] += 1  # CloudWatch ConnectCount: reached the $connect route
        took, fn, cold, init, billed = 0.0, -1, -1, 0.0, 0
        if route is not None:
            result = self._integrate(now, route, counted)
            if result[0] != OK:
                outcome, status, took, fn, cold, init, billed = result
                self._refuse(now, req, outcome, status, overhead, auth_s, took, -1, -1, fn, cold, init, billed)
                return
            _, _, took, fn, cold, init, billed = result
        self._answer(now, req, OK, 200, overhead, auth_s, took, -1, -1, fn, cold, init, billed)
        if counted:
            self.counts.n["opened"] += 1
        self._open(now, s, opened=now)
        self._schedule(s)

    def _refuse(self, now: float, req: Attempt, outcome: int, status: int, *parts: Any) -> None:
        """A ``$connect`` refused: answered; after the client's last retry the session ends (a
        population's user tries again after its reconnect delay, at least a second)."""
        tried = req.attempt
        self._answer(now, req, outcome, status, *parts)
        if now >= self._warmup:
            self.counts.refused[status] += 1
        if req.attempt != tried:
            return  # the ledger sends a retry
        s = req.session
        if s.ws.population:
            again = now + max(1.0, s.ws.delay)
            if again < self._end:
                self.ledger.at(again, self._connect, again, self._new_attempt(again, s, -1, False))

    def _open(self, now: float, s: Session, opened: float) -> None:
        s.open = True
        s.opened = opened
        s.max_at = opened + self.max_duration
        s.last = now
        self.live[s] = None
        self.counts.open.ups.append(max(0.0, opened))
        level = len(self.live)
        if level > self.counts.peak and now >= self._warmup:
            self.counts.peak = level
        if s.ws.rate > 0 and s.next_msg == math.inf:
            s.next_msg = now + self._gap(s.ws, first=True)
        elif s.next_msg < now:  # due while the client was reconnecting: it sends the message once connected
            s.next_msg = now

    def _gap(self, ws: WsClient, first: bool = False) -> float:
        """The wait for the next message. Evenly spaced messages of a new session start half a gap
        in (a session of k gaps holds exactly k messages, whatever it is cut at)."""
        if ws.constant:
            return (0.5 if first else 1.0) / ws.rate
        return ws.exponential() / ws.rate

    def _schedule(self, s: Session) -> None:
        """Put the session's next event (message, ping or close) on the agenda; none past the run's end."""
        s.gen += 1
        t = min(s.next_msg, s.last + s.ws.keep_alive, s.last + self.idle, s.max_at, s.end)
        if t < self._end:
            self.ledger.at(t, self._event, t, s, s.gen)

    def _event(self, now: float, s: Session, gen: int) -> None:
        if gen != s.gen or not s.open:
            return
        ws = s.ws
        if now >= s.end:
            self._close(now, s, "client")
        elif now >= s.max_at:
            self._close(now, s, "max_duration")
        elif now >= s.last + self.idle:
            self._close(now, s, "idle")
        elif now >= s.last + ws.keep_alive and s.last + ws.keep_alive <= s.next_msg:
            s.last = now
            if now >= self._warmup:
                self.counts.n["pings"] += 1
                self.counts.n["units_in"] += 1
            self._schedule(s)
        else:
            s.last = now
            s.next_msg = now + self._gap(ws)
            pick = int(np.searchsorted(ws.route_cdf, ws.uniform(), side="right"))
            route = ws.route_index[min(pick, len(ws.route_index) - 1)]
            self._message(now, s, self._new_attempt(now, s, route, True))
            if s.open:
                self._schedule(s)

    def _message(self, now: float, s: Session, req: Attempt) -> None:
        """One client message: throttles, its route's integration, then the pushes to peers."""
        counted = now >= self._warmup
        counts = self.counts
        ws = s.ws
        if ws.too_large:
            if counted:
                counts.n["too_large"] += 1
            self._close(now, s, "1009")
            return
        overhead = self.overhead()
        route = self.stage_states[0].routes[req.route]
        if not self.api_bucket.try_take(now) or (route.bucket is not None and not route.bucket.try_take(now)):
            self._answer(now, req, THROTTLED, 429, overhead, 0.0, 0.0)
            return
        if counted:
            counts.n["messages_in"] += 1
            counts.n["units_in"] += ws.message_units
        outcome, status, took, fn, cold, init, billed = self._integrate(now, route, counted)
        if outcome != OK:
            self._answer(now, req, outcome, status, overhead, 0.0, took, -1, -1, fn, cold, init, billed)
            return
        n = ws.pushes(len(self.live))
        push = self.callback() if n else 0.0
        if n:
            at = now + overhead + took
            if at < self._end:
                self.ledger.at(at, self._push, at, n, ws, counted)
        self._answer(now, req, OK, 200, overhead, 0.0, took + push, -1, -1, fn, cold, init, billed)
        if counted:
            counts._pending.append(overhead + took + push)

    def _push(self, now: float, n: int, ws: WsClient, counted: bool) -> None:
        """``n`` @connections posts from the function: each takes a token of the account's bucket;
        one to a stale id answers 410 (and the app forgets the id), the rest are billed messages."""
        sent = 0
        while sent < n and self.api_bucket.try_take(now):
            sent += 1
        gone = 0
        if self.stale and sent:
            share = self.stale / (self.stale + len(self.live))
            gone = min(self.stale, sum(1 for _ in range(sent) if ws.coins() < share))
            self.stale -= gone
        if counted:
            c = self.counts.n
            c["pushes_throttled"] += n - sent
            c["gone_410"] += gone
            c["messages_out"] += sent - gone
            c["units_out"] += (sent - gone) * ws.push_units
            c["bytes_out"] += (sent - gone) * ws.push_bytes

    def _integrate(self, now: float, route: RouteStep, counted: bool) -> tuple[int, int, float, int, int, float, int]:
        """Run a route's integration: (outcome, status, seconds, function, cold, init, billed ms)."""
        if route.kind != LAMBDA:
            took = route.latency()  # type: ignore[misc]
            if took > route.timeout:
                return TIMEOUT, 504, route.timeout, -1, -1, 0.0, 0
            if route.error_fraction and route.failures() < route.error_fraction:  # type: ignore[misc]
                return ERROR, 502, took, -1, -1, 0.0, 0
            return OK, 200, took, -1, -1, 0.0, 0
        inv = route.pool.invoke(now, counted)  # type: ignore[union-attr]
        if inv is None:
            return BACKEND_THROTTLED, 500, 0.0, route.function, -1, 0.0, 0
        was_cold, init, run, failed, billed = inv
        if counted:
            mine = self.counts.per_route[route.name]
            mine[0] += 1
            mine[1] += 1 if was_cold else 0
        took = init + run
        cold = 1 if was_cold else 0
        if took > route.timeout:
            return TIMEOUT, 504, route.timeout, route.function, cold, init, billed
        if failed:
            return ERROR, 502, took, route.function, cold, init, billed
        return OK, 200, took, route.function, cold, init, billed

    def _close(self, now: float, s: Session, cause: str) -> None:
        """The connection closes: its minutes, its ``$disconnect`` (best-effort), and what the client does next."""
        s.open = False
        s.gen += 1
        self.live.pop(s, None)
        counts = self.counts
        counts.open.downs.append(now)
        self._minutes(s.opened, now)
        ws = s.ws
        if now >= self._warmup:
            counts.n[f"closes_{cause}"] += 1
            exact = now - s.opened
            counts.n["rounding_seconds"] += math.ceil(exact / 60.0 - 1e-9) * 60.0 - exact
        if ws.lost_fraction and ws.coins() < ws.lost_fraction:
            self.stale += 1
            if now >= self._warmup:
                counts.n["disconnects_lost"] += 1
        else:
            if now >= self._warmup:
                counts.n["disconnects"] += 1
            if self.disconnect_route is not None:
                self._integrate(now, self.disconnect_route, now >= self._warmup)
        again = now + ws.delay
        if again >= self._end:
            return
        if cause in ws.reconnect_on and again < s.end:
            self.ledger.at(again, self._connect, again, self._new_attempt(again, s, -1, False))
        elif ws.population:  # the session is over: a population's user starts another (a second on, at least)
            again = now + max(1.0, ws.delay)
            if again >= self._end:
                return
            fresh = Session(s.client, ws, math.inf if ws.session is None else again + ws.session(), s.token)
            self.ledger.at(again, self._connect, again, self._new_attempt(again, fresh, -1, False))

    def _minutes(self, opened: float, closed: float) -> None:
        """Connected seconds inside the counted part of the run."""
        lo, hi = max(opened, self._warmup), min(closed, self._end)
        if hi > lo:
            self.counts.n["connection_seconds"] += hi - lo

    def finish(self, end: float) -> None:
        """Connections still open at the end: their seconds up to it."""
        self.counts.peak = max(self.counts.peak, len(self.live))  # however few opened after warm-up
        for s in self.live:
            self._minutes(s.opened, end)
        self.counts.fold()

    # -- the bill and the results --------------------------------------------------------------

    def usage(self, tally: Tally) -> list[UsageLine]:
        """Messages (32 KB units, sent and received; ``$connect``/``$disconnect`` too if the
        scenario's metering says so), connection minutes, and pushes' bytes out."""
        n = weighted(tally, self.name)
        resource = f"api.{self.name}.{self.stages[0]}"
        messages = n["units_in"] + n["units_out"]
        if self.metering.connect_disconnect:
            messages += n["connect_count"] + n["disconnects"]
        seconds = n["connection_seconds"]
        if self.metering.connection_minutes == "per_connection":
            seconds += n["rounding_seconds"]
        return [
            UsageLine(resource, "messages", "apigateway.websocket.messages", messages),
            UsageLine(resource, "connection minutes", "apigateway.websocket.connection_minutes", seconds / 60.0),
            UsageLine(resource, "data transfer out", "data_transfer.out", n["bytes_out"] / 2**30),
        ]

    def results(self, tally: Tally) -> dict[str, Any]:
        """The summary's ``apis.NAME.websocket`` block (month totals under the month basis); the
        message latency is a sketch, which the summary turns into percentiles."""
        parts = getattr(tally, "parts", None) or [(tally, 1.0)]
        n = weighted(tally, self.name)
        span = math.fsum(w * max(t.end - t.warmup, 0.0) for t, w in parts)
        counts = [t.extra[self.name] for t, _ in parts]
        refused: dict[str, float] = defaultdict(float)
        routes: dict[str, dict[str, float]] = {}
        for (_, w), c in zip(parts, counts, strict=True):
            for status, k in c.refused.items():
                refused[str(status)] += w * k
            for route, (inv, cold) in c.per_route.items():
                r = routes.setdefault(route, {"invocations": 0.0, "cold_starts": 0.0})
                r["invocations"] += w * inv
                r["cold_starts"] += w * cold
        sketch = (
            counts[0].latency
            if len(parts) == 1
            else WeightedSketch([(c.latency, w) for c, (_, w) in zip(counts, parts, strict=True)])
        )
        exact_min = n["connection_seconds"] / 60.0
        rounded_min = (n["connection_seconds"] + n["rounding_seconds"]) / 60.0
        connect_disconnect = n["connect_count"] + n["disconnects"]
        return {
            "connect_count": round(n["connect_count"]),
            "message_count": round(n["messages_in"] + n["pings"] + n["messages_out"]),
            "connections": {
                "opened": round(n["opened"]),
                "refused_by_status": {k: round(v) for k, v in sorted(refused.items())},
                "mean_open": n["connection_seconds"] / span if span else None,
                "peak_open": max(c.peak for c in counts),
                "connection_minutes": exact_min,
            },
            "messages": {
                "in": round(n["messages_in"]),
                "pings": round(n["pings"]),
                "out": round(n["messages_out"]),
                "units": round(n["units_in"] + n["units_out"]),
                "too_large_1009": round(n["too_large"]),
            },
            "closes": {cause: round(n[f"closes_{cause}"]) for cause in ("client", "idle", "max_duration", "1009")},
            "pushes": {"gone_410": round(n["gone_410"]), "throttled": round(n["pushes_throttled"])},
            "disconnects": {"run": round(n["disconnects"]), "lost": round(n["disconnects_lost"])},
            "routes": {
                k: {"invocations": round(v["invocations"]), "cold_starts": round(v["cold_starts"])}
                for k, v in routes.items()
            },
            "message_latency_ms": sketch,  # a sketch: the summary reads its percentiles
            "metering": {
                "connect_disconnect": self.metering.connect_disconnect,
                "connection_minutes": self.metering.connection_minutes,
                "connect_disconnect_messages": round(connect_disconnect),
                "connection_minutes_exact": exact_min,
                "connection_minutes_per_connection": rounded_min,
            },
        }


def weighted(tally: Tally, name: str) -> dict[str, float]:
    """The door's counts over the run, or over the month (each window's weighted) for a month's tally."""
    parts = getattr(tally, "parts", None) or [(tally, 1.0)]
    out: dict[str, float] = defaultdict(float)
    for t, w in parts:
        for key, value in t.extra[name].n.items():
            out[key] += w * value
    return out
