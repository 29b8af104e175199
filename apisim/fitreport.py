"""``apisim fit --report DIR``: each fit drawn against its data, and the fitted scenario's simulation
against what was observed, in a folder written safely (:func:`apisim.output.publish`).

What it shows: the empirical CDF of each function's warm run times and cold starts with the fitted
distribution's; the idle periods (reuses and expiries by gap) with the fitted expiry's CDF; the
observed requests per bucket with the fitted rate; and the fitted scenario simulated over as long a
span as was observed (one window), its requests per bucket and its cold-start ratio against the
observed ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from apisim.experiment import simulate
from apisim.fitting import Fitted, _pava
from apisim.output import publish
from apisim.scenario import Scenario, parse_distribution

MAX_REPORT_SECONDS = 30 * 86400.0
MAX_REPORT_REQUESTS = 2_000_000
"""The simulation a report draws covers the observed span, at most this long and this many requests."""


def _ecdf(ax: Any, values: np.ndarray, label: str, **style: Any) -> None:
    x = np.sort(values)
    ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=label, **style)


def _distribution(ax: Any, spec: Any, unit_s: float, label: str) -> None:
    dist = parse_distribution(spec, bare_unit_s=unit_s)
    draws = dist.sample(np.random.default_rng(0), 20_000) / unit_s
    _ecdf(ax, draws, label, color="#d62728", linewidth=1.5)


def write_fit_report(target: Path, sc: Scenario, fitted: Fitted, *, overwrite: bool = False) -> Path:
    """Write the fit's figures and ``index.md`` into the folder ``target`` (see the module's docstring)."""
    import matplotlib.pyplot as plt

    def fill(tmp: Path) -> None:
        lines = [f"# What `apisim fit` fitted: {sc.name}", ""]
        figures: list[tuple[str, str]] = []

        def save(fig: Any, name: str, caption: str) -> None:
            fig.tight_layout()
            fig.savefig(tmp / name, dpi=96)
            plt.close(fig)
            figures.append((name, caption))

        for fname, fits in fitted.functions.items():
            data = fitted.diagnostics.get("durations", {}).get(fname, {})
            for key, what in (("duration_ms", "warm run time"), ("cold_start_ms", "cold start")):
                values = data.get(key)
                if key not in fits or values is None or not len(values):
                    continue
                fig, ax = plt.subplots(figsize=(7, 3.6))
                _ecdf(ax, np.asarray(values), f"observed ({len(values):,})", color="#1f77b4")
                _distribution(ax, fits[key].value, 1e-3, "fitted")
                ax.set(xlabel="ms", ylabel="share at or below", title=f"{fname}: {what}")
                ax.legend()
                save(fig, f"{fname}-{key}.png", fits[key].note)
            idle = fitted.diagnostics.get("idle", {}).get(fname)
            if idle is not None and "idle_expiry" in fits:
                gaps, alive = idle
                fig, ax = plt.subplots(figsize=(7, 3.6))
                g, f = _pava(gaps, ~alive)
                ax.step(g, f, where="post", color="#1f77b4", label="estimate (current-status NPMLE)")
                ax.plot(gaps[alive], np.zeros(int(alive.sum())), "|", color="#2ca02c", ms=12, label="reused after gap")
                ax.plot(gaps[~alive], np.ones(int((~alive).sum())), "|", color="#ff7f0e", ms=12, label="expired by gap")
                _distribution(ax, fits["idle_expiry"].value, 1.0, "fitted")
                ax.set(xlabel="idle gap (s)", ylabel="P(expired by then)", title=f"{fname}: idle expiry")
                ax.legend(fontsize=8)
                save(fig, f"{fname}-idle-expiry.png", fits["idle_expiry"].note)
        arrivals = fitted.diagnostics.get("arrivals")
        sim_note = ""
        if arrivals is not None and "counts" in arrivals:
            width, counts, rate = arrivals["bucket_s"], arrivals["counts"], arrivals["rate"]
            span = min(arrivals["span_s"], MAX_REPORT_SECONDS, MAX_REPORT_REQUESTS / rate)
            times = sc.with_times(span, 0.0, basis="window")
            times = times.model_copy(update={"simulation": times.simulation.model_copy(update={"bucket": width})})
            run = simulate(times, records=False)
            sim_counts = np.zeros(len(counts))
            offered = run.timeseries["offered"].to_numpy()[: len(counts)]
            sim_counts[: len(offered)] = offered
            fig, ax = plt.subplots(figsize=(7, 3.6))
            x = np.arange(len(counts)) * width / 3600.0
            ax.step(x, counts, where="post", label="observed", color="#1f77b4")
            ax.step(x, sim_counts, where="post", label="simulated (the fitted scenario)", color="#ff7f0e")
            ax.axhline(rate * width, color="#d62728", linewidth=1, label="fitted rate")
            ax.set(xlabel="hours from the first request", ylabel=f"requests per {width:,.0f} s", title="arrivals")
            ax.legend(fontsize=8)
            save(fig, "arrivals.png", fitted.arrival.note if fitted.arrival else "")
            observed = fitted.diagnostics.get("cold", {})
            parts = []
            for fname, (cold, total) in observed.items():
                s = run.summary["functions"].get(fname)
                if s is None or not total:
                    continue
                p = cold / total
                se = math.sqrt(p * (1 - p) / total)
                parts.append(f"{fname}: cold-start ratio observed {p:.3f} ± {se:.3f} (one standard error, "
                             f"{total:,} invocations), simulated {s['cold_start_ratio'] or 0:.3f} "
                             f"({s['invocations']:,} invocations over {span:,.0f} s)")  # fmt: skip
            sim_note = "; ".join(parts)
        if sim_note:
            lines += [sim_note, ""]
        for name, caption in figures:
            lines += [f"![{caption}]({name})", "", caption, ""]
        (tmp / "index.md").write_text("\n".join(lines), encoding="utf-8")

    return publish(target, fill, kind="fit report", overwrite=overwrite)
