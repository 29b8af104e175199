"""Terminal tables at 80 columns and piped: no number or header is ever cut, figures in one format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--duration", "30s", "--warmup", "5s", "--basis", "window"]


def piped(*args: str) -> subprocess.CompletedProcess:
    """``apisim ARGS | cat`` in an 80-column terminal: stdout is not a tty."""
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "apisim.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )


def test_run_at_80_columns_cuts_nothing() -> None:
    proc = piped("run", "scenarios/03-authorizer.yaml", "--duration", "60s", "--warmup", "10s", "--basis", "window")
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    doc = json.loads(piped("run", "scenarios/03-authorizer.yaml", "--duration", "60s", "--warmup", "10s", "--basis",
                           "window", "--json").stdout)  # fmt: skip
    # Every function's invocations and the bill are printed whole.
    for name, f in doc["functions"].items():
        assert re.search(rf"{name}\s+│\s+{f['invocations']:,}\s", proc.stdout), name
    assert f"{doc['cost_monthly_usd']['total']:,.2f}" in proc.stdout
    assert "function" in proc.stdout and "invocations" in proc.stdout  # the header, and its key in the title


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "scenarios/06-rest-api.yaml", "scenarios/06-http-api.yaml", *SHORT, "--workers", "1"],
        ["sweep", "scenarios/05-read-heavy.yaml", "--set", "api.cache.ttl=30s,5m", "--set",
         "functions.articles.memory_mb=512,1024", *SHORT, "--workers", "1"],
        ["plan", "scenarios/09-spiky.yaml", "--slo", "p99<700ms", "--slo", "rate_429<0.001", "--vary",
         "functions.api.memory_mb=512,1024", "--vary", "functions.api.provisioned_concurrency=0,25", *SHORT,
         "--workers", "1"],
        ["run", "scenarios/00-hello.yaml", "--replications", "2", "--workers", "1", *SHORT],
    ],
    ids=["compare", "sweep", "plan", "replications"],
)  # fmt: skip
def test_studies_at_80_columns_cut_nothing_and_show_no_exponent(args: list[str]) -> None:
    proc = piped(*args)
    assert proc.returncode in (0, 1), proc.stderr
    assert "…" not in proc.stdout
    assert not re.search(r"\d\.?\d*e[-+]\d", proc.stdout), proc.stdout  # no 1.644e-05
    tables = [line for line in proc.stdout.splitlines() if line[:1] in "│┃┏┡└"]
    assert tables and max(len(line) for line in tables) <= 80
