"""Pages: one report written as Markdown (figures as files) and as self-contained HTML, and the folder
of one run (``apisim run --out``, ``Result.write``).

Rendering only: everything here takes results already computed (a summary, tables) and writes
files; nothing runs a simulation, so the Python API can write a run's folder without reaching
up to the dated report.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apisim.formats import number
from apisim.headline import basis_line, headline, websocket_rows, websocket_title, with_pm
from apisim.output import publish, to_json
from apisim.scenario import Scenario
from apisim.slo import Slo


def save_figure(
    path: Path, draw: Callable[..., Any], *args: Any, title: str = "", labelled: bool = False, **kwargs: Any
) -> None:
    """Draw one figure with ``draw(*args, ax=ax, **kwargs)`` and save it as PNG.

    ``labelled``: text is written beside points, maybe past the axes; the picture then grows to
    hold it (a second layout pass: about twice the time, so only where it is needed).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    draw(*args, ax=ax, **kwargs)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=96, bbox_inches="tight" if labelled else None)
    plt.close(fig)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else (f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return str(value)


def pct(value: float | None, digits: int = 2) -> str:
    """A share as a percentage (``–`` when there is none)."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}%}"


_CSS = """body{font-family:system-ui,sans-serif;margin:0;color:#222;line-height:1.4}
main{max-width:1200px;margin:0 auto;padding:1em 1.5em 4em}
nav.toc{position:sticky;top:0;z-index:5;background:#f7f7f9;border-bottom:1px solid #ddd;padding:.4em 1.5em;
font-size:.9em;line-height:1.8}nav.toc a{margin-right:1.1em;color:#0b57d0;text-decoration:none}
nav.toc b{margin-right:.6em}h1{margin:.4em 0 .2em}h2{border-top:2px solid #ddd;padding-top:.8em;margin-top:2em}
h1,h2,h3{scroll-margin-top:3em}h1+h2{border-top:0;margin-top:.4em}
table{border-collapse:collapse;margin:.5em 1.5em 1.2em 0;display:inline-table;
vertical-align:top}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}caption{text-align:left;font-weight:600;
padding:.2em 0}.fail{color:#b00;font-weight:bold}.warn{background:#fff4c2;border-left:4px solid #e0b000;
padding:.3em .6em}.meta{color:#555;font-size:.92em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:.8em;margin:.8em 0 1.2em}
.card{border:1px solid #ddd;border-radius:8px;padding:.6em .8em;background:#fcfcfd}
.card h3{margin:0 0 .4em;font-size:1em;border:0;padding:0}.card h3 a{color:#0b57d0;text-decoration:none}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:.1em .8em;margin:0;font-size:.92em}
.card dt{color:#555}.card dd{margin:0;text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{display:inline-block;border-radius:4px;padding:0 .4em;font-size:.85em;font-weight:600}
.v-met{background:#dff3e4;color:#17622c}.v-FAILED{background:#fde2e1;color:#a50e0e}
.v-uncertain{background:#fff4c2;color:#7a5b00}.v-none{background:#eee;color:#555}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:.6em;margin:.6em 0 1em}
.chart{min-height:220px;border:1px solid #eee;border-radius:6px}"""


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]#|!"} | {"<": "&lt;", ">": "&gt;"})


def _md(text: str) -> str:
    """Text as Markdown shows it literally: names cannot make headings, links, tables or HTML."""
    return text.translate(_MD_SPECIAL)


def _json_in_html(value: Any) -> str:
    """JSON that is safe inside a <script> element: no ``</script>`` or ``<!--`` can close it early."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _plotly_js() -> str:
    """plotly.js as its Python package ships it (inlined once per page: the report needs no network)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


# Renders every chart spec on the page; a chart that fails says so in its box instead of leaving it empty.
_RENDER = """for(const s of document.querySelectorAll('script.chart-spec')){
const d=document.getElementById(s.dataset.for);
try{const f=JSON.parse(s.textContent);
Plotly.newPlot(d,f.data,f.layout,{responsive:true,displaylogo:false,
toImageButtonOptions:{format:'svg',filename:d.dataset.name}});
}catch(e){d.textContent='chart failed: '+e;console.error(e);}}"""


@dataclass
class Card:
    """A scenario's headline figures, as the overview and its own section show them."""

    label: str
    anchor: str
    bill: str
    p99: str
    rate_429: str
    cold: str
    verdict: str  # met, FAILED, uncertain, or – (no SLOs)
    basis: str


class Page:
    """One report written twice at once: Markdown (figures as PNG files) and one self-contained HTML
    file (interactive charts, plotly.js inlined once, a table of contents from the anchored headings).

    ``sub()`` gives a page whose parts are later added with ``extend()``: sections can be written
    in any order and laid out in another, with chart ids unique across them.
    """

    def __init__(self, root: Path, *, _ids: Iterator[int] | None = None) -> None:
        self.root = root
        self.md: list[str] = []
        self.html: list[str] = []
        self.toc: list[tuple[int, str, str]] = []  # (level, text, anchor)
        self._ids = _ids if _ids is not None else itertools.count(1)
        self.charts = 0

    def sub(self) -> Page:
        return Page(self.root, _ids=self._ids)

    def extend(self, other: Page) -> None:
        self.md += other.md
        self.html += other.html
        self.toc += other.toc
        self.charts += other.charts

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        self.md += ["#" * level + " " + _md(text), ""]
        ident = f' id="{html.escape(anchor)}"' if anchor else ""
        self.html.append(f"<h{level}{ident}>{html.escape(text)}</h{level}>")
        if anchor:
            self.toc.append((level, text, anchor))

    def para(self, text: str, *, alert: bool = False, meta: bool = False) -> None:
        self.md += [f"**{_md(text)}**" if alert else _md(text), ""]
        cls = " class=fail" if alert else (" class=meta" if meta else "")
        self.html.append(f"<p{cls}>{html.escape(text)}</p>")

    def warning(self, text: str) -> None:
        """A yellow line: an assumption a reader should see behind the figures."""
        self.md += [f"> ⚠ {_md(text)}", ""]
        self.html.append(f"<p class=warn>⚠ {html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[Any]], caption: str = "") -> None:
        if caption:
            self.md += [f"*{_md(caption)}*", ""]
        self.md += ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
        self.md += ["| " + " | ".join(_md(str(c)) for c in r) + " |" for r in rows] + [""]
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        self.html.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def cards(self, cards: list[Card], *, links: bool = True) -> None:
        """Headline cards: the month's bill, p99, 429 rate, cold-start ratio and the SLO verdict."""
        rows = [[c.label, c.bill, c.p99, c.rate_429, c.cold, c.verdict, c.basis] for c in cards]
        self.md += ["| " + " | ".join(CARD_HEADER) + " |", "|" + "---|" * len(CARD_HEADER)]
        self.md += ["| " + " | ".join(_md(str(x)) for x in r) + " |" for r in rows] + [""]
        parts = []
        for c in cards:
            name = html.escape(c.label)
            title = f'<a href="#{html.escape(c.anchor)}">{name}</a>' if links else name
            verdict = "none" if c.verdict == "–" else c.verdict
            shown = "no SLOs" if c.verdict == "–" else f"SLOs {c.verdict}"
            shown_figures = (("monthly bill", c.bill), ("p99", c.p99), ("429 rate", c.rate_429),
                             ("cold starts", c.cold))  # fmt: skip
            figures = "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>" for k, v in shown_figures)
            parts.append(
                f"<div class=card><h3>{title}</h3><dl>{figures}</dl>"
                f"<p><span class='verdict v-{verdict}'>{shown}</span> <span class=meta>{html.escape(c.basis)}</span>"
                "</p></div>"
            )
        self.html.append("<div class=cards>" + "".join(parts) + "</div>")

    def charts_grid(self, specs: list[dict[str, Any] | None], pngs: list[Path] = ()) -> None:  # type: ignore[assignment]
        """Interactive charts in the HTML (skipping ``None``: nothing to show); ``pngs`` in the Markdown."""
        for path in pngs:
            self.md.append(f"![{_md(path.stem)}]({path.relative_to(self.root).as_posix()})")
        if pngs:
            self.md.append("")
        boxes = []
        for spec in specs:
            if spec is None:
                continue
            ident = f"chart-{next(self._ids)}"
            self.charts += 1
            name = html.escape(spec["title"])
            boxes.append(
                f'<div class=chart id="{ident}" data-name="{name}" role=img aria-label="{name}"></div>'
                f'<script type="application/json" class=chart-spec data-for="{ident}">'
                f"{_json_in_html({'data': spec['data'], 'layout': spec['layout']})}</script>"
            )
        if boxes:
            self.html.append("<div class=charts>" + "".join(boxes) + "</div>")

    def write(self, title: str) -> None:
        (self.root / "report.md").write_text("\n".join(self.md) + "\n", encoding="utf-8")
        links = [(text, anchor) for level, text, anchor in self.toc if level <= 2]
        toc = "".join(f'<a href="#{html.escape(anchor)}">{html.escape(text)}</a>' for text, anchor in links)
        nav = f"<nav class=toc><b>Contents</b>{toc}</nav>" if toc else ""
        script = f"<script>{_plotly_js()}</script>" if self.charts else ""
        render = f"<script>{_RENDER}</script>" if self.charts else ""
        head = f"<meta charset='utf-8'><meta name=viewport content='width=device-width'>" \
               f"<title>{html.escape(title)}</title><style>{_CSS}</style>{script}"  # fmt: skip
        body = nav + "<main>" + "\n".join(self.html) + "</main>" + render
        page = f"<!doctype html><html lang=en><head>{head}</head><body>{body}</body></html>\n"
        (self.root / "index.html").write_text(page, encoding="utf-8")


CARD_HEADER = ["scenario", "USD/month (95% CI)", "p99", "429 rate", "cold starts", "SLOs", "basis"]


def scenario_section(
    page: Page, label: str, sc: Scenario, res: Any, failures: list[str], *, source: str, data: Path, figures: Path,
    prefix: str = "", uncertain: list[str] | None = None, anchor: str = "scenario", level: int = 2,
) -> Card:  # fmt: skip
    """One scenario's headline, charts, tables, figures (PNG, into ``figures``, named ``prefix`` + kind)
    and data files (into ``data``).

    ``label`` is the scenario's name as the report shows it (names are labels, never file names);
    ``anchor`` is its section's id (from a safe slug). Returns its headline card, and adds its
    failed SLOs to ``failures`` and those its 95% interval straddles to ``uncertain`` (an SLO is
    judged on the interval where the figure has one).
    """
    from apisim import charts, plots

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
    # Under the month basis the timeline is one window's (the busiest); the latency tail is the month's.
    sample = getattr(res.log, "sample", None)
    at = getattr(sample, "at", None)
    where = "" if not s.get("month") or at is None else f" (busiest window, from month time {at:,.0f}s)"
    for kind, draw, arg in (
        ("latency", plots.latency_tail, res.latency_quantiles),
        ("traffic", plots.traffic, res.timeseries),
        ("concurrency", plots.concurrency, res.timeseries),
    ):
        drawn.append(figures / f"{prefix}{kind}.png")
        save_figure(drawn[-1], draw, arg, title=f"{label}: {kind}{'' if kind == 'latency' else where}")
    verdicts = {r[2] for r in slo_rows}
    verdict = next((v for v in ("FAILED", "uncertain", "met") if v in verdicts), "–")
    basis = "month" if s.get("month") else "window ×" + fmt(s["month_scale"])
    card = Card(
        label=label, anchor=anchor, bill=with_pm(h["cost_usd"], h["cost_usd_pm"], "usd"),
        p99=with_pm(h["p99_ms"], h["p99_ms_pm"], "ms"), rate_429=with_pm(h["rate_429"], h["rate_429_pm"], "pct"),
        cold=with_pm(h["cold_start_ratio"], h["cold_start_ratio_pm"], "pct"), verdict=verdict, basis=basis,
    )  # fmt: skip

    page.heading(label, level=level, anchor=anchor)
    page.para(f"{source} · seed {s['seed']} · {basis_line(s)}", meta=True)
    page.cards([card], links=False)
    for warning in s.get("warnings", []):
        page.warning(warning)
    if slo_rows:
        page.table(["SLO", "measured", ""], slo_rows, caption="SLOs")
    limits = {
        name: {"reserved": f.reserved_concurrency or 0, "provisioned": s["functions"].get(name, {}).get(
            "provisioned_concurrency", f.provisioned_concurrency)}
        for name, f in sc.functions.items()
    }  # fmt: skip
    page.charts_grid(
        [
            charts.latency_tail({label: res.latency_quantiles}),
            charts.latency_over_time(res.timeseries),
            charts.problems_over_time(res.timeseries),
            charts.concurrency_limits(res.timeseries, limits, float(sc.account.lambda_concurrency)),
            charts.connections_over_time(res.timeseries),
            charts.cost_by_resource(res.cost),
        ],
        drawn,
    )
    if where:
        page.para(f"Charts over time show one window{where}; the latency tail and tables are the month's.", meta=True)
    req = s["requests"]
    total = req["offered"] or 1
    page.table(
        ["outcome", "attempts", "share"],
        [[k, f"{n:,}", pct(n / total)] for k, n in req["by_outcome"].items() if n],
        caption="Outcomes (per attempt)",
    )
    page.table(["latency", "ms"], [[k, number(f"{k}_ms", h[f"{k}_ms"])] for k in ("p50", "p90", "p95", "p99", "p999",
               "mean")], caption="Latency (answered attempts)")  # fmt: skip
    if s["functions"]:
        page.table(
            ["function", "invocations", "cold starts", "throttles", "errors", "mean busy", "max busy", "reserved",
             "provisioned", "mean instances", "GB-s"],
            [[name, f"{f['invocations']:,}", f"{f['cold_starts']:,} ({pct(f['cold_start_ratio'], 3)})",
              _throttles(f), f"{f['errors']:,}", fmt(float(f["mean_concurrency"])), f"{f['max_concurrency']:,}",
              _or_dash(limits.get(name, {}).get("reserved")), _or_dash(f.get("provisioned_concurrency")),
              fmt(float(f["mean_instances"])), f"{f['billed_gb_seconds']:,.0f}"]
             for name, f in s["functions"].items()],
            caption="Functions",
        )  # fmt: skip
    cache, auth = s["cache"], s["authorizer"]
    if cache["hits"] + cache["misses"]:
        page.table(["hits", "misses", "hit ratio"], [[f"{cache['hits']:,}", f"{cache['misses']:,}",
                                                      pct(cache["hit_ratio"])]], caption="Response cache")  # fmt: skip
    if auth["lookups"]:
        page.table(["lookups", "authorizer calls", "cache hit ratio"],
                   [[f"{auth['lookups']:,}", f"{auth['calls']:,}", pct(auth["cache_hit_ratio"])]],
                   caption="Authorizer")  # fmt: skip
    stages = [(api, name, st) for api, block in s["apis"].items() for name, st in block["stages"].items()]
    if len(stages) > 1:
        page.table(
            ["API", "stage", "attempts", "429 rate", "p50 ms", "p99 ms", "cache hit ratio"],
            [[api, name, f"{st['requests']['offered']:,}", pct(st["rate_429"]), fmt(_num(st["latency_ms"]["p50"])),
              fmt(_num(st["latency_ms"]["p99"])), pct(st["cache"]["hit_ratio"])] for api, name, st in stages],
            caption="APIs and stages (one account)",
        )  # fmt: skip
    for api, rows in websocket_rows(s).items():
        page.table(["", "value"], rows, caption=websocket_title(s, api))
    cost = [[r.resource, r.component, f"{r.quantity:,.0f}", r.unit, f"{r.usd:,.2f}"] for r in res.cost.itertuples()]
    page.table(["resource", "component", "quantity / month", "unit", "USD/month"], [*cost, ["total", "", "", "",
               card.bill]], caption=f"Monthly cost (prices of {s['prices_retrieved']})")  # fmt: skip
    return card


def _throttles(f: dict[str, Any]) -> str:
    causes = ", ".join(f"{k} {n:,}" for k, n in f.get("throttles_by_cause", {}).items() if n)
    return f"{f['throttles']:,}" + (f" ({causes})" if causes else "")


def _or_dash(value: Any) -> str:
    return f"{value:,}" if value else "–"


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def write_run_folder(result: Any, out: Path, *, source: str, overwrite: bool = False) -> Path:
    """One run's folder: summary.json, timeseries.csv, cost.csv (requests.parquet with records),
    figures, report.md and index.html, written atomically (see :func:`apisim.output.publish`).

    ``result`` is an :class:`apisim.Result` (anything with its ``summary``, tables and ``scenario``).
    """

    def fill(tmp: Path) -> None:
        page = Page(tmp)
        scenario_section(page, result.scenario.name, result.scenario, result, [], source=source, data=tmp, figures=tmp,
                         level=1)  # fmt: skip
        if result.has_records:
            result.requests.to_parquet(tmp / "requests.parquet", index=False)
        page.write(f"apisim: {result.scenario.name}")

    return publish(out, fill, kind="run", overwrite=overwrite)
