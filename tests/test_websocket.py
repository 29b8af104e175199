"""WebSocket APIs against ground truth nobody here wrote: the seed's Example 4, AWS's pricing-page
example, M/G/∞ for connections open, token-bucket arithmetic for a burst of connections, exact
close counts for the idle timeout and the 2-hour maximum, and AWS's 32 KB metering."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from scipy import integrate, stats

import apisim
from apisim.engine.websocket import units
from apisim.problems import ScenarioError

CHAT = """
name: chat
api:
  type: websocket
  routes:
    - {route: $connect, integration: {type: lambda, function: connect}}
    - {route: $disconnect, integration: {type: lambda, function: disconnect}}
    - {route: sendMessage, integration: {type: lambda, function: send}}
functions:
  connect: {duration_ms: 20}
  disconnect: {duration_ms: 10}
  send: {duration_ms: 30}
clients:
  - name: users
    connections:
      arrival: {process: poisson, rate: 2}
      session: {dist: lognormal, median: 20m, p99: 3h}
    messages: {rate_per_connection: 0.0012, routes: {sendMessage: 1.0}, bytes: 500}
    keep_alive: 9m
    fan_out: {kind: room, size: 20}
"""


def scenario(tmp_path: Path, text: str, **changes: object) -> apisim.Scenario:
    data = yaml.safe_load(text.replace("{on:", '{"on":'))  # YAML 1.1 reads a bare on: as True; apisim does not
    for dotted, value in changes.items():
        node = data
        *path, last = dotted.split(".")
        for key in path:
            node = node.setdefault(key, {}) if not key.isdigit() else node[int(key)]
        node[last] = value
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return apisim.load(path)


def api_rows(result: apisim.Result) -> dict[str, tuple[float, float]]:
    """The WebSocket API's bill rows: component → (quantity a month, USD)."""
    bill = result.cost
    mine = bill[bill["resource"].str.startswith("api.")]
    return {r.component: (r.quantity, r.usd) for r in mine.itertuples()}


SEED = """
name: seed-chat
description: the seed's Example 4 (1,000 users always connected, 100 messages a user a day, a 30-day month)
simulation: {basis: window, duration: 25h, warmup: 1h}
pricing: {month: 720h}
api:
  type: websocket
  routes:
    - {route: sendMessage, integration: {type: mock}}
clients:
  - name: users
    connections:
      population: {users: 1000}
      reconnect: {on: [max_duration, idle], delay: 0s}
    messages: {rate_per_connection: 0.001157407407407407407, process: constant, bytes: 500}
"""


@pytest.mark.parametrize("basis", ["window", "month"])
def test_seed_example_4_is_13_80(tmp_path: Path, basis: str) -> None:
    # The seed's assumptions: only the messages users send are billed (no pushes, no keep-alive
    # pings, $connect/$disconnect not counted), connections held all month (a reconnect at once
    # after every idle or 2-hour close), a 30-day month (the window scaled to 720 h; April under
    # the month basis).
    sc = scenario(tmp_path, SEED, **{"simulation.basis": basis, "simulation.windows": 2})
    rows = api_rows(apisim.simulate(sc))
    assert rows["messages"][0] == pytest.approx(3_000_000, rel=1e-12)
    assert rows["connection minutes"][0] == pytest.approx(43_200_000, rel=1e-12)
    assert rows["messages"][1] + rows["connection minutes"][1] == pytest.approx(13.80, rel=1e-12)


def test_seed_example_4_without_keep_alive_reconnects_after_every_message(tmp_path: Path) -> None:
    # What the seed's figure hides: a message every 14.4 minutes leaves each connection idle for
    # 10 minutes, so API Gateway closes it once per message.
    res = apisim.simulate(scenario(tmp_path, SEED))
    ws = res.summary["apis"]["seed-chat"]["websocket"]
    assert ws["closes"]["idle"] == ws["messages"]["in"] == 100_000


