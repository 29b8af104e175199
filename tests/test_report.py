"""apisim report: a dated, self-contained report written atomically; exit codes for cron and CI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import apisim.pages
from apisim.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def scenarios(tmp_path: Path, names: list[str], groups: dict[str, list[str]] | None = None) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in names:
        shutil.copy(ROOT / "scenarios" / name, folder / name)
    if groups:
        lines = ["comparisons:"] + [f"  {g}: [{', '.join(files)}]" for g, files in groups.items()]
        (folder / "comparisons.yaml").write_text("\n".join(lines) + "\n")
    return folder


def test_report_folder_has_html_markdown_data_and_latest(tmp_path: Path) -> None:
    folder = scenarios(
        tmp_path, ["06-rest-api.yaml", "06-http-api.yaml"], {"rest-vs-http": ["06-rest-api.yaml", "06-http-api.yaml"]}
    )
    out = tmp_path / "reports"
    args = ["report", str(folder), "--out", str(out), "--duration", "60s", "--warmup", "10s", "--windows", "2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    latest = out / "latest"
    assert latest.is_symlink()
    html = (latest / "index.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html.replace("http-api", "")  # no network needed
    assert "rest-vs-http" in html and "sha256" in html and "apisim 0.1.0" in html and "prices of 2026-11-24" in html
    md = (latest / "report.md").read_text()
    assert "## Comparison: rest-vs-http" in md
    assert "basis: month" in md and " ± $" in md  # the month's bill with its interval, and what it rests on
    # Files are named from a slug of the name plus a digest, never from the name itself.
    assert len(list((latest / "data").glob("rest-api-*/summary.json"))) == 1
    assert len(list((latest / "data").glob("compare-rest-vs-http-*.csv"))) == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_an_interrupted_report_leaves_no_partial_folder(tmp_path: Path, monkeypatch) -> None:
    folder = scenarios(tmp_path, ["07-burst.yaml"])
    out = tmp_path / "reports"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(apisim.pages, "save_figure", killed)
    from apisim.report import write_report

    with pytest.raises(KeyboardInterrupt):
        write_report([folder], out)
    assert not out.exists() or list(out.iterdir()) == []


def test_fail_on_slo_exits_1_and_bad_input_exits_2(tmp_path: Path) -> None:
    folder = scenarios(tmp_path, ["09-spiky.yaml"])  # p99 < 800 ms fails without provisioned concurrency
    args = ["report", str(folder), "--out", str(tmp_path / "r"), "--duration", "10m", "--windows", "4"]
    assert runner.invoke(app, args).exit_code == 0
    r = runner.invoke(app, [*args, "--fail-on-slo"])
    assert r.exit_code == 1 and "SLO failed" in r.output
    (folder / "broken.yaml").write_text("name: x\napi: {routes: []}\n")
    assert runner.invoke(app, args).exit_code == 2
