"""A comparison's diff against its baseline, and the figures' formats in every output."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import apisim
from apisim import formats, studies
from apisim.cli import app
from tests.test_studies import memory_design

runner = CliRunner()


def test_diff_gives_each_design_against_the_first() -> None:
    table = pd.DataFrame(
        {
            "design": ["a", "b", "c"],
            "p99_ms": [200.0, 150.0, 200.0],
            "rate_429": [0.0, 0.001, math.nan],
            "cost_usd": [1000.0, 1234.56, 800.0],
            "cost.api_cache": [0.0, 14.4, 0.0],
        }
    )
    d = apisim.diff(table)
    assert list(d.columns) == ["metric", "baseline_design", "baseline", "design", "value", "change", "change_pct"]
    by = d.set_index(["design", "metric"])
    assert by.loc[("b", "cost_usd"), "change"] == pytest.approx(234.56)
    assert by.loc[("b", "cost_usd"), "change_pct"] == pytest.approx(23.456)
    assert by.loc[("c", "cost_usd"), "change_pct"] == pytest.approx(-20.0)
    assert by.loc[("b", "p99_ms"), "change_pct"] == pytest.approx(-25.0)
    assert math.isnan(by.loc[("b", "cost.api_cache"), "change_pct"])  # from nothing: no percentage
    assert by.loc[("c", "cost.api_cache"), "change_pct"] == 0.0
    assert math.isnan(by.loc[("c", "rate_429"), "change"])
    assert set(d["baseline_design"]) == {"a"} and "a" not in set(d["design"])
    assert set(studies.diff(table, "b")["design"]) == {"a", "c"}
    with pytest.raises(ValueError, match="no design named 'x'"):
        studies.diff(table, "x")
    assert formats.change("cost_usd", 234.56) == "+$234.56" and formats.change_pct(23.456) == "+23.5%"
    assert formats.change("rate_429", 0.001) == "+0.10 pp"


def test_compare_shows_the_diff_and_its_numbers(tmp_path) -> None:
    # The same traffic at 1,024 and 2,048 MB: the Lambda compute bill is exactly the diff's change.
    small = memory_design()
    big = {**memory_design(), "name": "big", "functions": {"f": {**small["functions"]["f"], "memory_mb": 2048}}}
    for name, doc in (("small", small), ("big", big)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    files = [str(tmp_path / "small.yaml"), str(tmp_path / "big.yaml")]
    r = runner.invoke(app, ["compare", *files, "--workers", "1"], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    cmp = studies.compare_runs(files, workers=1)
    d = cmp.diff().set_index("metric")
    t = cmp.table.set_index("design")
    assert d.loc["cost_usd", "change"] == pytest.approx(t.loc["big", "cost_usd"] - t.loc["memory", "cost_usd"])
    assert d.loc["cost.lambda_compute", "change"] > 0 and d.loc["cost.lambda_requests", "change"] == 0
    assert "big against memory (baseline)" in r.stdout
    line = next(x for x in r.stdout.splitlines() if "cost.lambda_compute" in x and "$" in x)
    assert formats.change("cost_usd", d.loc["cost.lambda_compute", "change"]) in line
    assert formats.change_pct(d.loc["cost.lambda_compute", "change_pct"]) in line
    json_rows = runner.invoke(app, ["compare", *files, "--workers", "1", "--json"]).stdout
    assert [row["design"] for row in json.loads(json_rows)] == ["memory", "big"]  # the contract


@pytest.mark.parametrize(
    ("metric", "value", "half", "shown"),
    [
        ("rate_429", 1.644e-05, math.nan, "0.0016%"),
        ("rate_429", 0.0123, 0.0004, "1.23% ± 0.04%"),
        ("cost_usd", 3225.1, 3.401, "3,225.10 ± 3.40"),
        ("p99_ms", 759.64, 162.33, "759.6 ± 162.3"),
        ("p99_ms", math.nan, math.nan, "–"),
    ],
)
def test_figures_have_one_format(metric: str, value: float, half: float, shown: str) -> None:
    assert formats.with_ci(metric, value, half) == shown
