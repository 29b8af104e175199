"""apisim import: SAM / CloudFormation, OpenAPI and Terraform to a commented scenario.

The templates under tests/data/iac/ are written for these tests in the style of AWS's public SAM
examples and serverless patterns. Each test checks the numbers mapped, that the written scenario
validates and runs, and that what was not mapped is listed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import apisim
from apisim.cli import app
from apisim.iac import import_file, read_usage
from apisim.loading import ScenarioLoader
from apisim.problems import ScenarioError

DATA = Path(__file__).parent / "data" / "iac"
runner = CliRunner()


def imported(name: str, usage: Path | None = None) -> tuple[apisim.Scenario, str, list[str]]:
    result = import_file(DATA / name, read_usage(usage) if usage else None)
    assert not result.design.problems, result.design.problems
    return result.scenario, result.text, result.design.unmapped


def runs(sc: apisim.Scenario) -> dict:
    res = apisim.simulate(sc.with_times(20, 5, basis="window"))
    assert res.summary["requests"]["offered"] >= 0
    return res.summary


def comment_of(text: str, fragment: str) -> str:
    line = next(line for line in text.splitlines() if fragment in line)
    return line.split("#", 1)[1] if "#" in line else ""


def test_sam_implicit_rest_api() -> None:
    sc, text, unmapped = imported("sam-rest.yaml")
    api = sc.apis["ServerlessRestApi"]
    assert api.type == "rest" and api.endpoint == "edge" and api.stage_names() == ["Prod"]
    assert [r.route for r in api.routes] == ["GET /orders", "POST /orders"]
    listing, creating = sc.functions["ListOrdersFunction"], sc.functions["CreateOrderFunction"]
    assert (listing.memory_mb, listing.timeout, listing.arch, listing.reserved_concurrency) == (512, 10, "arm64", 50)
    assert (creating.memory_mb, creating.timeout, creating.arch) == (128, 20, "arm64")  # Globals, own Timeout
    assert "Globals" in comment_of(text, "arch: arm64") and "sam-rest.yaml:21" in comment_of(text, "arch: arm64")
    assert "from ListOrdersFunction (sam-rest.yaml:25)" in comment_of(text, "  ListOrdersFunction:")
    assert "PLACEHOLDER" in comment_of(text, "duration_ms") and "PLACEHOLDER" in comment_of(text, "- name:")
    assert any("Nightly of type Schedule" in u for u in unmapped)
    assert any("OrdersTable" in u for u in unmapped) and any("Policies" in u for u in unmapped)
    assert any("Runtime" in u and "Globals.Function" in u for u in unmapped)
    assert "# Not mapped" in text and "Nightly" in text
    runs(sc)


def test_sam_http_api_with_provisioned_concurrency() -> None:
    sc, _, _ = imported("sam-http.yaml")
    api = sc.apis["ProductsApi"]
    assert api.type == "http" and api.authorizer.type == "jwt"
    stage = api.stage("live")
    assert (stage.throttle.rate, stage.throttle.burst) == (100, 200)
    assert {r.route: r.timeout for r in api.routes} == {"GET /products/{id}": 5.0, "GET /products": None}
    fn = sc.functions["ProductsFunction"]
    assert (fn.memory_mb, fn.timeout, fn.provisioned_concurrency) == (1024, 6, 5)
    summary = runs(sc)
    assert summary["functions"]["ProductsFunction"]["provisioned_concurrency"] == 5


def test_cloudformation_rest_api_with_usage_plans_cache_and_throttles() -> None:
    sc, _, unmapped = imported("cfn-rest.yaml")  # JSON
    api = sc.apis["PartnerApi"]
    assert api.endpoint == "regional"
    assert api.authorizer.type == "lambda" and api.authorizer.function == "AuthFunction"
    assert api.authorizer.cache_ttl == 600
    stage = api.stage("prod")
    assert (stage.throttle.rate, stage.throttle.burst) == (500, 1000)
    assert (stage.cache.size_gb, stage.cache.ttl) == (1.6, 120)
    routes = {r.route: r for r in api.routes}
    assert set(routes) == {"GET /quotes", "GET /quotes/{id}"}
    assert routes["GET /quotes"].integration.function == "QuotesFunction" and routes["GET /quotes"].timeout == 8
    assert routes["GET /quotes/{id}"].integration.type == "mock"
    assert (routes["GET /quotes/{id}"].throttle.rate, routes["GET /quotes/{id}"].throttle.burst) == (50, 100)
    gold, free = api.usage_plans["GoldPlan"], api.usage_plans["FreePlan"]
    assert (gold.rate, gold.burst, gold.quota.limit, gold.quota.period) == (100, 200, 1_000_000, "month")
    assert (free.rate, free.quota.limit, free.quota.period, free.quota.offset) == (5, 5000, "day", 100)
    keys = {c.usage_plan: c.api_keys for c in sc.clients}
    assert keys == {"GoldPlan": 2, "FreePlan": 1}  # two UsagePlanKeys for gold, none for free
    assert (sc.functions["QuotesFunction"].memory_mb, sc.functions["QuotesFunction"].timeout) == (256, 8)
    assert any("AWS::Lambda::Permission" in u for u in unmapped) and any("TracingEnabled" in u for u in unmapped)
    runs(sc)


def test_websocket_api() -> None:
    sc, _, unmapped = imported("websocket.yaml")
    api = sc.apis["ChatApi"]
    assert api.type == "websocket" and api.route_selection == "$request.body.action"
    assert {r.route: r.integration.function for r in api.routes} == {
        "$connect": "ConnectionsFunction", "$disconnect": "ConnectionsFunction", "sendMessage": "SendFunction",
    }  # fmt: skip
    assert next(r for r in api.routes if r.route == "sendMessage").timeout == 10
    assert (api.stage("production").throttle.rate, api.stage("production").throttle.burst) == (300, 600)
    assert sc.functions["SendFunction"].reserved_concurrency == 100
    assert sc.clients[0].connections.arrival is not None  # a WebSocket client: connections, not requests
    assert any("AutoDeploy" in u for u in unmapped)
    runs(sc)


def test_openapi_with_integrations_and_a_lambda_authorizer() -> None:
    sc, text, unmapped = imported("openapi.yaml")
    api = sc.apis["pets"]
    assert api.type == "rest"
    assert (api.authorizer.type, api.authorizer.function, api.authorizer.cache_ttl) == ("lambda", "PetsAuthorizer", 60)
    kinds = {r.route: r.integration.type for r in api.routes}
    assert kinds == {"GET /pets": "lambda", "POST /pets": "lambda", "GET /pets/{id}": "http", "GET /health": "mock"}
    assert next(r for r in api.routes if r.route == "GET /pets").timeout == 3
    assert set(sc.functions) == {"ListPets", "CreatePet", "PetsAuthorizer"}  # named by ARNs, defaults for the rest
    assert "PLACEHOLDER" in comment_of(text, 'route: "GET /pets/{id}"')
    assert any("request-validators" in u for u in unmapped) and any("3 of 4 routes" in u for u in unmapped)
    runs(sc)


def test_terraform_rest_api() -> None:
    sc, text, unmapped = imported("rest.tf")
    api = sc.apis["shop"]
    assert api.endpoint == "regional" and api.authorizer.type == "iam"
    stage = api.stage("v1")
    assert (stage.throttle.rate, stage.throttle.burst, stage.cache.size_gb, stage.cache.ttl) == (250, 500, 0.5, 60)
    (route,) = api.routes
    assert route.route == "GET /orders" and route.integration.function == "orders" and route.timeout == 10
    assert (route.throttle.rate, route.throttle.burst) == (20, 40)
    plan = api.usage_plans["partners"]
    assert (plan.rate, plan.burst, plan.quota.limit, plan.quota.period, plan.stages) == (10, 20, 20000, "week", ["v1"])
    fn = sc.functions["orders"]
    assert (fn.memory_mb, fn.timeout, fn.arch, fn.reserved_concurrency) == (768, 12, "arm64", 40)  # var default
    assert "from aws_lambda_function.orders (rest.tf:13)" in comment_of(text, "  orders:")
    assert "memory_size (rest.tf:19)" in comment_of(text, "memory_mb: 768")
    assert any("aws_iam_role.lambda" in u for u in unmapped) and any("xray_tracing_enabled" in u for u in unmapped)
    runs(sc)


def test_terraform_http_api_and_function_url() -> None:
    sc, _, unmapped = imported("http.tf")
    public, url = sc.apis["public"], sc.apis["webhook"]
    assert public.type == "http" and public.authorizer.function == "authz" and public.authorizer.cache_ttl == 120
    assert public.stage_names() == ["$default"]
    routes = {r.route: r for r in public.routes}
    assert routes["PUT /items/{id}"].throttle.rate == 50 and routes["GET /items"].throttle is None
    assert routes["GET /items"].timeout == 20
    assert url.type == "function_url" and url.invoke_mode == "response_stream" and url.authorizer.type == "iam"
    api = sc.functions["api"]
    assert (api.memory_mb, api.timeout, api.provisioned_concurrency) == (2048, 25, 3)
    assert sc.functions["webhook"].memory_mb == 256
    assert {c.api for c in sc.clients} == {"public", "webhook"}
    assert any("aws_lambda_function.api" in u and "runtime" in u for u in unmapped)
    runs(sc)


def test_usage_replaces_the_placeholders(tmp_path: Path) -> None:
    fitted = tmp_path / "fitted.yaml"
    fitted.write_text(
        "name: fitted\napi: {type: http, routes: [{route: GET /products, integration: {type: lambda, function: f}}]}\n"
        "functions:\n  f: {duration_ms: {dist: lognormal, median: 42, p99: 210}, cold_start_ms: 700}\n"
        "clients:\n  - {name: measured, arrival: {process: poisson, rate: 3.5}, routes: {GET /products: 1.0}}\n"
    )
    sc, text, _ = imported("sam-http.yaml", usage=fitted)
    (client,) = sc.clients
    assert client.name == "measured" and client.arrival.rate == 3.5 and client.api == "ProductsApi"
    assert client.routes == {"GET /products": 1.0}
    fn = sc.functions["ProductsFunction"]  # no fitted function of its name: the first one's
    assert fn.duration_ms.median == pytest.approx(0.042) and fn.cold_start_ms.value == pytest.approx(0.7)
    assert "from " in comment_of(text, "duration_ms") and "PLACEHOLDER" not in comment_of(text, "duration_ms")


def test_unresolved_intrinsics_are_located_placeholders_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "s.yaml"
    r = runner.invoke(app, ["import", str(DATA / "unresolved.yaml"), "-o", str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "unresolved.yaml:16: Resources.ReportsFunction.Properties.MemorySize" in r.stderr
    assert "!ImportValue" in r.stderr and "parameter Env has no Default" in r.stderr
    text = out.read_text()  # still written: every unresolved value a marked placeholder
    assert "PLACEHOLDER: MemorySize is unresolved" in comment_of(text, "memory_mb: 128")
    assert apisim.load(out).functions["ReportsFunction"].timeout == 3
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0


def test_cli_writes_like_init_and_lists_what_it_did_not_map(tmp_path: Path) -> None:
    out = tmp_path / "scenario.yaml"
    r = runner.invoke(app, ["import", str(DATA / "rest.tf"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "not mapped: aws_iam_role.lambda" in r.stderr
    assert runner.invoke(app, ["import", str(DATA / "rest.tf")]).stdout == out.read_text()  # stdout without -o
    again = runner.invoke(app, ["import", str(DATA / "rest.tf"), "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert runner.invoke(app, ["import", str(DATA / "rest.tf"), "-o", str(out), "--overwrite"]).exit_code == 0
    assert yaml.load(out.read_text(), Loader=ScenarioLoader)["apis"]["shop"]["type"] == "rest"


@pytest.mark.parametrize(
    ("name", "text", "wanted"),
    [
        ("bad.yaml", "Resources: [\n", "YAML"),
        ("nothing.yaml", "just: text\n", "not infrastructure code"),
        ("functions.yaml", "Resources:\n  F: {Type: AWS::Lambda::Function, Properties: {MemorySize: 256}}\n",
         "no API, function URL or load balancer"),
        ("bad.tf", 'resource "aws_lambda_function" "x" {\n  memory_size = \n', "not valid HCL"),
        ("twice.yaml", "Resources:\n  A: {Type: X}\n  A: {Type: Y}\n", "key written twice"),
    ],
)  # fmt: skip
def test_bad_inputs_are_located_errors_without_traceback(tmp_path: Path, name: str, text: str, wanted: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioError, match=wanted):
        import_file(path)
    r = runner.invoke(app, ["import", str(path)])
    assert r.exit_code == 2 and wanted in r.stderr and "Traceback" not in r.output
    assert runner.invoke(app, ["import", str(tmp_path / "missing.yaml")]).exit_code == 2
