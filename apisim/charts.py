"""Interactive charts for the HTML report: Plotly figure specs (plain dicts) built from results' tables.

Each function takes tables already computed (a timeseries, latency quantiles, a cost table, a
comparison table) and returns ``{"title", "data", "layout"}`` for plotly.js, or ``None`` when
there is nothing to show (a chart of zeros hides what matters). Nothing here draws or writes:
:mod:`apisim.pages` embeds the specs and plotly.js once, so the page works offline.

Why plotly.js: hover values, zoom on time and legend toggles come with it, the whole library
inlines as one script, and its Python package ships that script (no network at report time).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

Spec = dict[str, Any]

MOST_LINES = 8
"""Functions drawn in a concurrency chart: the busiest ones (more lines are unreadable)."""

_LAYOUT = {
    "height": 360,
    "margin": {"l": 64, "r": 24, "t": 44, "b": 64},
    "legend": {"orientation": "h", "y": -0.3},
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "plot_bgcolor": "#fff",
    "paper_bgcolor": "#fff",
}
_GRID = {"gridcolor": "#e5e5e5", "zeroline": False}


def _round(values: Any) -> list[float | None]:
    """Four significant digits, NaN as null: a report's figures, not its data files (those are exact)."""
    out: list[float | None] = []
    for v in np.asarray(values, dtype=float).tolist():
        out.append(None if not math.isfinite(v) else float(f"{v:.4g}"))
    return out


def _spec(title: str, data: list[dict[str, Any]], **layout: Any) -> Spec:
    lay = {**_LAYOUT, "title": {"text": title, "x": 0.01, "font": {"size": 14}}, **layout}
    for axis in ("xaxis", "yaxis", "yaxis2"):
        if axis in lay:
            lay[axis] = {**_GRID, **lay[axis]}
    return {"title": title, "data": data, "layout": lay}


def _width(timeseries: pd.DataFrame) -> float:
    t = timeseries["t"]
    return float(t.iloc[1] - t.iloc[0]) if len(t) > 1 else 1.0


def _warmup_shade(timeseries: pd.DataFrame) -> list[dict[str, Any]]:
    """A grey band over the warm-up (its requests are not counted), so a reader knows to skip it."""
    if "warmup" not in timeseries or not timeseries["warmup"].any():
        return []
    end = float(timeseries.loc[timeseries["warmup"], "t"].max()) + _width(timeseries)
    return [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": float(timeseries["t"].iloc[0]), "x1": end,
         "y0": 0, "y1": 1, "fillcolor": "#000", "opacity": 0.04, "line": {"width": 0}, "layer": "below",
         "label": {"text": "warm-up (not counted)", "textposition": "top left", "font": {"size": 10, "color": "#777"}}}
    ]  # fmt: skip


def latency_tail(quantiles: dict[str, pd.DataFrame]) -> Spec | None:
    """Share of answered attempts slower than x, on log axes (one line per design): the tail shows."""
    data = []
    for name, q in quantiles.items():
        if not len(q):
            continue
        exceed = 1.0 - q["q"].to_numpy()
        data.append(
            {"type": "scatter", "mode": "lines", "name": _hover(name), "x": _round(q["latency_ms"]),
             "y": _round(exceed),
             "customdata": _round(100.0 * q["q"].to_numpy()),
             "hovertemplate": "p%{customdata}: %{x} ms<extra>" + _hover(name) + "</extra>"}
        )  # fmt: skip
    if not data:
        return None
    return _spec(
        "Latency tail: share of answered attempts slower than x",
        data,
        xaxis={"type": "log", "title": {"text": "latency (ms)"}, "dtick": 1},
        yaxis={"type": "log", "title": {"text": "share slower (log)"}, "exponentformat": "power", "dtick": 1},
        showlegend=len(data) > 1,
    )


