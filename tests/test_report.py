"""apisim report: a dated, self-contained report written atomically; exit codes for cron and CI."""

from __future__ import annotations

import json
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


def external_references(page: str) -> list[str]:
    """Every attribute of the page that would load something from elsewhere (scripts, styles, images, links)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Refs(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            for key, value in attrs:
                if key in ("src", "href", "srcset", "data") and value and not value.startswith("#"):
                    found.append(f"<{tag} {key}={value[:60]}>")
            if tag == "link":
                found.append("<link>")

    Refs().feed(page)
    return found


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
    assert external_references(html) == []  # works offline: every script and style is inline
    assert html.count("class=chart-spec") >= 10 and html.count("Plotly.newPlot") == 1  # plotly.js inlined once
    # Comparisons first, then the scenarios; a table of contents links to every section.
    assert html.index('id="comparisons"') < html.index('id="scenarios"') < html.index('id="s-rest-api-')
    assert 'href="#compare-rest-vs-http-' in html and "class=card" in html
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


def test_fail_on_slo_exits_1_uncertain_does_not_and_bad_input_exits_2(tmp_path: Path) -> None:
    folder = scenarios(tmp_path, ["06-http-api.yaml"])
    design = folder / "06-http-api.yaml"
    text = design.read_text()
    out = tmp_path / "r"
    args = ["report", str(folder), "--out", str(out), "--duration", "60s", "--warmup", "10s", "--windows", "2"]
    design.write_text(text + 'slos: ["p99<1ms"]\n')
    assert runner.invoke(app, args).exit_code == 0  # reported, but only --fail-on-slo fails the job
    r = runner.invoke(app, [*args, "--fail-on-slo"])
    assert r.exit_code == 1 and "SLO failed" in r.output and "p99<1ms" in r.output
    # A limit inside the month's 95% interval is neither met nor failed: uncertain, and not a failure.
    (summary,) = (out / "latest" / "data").glob("*/summary.json")
    month = json.loads(summary.read_text())["month"]
    p99, pm = month["latency_ms"]["p99"], month["ci95"]["p99_ms"]["plus_minus"]
    assert pm > 0
    design.write_text(text + f'slos: ["p99<{p99:.3f}ms"]\n')
    r = runner.invoke(app, [*args, "--fail-on-slo"])
    assert r.exit_code == 0 and "SLO uncertain" in r.output, r.output
    assert "uncertain" in (out / "latest" / "report.md").read_text()
    (folder / "broken.yaml").write_text("name: x\napi: {routes: []}\n")
    assert runner.invoke(app, args).exit_code == 2


def test_report_says_how_far_it_is(tmp_path: Path) -> None:
    from apisim.report import write_report

    folder = scenarios(
        tmp_path, ["06-rest-api.yaml", "06-http-api.yaml"], {"pair": ["06-rest-api.yaml", "06-http-api.yaml"]}
    )
    calls: list[tuple[int, int]] = []
    write_report(
        [folder], tmp_path / "r", duration=30.0, warmup=5.0, basis="window", progress=lambda d, t: calls.append((d, t))
    )
    # Two runs, the group (its designs reused), then three sections: each step counted, to the end.
    assert calls[-1] == (calls[-1][1], calls[-1][1]) == (7, 7)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_report_lists_every_bad_file_at_once_as_validate_does(tmp_path: Path) -> None:
    folder = scenarios(tmp_path, ["06-http-api.yaml"])
    (folder / "bad.yaml").write_text("name: bad\napi:\n  type: rest\n  routes: nope\n")
    (folder / "indent.yaml").write_text("name: x\n api: 1\n")
    (folder / "comparisons.yaml").write_text("comparisons:\n  g: [06-http-api.yaml, missing.yaml]\n")
    r = runner.invoke(app, ["report", str(folder), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    said = r.stderr
    assert "comparisons.yaml: 1 problem in the comparison groups" in said and "missing.yaml" in said
    assert "indent.yaml: 1 problem in the file" in said and "check this line's indentation" in said
    assert "bad.yaml: 2 problems in the scenario" in said and "api.routes" in said
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())  # nothing written