AWS_EXAMPLE = """
name: aws-example
description: "AWS pricing page: 1,000 users, 100 sent and 500 received a user a day, 12 hours connected a day"
simulation: {basis: window, duration: 36h, warmup: 12h}
pricing: {month: 720h}
api:
  type: websocket
  routes:
    - {route: sendMessage, integration: {type: mock}}
clients:
  - name: users
    connections:
      arrival: {process: constant, rate: 0.011574074074074073}
      session: 12h
      reconnect: {on: [max_duration], delay: 0s}
    messages: {rate_per_connection: 0.0023148148148148147, process: constant, bytes: 500}
    fan_out: {kind: room, size: 6}
"""


def test_aws_pricing_example_is_23_40(tmp_path: Path) -> None:
    # 1,000 users a day each start a 12-hour session (evenly spread), send 100 messages in it and
    # each message is pushed to the 5 others in a room of 6: 600 billed messages a user a day.
    rows = api_rows(apisim.simulate(scenario(tmp_path, AWS_EXAMPLE)))
    assert rows["messages"][0] == pytest.approx(18_000_000, rel=1e-12)
    assert rows["messages"][1] == pytest.approx(18.00, rel=1e-12)
    assert rows["connection minutes"][0] == pytest.approx(21_600_000, rel=1e-9)
    assert rows["connection minutes"][1] == pytest.approx(5.40, rel=1e-9)


def test_metering_choices_are_shown_and_applied(tmp_path: Path) -> None:
    sc = scenario(tmp_path, AWS_EXAMPLE, **{"api.metering": {"connect_disconnect": True}})
    res = apisim.simulate(sc)
    ws = res.summary["apis"]["aws-example"]["websocket"]
    # 1,000 sessions a day, each six 2-hour connections: 6,000 $connect and 6,000 $disconnect a day.
    assert ws["metering"]["connect_disconnect_messages"] == 12_000
    assert api_rows(res)["messages"][0] == pytest.approx(30 * (600_000 + 12_000), rel=1e-12)
    # Every connection lasts exactly 2 hours: rounding each up to a minute changes nothing.
    assert ws["metering"]["connection_minutes_per_connection"] == pytest.approx(720_000, rel=1e-9)


def _mean_capped(dist: stats.rv_continuous, cap: float) -> tuple[float, float]:
    """E[min(S, cap)] and E[min(S, cap)²] by integrating the survival function."""
    first = integrate.quad(dist.sf, 0, cap, limit=200)[0]
    second = integrate.quad(lambda x: 2 * x * dist.sf(x), 0, cap, limit=200)[0]
    return first, second


def test_connections_open_follow_m_g_infinity(tmp_path: Path) -> None:
    # Poisson sessions, lognormal lengths, no reconnect: a connection lasts min(S, 2 h), so the
    # mean open is λ·E[min(S, 2 h)] (M/G/∞, any G). Pings every 5 minutes keep them from idling.
    sc = scenario(
        tmp_path, CHAT,
        **{"simulation": {"basis": "window", "duration": "4h", "warmup": "10m", "seed": 3},
           "clients.0.connections.arrival.rate": 0.5,
           "clients.0.connections.session": {"dist": "lognormal", "median": "30m", "p99": "4h"},
           "clients.0.connections.reconnect": {"on": []}, "clients.0.keep_alive": "5m",
           "clients.0.messages": None, "clients.0.fan_out": None},
    )  # fmt: skip
    sigma = math.log(240 / 30) / stats.norm.ppf(0.99)
    dist = stats.lognorm(s=sigma, scale=1800.0)
    mean, second = _mean_capped(dist, 7200.0)
    expected = 0.5 * mean
    res = apisim.simulate(sc)
    ws = res.summary["apis"]["chat"]["websocket"]
    # The time-average of M/G/∞ over T: variance ≈ m·E[L²]/(E[L]·T) (its autocorrelation is the
    # equilibrium survival of L, whose integral is E[L²]/(2E[L])); four standard deviations.
    seconds = 4 * 3600 - 600
    sd = math.sqrt(expected * second / (mean * seconds))
    assert abs(ws["connections"]["mean_open"] - expected) < 4 * sd
    assert ws["closes"]["idle"] == 0
    assert ws["closes"]["max_duration"] > 0


