"""Figures as text for people: one number format everywhere, Markdown tables, pull-request comments.

Everything here takes tables and summaries already computed (a summary, a comparison's table,
its diff, a report's overview) and returns text; nothing simulates. The terminal tables, the
Markdown and ``github-comment`` formats and a notebook's ``Result`` share these formats, so a
figure reads the same wherever it is shown.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apisim.headline import HEADLINE, headline, plus_minus
from apisim.slo import Slo

if TYPE_CHECKING:
    import pandas as pd

RATIOS = frozenset({"rate_429", "error_rate", "cold_start_ratio", "cache_hit_ratio", "success_ratio"})
"""Figures that are shares: shown as percentages, as ``run`` shows them."""

FORMATS = ("table", "json", "markdown", "github-comment")
"""What ``--format`` accepts."""


def kind(metric: str) -> str:
    """How a figure is shown: ``ms``, ``pct``, ``usd`` or ``number``, from its name."""
    name = metric.removesuffix("_ci95").removesuffix("_pm")
    if name.endswith("_ms"):
        return "ms"
    if name in RATIOS:
        return "pct"
    if name == "cost_usd" or name.startswith("cost."):
        return "usd"
    return "number"


_LABELS = {
    "p50_ms": "p50 (ms)", "p90_ms": "p90 (ms)", "p95_ms": "p95 (ms)", "p99_ms": "p99 (ms)", "p999_ms": "p99.9 (ms)",
    "mean_ms": "mean (ms)", "rate_429": "429 rate", "error_rate": "error rate", "cold_start_ratio": "cold-start ratio",
    "cache_hit_ratio": "cache hit ratio", "cost_usd": "monthly bill (USD)",
}  # fmt: skip


def label(metric: str) -> str:
    """A figure's name for a person (``p99_ms`` → ``p99 (ms)``; ``cost.api_requests`` → ``  api requests (USD)``)."""
    if metric.startswith("cost."):
        return "  " + metric.removeprefix("cost.").replace("_", " ") + " (USD)"
    return _LABELS.get(metric, metric)


