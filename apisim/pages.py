"""Pages: one report written as Markdown (figures as files) and as self-contained HTML, and the folder
of one run (``apisim run --out``, ``Result.write``).

Rendering only: everything here takes results already computed (a summary, tables) and writes
files; nothing runs a simulation, so the Python API can write a run's folder without reaching
up to the dated report.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apisim.headline import basis_line, headline, month_figures, with_pm
from apisim.output import publish, to_json
from apisim.scenario import Scenario
from apisim.slo import Slo


def save_figure(path: Path, draw: Callable[..., Any], *args: Any, title: str = "", **kwargs: Any) -> None:
    """Draw one figure with ``draw(*args, ax=ax, **kwargs)`` and save it as PNG."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    draw(*args, ax=ax, **kwargs)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=96)
    plt.close(fig)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else (f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return str(value)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:49%;margin:.2em}
.fail{color:#b00;font-weight:bold}.warn{background:#fff4c2;border-left:4px solid #e0b000;padding:.3em .6em}"""


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]#|!"} | {"<": "&lt;", ">": "&gt;"})


def _md(text: str) -> str:
    """Text as Markdown shows it literally: names cannot make headings, links, tables or HTML."""
    return text.translate(_MD_SPECIAL)


class Page:
    """One report written twice at once: Markdown (figures as files) and self-contained HTML (figures inline)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.md += ["#" * level + " " + _md(text), ""]
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str, *, alert: bool = False) -> None:
        self.md += [f"**{_md(text)}**" if alert else _md(text), ""]
        self.html.append(f"<p{' class=fail' if alert else ''}>{html.escape(text)}</p>")

    def warning(self, text: str) -> None:
        """A yellow line: an assumption a reader should see behind the figures."""
        self.md += [f"> ⚠ {_md(text)}", ""]
        self.html.append(f"<p class=warn>⚠ {html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.md += ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
        self.md += ["| " + " | ".join(_md(str(c)) for c in r) + " |" for r in rows] + [""]
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        self.html.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figures(self, paths: list[Path]) -> None:
        for path in paths:
            self.md.append(f"![{path.stem}]({path.relative_to(self.root).as_posix()})")
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            self.html.append(f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">')
        self.md.append("")

    def write(self, title: str) -> None:
        (self.root / "report.md").write_text("\n".join(self.md) + "\n", encoding="utf-8")
        head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style>"
        page = f"<!doctype html><html><head>{head}</head><body>" + "\n".join(self.html) + "</body></html>\n"
        (self.root / "index.html").write_text(page, encoding="utf-8")


def scenario_section(
    page: Page, label: str, sc: Scenario, res: Any, failures: list[str], *, source: str, data: Path, figures: Path,
    prefix: str = "", uncertain: list[str] | None = None,
) -> list[str]:  # fmt: skip
    """One scenario's tables, figures (into ``figures``, named ``prefix`` + kind) and data files (into ``data``).

    ``label`` is the scenario's name as the report shows it (names are labels, never file names).
    Returns its row of the overview table, and adds its failed SLOs to ``failures`` and those its
    95% interval straddles to ``uncertain`` (an SLO is judged on the interval where the figure has one).
    """
    from apisim import plots

    s = res.summary
    h = headline(s)
    slo_rows = []
    for text in sc.slos:
        slo = Slo.parse(text)
        value, half = h[slo.metric], h.get(f"{slo.metric}_pm", math.nan)
        judged = slo.judge(value, half)
        shown = slo.measured(value, half)
        slo_rows.append([text, shown, "FAILED" if judged == "failed" else judged])
        if judged == "failed":
            failures.append(f"{label}: {text} (was {shown})")
        elif judged == "uncertain" and uncertain is not None:
            uncertain.append(f"{label}: {text} (was {shown}; more windows would decide)")
    data.mkdir(parents=True, exist_ok=True)
    (data / "summary.json").write_text(to_json(s) + "\n", encoding="utf-8")
    res.timeseries.to_csv(data / "timeseries.csv", index=False)
    res.cost.to_csv(data / "cost.csv", index=False)
    drawn = []
    # Under the month basis the timeline is one window's (the busiest); the latency CDF is the month's.
    sample = getattr(res.log, "sample", None)
    at = getattr(sample, "at", None)
    where = "" if not s.get("month") or at is None else f" (busiest window, from month time {at:,.0f}s)"
    for kind, draw, arg in (
        ("latency", plots.latency_cdf, res.latency_quantiles),
        ("traffic", plots.traffic, res.timeseries),
        ("concurrency", plots.concurrency, res.timeseries),
    ):
        drawn.append(figures / f"{prefix}{kind}.png")
        save_figure(drawn[-1], draw, arg, title=f"{label}: {kind}{'' if kind == 'latency' else where}")
    page.heading(label)
    page.para(f"{source} · seed {s['seed']} · {basis_line(s)}")
    if s.get("month"):
        page.table(["the month (95% CI)", ""], [[label, text] for label, text in month_figures(s)])
    for warning in s.get("warnings", []):
        page.warning(warning)
    page.table(["outcome", "attempts"], [[k, f"{n:,}"] for k, n in s["requests"]["by_outcome"].items() if n])
    page.table(["latency", "ms"], [[k, fmt(h[f"{k}_ms"])] for k in ("p50", "p90", "p95", "p99", "p999", "mean")])
    cost = [[r.resource, r.component, f"{r.usd:,.2f}"] for r in res.cost.itertuples()]
    total = with_pm(h["cost_usd"], h["cost_usd_pm"], "usd")
    page.table(["resource", "component", "USD/month"], [*cost, ["total", "", total]])
    if slo_rows:
        page.table(["SLO", "measured", ""], slo_rows)
    page.figures(drawn)
    verdicts = {r[2] for r in slo_rows}
    verdict = next((v for v in ("FAILED", "uncertain", "met") if v in verdicts), "–")
    month = "month" if s.get("month") else "window ×" + fmt(s["month_scale"])
    return [label, fmt(h["p50_ms"]), fmt(h["p99_ms"]), fmt(h["rate_429"]), total, month, verdict]


def write_run_folder(result: Any, out: Path, *, source: str, overwrite: bool = False) -> Path:
    """One run's folder: summary.json, timeseries.csv, cost.csv (requests.parquet with records),
    figures, report.md and index.html, written atomically (see :func:`apisim.output.publish`).

    ``result`` is an :class:`apisim.Result` (anything with its ``summary``, tables and ``scenario``).
    """

    def fill(tmp: Path) -> None:
        page = Page(tmp)
        scenario_section(page, result.scenario.name, result.scenario, result, [], source=source, data=tmp, figures=tmp)
        if result.has_records:
            result.requests.to_parquet(tmp / "requests.parquet", index=False)
        page.write(f"apisim: {result.scenario.name}")

    return publish(out, fill, kind="run", overwrite=overwrite)
