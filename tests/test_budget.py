"""A run's time and memory are estimated before any work, refused above the limits, and the memory
estimate is an upper bound on what a run really takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apisim import RunTooLarge, budget, load, simulate, studies, validate_scenario
from tests.conftest import ROOT_SCENARIOS

ROOT = Path(__file__).resolve().parents[1]


def mock(**client) -> dict:
    return {
        "name": "m",
        "simulation": {"basis": "window", "duration": 100},
        "api": {"routes": [{"route": "GET /a", "integration": {"type": "mock"}}]},
        "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": 10}, **client}],
    }


def test_attempts_count_every_retry_a_client_may_send() -> None:
    est = budget.estimate(validate_scenario(mock(retry={"max_attempts": 20})))
    assert est.first_attempts == 1000 and est.attempts == 20_000


def test_bursts_and_constant_arrivals_are_counted_exactly() -> None:
    sc = validate_scenario(mock(arrival={"process": "burst", "rate": 100, "duration": 2, "start": 5, "every": 10}))
    assert budget.estimate(sc).first_attempts == 200 * 10  # ten bursts start before 100 s
    sc = validate_scenario(mock(arrival={"process": "constant", "rate": 3, "start": 1}))
    assert budget.estimate(sc).first_attempts == len(range(297))  # at 1, 1⅓, ... < 100


def test_a_diurnal_day_offers_its_mean_rate_times_the_day() -> None:
    sc = validate_scenario(mock(arrival={"process": "poisson", "rate": 80, "profile": {"type": "diurnal",
                                "peak_to_trough": 5, "peak_at": "20h"}}))  # fmt: skip
    sc = sc.with_times(86400.0)
    assert budget.estimate(sc).first_attempts == pytest.approx(80 * 86400, rel=1e-12)


def test_refusals_name_the_file_the_line_and_the_way_to_force(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(
        (ROOT_SCENARIOS / "00-hello.yaml").read_text() + "simulation: {duration: 1h, bucket: 10ms, basis: window}\n"
    )
    with pytest.raises(RunTooLarge) as info:
        simulate(load(path))
    text = str(info.value)
    assert f"{path}:" in text and "simulation.bucket" in text and "360,000 timeseries buckets" in text
    assert "--force" in text
    assert simulate(load(path).with_times(3.0), force=True).summary["requests"]["offered"] > 0


def test_a_grid_too_large_is_refused_before_any_point_is_built() -> None:
    base = load(ROOT_SCENARIOS / "00-hello.yaml")
    # A bad value in every point: refused on size first, never validated point by point.
    vary = {"functions.hello.memory_mb": list(range(-100, 0)), "clients.0.arrival.rate": list(range(1, 101))}
    with pytest.raises(RunTooLarge, match="10,000 runs"):
        studies.sweep(base, vary)


def test_a_study_too_long_in_total_is_refused() -> None:
    base = load(ROOT_SCENARIOS / "00-hello.yaml").with_times(86400.0 * 10)  # 17M requests a run
    with pytest.raises(RunTooLarge, match="300,000,000"):
        studies.sweep(base, {"functions.hello.memory_mb": [128, 256, 512, 1024, 2048, 4096, 8192, 10240]},
                      replications=3)  # fmt: skip


MEASURE = """
import json, sys
from pathlib import Path
from apisim import budget, simulate, validate_scenario
def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
data = json.loads(sys.argv[1]); records = data.pop("_records")
sc = validate_scenario(data)
warm = {**data, "simulation": {"basis": "window", "duration": 1}}
simulate(validate_scenario(warm), records=records).summary  # imports, warm
import pandas  # res.requests builds a frame; the summary no longer imports pandas, and imports are not the run's
Path("/proc/self/clear_refs").write_text("5")
before = rss()
res = simulate(sc, records=records)
res.summary
if records:
    res.requests
print(json.dumps({"used": peak() - before, "estimate": budget.estimate(sc, records=records).memory_bytes}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak-memory reset")
@pytest.mark.parametrize(
    "case",
    [
        {"_records": True, **mock(arrival={"process": "poisson", "rate": 2000})},  # 200,000 rows kept
        {"_records": False, **mock(arrival={"process": "poisson", "rate": 3000}, usage_plan="p", api_keys=500_000)},
    ],
    ids=["records", "api-keys"],
)
def test_the_memory_estimate_bounds_what_a_run_takes(case: dict) -> None:
    if "usage_plan" in case["clients"][0]:
        case["api"] = {**case["api"], "type": "rest", "usage_plans": {"p": {"rate": 100, "burst": 10}}}
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(case)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    figures = json.loads(proc.stdout)
    assert figures["used"] <= figures["estimate"], figures
    assert figures["estimate"] <= 4 * figures["used"] + 60 * 2**20, figures  # an estimate, not a wild guess
