"""The compiled kernel against the Python engine (differential testing): identical summaries for the
same scenario and seed, over every shipped scenario the kernel covers and over random designs.

The Python engine is the specification; any difference is a bug in the kernel. Every test here is in
one xdist group so the kernel's first compile (about 7 s in a fresh clone; cached on disk
after) happens in one worker while the other runs the rest of the suite.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from apisim import load, simulate, sweep, validate_scenario
from apisim.budget import estimate
from apisim.engine.build import build
from apisim.engine.engines import AUTO_MIN_ATTEMPTS, choose_engine, run, unsupported
from apisim.metrics import summarize
from apisim.problems import EngineUnavailable, Problem, RunTooLarge, ScenarioError, ScenarioErrors
from apisim.scenario import Scenario
from tests.test_conservation import designs
from tests.test_consistency import scenarios as multi_client_scenarios

pytestmark = pytest.mark.xdist_group(name="kernel")

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    p
    for p in [*ROOT.glob("scenarios/**/*.yaml"), *ROOT.glob("benchmarks/scenarios/*.yaml")]
    if p.name != "comparisons.yaml"
)


def _summary(sc: Scenario, engine: str) -> dict[str, Any]:
    log = run(sc, records=False, engine=engine)
    assert log.engine == engine
    s = summarize(log)
    s.pop("engine")  # the one figure that says which code ran
    return json.loads(json.dumps(s, default=str))  # the summary as a reader of --json sees it


def _covered(sc: Scenario) -> bool:
    return unsupported(build(sc, sc.simulation.seed, records=False)) is None


def _short(sc: Scenario, seconds: float = 20.0) -> Scenario:
    duration = min(sc.simulation.duration, seconds)
    return sc.with_times(duration, min(sc.simulation.warmup, duration / 4), basis="window")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_scenario_gives_the_same_summary_on_both_engines(path: Path) -> None:
    sc = _short(load(path))
    if not _covered(sc):
        with pytest.raises(EngineUnavailable, match=r"simulation\.engine: the compiled engine does not cover"):
            run(sc, records=False, engine="compiled")
        assert run(sc, records=False, engine="auto").engine == "python"  # auto falls back, it does not fail
        return
    assert _summary(sc, "compiled") == _summary(sc, "python")


def test_the_kernel_covers_most_shipped_scenarios() -> None:
    # What it leaves to Python is listed in the README; a new scenario should not silently drop out.
    covered = [p.name for p in SHIPPED if _covered(_short(load(p), 5.0))]
    assert len(covered) >= len(SHIPPED) - 8, covered


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_random_designs_give_the_same_summary_on_both_engines(doc: dict) -> None:
    sc = validate_scenario(doc)
    if _covered(sc):
        assert _summary(sc, "compiled") == _summary(sc, "python")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(multi_client_scenarios())
def test_random_multi_client_scenarios_give_the_same_summary_on_both_engines(doc: dict) -> None:
    sc = validate_scenario(doc)
    if _covered(sc):
        assert _summary(sc, "compiled") == _summary(sc, "python")


def test_a_month_from_windows_is_the_same_on_both_engines() -> None:
    # The month's windows start at month times (quotas' calendar periods, the warm-up's offset).
    sc = load(ROOT / "scenarios" / "04-usage-plans.yaml").with_times(300.0, 30.0, basis="month", windows=3)
    py = simulate(sc, engine="python").summary
    kernel = simulate(sc, engine="compiled").summary
    assert (py.pop("engine"), kernel.pop("engine")) == ("python", "compiled")
    assert json.dumps(kernel, sort_keys=True, default=str) == json.dumps(py, sort_keys=True, default=str)


def test_quota_offsets_and_iam_denials_are_the_same_on_both_engines() -> None:
    # Two rules the random designs reach rarely or never: a quota's first period shortened by its
    # offset (over a month of windows, crossing day periods), and IAM's bad signatures answered 403.
    doc = {
        "name": "offset-iam", "simulation": {"basis": "month", "duration": "10m", "warmup": "1m"},
        "api": {"type": "rest", "authorizer": {"type": "iam", "invalid_fraction": 0.05},
                "usage_plans": {"p": {"rate": 40, "burst": 20,
                                      "quota": {"limit": 3000, "period": "day", "offset": 2500}}},
                "routes": [{"route": "GET /a", "integration": {"type": "lambda", "function": "a"}}]},
        "functions": {"a": {"duration_ms": 30}},
        "clients": [{"name": "c", "usage_plan": "p", "api_keys": 4, "routes": {"GET /a": 1.0},
                     "arrival": {"process": "poisson", "rate": 60}}],
    }  # fmt: skip
    sc = validate_scenario(doc).with_times(600.0, 60.0, basis="month", windows=3)
    py = simulate(sc, engine="python").summary
    kernel = simulate(sc, engine="compiled").summary
    outcomes = py["requests"]["by_outcome"]
    assert outcomes["quota_exceeded"] > 0 and outcomes["forbidden"] > 0  # both rules were reached
    assert (py.pop("engine"), kernel.pop("engine")) == ("python", "compiled")
    assert json.dumps(kernel, sort_keys=True, default=str) == json.dumps(py, sort_keys=True, default=str)


def test_auto_runs_the_kernel_only_for_large_runs_it_covers() -> None:
    sc = load(ROOT / "scenarios" / "10-one-api.yaml")
    small = sc.with_times(10.0, 0.0, basis="window")
    assert choose_engine(build(small, 1, records=False), "auto") == ("python", None)
    per_second = estimate(small, records=False).first_attempts / 10.0
    large = sc.with_times(1.2 * AUTO_MIN_ATTEMPTS / per_second, 0.0, basis="window")
    assert choose_engine(build(large, 1, records=False), "auto") == ("compiled", None)
    assert choose_engine(build(large, 1, records=True), "auto") == ("python", "per-attempt records (--records)")


def test_an_uncovered_scenario_is_a_located_error_for_compiled_and_python_for_auto() -> None:
    path = ROOT / "scenarios" / "11-front-doors" / "alb.yaml"
    sc = _short(load(path)).with_engine("compiled")
    with pytest.raises(EngineUnavailable) as caught:
        simulate(sc)
    assert str(caught.value).startswith(f"{path}: 1 problem")
    assert "does not cover alb APIs" in str(caught.value)
    assert simulate(sc.with_engine("auto")).summary["engine"] == "python"


def test_force_lifts_size_limits_but_not_what_the_kernel_covers() -> None:
    # A study with force=True once skipped the check in the parent: each worker raised the error,
    # which could not be unpickled, and the user got BrokenProcessPool instead of the located error.
    sc = _short(load(ROOT / "scenarios" / "11-front-doors" / "alb.yaml")).with_engine("compiled")
    with pytest.raises(EngineUnavailable, match="does not cover alb APIs"):
        sweep(sc, {"functions.users.memory_mb": [512, 1024]}, force=True, workers=2)


@pytest.mark.parametrize("error", [
    EngineUnavailable("a.yaml", [Problem(("simulation", "engine"), "not covered", 6)]),
    RunTooLarge("b.yaml", [Problem(("simulation", "duration"), "too long", 3, 1e9)], where="in the study"),
    ScenarioErrors([ScenarioError("c.yaml", [Problem(("x",), "bad")]), RunTooLarge("d.yaml", [])]),
])  # fmt: skip
def test_scenario_errors_cross_process_boundaries_intact(error: ScenarioError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.problems == error.problems and back.source == error.source


def test_a_small_run_on_auto_does_not_load_numba() -> None:
    # Start-up stays lean: Numba and the kernel's machine code cost about a second to load.
    code = (
        "import sys; from apisim import load, simulate; "
        f"simulate(load({str(ROOT / 'scenarios' / '00-hello.yaml')!r}).with_times(10.0, 0.0, basis='window')); "
        "assert 'numba' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_cli_takes_engine_and_says_which_ran() -> None:
    from typer.testing import CliRunner

    from apisim.cli import app

    runner = CliRunner()
    hello = str(ROOT / "scenarios" / "00-hello.yaml")
    runs = {}
    for engine in ("python", "compiled"):
        r = runner.invoke(app, ["run", hello, "--basis", "window", "--duration", "60s", "--engine", engine, "--json"])
        assert r.exit_code == 0, r.output
        runs[engine] = json.loads(r.stdout)
    assert (runs["python"].pop("engine"), runs["compiled"].pop("engine")) == ("python", "compiled")
    assert runs["python"] == runs["compiled"]
    table = runner.invoke(app, ["run", hello, "--basis", "window", "--duration", "60s", "--engine", "compiled"])
    assert "compiled engine" in table.stdout
    alb = str(ROOT / "scenarios" / "11-front-doors" / "alb.yaml")
    for verb in ("validate", "run"):
        r = runner.invoke(app, [verb, alb, "--engine", "compiled"])
        assert r.exit_code == 2 and "simulation.engine: the compiled engine does not cover alb APIs" in r.output
        assert "Traceback" not in r.output
    r = runner.invoke(app, ["run", hello, "--engine", "fast"])
    assert r.exit_code == 2 and "--engine" in r.output


def test_report_takes_engine(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from apisim.cli import app

    runner = CliRunner()
    hello = str(ROOT / "scenarios" / "00-hello.yaml")
    common = ["--basis", "window", "--duration", "60s", "--json", "--out", str(tmp_path / "reports")]
    r = runner.invoke(app, ["report", hello, *common, "--engine", "compiled"])
    assert r.exit_code == 0, r.output
    (doc,) = json.loads(r.stdout)["scenarios"].values()
    assert doc["summary"]["engine"] == "compiled"
    alb = str(ROOT / "scenarios" / "11-front-doors" / "alb.yaml")
    r = runner.invoke(app, ["report", alb, *common, "--engine", "compiled"])
    assert r.exit_code == 2 and "does not cover alb APIs" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["report", hello, *common, "--engine", "fast"])
    assert r.exit_code == 2 and "--engine" in r.output


def test_instances_expiring_between_bursts_are_the_same_on_both_engines() -> None:
    # Short idle expiry and bursts far apart: many environments expire while idle or just after their
    # last invocation (the level log's worst case), over several functions.
    doc = {
        "name": "bursts", "simulation": {"basis": "window", "duration": "120s", "warmup": "0s"},
        "api": {"type": "rest", "routes": [
            {"route": "GET /a", "integration": {"type": "lambda", "function": "a"}},
            {"route": "GET /b", "integration": {"type": "lambda", "function": "b"}}]},
        "functions": {
            "a": {"duration_ms": {"dist": "exponential", "mean": 800}, "idle_expiry": "1s"},
            "b": {"duration_ms": 300, "idle_expiry": {"dist": "uniform", "low": "0.5s", "high": "2s"}},
        },
        "clients": [{"name": "c", "routes": {"GET /a": 0.5, "GET /b": 0.5},
                     "arrival": {"process": "burst", "rate": 3000, "duration": "1s", "start": "0s", "every": "9s"}}],
    }  # fmt: skip
    sc = validate_scenario(doc)
    assert unsupported(build(sc, 1, records=False)) is None
    assert _summary(sc, "compiled") == _summary(sc, "python")


def test_a_pool_far_past_its_first_room_is_the_same_on_both_engines() -> None:
    # The kernel starts each pool with room for 1,024 instances and grows it as the pool does (not by the
    # account's limit, which can be ten million): one pool passes 2,048 (its room doubles twice).
    doc = {
        "name": "wide", "simulation": {"basis": "window", "duration": "12s", "warmup": "0s"},
        "account": {"lambda_concurrency": 20000},
        "api": {"type": "http", "routes": [
            {"route": "GET /a", "integration": {"type": "lambda", "function": "a"}},
            {"route": "GET /b", "integration": {"type": "lambda", "function": "b"}}]},
        "functions": {
            "a": {"duration_ms": {"dist": "uniform", "low": 800, "high": 1200}, "idle_expiry": "3s"},
            "b": {"duration_ms": 20},
        },
        "clients": [{"name": "c", "routes": {"GET /a": 0.9, "GET /b": 0.1},
                     "arrival": {"process": "poisson", "rate": 6500}}],
    }  # fmt: skip
    sc = validate_scenario(doc)
    compiled = _summary(sc, "compiled")
    assert compiled["functions"]["a"]["max_concurrency"] > 2 * 1024  # Lambda's scaling rate stops it near 2,200
    assert compiled == _summary(sc, "python")