def _pct_decimals(share: float) -> int:
    # Two decimals, or two significant digits for tiny shares: 1.644e-05 shows as 0.0016%, not 0.00%.
    points = abs(share) * 100
    if points == 0 or points >= 0.01 or not math.isfinite(points):
        return 2
    return min(10, 1 - math.floor(math.log10(points)))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(metric: str, value: Any, *, decimals: int | None = None) -> str:
    """``value`` of the figure ``metric`` for a person: ms with 1 decimal, shares as percentages,
    USD with 2 decimals, thousands separators, never an exponent; ``–`` when nothing was measured."""
    if _missing(value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item"):
        value = value.item()  # numpy scalars
    if isinstance(value, int):
        return str(value) if metric == "seed" else f"{value:,}"  # a seed is a name to type back, not a count
    if not isinstance(value, float):
        return str(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    k = kind(metric)
    if k == "pct":
        return f"{value * 100:,.{_pct_decimals(value) if decimals is None else decimals}f}%"
    if k == "usd":
        return f"{value:,.2f}"
    if k == "ms":
        return f"{value:,.1f}"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return _plain_number(value)


def _plain_number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    digits = 3 if value == 0 else min(12, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def with_ci(metric: str, value: Any, half: Any) -> str:
    """A figure with its 95% ± rounded to the figure's own precision (``3,225.10 ± 3.40``)."""
    shown = number(metric, value)
    if _missing(half) or _missing(value):
        return shown
    return f"{shown} ± {half_width(metric, value, half)}"


def half_width(metric: str, value: Any, half: Any) -> str:
    """A 95% half-width shown to the precision of its figure ``value``."""
    if _missing(half):
        return "–"
    if kind(metric) == "pct" and not _missing(value):
        return number(metric, float(half), decimals=_pct_decimals(float(value)))
    if kind(metric) == "number" and not _missing(value):
        return _plain_number(float(half)) if abs(float(value)) < 1000 else f"{float(half):,.0f}"
    return number(metric, float(half))


def change(metric: str, delta: Any) -> str:
    """A signed difference in the figure's unit (shares in percentage points, ``pp``)."""
    if _missing(delta):
        return "–"
    delta = float(delta)
    sign = "+" if delta > 0 else ("-" if delta < 0 else "")
    k = kind(metric)
    if k == "pct":
        return f"{sign}{number(metric, abs(delta))[:-1]} pp"
    if k == "usd":
        return f"{sign}${abs(delta):,.2f}"
    return f"{sign}{number(metric, abs(delta))}"


def change_pct(pct: Any) -> str:
    """A relative change in percent, signed (``+12.5%``); ``–`` with nothing to compare against."""
    if _missing(pct) or math.isinf(float(pct)):
        return "–"
    return f"{float(pct):+,.1f}%"


def usd(value: float) -> str:
    """Dollars as a bill shows them: ``$1,234.56``."""
    return "–" if _missing(value) else f"${value:,.2f}"


# ----------------------------------------------------------------------------------------------
# SLOs
# ----------------------------------------------------------------------------------------------


def slo_verdicts(slos: Sequence[str], summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each SLO's (text, measured, verdict) for one run, judged on the figure's 95% interval where it
    has one: ``met``, ``FAILED`` or ``uncertain`` (as the report judges them)."""
    h = headline(summary)
    out = []
    for text in slos:
        slo = Slo.parse(text)
        value, half = h[slo.metric], h.get(f"{slo.metric}_pm", math.nan)
        judged = slo.judge(value, half)
        out.append((text, slo.measured(value, half), "FAILED" if judged == "failed" else judged))
    return out


def slo_status(verdicts: dict[str, list[tuple[str, str, str]]]) -> str:
    """One phrase for several runs' SLO verdicts (label → verdicts): ``SLOs: all 3 met``,
    ``SLOs: 1 FAILED (a: p99<800ms (was 812.0))``."""
    every = [(label, v) for label, vs in verdicts.items() for v in vs]
    if not every:
        return "SLOs: none declared"
    failed = [f"{label}: {t} (was {m})" for label, (t, m, v) in every if v == "FAILED"]
    unsure = [f"{label}: {t} (was {m})" for label, (t, m, v) in every if v == "uncertain"]
    if not failed and not unsure:
        return f"SLOs: all {len(every)} met"
    parts = []
    if failed:
        parts.append(f"{len(failed)} FAILED ({'; '.join(failed)})")
    if unsure:
        parts.append(f"{len(unsure)} uncertain ({'; '.join(unsure)})")
    return "SLOs: " + ", ".join(parts)


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]#|!~"} | {"<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "})


def md(text: Any) -> str:
    """Text as Markdown shows it literally: names cannot make headings, links, tables or HTML."""
    return str(text).translate(_MD_SPECIAL)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None) -> str:
    """A Markdown table (cells escaped; ``right``: which columns are right-aligned)."""
    if right is None:  # a column of figures is right-aligned, one with a word in it is not
        right = [
            i > 0 and all(not str(r[i]) or str(r[i])[0] in "0123456789+-$–∞" for r in rows) for i in range(len(headers))
        ]
    lines = ["| " + " | ".join(md(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---:" if r else "---" for r in right) + "|")
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def summary_tables(summary: dict[str, Any], cost: pd.DataFrame) -> dict[str, tuple[list[str], list[list[str]]]]:
    """One run's headline tables (title → headers, rows): outcomes, latency, cost lines with the total."""
    s = summary
    offered = s["requests"]["offered"] or 1
    outcomes = [[k, f"{n:,}", number("rate_429", n / offered)] for k, n in s["requests"]["by_outcome"].items() if n]
    outcomes.append(["429 rate", "", number("rate_429", s["rate_429"])])
    keys = ["mean", "p50", "p90", "p95", "p99", "p999", "max"]
    latency = [[k, number("mean_ms", s["latency_ms"][k]), number("mean_ms", s["latency_ok_ms"][k])] for k in keys]
    lines = [[str(r.resource), str(r.component), number("cost_usd", float(r.usd))] for r in cost.itertuples()]
    lines.append(["total", "", with_ci("cost_usd", s["cost_monthly_usd"]["total"], plus_minus(s, "cost_total"))])
    return {
        "Outcomes (per attempt)": (["outcome", "attempts", "share"], outcomes),
        "Latency (ms)": (["", "all answered", "successful"], latency),
        f"Monthly cost (USD, prices of {s['prices_retrieved']})": (["resource", "component", "USD/month"], lines),
    }


def run_line(summary: dict[str, Any]) -> str:
    """One run in a line: its bill (point estimate ± 95%), p99 and 429 rate."""
    h = headline(summary)
    return (
        usd(h["cost_usd"])
        + ("" if math.isnan(h["cost_usd_pm"]) else f" ± {usd(h['cost_usd_pm'])}")
        + "/month"
        + f" · p99 {number('p99_ms', h['p99_ms'])} ms · 429 rate {number('rate_429', h['rate_429'])}"
    )


def run_markdown(summary: dict[str, Any], cost: pd.DataFrame, level: int = 2) -> str:
    """One run as Markdown: a heading, its basis, its bill line and the headline tables."""
    from apisim.headline import basis_line

    out = [f"{'#' * level} {md(summary['scenario'])}", "", md(run_line(summary)), "", md(basis_line(summary)), ""]
    out += [f"> warning: {md(w)}\n" for w in summary.get("warnings", [])]
    for title, (headers, rows) in summary_tables(summary, cost).items():
        out += [f"**{md(title)}**", "", md_table(headers, rows)]
    return "\n".join(out)


def compare_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """A comparison's table, one row per figure and one column per design (``figure ± 95%`` with replications)."""
    designs = [str(d) for d in table["design"]]
    metrics = [m for m in HEADLINE if m in table] + [c for c in table.columns if str(c).startswith("cost.")]
    metrics = [m for m in metrics if not is_half_width(m)]
    rows = []
    for m in metrics:
        ci = f"{m}_ci95"
        cells = [with_ci(m, v, table[ci].iloc[i] if ci in table else math.nan) for i, v in enumerate(table[m])]
        rows.append([m, *cells])
    return ["figure", *designs], rows


def is_half_width(column: str) -> bool:
    """Whether a study column is a 95% half-width rather than a figure."""
    return column.endswith("_ci95") or column.endswith("_pm")


def diff_rows(diff: pd.DataFrame, *, skip_zero: bool = True) -> tuple[list[str], list[list[str]]]:
    """A comparison's diff (:func:`apisim.studies.diff`) as rows: figure, design, baseline, value, change, %.

    ``skip_zero`` leaves out figures nothing measured or that are zero in both designs (a cache's
    hit ratio without a cache, a cost line no design has)."""
    rows = []
    for r in diff.itertuples(index=False):
        both = (r.baseline, r.value)
        if skip_zero and all(_missing(x) or x == 0 for x in both):
            continue
        rows.append([r.metric, str(r.design), number(r.metric, r.baseline), number(r.metric, r.value),
                     change(r.metric, r.change), change_pct(r.change_pct)])  # fmt: skip
    return ["figure", "design", "baseline", "value", "change", "change %"], rows


def cost_verdict(diff: pd.DataFrame) -> str:
    """Each design's monthly bill against the baseline's, in one phrase (point estimates)."""
    costs = diff[diff["metric"] == "cost_usd"]
    if costs.empty:
        return ""
    base = costs["baseline_design"].iloc[0]
    parts = [
        f"{r.design} costs {usd(r.value)}/month, {change('cost_usd', r.change)} ({change_pct(r.change_pct)})"
        for r in costs.itertuples(index=False)
    ]
    return "; ".join(parts) + f" against {base} ({usd(costs['baseline'].iloc[0])}/month)"


def compare_markdown(table: pd.DataFrame, diff: pd.DataFrame) -> str:
    """A comparison as Markdown: the designs side by side, then each against the first (the baseline)."""
    headers, rows = compare_rows(table)
    out = ["## Designs compared (same arrivals)", "", md_table(headers, rows)]
    if len(diff):
        dh, dr = diff_rows(diff)
        out += [f"## Against the baseline, {md(diff['baseline_design'].iloc[0])}", "", md_table(dh, dr)]
    return "\n".join(out)


def details(summary_text: str, body: str) -> str:
    """A collapsed ``<details>`` block as GitHub renders it (a blank line around the Markdown inside)."""
    return f"<details><summary>{html.escape(summary_text)}</summary>\n\n{body}\n</details>\n"


def comment(title: str, verdict: str, diff_table: str, full: str, gates: Sequence[str] = ()) -> str:
    """A pull-request comment: heading, one-line verdict, the gates the job failed (``gates``: one
    reason each, as the command prints them), the diff table, and the full tables folded away."""
    out = [f"## {md(title)}", "", f"**Verdict:** {md(verdict)}", ""]
    if gates:
        out += [f"**Failed:** {md(reason)}" for reason in gates] + [""]
    if diff_table:
        out += [diff_table]
    out += [details("Full tables", full)]
    return "\n".join(out)


def report_rows(
    overview: Sequence[Sequence[str]], summaries: dict[str, dict[str, Any]] | None = None
) -> tuple[list[str], list[list[str]]]:
    """A report's overview table: one row per scenario with its SLO verdict (the report's own row,
    its figures formatted as everywhere else when the summaries, by label, are given)."""
    headers = ["scenario", "p50 ms", "p99 ms", "429 rate", "USD/month (95% CI)", "basis", "SLOs"]
    rows = []
    for row in overview:
        s = (summaries or {}).get(row[0])
        if s is None:
            rows.append(list(row))
            continue
        h = headline(s)
        rows.append([row[0], number("p50_ms", h["p50_ms"]), number("p99_ms", h["p99_ms"]),
                     number("rate_429", h["rate_429"]), with_ci("cost_usd", h["cost_usd"], h["cost_usd_pm"]),
                     row[5], row[6]])  # fmt: skip
    return headers, rows


def frame_html(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A small HTML table, every cell escaped (names may hold markup)."""
    caption = f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>" if title else ""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ----------------------------------------------------------------------------------------------
# What --format prints for run, compare and report
# ----------------------------------------------------------------------------------------------


def _diff_table(diff: pd.DataFrame | None) -> str:
    if diff is None or not len(diff):
        return ""
    headers, rows = diff_rows(diff)
    if diff["design"].nunique() == 1:  # two designs: name the columns by them
        base, other = str(diff["baseline_design"].iloc[0]), str(diff["design"].iloc[0])
        headers = ["figure", base if "baseline" in base else f"{base} (baseline)", other, "change", "change %"]
        rows = [[r[0], *r[2:]] for r in rows]
    return md_table(headers, rows)


def run_comment(
    summary: dict[str, Any],
    cost: pd.DataFrame,
    *,
    diff: pd.DataFrame | None = None,
    slos: Sequence[str] = (),
    gates: Sequence[str] = (),
) -> str:
    """One run as a pull-request comment: the bill and SLO status in a line, the change against a
    baseline run (``diff``, when there is one), and the headline figures and cost lines folded away."""
    verdict = run_line(summary)
    if diff is not None and len(diff):
        verdict = cost_verdict(diff) or verdict
    verdict += " · " + slo_status({summary["scenario"]: slo_verdicts(slos, summary)})
    full = run_markdown(summary, cost, level=3)
    return comment(f"apisim: {summary['scenario']}", verdict, _diff_table(diff), full, gates)


def compare_comment(
    table: pd.DataFrame,
    diff: pd.DataFrame,
    verdicts: dict[str, list[tuple[str, str, str]]],
    gates: Sequence[str] = (),
) -> str:
    """A comparison as a pull-request comment: each design's bill against the baseline's and the SLO
    status in a line, the diff table, and the side-by-side table folded away."""
    headers, rows = compare_rows(table)
    verdict = (cost_verdict(diff) or "one design") + " · " + slo_status(verdicts)
    return comment("apisim: designs compared", verdict, _diff_table(diff), md_table(headers, rows), gates)


def report_markdown(
    overview: Sequence[Sequence[str]],
    failures: Sequence[str],
    uncertain: Sequence[str],
    summaries: dict[str, dict[str, Any]] | None = None,
) -> str:
    """A report's overview as Markdown: one row per scenario with its SLO verdict, then the SLOs that
    failed or are uncertain."""
    headers, rows = report_rows(overview, summaries)
    out = ["## apisim report", "", md_table(headers, rows)]
    out += [f"- SLO FAILED: {md(f)}" for f in failures] + [f"- SLO uncertain: {md(u)}" for u in uncertain]
    return "\n".join(out) + "\n"


def report_comment(
    overview: Sequence[Sequence[str]],
    failures: Sequence[str],
    uncertain: Sequence[str],
    costs: dict[str, float],
    diff: pd.DataFrame | None = None,
    summaries: dict[str, dict[str, Any]] | None = None,
    gates: Sequence[str] = (),
) -> str:
    """A report as a pull-request comment: the scenarios' total bill and SLO status in a line, the
    change against baseline runs (``diff``, when given), and the overview folded away."""
    verdict = f"{len(costs)} scenario(s), {usd(sum(costs.values()))}/month in all"
    if diff is not None and len(diff):
        verdict += "; " + cost_verdict(diff)
    if failures:
        verdict += f" · SLOs: {len(failures)} FAILED"
    elif uncertain:
        verdict += f" · SLOs: none failed, {len(uncertain)} uncertain"
    else:
        verdict += " · SLOs: none failed"
    headers, rows = report_rows(overview, summaries)
    table = _diff_table(diff) or md_table(headers, rows)
    full = report_markdown(overview, failures, uncertain, summaries)
    return comment("apisim report", verdict, table, full, gates)
