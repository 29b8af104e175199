"""The benchmark keeps working: every case at tiny size (targets reported, not enforced; no SimFaaS install)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.xdist_group(name="kernel")  # it runs the compiled engine: after test_kernel compiled it, not beside
def test_benchmark_runs_every_case_at_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--no-simfaas", "--results", str(results)],
        capture_output=True, text=True, cwd=ROOT, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Targets" in proc.stdout
    rows = list(csv.DictReader(results.open()))
    cases = {(r["case"], r["implementation"]) for r in rows}
    assert {("reference", "apisim"), ("cold-a", "apisim"), ("cold-a", "simpy"), ("cold-a", "heapq")} <= cases
    assert {("cold-b", "apisim"), ("month", "apisim"), ("memory", "apisim")} <= cases
    assert {("reference", "apisim --engine compiled"), ("cold-a", "apisim --engine compiled")} <= cases
    assert all(int(r["requests"]) > 0 and float(r["requests_per_s"]) > 0 for r in rows)
    assert all(r["commit"] and r["mode"] == "quick" for r in rows)