def latency_over_time(timeseries: pd.DataFrame) -> Spec | None:
    """p50 and p99 per time bucket, with the arrival rate on a second axis (is the tail load-driven?)."""
    if not len(timeseries):
        return None
    t = _round(timeseries["t"])
    data = [
        {"type": "scatter", "mode": "lines", "name": "offered / s", "x": t,
         "y": _round(timeseries["offered_per_second"]),
         "yaxis": "y2", "line": {"color": "#bbb", "width": 1}, "fill": "tozeroy", "fillcolor": "rgba(0,0,0,0.05)"},
        {"type": "scatter", "mode": "lines", "name": "p50", "x": t, "y": _round(timeseries["p50_ms"]),
         "line": {"color": "#1f77b4"}, "hovertemplate": "%{y:,.1f} ms"},
        {"type": "scatter", "mode": "lines", "name": "p99", "x": t, "y": _round(timeseries["p99_ms"]),
         "line": {"color": "#d62728"}, "hovertemplate": "%{y:,.1f} ms"},
    ]  # fmt: skip
    return _spec(
        "Latency over time (p50, p99) and the arrival rate",
        data,
        xaxis={"title": {"text": "simulated time (s)"}},
        yaxis={"title": {"text": "latency (ms)"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "requests / s"}, "overlaying": "y", "side": "right", "rangemode": "tozero",
                "showgrid": False, "tickformat": ",.3~g", "tickmode": "auto", "nticks": 6},
        margin={**_LAYOUT["margin"], "r": 64},
        hovermode="x unified",
        shapes=_warmup_shade(timeseries),
    )  # fmt: skip


def problems_over_time(timeseries: pd.DataFrame) -> Spec | None:
    """429s and 5xx per second over time, each only when it is not zero throughout (else no chart)."""
    if not len(timeseries):
        return None
    w = _width(timeseries)
    data = [
        {"type": "scatter", "mode": "lines", "line": {"shape": "hv", "color": color}, "name": name,
         "x": _round(timeseries["t"]), "y": _round(timeseries[col] / w)}
        for col, name, color in (("status_429", "429 / s", "#ff7f0e"), ("status_5xx", "5xx / s", "#d62728"))
        if timeseries[col].any()
    ]  # fmt: skip
    if not data:
        return None
    return _spec(
        "Throttles and errors over time",
        data,
        showlegend=True,
        xaxis={"title": {"text": "simulated time (s)"}},
        yaxis={"title": {"text": "answers / s"}, "rangemode": "tozero"},
        hovermode="x unified",
        shapes=_warmup_shade(timeseries),
    )


def connections_over_time(timeseries: pd.DataFrame) -> Spec | None:
    """WebSocket connections open over time, per API (no chart without a WebSocket API)."""
    columns = [c for c in timeseries.columns if c.startswith("connections.")]
    if not columns or not len(timeseries):
        return None
    data = [
        {"type": "scatter", "mode": "lines", "line": {"shape": "hv"}, "name": col.removeprefix("connections."),
         "x": _round(timeseries["t"]), "y": _round(timeseries[col])}
        for col in columns
    ]  # fmt: skip
    return _spec(
        "WebSocket connections open",
        data,
        showlegend=len(data) > 1,
        xaxis={"title": {"text": "simulated time (s)"}},
        yaxis={"title": {"text": "connections (bucket mean)"}, "rangemode": "tozero"},
        hovermode="x unified",
        shapes=_warmup_shade(timeseries),
    )


