"""Plots of a run as matplotlib Axes; each takes ``ax=`` and returns it, and writes no files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def latency_cdf(quantiles: pd.DataFrame, ax: Axes | None = None, label: str | None = None) -> Axes:
    """Cumulative distribution of answered attempts' latency (log scale), from ``Result.latency_quantiles``."""
    ax = _axes(ax)
    if len(quantiles):
        ax.plot(quantiles["latency_ms"], quantiles["q"], label=label)
        ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("share of attempts ≤ x")
    ax.grid(True, which="both", alpha=0.3)
    if label:
        ax.legend()
    return ax


def concurrency(timeseries: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Busy (solid) and live (dashed) instances per function over time."""
    ax = _axes(ax)
    for col in timeseries.columns:
        if col.startswith("concurrency."):
            name = col.split(".", 1)[1]
            line = ax.step(timeseries["t"], timeseries[col], where="post", label=f"{name} busy")[0]
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
    ax.set_ylabel("instances")
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    return ax


def traffic(timeseries: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Offered requests per second, and the 429s and 5xx among them."""
    ax = _axes(ax)
    w = float(timeseries["t"].iloc[1] - timeseries["t"].iloc[0]) if len(timeseries) > 1 else 1.0
    ax.step(timeseries["t"], timeseries["offered"] / w, where="post", label="offered")
    ax.step(timeseries["t"], timeseries["status_429"] / w, where="post", label="429")
    ax.step(timeseries["t"], timeseries["status_5xx"] / w, where="post", label="5xx")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("requests / s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax
