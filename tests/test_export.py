"""`apisim export`: the Infracost file parses back with every number the simulated month's, a
Terraform file's resources are matched by label, and the CloudWatch rows add up to the timeseries."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
import yaml

import apisim
from apisim.exporting import cloudwatch_csv, cloudwatch_frame, infracost_export, infracost_text, infracost_usage

ROOT = Path(__file__).resolve().parents[1]
TF = ROOT / "tests" / "data" / "export" / "main.tf"


@cache
def run(path: str, duration: float = 120.0, warmup: float = 20.0, bucket: float | None = None) -> apisim.Result:
    sc = apisim.load(ROOT / path).with_times(duration, warmup, basis="window")
    if bucket is not None:
        sc = sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"bucket": bucket})})
    return apisim.simulate(sc)


def bill(result: apisim.Result) -> dict[tuple[str, str], float]:
    return {(r.resource, r.component): float(r.quantity) for r in result.cost.itertuples()}


def parsed(result: apisim.Result, terraform: Path | None = None) -> dict:
    doc = yaml.safe_load(infracost_text(result, terraform))
    assert doc == infracost_usage(result, terraform)  # the text says what the Python API gives
    assert doc["version"] == "0.1"
    return doc["resource_usage"]


def check_functions(result: apisim.Result, usage: dict) -> None:
    b = bill(result)
    for name, f in result.scenario.functions.items():
        mine = usage[f"aws_lambda_function.{name}"]
        assert mine["monthly_requests"] == round(b[(f"function.{name}", "requests")])
        gb_s = mine["monthly_requests"] * mine["request_duration_ms"] / 1000.0 * f.memory_mb / 1024.0
        assert gb_s == pytest.approx(b.get((f"function.{name}", "duration"), 0.0), rel=1e-4, abs=1e-3)


@pytest.mark.parametrize(
    ("path", "address"),
    [("scenarios/06-rest-api.yaml", "aws_api_gateway_rest_api.rest-api"),
     ("scenarios/06-http-api.yaml", "aws_apigatewayv2_api.http-api")],
)  # fmt: skip
def test_request_apis_and_functions(path: str, address: str) -> None:
    res = run(path)
    usage = parsed(res)
    b = bill(res)
    requests = sum(q for (r, c), q in b.items() if r.startswith("api.") and c == "requests")
    if address.startswith("aws_apigatewayv2"):
        # The bill counts an HTTP API's requests in 512 KB units: these are 1 KB each way, one unit each.
        assert usage[address] == {"monthly_requests": round(requests), "request_size_kb": 2}
    else:
        assert usage[address] == {"monthly_requests": round(requests)}
    check_functions(res, usage)
    out = math.fsum(q for (r, c), q in b.items() if c == "data transfer out")
    transfer = {"region": "us-east-1", "monthly_outbound_internet_gb": round(out, 6)}
    assert usage["aws_data_transfer.us_east_1"] == transfer


def test_an_alb_under_infracost_keys() -> None:
    res = run("scenarios/11-front-doors/alb.yaml")
    usage = parsed(res)
    alb = res.summary["apis"]["front-door-alb"]["alb"]
    assert usage["aws_lb.front-door-alb"] == {
        "new_connections": round(alb["new_connections_per_s"]),
        "active_connections": round(alb["active_connections_per_min"]),
        "processed_bytes_gb": round(alb["processed_gb_per_hour"], 6),
        "rule_evaluations": round(alb["requests_per_s"] * alb["rules"]),
    }
    # The block is the rates the bill priced: the same requests, the same LCU-hours.
    assert alb["requests_per_s"] == pytest.approx(res.summary["requests"]["offered_per_second"])
    lcu_hours = bill(res)[("alb.front-door-alb", "LCU hours")]
    assert alb["lcu_hours"] * res.summary["month_scale"] == pytest.approx(lcu_hours)
    check_functions(res, usage)


def test_cloudfront_and_its_function() -> None:
    res = run("scenarios/11-front-doors/cloudfront-rest.yaml")
    usage = parsed(res)
    b = bill(res)
    cf = "cloudfront.front-door-cloudfront-rest"
    assert usage["aws_cloudfront_distribution.front-door-cloudfront-rest"] == {
        "monthly_https_requests": {"us": round(b[(cf, "HTTPS requests")])},
        "monthly_data_transfer_to_internet_gb": {"us": round(b[(cf, "data transfer out")], 6)},
        "monthly_data_transfer_to_origin_gb": {"us": round(b[(cf, "data transfer to origin")], 6)},
    }
    assert usage["aws_cloudfront_function.front-door-cloudfront-rest"] == {
        "monthly_requests": round(b[(cf, "CloudFront Functions")])
    }
    # The edge's hits never reach the API: it bills only what CloudFront sent on.
    api = usage["aws_api_gateway_rest_api.front-door-cloudfront-rest"]["monthly_requests"]
    assert api == round(b[("api.front-door-cloudfront-rest.default", "requests")]) < round(b[(cf, "HTTPS requests")])


def test_a_websocket_api() -> None:
    res = run("scenarios/12-websocket-chat.yaml", 1200.0, 300.0)
    usage = parsed(res)["aws_apigatewayv2_api.websocket-chat"]
    b = bill(res)
    assert usage == {
        "monthly_messages": round(b[("api.websocket-chat.default", "messages")]),
        "message_size_kb": 32,
        "monthly_connection_mins": round(b[("api.websocket-chat.default", "connection minutes")]),
    }
    check_functions(res, parsed(res))


def test_each_resource_says_what_its_numbers_rest_on() -> None:
    text = infracost_text(run("scenarios/06-rest-api.yaml"))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  aws_"):
            assert lines[i - 1].startswith("  # rests on one 100s window (after 20s warm-up) × "), line


def test_terraform_labels_give_the_addresses() -> None:
    ex = infracost_export(run("scenarios/11-front-doors/rest.yaml"), TF)
    assert set(ex.document["resource_usage"]) == {
        "aws_api_gateway_rest_api.front-door-rest", "aws_lambda_function.users", "aws_data_transfer.us_east_1",
    }  # fmt: skip
    assert ex.unmatched == []
    assert ex.left == ["aws_lambda_function.reports (main.tf:15)"]  # the S3 bucket has no usage apisim knows
    other = infracost_export(run("scenarios/06-rest-api.yaml"), TF)
    assert other.unmatched == [f"REST API rest-api: no aws_api_gateway_rest_api labelled 'rest-api' in {TF}"]
    assert "aws_api_gateway_rest_api.front-door-rest (main.tf:23)" in other.left
    text = infracost_text(run("scenarios/06-rest-api.yaml"), TF)
    assert "# No Terraform match (written under its own name): REST API rest-api" in text
    assert "# Terraform resource given no usage: aws_lambda_function.reports (main.tf:15)" in text


def test_the_cloudwatch_rows_add_up_to_the_timeseries() -> None:
    res = run("scenarios/06-rest-api.yaml", 200.0, 20.0)  # 1 s buckets: 60 to a minute
    frame = cloudwatch_frame(res)
    ts = res.timeseries[~res.timeseries["warmup"]]
    assert list(frame.columns) == ["timestamp", "namespace", "metric", "dimensions", "statistic", "value", "unit",
                                   "period_s", "series"]  # fmt: skip
    gw = frame[frame["namespace"] == "AWS/ApiGateway"]
    assert set(gw["dimensions"].map(json.loads).map(json.dumps)) == {'{"ApiName": "rest-api", "Stage": "default"}'}
    for metric, column in (("Count", "offered"), ("4XXError", "status_4xx"), ("5XXError", "status_5xx")):
        rows = gw[gw["metric"] == metric]
        assert rows["value"].sum() == ts[column].sum() and len(rows) == 4 and set(rows["unit"]) == {"Count"}
    assert ts["offered"].sum() == res.summary["requests"]["offered"]  # and the timeseries is the summary's
    lam = frame[(frame["namespace"] == "AWS/Lambda") & (frame["metric"] == "Invocations")]
    assert lam["value"].sum() == ts["invocations.users"].sum() > 0
    peak = frame[(frame["metric"] == "ConcurrentExecutions") & (frame["statistic"] == "Maximum")]
    assert peak["value"].max() == ts["peak.users"].max()
    # Minutes from simulation.start, a minute apart; 1 s buckets hold no minute's percentiles.
    stamps = sorted(set(frame["timestamp"]))
    assert stamps[0] == "2026-04-01T00:00:00Z" and stamps[1] == "2026-04-01T00:01:00Z"
    assert "Latency" not in set(frame["metric"]) and any("Latency" in n for n in frame.attrs["notes"])
    assert pd.read_csv(pd.io.common.StringIO(cloudwatch_csv(res))).shape == frame.shape


def test_minute_buckets_give_the_latency_percentiles() -> None:
    res = run("scenarios/06-http-api.yaml", 180.0, 60.0, bucket=60.0)
    frame = cloudwatch_frame(res)
    lat = frame[frame["metric"] == "Latency"]
    assert set(lat["statistic"]) == {"p50", "p99"} and set(lat["unit"]) == {"Milliseconds"}
    ts = res.timeseries[~res.timeseries["warmup"]]
    assert sorted(lat[lat["statistic"] == "p99"]["value"]) == sorted(ts["p99_ms"])
    assert set(frame[frame["namespace"] == "AWS/ApiGateway"]["metric"]) == {"Count", "4xx", "5xx", "Latency"}
    assert json.loads(lat["dimensions"].iloc[0]) == {"ApiId": "http-api", "Stage": "default"}


def test_no_api_gateway_rows_for_an_alb() -> None:
    frame = cloudwatch_frame(run("scenarios/11-front-doors/alb.yaml"))
    assert set(frame["namespace"]) == {"AWS/Lambda"}
    assert any("AWS/ApiGateway metrics not exported" in n for n in frame.attrs["notes"])


def test_the_command_writes_and_never_replaces_without_overwrite(tmp_path: Path) -> None:
    usage, csv = tmp_path / "usage.yml", tmp_path / "metrics.csv"
    args = [sys.executable, "-m", "apisim.cli", "export", "scenarios/11-front-doors/rest.yaml",
            "--infracost-usage", str(usage), "--cloudwatch", str(csv), "--terraform", str(TF),
            "--windows", "2", "--duration", "2m", "--warmup", "20s"]  # fmt: skip
    first = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    assert first.returncode == 0, first.stderr
    assert "aws_api_gateway_rest_api.front-door-rest" in yaml.safe_load(usage.read_text())["resource_usage"]
    assert "aws_lambda_function.reports" in first.stderr  # a Terraform resource left without usage, said
    rows = pd.read_csv(csv)
    assert set(rows["period_s"]) == {60.0} and "Latency" in set(rows["metric"])  # the command asks minute buckets
    assert set(rows["series"]) == {"the month's busiest window"}
    for mine in (usage, csv):
        mine.write_text("mine")
        again = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
        assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
        assert mine.read_text() == "mine"
        mine.unlink()
        (csv if mine is usage else usage).unlink(missing_ok=True)


def test_bad_terraform_and_nothing_to_write_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tf"
    bad.write_text('resource "aws_lambda_function" "x" {\n  memory_size = \n')
    base = [sys.executable, "-m", "apisim.cli", "export", "scenarios/11-front-doors/rest.yaml",
            "--basis", "window", "--duration", "30s", "--warmup", "5s"]  # fmt: skip
    for extra in (["--infracost-usage", str(tmp_path / "u.yml"), "--terraform", str(bad)], []):
        proc = subprocess.run(base + extra, capture_output=True, text=True, cwd=ROOT, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "u.yml").exists()