@pytest.mark.parametrize(
    ("session", "keep_alive", "cause", "mean_open"),
    [("3h", "5m", "max_duration", 720.0), ("1h", "5m", "client", 360.0), ("3h", "none", "idle", 60.0)],
)
def test_every_connection_closes_for_the_right_reason(
    tmp_path: Path, session: str, keep_alive: str, cause: str, mean_open: float
) -> None:
    # One session every 10 s, no messages, no reconnect. Sessions opened in [1 h, 4 h) close in
    # the counted [3 h, 6 h) after 2 h (3-hour sessions), 1 h... (1-hour sessions starting in
    # [2 h, 5 h)), or 10 minutes without a ping: exactly 1,080 of them, all for that reason.
    sc = scenario(
        tmp_path, CHAT,
        **{"simulation": {"basis": "window", "duration": "6h", "warmup": "3h"},
           "clients.0.connections.arrival": {"process": "constant", "rate": 0.1},
           "clients.0.connections.session": session, "clients.0.connections.reconnect": {"on": []},
           "clients.0.keep_alive": keep_alive, "clients.0.messages": None, "clients.0.fan_out": None},
    )  # fmt: skip
    ws = apisim.simulate(sc).summary["apis"]["chat"]["websocket"]
    assert ws["closes"] == {c: (1080 if c == cause else 0) for c in ("client", "idle", "max_duration", "1009")}
    assert ws["connections"]["mean_open"] == pytest.approx(mean_open, rel=1e-9)


def test_the_new_connection_bucket_admits_what_its_arithmetic_says(tmp_path: Path) -> None:
    # 2,000 connections in one second (evenly spaced) against 500 a second with a burst of 500.
    sc = scenario(
        tmp_path, CHAT,
        **{"simulation": {"basis": "window", "duration": "60s"},
           "account": {"websocket_connections": {"rate": 500, "burst": 500}},
           "clients.0.connections.arrival": {"process": "burst", "rate": 2000, "duration": 1, "start": 10},
           "clients.0.connections.session": "1h", "clients.0.messages": None, "clients.0.fan_out": None},
    )  # fmt: skip
    tokens, last, admitted = Fraction(500), Fraction(10), 0
    for k in range(2000):
        t = Fraction(10) + Fraction(k, 2000)
        tokens = min(Fraction(500), tokens + (t - last) * 500)
        last = t
        if tokens >= 1:
            tokens -= 1
            admitted += 1
    ws = apisim.simulate(sc).summary["apis"]["chat"]["websocket"]
    assert ws["connections"]["opened"] == admitted
    assert ws["connections"]["refused_by_status"] == {"429": 2000 - admitted}


def test_32_kb_metering_at_the_boundaries() -> None:
    frame = 32 * 1024
    assert [units(b, frame) for b in (0, 1, frame, frame + 1, 2 * frame, 4 * frame)] == [1, 1, 1, 2, 2, 4]


@pytest.mark.parametrize(("size", "closed"), [(128 * 1024, False), (129 * 1024, True)])
def test_a_message_past_128_kb_closes_its_connection_with_1009(tmp_path: Path, size: int, closed: bool) -> None:
    sc = scenario(
        tmp_path, CHAT,
        **{"simulation": {"basis": "window", "duration": "1h", "warmup": "10m"},
           "clients.0.messages.bytes": size, "clients.0.messages.rate_per_connection": 0.01,
           "clients.0.fan_out": None},
    )  # fmt: skip
    res = apisim.simulate(sc)
    ws = res.summary["apis"]["chat"]["websocket"]
    if closed:
        assert ws["closes"]["1009"] == ws["messages"]["too_large_1009"] > 0
        assert ws["messages"]["in"] == 0
    else:
        assert ws["closes"]["1009"] == 0
        # 128 KB is four 32 KB units: every message bills four, every ping one.
        assert ws["messages"]["units"] == 4 * ws["messages"]["in"] + ws["messages"]["pings"]


def test_pushes_to_stale_ids_answer_410(tmp_path: Path) -> None:
    sc = scenario(
        tmp_path, CHAT,
        **{"simulation": {"basis": "window", "duration": "2h", "warmup": "30m"},
           "clients.0.connections.disconnect_lost_fraction": 0.2, "clients.0.messages.rate_per_connection": 0.01},
    )  # fmt: skip
    ws = apisim.simulate(sc).summary["apis"]["chat"]["websocket"]
    assert ws["disconnects"]["lost"] > 0
    assert ws["pushes"]["gone_410"] > 0
    assert ws["disconnects"]["run"] + ws["disconnects"]["lost"] == sum(ws["closes"].values())


