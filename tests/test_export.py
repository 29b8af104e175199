"""`apisim export --infracost-usage`: the file parses back, and every number is the simulated month's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import apisim
from apisim.exporting import infracost_text

ROOT = Path(__file__).resolve().parents[1]


def rows(result: apisim.Result) -> dict[tuple[str, str], float]:
    return {(r.resource, r.component): float(r.quantity) for r in result.cost.itertuples()}


@pytest.mark.parametrize(
    ("path", "address"),
    [("scenarios/06-rest-api.yaml", "aws_api_gateway_rest_api.rest-api"),
     ("scenarios/06-http-api.yaml", "aws_apigatewayv2_api.http-api")],
)  # fmt: skip
def test_request_apis_and_functions(path: str, address: str) -> None:
    res = apisim.simulate(apisim.load(ROOT / path).with_times(120, 20, basis="window"))
    doc = yaml.safe_load(infracost_text(res))
    assert doc["version"] == "0.1"
    usage = doc["resource_usage"]
    bill = rows(res)
    offered = sum(q for (r, c), q in bill.items() if r.startswith("api.") and c == "requests")
    if address.startswith("aws_apigatewayv2"):
        # The bill counts an HTTP API's requests per 512 KB: these are 1 KB each way, one unit each.
        assert usage[address]["request_size_kb"] == 2.0
    assert usage[address]["monthly_requests"] == round(offered)
    for name, f in res.scenario.functions.items():
        mine = usage[f"aws_lambda_function.{name}"]
        assert mine["monthly_requests"] == round(bill[(f"function.{name}", "requests")])
        gb_s = mine["monthly_requests"] * mine["request_duration_ms"] / 1000.0 * f.memory_mb / 1024.0
        assert gb_s == pytest.approx(bill[(f"function.{name}", "duration")], rel=2e-3)


def test_a_websocket_api() -> None:
    sc = apisim.load(ROOT / "scenarios/12-websocket-chat.yaml").with_times(1200, 300, basis="window")
    res = apisim.simulate(sc)
    usage = yaml.safe_load(infracost_text(res))["resource_usage"]["aws_apigatewayv2_api.websocket-chat"]
    bill = rows(res)
    assert usage["monthly_messages"] == round(bill[("api.websocket-chat.default", "messages")])
    assert usage["monthly_connection_mins"] == round(bill[("api.websocket-chat.default", "connection minutes")])
    assert usage["message_size_kb"] == 32


def test_the_command_writes_and_never_replaces_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "usage.yml"
    args = [sys.executable, "-m", "apisim.cli", "export", "scenarios/06-rest-api.yaml", "--infracost-usage", str(out),
            "--basis", "window", "--duration", "60s", "--warmup", "10s"]  # fmt: skip
    first = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    assert first.returncode == 0, first.stderr
    assert "aws_api_gateway_rest_api.rest-api" in yaml.safe_load(out.read_text())["resource_usage"]
    out.write_text("mine")
    again = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    assert out.read_text() == "mine"