def concurrency_limits(timeseries: pd.DataFrame, limits: dict[str, dict[str, float]], account: float) -> Spec | None:
    """The most instances busy at once in each bucket, per function (the busiest eight), against its
    reserved and provisioned concurrency and the account's; each bucket's mean starts hidden (click
    its legend entry). A limit more than five times the busiest moment starts hidden too, so it
    does not flatten the lines it bounds."""
    busy = [c for c in timeseries.columns if c.startswith("concurrency.")]
    if not busy or not len(timeseries):
        return None
    busiest = sorted(busy, key=lambda c: (-float(timeseries[c].mean()), c))[:MOST_LINES]
    t = _round(timeseries["t"])
    t_span = [t[0], t[-1]]
    data: list[dict[str, Any]] = []
    peak = 0.0
    for i, col in enumerate(busiest):
        name = col.split(".", 1)[1]
        color = _COLORS[i % len(_COLORS)]
        top = timeseries[f"peak.{name}"] if f"peak.{name}" in timeseries else timeseries[col]
        peak = max(peak, float(top.max()))
        data.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv", "color": color},
                     "name": _hover(f"{name} busy (peak)"), "x": t, "y": _round(top), "legendgroup": name})  # fmt: skip
        data.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv", "color": color, "width": 1,
                     "dash": "dot"}, "name": _hover(f"{name} busy (mean)"), "x": t, "y": _round(timeseries[col]),
                     "legendgroup": name, "visible": "legendonly"})  # fmt: skip
        for key, dash in (("reserved", "dash"), ("provisioned", "dashdot")):
            value = limits.get(name, {}).get(key)
            if value:
                data.append({"type": "scatter", "mode": "lines", "name": _hover(f"{name} {key} ({value:,.0f})"),
                             "x": t_span, "y": [value, value], "legendgroup": name,
                             "line": {"color": color, "dash": dash, "width": 1.5},
                             "visible": _shown(value, float(top.max()))})  # fmt: skip
    total_peak = float(sum(timeseries.get(f"peak.{c.split('.', 1)[1]}", timeseries[c]) for c in busy).max())
    data.append(
        {"type": "scatter", "mode": "lines", "name": f"account concurrency ({account:,.0f})", "x": t_span,
         "y": [account, account], "line": {"color": "#555", "dash": "longdash", "width": 1.5},
         "visible": _shown(account, max(peak, total_peak))}
    )  # fmt: skip
    more = "" if len(busy) <= MOST_LINES else f" (the {MOST_LINES} busiest of {len(busy)} functions)"
    return _spec(
        "Concurrency against the limits: the most busy at once" + more,
        data,
        xaxis={"title": {"text": "simulated time (s)"}},
        yaxis={"title": {"text": "busy instances"}, "rangemode": "tozero"},
        hovermode="x unified",
        shapes=_warmup_shade(timeseries),
    )


def cost_by_resource(cost: pd.DataFrame) -> Spec | None:
    """The month's bill, one bar per resource and component, largest on top."""
    if not len(cost):
        return None
    rows = cost.sort_values("usd")
    labels = [_hover(f"{r} · {c}") for r, c in zip(rows["resource"], rows["component"], strict=True)]
    data = [{"type": "bar", "orientation": "h", "x": _round(rows["usd"]), "y": labels, "marker": {"color": "#4c78a8"},
             "hovertemplate": "%{y}: $%{x:,.2f}<extra></extra>"}]  # fmt: skip
    return _spec(
        "Monthly cost by resource (USD)",
        data,
        height=max(220, 60 + 28 * len(labels)),
        xaxis={"title": {"text": "USD per month"}, "tickprefix": "$"},
        yaxis={"automargin": True},
        showlegend=False,
    )


def cost_by_design(table: pd.DataFrame) -> Spec | None:
    """Monthly cost by line item, one stacked bar per design (columns ``cost.<item>`` of a comparison)."""
    designs = [_hover(d) for d in table["design"].astype(str)]
    data = [
        {"type": "bar", "name": _hover(col.removeprefix("cost.")), "x": designs, "y": _round(table[col].fillna(0.0))}
        for col in table.columns
        if col.startswith("cost.") and not col.endswith("_ci95") and table[col].fillna(0.0).any()
    ]
    if not data:
        return None
    return _spec(
        "Monthly cost by line item",
        data,
        barmode="stack",
        yaxis={"title": {"text": "USD per month"}, "tickprefix": "$"},
    )


def outcomes_by_design(by_outcome: dict[str, dict[str, int]]) -> Spec | None:
    """Shares of attempts that did not succeed, per outcome and design (success is the rest)."""
    names = list(by_outcome)
    keys = sorted({k for counts in by_outcome.values() for k, n in counts.items() if n and k != "ok"})
    keys = [k for k in keys if k != "cache_hit"]
    if not keys:
        return None
    data = []
    for key in keys:
        shares = []
        for name in names:
            counts = by_outcome[name]
            total = sum(counts.values()) or 1
            shares.append(counts.get(key, 0) / total)
        data.append({"type": "bar", "name": _hover(key), "x": [_hover(n) for n in names], "y": _round(shares),
                     "hovertemplate": "%{x}: %{y:.3%}<extra>" + _hover(key) + "</extra>"})  # fmt: skip
    return _spec(
        "Attempts that did not succeed (share of attempts)",
        data,
        barmode="group",
        yaxis={"title": {"text": "share of attempts"}, "tickformat": ".2%", "rangemode": "tozero"},
    )


