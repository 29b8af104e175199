"""Scenario files: every shipped one validates and runs; broken ones give located, one-paragraph errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from apisim import ScenarioError, load, simulate
from apisim.loading import MAX_EXPANDED_NODES

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if p.name != "comparisons.yaml")
BAD = ROOT / "tests" / "bad"

# file → (line, field path, words the explanation must contain)
BROKEN = {
    "unknown_key.yaml": (12, "clients.0.retyr", "did you mean 'retry'"),
    "wrong_unit.yaml": (4, "api.cache.ttl", "250ms, 30s, 5m"),
    "negative_rate.yaml": (11, "clients.0.arrival.rate", "greater than 0"),
    "missing_function.yaml": (5, "api.routes.0.integration.function", "no such function (defined functions: items)"),
    "weights.yaml": (11, "clients.0.routes", "add up to 1"),
    "cache_on_http.yaml": (4, "api.cache", "REST only"),
    "quota_without_period.yaml": (7, "api.usage_plans.free.quota.period", "required"),
    "yaml_syntax.yaml": (6, "(top level)", "YAML syntax error"),
    "python_tag.yaml": (1, "name", "not allowed"),
    "alias_bomb.yaml": (None, "(top level)", "aliases are expanded"),
    "lognormal_without_p99.yaml": (8, "functions.f.duration_ms", "{median, p99} or {mean, sigma}"),
    "unknown_process.yaml": (8, "clients.0.arrival.process", "'poisson', 'constant', 'burst', 'trace'"),
    "route_without_method.yaml": (4, "api.routes.0.route", "GET /path"),
    "warmup_too_long.yaml": (2, "simulation", "shorter than duration"),
    "over_reserved.yaml": (7, "functions", "at most 900 may be reserved"),
    "unknown_usage_plan.yaml": (8, "clients.0.usage_plan", "no such usage plan"),
}


def test_every_broken_file_is_covered() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_error_names_file_line_and_field(name: str) -> None:
    line, path, words = BROKEN[name]
    with pytest.raises(ScenarioError) as info:
        load(BAD / name)
    problem = info.value.problems[0]
    assert problem.path == path
    assert problem.line == line
    assert words in problem.message
    assert str(BAD / name) in str(info.value)


def test_cli_reports_broken_files_with_exit_code_2_and_no_traceback() -> None:
    files = [str(BAD / name) for name in sorted(BROKEN)]
    proc = subprocess.run(
        [sys.executable, "-m", "apisim.cli", "validate", *files], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    for name, (line, _, _) in BROKEN.items():
        where = f"{name}:{line}" if line else name
        assert where in proc.stderr, f"{where} not reported"


def test_object_tags_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'name: !!python/object/apply:pathlib.Path.touch ["{marker}"]\napi: {{routes: []}}\n')
    with pytest.raises(ScenarioError, match="not allowed"):
        load(evil)
    assert not marker.exists()


def test_alias_bombs_are_refused_before_expansion() -> None:
    text = (BAD / "alias_bomb.yaml").read_text()
    assert len(text) < 1000  # small on disk, a billion nodes expanded
    with pytest.raises(ScenarioError, match="limit 100,000"):
        load(BAD / "alias_bomb.yaml")
    assert MAX_EXPANDED_NODES == 100_000


def test_retry_on_is_a_key_not_a_boolean() -> None:
    sc = load(ROOT / "scenarios" / "03-authorizer.yaml")
    assert sc.clients[0].retry is not None and sc.clients[0].retry.on == ["429", "5xx"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenario_validates_and_runs(path: Path) -> None:
    sc = load(path)
    sim = sc.simulation
    short = min(sim.duration, 60.0)
    sc = sc.model_copy(
        update={
            "simulation": sim.model_copy(update={"duration": short, "warmup": min(sim.warmup, short / 4), "windows": 2})
        }
    )  # the month from two windows: enough to run every step of the month's path
    s = simulate(sc).summary
    assert s["requests"]["offered"] > 0
    assert sum(s["requests"]["by_outcome"].values()) == s["requests"]["offered"]
    assert s["cost_monthly_usd"]["total"] > 0


def test_shipped_scenarios_have_a_comment_saying_what_they_show() -> None:
    for path in SHIPPED:
        assert path.read_text().startswith("#"), f"{path.name} needs a leading comment"


def test_newcomer_scenario_gets_aws_defaults() -> None:
    sc = load(ROOT / "scenarios" / "00-hello.yaml")
    assert sc.account.api_throttle.rate == 10000 and sc.account.api_throttle.burst == 5000
    assert sc.account.lambda_concurrency == 1000
    assert sc.functions["hello"].timeout == 3.0
    assert sc.functions["hello"].memory_mb == 128
    assert sc.route_timeout(sc.api.routes[0]) == 30.0
    limits = yaml.safe_load((ROOT / "apisim" / "data" / "limits.yaml").read_text())
    assert limits["account_throttle"]["rate"] == sc.account.api_throttle.rate
    assert limits["lambda_concurrency"]["value"] == sc.account.lambda_concurrency
    assert limits["scaling_rate"]["instances"] == sc.account.scaling_rate.instances
    assert limits["lambda_timeout_default_s"]["value"] == sc.functions["hello"].timeout


def test_a_diurnal_peak_is_a_time_within_its_period() -> None:
    import pytest

    from apisim import validate_scenario
    from apisim.problems import ScenarioError

    doc = {
        "name": "p",
        "api": {"type": "http", "routes": [{"route": "GET /", "integration": {"type": "mock"}}]},
        "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 1,
                                              "profile": {"type": "diurnal", "peak_to_trough": 2, "peak_at": "25h"}}}],
    }  # fmt: skip
    with pytest.raises(ScenarioError, match="peak_at is a time within the period"):
        validate_scenario(doc)
