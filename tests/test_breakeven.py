"""Break-even: the verb finds where two designs' bills cross, against the crossing computed by hand
from prices.yaml and AWS's LCU arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import apisim
from apisim import defaults
from apisim.cli import app
from apisim.cost import prices
from apisim.crossings import at_volume, breakeven, crossings, monthly_volume, parse_range, parse_volume
from apisim.studies import with_changes

ROOT = Path(__file__).resolve().parents[1]
DOORS = ROOT / "scenarios" / "11-front-doors"


def door(name: str) -> apisim.Scenario:
    """The front-door scenario with constant arrivals (exact counts) and a connection per request."""
    sc = apisim.load(DOORS / name)
    sc = with_changes(sc, {"clients.0.arrival.process": "constant", "clients.0.connections.keep_alive": False})
    return sc.with_times(120, 20, basis="window")


def by_hand(per_request: float) -> float:
    """Requests a month where an ALB (one request per connection) costs what ``per_request`` costs.

    ALB: its hours, plus new connections' LCUs (N requests a month are N / (730 × 3600) a second;
    25 a second make an LCU, for each of 730 hours): N × lcu_price / (25 × 3600). The functions'
    and data transfer lines are the same for both doors.
    """
    table = prices()
    hours = 730.0
    fixed = hours * table.price("elb.application.hours")["per_unit"]
    lcu = defaults.value("alb_lcu")
    per_alb = table.price("elb.application.lcu_hours")["per_unit"] / (lcu["new_connections_per_s"] * 3600.0)
    return fixed / (per_request - per_alb)


def test_alb_crosses_rest_near_4_8m_and_http_near_18m_a_month() -> None:
    table = prices()
    rest = table.price("apigateway.rest.requests")["tiers"][0][1]
    http = table.price("apigateway.http.requests")["tiers"][0][1]  # 2 KB: one 512 KB unit a request
    expected = {"front-door-rest": by_hand(rest), "front-door-http": by_hand(http)}
    assert expected["front-door-rest"] == pytest.approx(4.8e6, rel=0.01)
    assert expected["front-door-http"] == pytest.approx(18.0e6, rel=0.01)
    frame = breakeven([door("alb.yaml"), door("rest.yaml"), door("http.yaml")], volume=(1e6, 1e8), points=5)
    found = crossings(frame).set_index("other")
    assert set(found.index) == {"front-door-rest", "front-door-http"}  # REST and HTTP never cross
    for other, volume in expected.items():
        assert found.loc[other, "design"] == "front-door-alb"
        assert found.loc[other, "at"] == pytest.approx(volume, rel=0.02)
    # The table: each design at every volume, its bill and p99; the ALB is the cheapest above 18M.
    top = frame[frame["volume"] == frame["volume"].max()].set_index("design")
    assert top["cost_usd"].idxmin() == "front-door-alb" and top["p99_ms"].notna().all()


def test_volumes_scale_every_client_by_one_factor() -> None:
    sc = apisim.load(ROOT / "scenarios" / "10-three-apis.yaml")
    before = monthly_volume(sc)
    after = at_volume(sc, 2 * before)
    assert monthly_volume(after) == pytest.approx(2 * before)
    shares = [c.arrival.rate / a.arrival.rate for c, a in zip(sc.clients, after.clients, strict=True)]
    assert shares == pytest.approx([0.5] * len(shares))


def test_volume_text() -> None:
    assert parse_volume("5M") == 5e6 and parse_volume("500k") == 5e5 and parse_volume("1B") == 1e9
    assert parse_range("1M..1B") == (1e6, 1e9)
    for bad in ("lots", "1B..1M", "0", "5M"):
        with pytest.raises(ValueError):
            parse_range(bad) if ".." in bad or bad == "5M" else parse_volume(bad)


def test_cli_breakeven_prints_the_crossing_and_writes_its_figure(tmp_path: Path) -> None:
    files = []
    for name in ("alb.yaml", "http.yaml"):
        text = (DOORS / name).read_text().replace("process: poisson", "process: constant")
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    out = tmp_path / "be"
    args = ["breakeven", *files, "--volume", "5M..50M", "--points", "3", "--basis", "window", "--duration", "2m",
            "--warmup", "20s", "--out", str(out)]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "front-door-alb and front-door-http cross at" in r.output
    assert (out / "breakeven.csv").is_file() and (out / "breakeven.png").is_file() and (out / "crossings.csv").is_file()
    bad = CliRunner().invoke(app, ["breakeven", files[0], "--volume", "5M..50M"])
    assert bad.exit_code == 2 and "at least two designs" in bad.output


def test_varying_a_payload_size_finds_where_the_alb_stops_paying(tmp_path: Path) -> None:
    # Against an HTTP API at 100M requests a month (1 KB requests, one a connection): the ALB's
    # processed-bytes LCUs grow with the response while its new-connection LCUs stay: the bills
    # cross where bytes start to bind and catch up with the HTTP API's flat $1 a million.
    alb, http = (at_volume(door(name), 1e8) for name in ("alb.yaml", "http.yaml"))
    sizes = [1024, 16 * 1024, 64 * 1024, 128 * 1024, 256 * 1024]
    frame = breakeven([alb, http], vary=("clients.0.response_bytes", sizes))
    assert frame.attrs["x"] == "clients.0.response_bytes" and len(frame) == 2 * len(sizes)
    (row,) = crossings(frame).itertuples()
    # By hand: the ALB costs its hours plus, per request, max(new connections, bytes) LCUs; HTTP $1e-6 a request.
    table = prices()
    lcu_price = table.price("elb.application.lcu_hours")["per_unit"]
    hours = 730 * table.price("elb.application.hours")["per_unit"]
    rate = 1e8 / (730 * 3600)
    http_fee = 1e8 * table.price("apigateway.http.requests")["tiers"][0][1]
    # bytes LCUs = rate × (1024 + b) × 3600 / 2^30 / 0.4; solve hours + 730 × lcu_price × that = http_fee
    lcus = (http_fee - hours) / (730 * lcu_price)
    b = lcus * 0.4 * 2**30 / (rate * 3600) - 1024
    assert row.at == pytest.approx(b, rel=0.02)
    r = CliRunner().invoke(app, ["breakeven", str(DOORS / "alb.yaml"), str(DOORS / "http.yaml"),
                                 "--vary", "clients.0.response_bytes=1024,262144", "--basis", "window",
                                 "--duration", "5m"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "cross at clients.0.response_bytes = " in r.output