def busy_by_design(timeseries: dict[str, pd.DataFrame]) -> Spec | None:
    """Busy instances of all functions together over time, one line per design."""
    data = []
    for name, ts in timeseries.items():
        busy = ts[[c for c in ts.columns if c.startswith("concurrency.")]].sum(axis=1)
        if len(ts):
            data.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv"}, "name": _hover(name),
                         "x": _round(ts["t"]), "y": _round(busy)})  # fmt: skip
    if not data:
        return None
    return _spec(
        "Busy instances over time (all functions)",
        data,
        xaxis={"title": {"text": "simulated time (s)"}},
        yaxis={"title": {"text": "busy instances"}, "rangemode": "tozero"},
        hovermode="x unified",
    )


def p99_by_design(timeseries: dict[str, pd.DataFrame]) -> Spec | None:
    """p99 per time bucket, one line per design."""
    data = [
        {"type": "scatter", "mode": "lines", "name": _hover(name), "x": _round(ts["t"]), "y": _round(ts["p99_ms"]),
         "hovertemplate": "%{y:,.1f} ms"}
        for name, ts in timeseries.items()
        if len(ts)
    ]  # fmt: skip
    if not data:
        return None
    first = next(iter(timeseries.values()))
    return _spec(
        "p99 over time",
        data,
        xaxis={"title": {"text": "simulated time (s)"}},
        yaxis={"title": {"text": "p99 (ms)"}, "rangemode": "tozero"},
        hovermode="x unified",
        hoverlabel={"namelength": -1},
        shapes=_warmup_shade(first),
    )


def pareto_front(x: list[float], y: list[float]) -> list[int]:
    """Indices of the points nothing beats on both (lower x and lower y), in order of x."""
    finite = [i for i in range(len(x)) if math.isfinite(x[i]) and math.isfinite(y[i])]
    order = sorted(finite, key=lambda i: (x[i], y[i]))
    front, best = [], math.inf
    for i in order:
        if y[i] < best:
            front.append(i)
            best = y[i]
    return front


def pareto(labels: list[str], p99: list[float], cost: list[float], p99_limit: float | None = None) -> Spec | None:
    """Monthly cost against p99, every point labelled by its design, the Pareto front joined and
    the p99 SLO drawn (designs right of it fail it)."""
    if not labels:
        return None
    front = pareto_front(p99, cost)
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": "Pareto front", "x": _round([p99[i] for i in front]),
         "y": _round([cost[i] for i in front]), "line": {"shape": "hv", "color": "#d62728"},
         "marker": {"size": 12, "color": "#d62728"}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "markers+text", "name": "designs", "x": _round(p99), "y": _round(cost),
         "text": [_hover(x) for x in labels], "textposition": "top center", "cliponaxis": False,
         "marker": {"size": 7, "color": "#444"}, "showlegend": False,
         "hovertemplate": "%{text}: p99 %{x} ms, $%{y:,.2f}/month<extra></extra>"},
    ]  # fmt: skip
    shapes = []
    if p99_limit is not None:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": p99_limit, "x1": p99_limit, "y0": 0,
                       "y1": 1, "line": {"color": "#2ca02c", "dash": "dash"}})  # fmt: skip
        data.append({"type": "scatter", "mode": "lines", "name": f"SLO p99 < {p99_limit:g} ms", "x": [None],
                     "y": [None], "line": {"color": "#2ca02c", "dash": "dash"}})  # fmt: skip
    return _spec(
        "Cost against p99 (lower left is better)",
        data,
        xaxis={"title": {"text": "p99 (ms)"}},
        yaxis={"title": {"text": "USD per month"}, "tickprefix": "$"},
        shapes=shapes,
    )


def _shown(limit: float, peak: float) -> bool | str:
    return True if peak >= limit / 5 else "legendonly"


_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _hover(text: str) -> str:
    """A name inside a Plotly hover template: its %{...} and HTML can't be interpreted."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("%", "&#37;")