def test_the_same_seed_gives_the_same_numbers(tmp_path: Path) -> None:
    sc = scenario(tmp_path, CHAT, **{"simulation": {"basis": "window", "duration": "1h", "warmup": "10m"}})
    a, b = apisim.simulate(sc).summary, apisim.simulate(sc).summary
    assert a["apis"]["chat"]["websocket"] == b["apis"]["chat"]["websocket"]
    assert a["cost_monthly_usd"] == b["cost_monthly_usd"]


@pytest.mark.parametrize(
    ("changes", "where", "words"),
    [
        ({"clients.0.connections": {}}, "clients.0", "connections.arrival or connections.population"),
        ({"clients.0.messages.routes": {"chat": 1.0}}, "messages.routes.chat", "no message route chat"),
        ({"api.routes.2.route": "GET /x"}, "api.routes.2.route", "route keys"),
        ({"api.routes.0.timeout": 30}, "api.routes.0.timeout", "at most 29s"),
        ({"clients.0.fan_out": {"kind": "room"}}, "fan_out", "a room has a size"),
        ({"api.authorizer": {"type": "cognito"}}, "authorizer.type", "supports"),
    ],
)
def test_bad_websocket_scenarios_are_located(tmp_path: Path, changes: dict, where: str, words: str) -> None:
    with pytest.raises(ScenarioError) as err:
        scenario(tmp_path, CHAT, **changes)
    assert where in str(err.value)
    assert words in str(err.value)


def test_websocket_keys_on_another_door_are_refused(tmp_path: Path) -> None:
    text = CHAT.replace("type: websocket", "type: http")
    with pytest.raises(ScenarioError) as err:
        scenario(tmp_path, text)
    assert "route keys like $connect are a WebSocket API's" in str(err.value)
    assert "connections.arrival is a WebSocket client's" in str(err.value)


def test_a_message_due_while_reconnecting_waits_for_the_connection(tmp_path: Path) -> None:
    # Without pings connections idle out and reconnect after 5 s; messages that fell due meanwhile
    # are sent once connected (never back in time: a bucket asked out of order would refuse them).
    sc = scenario(
        tmp_path, CHAT,
        **{"simulation": {"basis": "window", "duration": "40m", "warmup": "5m"}, "clients.0.keep_alive": "none",
           "clients.0.connections.reconnect": {"on": ["idle", "max_duration"], "delay": "5s"}},
    )  # fmt: skip
    s = apisim.simulate(sc).summary
    assert s["apis"]["chat"]["websocket"]["closes"]["idle"] > 100
    assert set(s["status_counts"]) == {"200"}


def test_each_user_keeps_its_token_across_reconnects(tmp_path: Path) -> None:
    # A tenth of the tokens are denied: those users never connect (403 at every try), the rest
    # reconnect every 2 hours with their own valid token (before: every reconnect used token 0).
    sc = scenario(
        tmp_path, SEED,
        **{"api.authorizer": {"type": "iam", "invalid_fraction": 0.1},
           "simulation": {"basis": "window", "duration": "3h", "warmup": "10m"}},
    )  # fmt: skip
    s = apisim.simulate(sc).summary
    ws = s["apis"]["seed-chat"]["websocket"]
    assert 850 <= ws["connections"]["mean_open"] <= 950  # 900 expected: the users with a valid token
    assert s["status_counts"]["403"] > 0 and ws["connections"]["opened"] > 0


def test_a_window_of_evenly_spaced_sessions_starts_in_steady_state(tmp_path: Path) -> None:
    # One session every 10 s, each an hour: 360 open from the first instant of a window of its own.
    sc = scenario(
        tmp_path, CHAT,
        **{"simulation": {"basis": "window", "duration": "30m"},
           "clients.0.connections.arrival": {"process": "constant", "rate": 0.1},
           "clients.0.connections.session": "1h", "clients.0.messages": None, "clients.0.fan_out": None},
    )  # fmt: skip
    ws = apisim.simulate(sc).summary["apis"]["chat"]["websocket"]
    assert ws["connections"]["mean_open"] == pytest.approx(360, rel=0.1)
