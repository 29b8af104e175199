"""Shared helpers: small scenarios built in code, and tolerances from standard errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apisim import Result, simulate, validate_scenario
from apisim.scenario import Scenario

ROOT_SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

Z = 4.0
"""Tolerance in standard errors: a correct model fails a check about once in 16,000 runs."""


def build(base: dict[str, Any], **sections: Any) -> Scenario:
    """A validated scenario from ``base`` with top-level sections replaced: one window (``basis:
    window``) unless it says otherwise, since these tests check what happens in a run."""
    data = copy.deepcopy(base)
    data.update(sections)
    data["simulation"] = {"basis": "window", **data.get("simulation", {})}
    return validate_scenario(data)


def window(sc: Scenario) -> Scenario:
    """``sc`` on the window basis: one run of its window, as the tests of a run's mechanics want."""
    return sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"basis": "window"})})


def mock_api(duration: str, arrival: dict[str, Any], **api: Any) -> Scenario:
    """One client calling one mock route (no backend): the gateway stages on their own."""
    return validate_scenario(
        {
            "name": "mock-api",
            "simulation": {"duration": duration, "basis": "window"},
            "api": {**api, "routes": [{"route": "GET /p", "integration": {"type": "mock"}}]},
            "clients": [{"name": "c", "arrival": arrival}],
        }
    )


def one_function(
    *,
    rate: float,
    duration_ms: Any,
    sim: dict[str, Any],
    cold_start_ms: Any = 0,
    api_type: str = "http",
    **function: Any,
) -> Scenario:
    """One client, one route, one Lambda function: the queueing tests' workhorse."""
    return validate_scenario(
        {
            "name": "one-function",
            "simulation": {"basis": "window", **sim},
            "api": {
                "type": api_type,
                "routes": [{"route": "GET /f", "integration": {"type": "lambda", "function": "f"}}],
            },
            "functions": {
                "f": {"duration_ms": duration_ms, "cold_start_ms": cold_start_ms, "timeout": "900s", **function}
            },
            "account": {"lambda_concurrency": 10000, "scaling_rate": {"instances": 100000, "per": "1s"}},
            "clients": [{"name": "c", "arrival": {"process": "poisson", "rate": rate}}],
        }
    )


def batch_means(t: np.ndarray, x: np.ndarray, start: float, end: float, batches: int = 25) -> tuple[float, float]:
    """Ratio estimate of mean(x) over events in [start, end) and its standard error by batch means.

    Why batch means: successive requests are correlated (they share instances, buckets, cache
    entries), so a binomial standard error would be too small. Batches much longer than the
    correlation time are nearly independent.
    """
    edges = np.linspace(start, end, batches + 1)
    idx = np.searchsorted(edges, t, side="right") - 1
    ok = (idx >= 0) & (idx < batches)
    sums = np.bincount(idx[ok], weights=x[ok], minlength=batches)
    counts = np.bincount(idx[ok], minlength=batches)
    per_batch = sums / counts
    return float(sums.sum() / counts.sum()), float(per_batch.std(ddof=1) / np.sqrt(batches))


def series_batch_means(values: np.ndarray, batches: int = 25) -> tuple[float, float]:
    """Mean of a time-bucketed series and its standard error by batch means."""
    groups = np.array_split(values, batches)
    means = np.array([g.mean() for g in groups])
    return float(values.mean()), float(means.std(ddof=1) / np.sqrt(batches))


def assert_close(observed: float, expected: float, se: float, what: str) -> None:
    """``observed`` within Z standard errors of ``expected``."""
    assert se > 0, f"{what}: standard error is zero"
    assert abs(observed - expected) <= Z * se, (
        f"{what}: observed {observed:.6g}, expected {expected:.6g}, |diff| = {abs(observed - expected) / se:.1f} SE"
    )


@pytest.fixture(scope="session")
def default_result() -> Result:
    """The default scenario, shortened; shared by tests that only read it."""
    from apisim import load

    sc = load("scenarios/default.yaml")
    sc = sc.model_copy(
        update={"simulation": sc.simulation.model_copy(update={"duration": 180.0, "warmup": 30.0, "basis": "window"})}
    )
    return simulate(sc)
