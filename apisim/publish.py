"""Study results on disk: tables and figures in a folder written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apisim.output import publish
from apisim.pages import save_figure

if TYPE_CHECKING:
    import pandas as pd

    from apisim.studies import Comparison


def write_frames(out: Path, frames: dict[str, pd.DataFrame], *, overwrite: bool = False) -> Path:
    """CSV files in a folder, atomically (see :func:`apisim.output.publish` for what may be replaced)."""

    def fill(tmp: Path) -> None:
        for name, frame in frames.items():
            frame.to_csv(tmp / name, index=False)

    return publish(out, fill, kind="replications", overwrite=overwrite)


def comparison_figures(result: Comparison, folder: Path) -> list[str]:
    """The comparison's figures as PNG files in ``folder``; returns their names."""
    from apisim import plots

    def tail(results: dict, ax: Any) -> Any:
        for name, res in results.items():
            plots.latency_tail(res.latency_quantiles, ax=ax, label=name)
        return ax

    figures = {
        "latency_tail.png": (tail, result.results, "latency tail (share of answered attempts slower than x)"),
        "outcomes.png": (plots.outcome_mix, result.results, "outcome mix"),
        "cost.png": (plots.cost_items, result.table, "monthly cost by line item"),
        "concurrency.png": (plots.concurrency_overlay, result.results, "busy instances over time"),
    }
    for name, (draw, data, title) in figures.items():
        save_figure(folder / name, draw, data, title=title)
    return list(figures)


def write_comparison(result: Comparison, out: Path, *, overwrite: bool = False) -> Path:
    """compare.csv, compare.json, rows.csv and the figures, atomically."""

    def fill(tmp: Path) -> None:
        result.table.to_csv(tmp / "compare.csv", index=False)
        result.table.to_json(tmp / "compare.json", orient="records", indent=2)
        result.rows.to_csv(tmp / "rows.csv", index=False)
        comparison_figures(result, tmp)

    return publish(out, fill, kind="compare", overwrite=overwrite)


def with_design_labels(table: pd.DataFrame, paths: list[str]) -> pd.DataFrame:
    """The table with a ``design`` column naming each point by its varied values (``memory_mb=512, ...``),
    keyed by the last part of each path: what a Pareto chart writes beside its points."""
    if "design" in table or not all(p in table for p in paths):
        return table
    names = [p.rsplit(".", 1)[-1] for p in paths]
    labels = [", ".join(f"{n}={v}" for n, v in zip(names, row, strict=True)) for row in table[paths].itertuples(False)]
    return table.assign(design=labels)


def sweep_figures(rows: pd.DataFrame, summary: pd.DataFrame, paths: list[str], folder: Path) -> list[str]:
    """p99 and cost against the first swept value, and cost against p99 with the Pareto front."""
    from apisim import plots

    hue = paths[1] if len(paths) > 1 else None
    save_figure(folder / "p99.png", plots.metric_vs, rows, paths[0], "p99_ms", hue=hue, title="p99 latency")
    save_figure(folder / "cost.png", plots.metric_vs, rows, paths[0], "cost_usd", hue=hue, title="monthly cost")
    labelled = with_design_labels(summary, paths)
    save_figure(folder / "pareto.png", plots.pareto, labelled, label="design", title="cost against p99", labelled=True)
    return ["p99.png", "cost.png", "pareto.png"]


def write_sweep(
    rows: pd.DataFrame, summary: pd.DataFrame, paths: list[str], out: Path, *, overwrite: bool = False
) -> Path:
    """sweep.csv (point × replication), summary.csv (mean ± CI per point) and figures, atomically."""

    def fill(tmp: Path) -> None:
        rows.to_csv(tmp / "sweep.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        sweep_figures(rows, summary, paths, tmp)

    return publish(out, fill, kind="sweep", overwrite=overwrite)


def write_plan(
    table: pd.DataFrame, paths: list[str], out: Path, *, overwrite: bool = False, p99_limit: float | None = None
) -> Path:
    """plan.csv (every point, cheapest first, feasibility and why not) and the Pareto figure (points
    named by their varied values, the p99 SLO drawn when there is one), atomically."""
    from apisim import plots

    def fill(tmp: Path) -> None:
        table.to_csv(tmp / "plan.csv", index=False)
        labelled = with_design_labels(table, paths)
        save_figure(tmp / "pareto.png", plots.pareto, labelled, label="design", x_limit=p99_limit,
                    title="cost against p99", labelled=True)  # fmt: skip

    return publish(out, fill, kind="plan", overwrite=overwrite)


def write_breakeven(frame: pd.DataFrame, found: pd.DataFrame, out: Path, *, overwrite: bool = False) -> Path:
    """breakeven.csv (every design at every volume), crossings.csv and the bills against volume with
    each crossing marked, atomically."""
    from apisim import plots

    def fill(tmp: Path) -> None:
        frame.to_csv(tmp / "breakeven.csv", index=False)
        found.to_csv(tmp / "crossings.csv", index=False)
        save_figure(tmp / "breakeven.png", plots.breakeven, frame, found, title="monthly bill against volume",
                    labelled=True)  # fmt: skip

    return publish(out, fill, kind="breakeven", overwrite=overwrite)
