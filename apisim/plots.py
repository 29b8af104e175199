"""Plots as matplotlib Axes; each takes ``ax=`` and returns it, and writes no files.

No backend is chosen here: Jupyter's inline backend draws them in a notebook, and matplotlib
falls back to its file-only backend where there is no display.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def latency_cdf(quantiles: pd.DataFrame, ax: Axes | None = None, label: str | None = None) -> Axes:
    """Cumulative distribution of answered attempts' latency (log scale), from ``Result.latency_quantiles``."""
    return _latency(quantiles, ax, label, tail=False)


def latency_tail(quantiles: pd.DataFrame, ax: Axes | None = None, label: str | None = None) -> Axes:
    """Share of answered attempts slower than x, on log axes: the tail a CDF hides (p99 806 vs 622 ms shows)."""
    return _latency(quantiles, ax, label, tail=True)


def _latency(quantiles: pd.DataFrame, ax: Axes | None, label: str | None, *, tail: bool) -> Axes:
    ax = _axes(ax)
    if len(quantiles):
        ax.plot(quantiles["latency_ms"], 1.0 - quantiles["q"] if tail else quantiles["q"], label=label)
        ax.set_xscale("log")
        if tail:
            ax.set_yscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("share slower than x" if tail else "share of attempts ≤ x")
    ax.grid(True, which="both", alpha=0.3)
    if label:
        ax.legend()
    return ax


MOST_LINES = 8
"""Functions drawn in a concurrency figure: the busiest ones (more lines are unreadable, and slow to draw)."""


