"""The report opened as a person opens it: headless Chromium, no network, no JavaScript error, every chart drawn.

`make test` installs Debian's chromium where it is missing; the browser is driven by Playwright
(its bundled driver, with Chromium's path given: nothing is downloaded). Screenshots are saved in
the test's temporary folder and checked for content (a blank page would pass every DOM check).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apisim.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

# Chromium as root in a container: no sandbox; no background connections (this machine's network is closed).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


def chromium() -> str:
    path = shutil.which(os.environ.get("CHROMIUM", "chromium")) or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("APISIM_SKIP_BROWSER"):
            pytest.skip("APISIM_SKIP_BROWSER is set")
        pytest.fail("no chromium: `make test` installs Debian's chromium (as root or through sudo), or set CHROMIUM")
    return path


def open_page(page_file: Path, shot: Path) -> dict:
    """Open a page offline, wait for its charts, and return what a person would have seen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    seen: dict = {"errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(page_file.as_uri(), wait_until="load")
            seen["charts"] = page.eval_on_selector_all(
                "div.chart",
                """ds => ds.map(d => ({id: d.id, svg: d.querySelectorAll('svg.main-svg').length,
                    traces: d.querySelectorAll('g.trace, g.point, path.js-line').length,
                    height: d.getBoundingClientRect().height, failed: d.textContent.startsWith('chart failed')}))""",
            )
            seen["toc"] = page.eval_on_selector_all("nav.toc a", "as => as.map(a => a.getAttribute('href'))")
            seen["anchors"] = page.eval_on_selector_all("[id]", "es => es.map(e => '#' + e.id)")
            # A legend click hides a series (the charts are interactive, not pictures).
            first = seen["charts"][0]["id"] if seen["charts"] else None
            if first:
                toggle = page.locator(f"#{first} g.legend rect.legendtoggle").first
                toggle.click()
                # Plotly acts on a legend click after its double-click delay (300 ms): wait for the change.
                hidden = f"document.getElementById('{first}').data[0].visible === 'legendonly'"
                with contextlib.suppress(PlaywrightTimeout):
                    page.wait_for_function(hidden, timeout=3000)
                seen["toggled"] = page.evaluate(f"document.getElementById('{first}').data[0].visible || 'shown'")
            page.screenshot(path=str(shot))
            page.screenshot(path=str(shot.with_name(shot.stem + "-full.png")), full_page=True)
        finally:
            browser.close()
    return seen


def has_content(png: Path) -> bool:
    """A screenshot with real content: many colours and a spread of light and dark (not a blank page)."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(png)[..., :3]
    colours = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    return img.shape[0] >= 800 and colours > 200 and float(img.std()) > 0.05


def test_report_opens_offline_in_chromium_with_every_chart_drawn(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("06-rest-api.yaml", "06-http-api.yaml", "07-burst.yaml"):
        shutil.copy(ROOT / "scenarios" / name, folder / name)
    (folder / "comparisons.yaml").write_text("comparisons:\n  rest-vs-http: [06-rest-api.yaml, 06-http-api.yaml]\n")
    out = tmp_path / "reports"
    args = ["report", str(folder), "--out", str(out), "--duration", "60s", "--warmup", "10s", "--windows", "2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    shot = tmp_path / "report.png"
    seen = open_page(out / "latest" / "index.html", shot)
    assert seen["errors"] == []
    assert [u for u in seen["requests"] if not u.startswith(("file:", "data:", "blob:", "about:"))] == []
    charts = seen["charts"]
    # 3 scenarios × at least 4 charts, and the comparison's: every one drawn, with something in it.
    assert len(charts) >= 16
    assert [c["id"] for c in charts if not (c["svg"] and c["traces"] and c["height"] > 150) or c["failed"]] == []
    assert seen["toggled"] == "legendonly"
    assert seen["toc"] and set(seen["toc"]) <= set(seen["anchors"])  # every contents link lands somewhere
    assert has_content(shot) and has_content(shot.with_name("report-full.png"))


def test_a_run_folder_page_opens_too(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", str(ROOT / "scenarios" / "07-burst.yaml"), "--out", str(out), "--basis", "window",
            "--duration", "60s", "--warmup", "10s"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    seen = open_page(out / "index.html", tmp_path / "run.png")
    assert seen["errors"] == []
    assert len(seen["charts"]) >= 3 and all(c["svg"] and c["traces"] for c in seen["charts"])
    assert has_content(tmp_path / "run.png")
