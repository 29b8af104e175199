"""--format markdown / github-comment, and the budget gates (--max-cost, --max-cost-increase) on run,
compare and report: exit 1 with a one-line reason, judged on the month bill's point estimate."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from apisim.cli import app
from tests.test_studies import memory_design

runner = CliRunner()
HELLO = ["scenarios/00-hello.yaml", "--duration", "30s", "--warmup", "5s", "--basis", "window"]


def _designs(tmp_path: Path) -> list[str]:
    small = memory_design()
    big = {**small, "name": "big", "functions": {"f": {**small["functions"]["f"], "memory_mb": 2048}}}
    for name, doc in (("small", small), ("big", big)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    return [str(tmp_path / "small.yaml"), str(tmp_path / "big.yaml")]


def test_run_max_cost_is_judged_on_the_point_estimate(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    r = runner.invoke(app, ["run", *HELLO, "--json"])
    base.write_text(r.stdout)
    usd = json.loads(r.stdout)["cost_monthly_usd"]["total"]
    ok = runner.invoke(app, ["run", *HELLO, "--json", "--max-cost", f"{usd + 0.01}"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["cost_monthly_usd"]["total"] == usd
    over = runner.invoke(app, ["run", *HELLO, "--max-cost", f"{usd - 0.01}"])
    assert over.exit_code == 1
    assert over.stderr.strip() == f"budget: scenario hello costs ${usd:,.2f}/month, over --max-cost {usd - 0.01:,.2f}"
    # The same run against itself: +0.0%, within any increase; a longer window bills more or less.
    same = runner.invoke(app, ["run", *HELLO, "--baseline", str(base), "--max-cost-increase", "0"])
    assert same.exit_code == 0, same.output
    cheaper = json.loads(base.read_text())
    cheaper["cost_monthly_usd"]["total"] = usd / 2
    base.write_text(json.dumps(cheaper))
    up = runner.invoke(app, ["run", *HELLO, "--baseline", str(base), "--max-cost-increase", "99"])
    assert up.exit_code == 1 and "+100.0% against the baseline" in up.stderr
    assert "over --max-cost-increase 99%" in up.stderr
    assert runner.invoke(app, ["run", *HELLO, "--baseline", str(base), "--max-cost-increase", "101"]).exit_code == 0


def test_bad_baselines_and_formats_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"scenario": "x"}')
    for args, said in (
        (["--max-cost-increase", "5"], "needs --baseline"),
        (["--baseline", str(tmp_path / "x.json"), "--max-cost-increase", "5"], "not an apisim run summary"),
        (["--baseline", str(tmp_path / "none.json")], "no such baseline file"),
        (["--format", "yaml"], "--format is one of table, json, markdown, github-comment"),
        (["--json", "--format", "markdown"], "--json is --format json"),
    ):
        r = runner.invoke(app, ["run", *HELLO, *args])
        assert r.exit_code == 2 and said in r.stderr and "Traceback" not in r.output, (args, r.output)


def test_compare_gates_against_the_first_design_and_comments_a_diff(tmp_path: Path) -> None:
    files = _designs(tmp_path)
    table = json.loads(runner.invoke(app, ["compare", *files, "--workers", "1", "--json"]).stdout)
    small, big = (row["cost_usd"] for row in table)
    pct = (big - small) / small * 100
    r = runner.invoke(app, ["compare", *files, "--workers", "1", "--format", "github-comment",
                            "--max-cost-increase", f"{pct - 0.1:.4f}"])  # fmt: skip
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith(f"budget: design big costs ${big:,.2f}/month, {pct:+,.1f}% against the first design")
    out = r.stdout
    assert out.startswith("## apisim: designs compared\n")
    assert f"**Verdict:** big costs ${big:,.2f}/month, +${big - small:,.2f} ({pct:+.1f}%) against memory" in out
    assert "| figure | memory (baseline) | big | change | change % |" in out
    assert f"**Failed:** budget: design big costs ${big:,.2f}/month" in out  # the comment says why the job failed
    assert "<details><summary>Full tables</summary>" in out and out.rstrip().endswith("</details>")
    assert runner.invoke(app, ["compare", *files, "--workers", "1", "--max-cost-increase", f"{pct + 0.1:.4f}"]
                         ).exit_code == 0  # fmt: skip
    md = runner.invoke(app, ["compare", *files, "--workers", "1", "--format", "markdown"]).stdout
    assert "## Designs compared (same arrivals)" in md and "## Against the baseline, memory" in md


def test_run_markdown_and_comment(tmp_path: Path) -> None:
    doc = json.loads(runner.invoke(app, ["run", *HELLO, "--json"]).stdout)
    md = runner.invoke(app, ["run", *HELLO, "--format", "markdown"]).stdout
    assert md.startswith("## hello\n") and f"| total |  | {doc['cost_monthly_usd']['total']:,.2f} |" in md
    c = runner.invoke(app, ["run", *HELLO, "--format", "github-comment"]).stdout
    assert "**Verdict:** $" in c and "SLOs: none declared" in c and "<details>" in c and "**Failed:**" not in c
    over = runner.invoke(app, ["run", *HELLO, "--format", "github-comment", "--max-cost", "0"])
    assert over.exit_code == 1 and "**Failed:** budget: scenario hello costs $" in over.stdout


def test_report_gates_slos_and_budget_together(tmp_path: Path) -> None:
    sc = {**memory_design(), "slos": ["p99<50ms"]}  # p99 is 100 ms: FAILED
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(sc))
    args = ["report", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "reports"), "--workers", "1"]
    r = runner.invoke(app, [*args, "--fail-on-slo", "--max-cost", "0", "--format", "github-comment"])
    assert r.exit_code == 1
    assert "SLO: 1 failed (--fail-on-slo)" in r.stderr and "budget: scenario memory costs $" in r.stderr
    assert "**Verdict:** 1 scenario(s)" in r.stdout and "SLOs: 1 FAILED" in r.stdout
    assert "**Failed:** SLO: 1 failed (--fail-on-slo)" in r.stdout and "**Failed:** budget: scenario memory" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.startswith("| memory |"))
    assert row.endswith("| FAILED |") and "| 0.00% |" in row
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert doc["slo_failures"] and doc["scenarios"]["memory"]["cost_usd"] > 0