def concurrency(timeseries: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Busy (solid: the most at once in each bucket) and live (dashed) instances over time, for the
    (up to eight) busiest functions."""
    ax = _axes(ax)
    busy = [c for c in timeseries.columns if c.startswith("concurrency.")]
    busiest = sorted(busy, key=lambda c: (-float(timeseries[c].mean()), c))[:MOST_LINES]
    for col in busy:
        if col in busiest:
            name = col.split(".", 1)[1]
            peak = f"peak.{name}"  # the most busy at once in each bucket: the mean hides short peaks
            top, what = (timeseries[peak], "busy (peak)") if peak in timeseries else (timeseries[col], "busy")
            line = ax.step(timeseries["t"], top, where="post", label=f"{name} {what}")[0]
            ax.step(
                timeseries["t"],
                timeseries[f"instances.{name}"],
                where="post",
                linestyle="--",
                color=line.get_color(),
                alpha=0.6,
                label=f"{name} live",
            )
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("instances" if len(busy) <= MOST_LINES else f"instances (the {MOST_LINES} busiest of {len(busy)})")
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    return ax


def traffic(timeseries: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Offered requests per second, and the 429s and 5xx among them (each only when not zero throughout)."""
    ax = _axes(ax)
    w = float(timeseries["t"].iloc[1] - timeseries["t"].iloc[0]) if len(timeseries) > 1 else 1.0
    ax.step(timeseries["t"], timeseries["offered"] / w, where="post", label="offered")
    for col, name in (("status_429", "429"), ("status_5xx", "5xx")):
        if timeseries[col].any():
            ax.step(timeseries["t"], timeseries[col] / w, where="post", label=name)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("requests / s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def outcome_mix(results: dict, ax: Axes | None = None) -> Axes:
    """Share of attempts per outcome, one stacked bar per design (``{name: Result}``)."""
    ax = _axes(ax)
    names = list(results)
    bottoms = [0.0] * len(names)
    keys = list(next(iter(results.values())).summary["requests"]["by_outcome"]) if results else []
    for key in keys:
        shares = []
        for name in names:
            req = results[name].summary["requests"]
            shares.append(req["by_outcome"][key] / req["offered"] if req["offered"] else 0.0)
        if any(shares):
            ax.bar(names, shares, bottom=bottoms, label=key)
            bottoms = [b + v for b, v in zip(bottoms, shares, strict=True)]
    ax.set_ylabel("share of attempts")
    ax.legend(fontsize="small")
    return ax


def cost_items(table: pd.DataFrame, ax: Axes | None = None, by: str = "design") -> Axes:
    """Monthly cost by line item, one stacked bar per row of ``table`` (columns ``cost.<item>``)."""
    ax = _axes(ax)
    labels = table[by].astype(str).tolist()
    bottoms = [0.0] * len(labels)
    for col in [c for c in table.columns if c.startswith("cost.") and not c.endswith("_ci95")]:
        values = table[col].fillna(0.0).tolist()
        if any(values):
            ax.bar(labels, values, bottom=bottoms, label=col.removeprefix("cost."))
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_ylabel("USD per month")
    ax.legend(fontsize="small")
    return ax


def concurrency_overlay(results: dict, ax: Axes | None = None) -> Axes:
    """Busy instances of all functions together over time, one line per design."""
    ax = _axes(ax)
    for name, res in results.items():
        ts = res.timeseries
        busy = ts[[c for c in ts.columns if c.startswith("concurrency.")]].sum(axis=1)
        ax.step(ts["t"], busy, where="post", label=name)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("busy instances (all functions)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def metric_vs(rows: pd.DataFrame, x: str, metric: str, ax: Axes | None = None, hue: str | None = None) -> Axes:
    """A figure (mean over replications) against a swept value, one line per value of ``hue``."""
    ax = _axes(ax)
    groups = rows.groupby(hue, sort=False) if hue else [(None, rows)]
    for key, group in groups:
        means = group.groupby(x, sort=False)[metric].mean()
        ax.plot(
            [str(v) for v in means.index], means.to_numpy(), marker="o", label=None if key is None else f"{hue}={key}"
        )
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    if hue:
        ax.legend(fontsize="small")
    return ax


def pareto(
    table: pd.DataFrame,
    ax: Axes | None = None,
    x: str = "p99_ms",
    y: str = "cost_usd",
    label: str | None = None,
    x_limit: float | None = None,
) -> Axes:
    """Cost against p99 for every point; the Pareto front (nothing both cheaper and faster) marked.

    ``label``: a column naming each point (its design); ``x_limit``: the SLO on ``x``, drawn as a line.
    """
    from apisim.charts import pareto_front

    ax = _axes(ax)
    pts = table.dropna(subset=[x, y])
    ax.scatter(pts[x], pts[y], color="0.6", label="design points")
    if label is not None and label in pts:
        for name, px, py in zip(pts[label].astype(str), pts[x], pts[y], strict=True):
            ax.annotate(name, (px, py), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    front = pts.iloc[pareto_front(pts[x].tolist(), pts[y].tolist())]
    if len(front):
        ax.step(front[x], front[y], where="post", color="C3", label="Pareto front")
        ax.scatter(front[x], front[y], color="C3")
    if x_limit is not None:
        ax.axvline(x_limit, color="C2", linestyle="--", label=f"SLO {x} < {x_limit:g}")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def breakeven(frame: pd.DataFrame, crossings: pd.DataFrame | None = None, ax: Axes | None = None) -> Axes:
    """Each design's monthly bill against requests a month (log scales), or against the varied value,
    every crossing marked."""
    ax = _axes(ax)
    x = frame.attrs.get("x", "volume")
    for name, rows in frame.sort_values(x).groupby("design", sort=False):
        ax.plot(rows[x], rows["cost_usd"], marker=".", label=str(name))
    for r in (crossings if crossings is not None else pd.DataFrame()).itertuples():
        ax.axvline(r.at, color="0.5", linestyle="--", linewidth=1)
        text = f"{r.at / 1e6:,.3g}M" if x == "volume" else f"{r.at:,.4g}"
        ax.annotate(text, (r.at, r.cost_usd), textcoords="offset points", xytext=(4, -12), fontsize="x-small")
    if x == "volume":
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("requests a month" if x == "volume" else x)
    ax.set_ylabel("USD per month")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax
