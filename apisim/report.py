"""A run's results on disk: the data files plus a readable Markdown report with figures."""

from __future__ import annotations

from pathlib import Path

from apisim import __version__
from apisim.experiment import Result
from apisim.output import atomic_dir, to_json


def _markdown(result: Result) -> str:
    s = result.summary
    lines = [
        f"# {s['scenario']}",
        "",
        f"apisim {__version__} · seed {s['seed']} · {s['simulated_seconds']:,.0f} s simulated after "
        f"{s['warmup_seconds']:,.0f} s warm-up · prices of {s['prices_retrieved']} · "
        f"month scale ×{s['month_scale']:,.1f}",
        "",
        "## Outcomes (per attempt)",
        "",
        "| outcome | count | share |",
        "|---|---:|---:|",
    ]
    total = s["requests"]["offered"] or 1
    lines += [f"| {k} | {n:,} | {n / total:.2%} |" for k, n in s["requests"]["by_outcome"].items() if n]
    rate = s["rate_429"]
    lines += ["", f"429 rate: {rate:.4%}" if rate is not None else "429 rate: –", "", "## Latency (ms)", ""]
    keys = ["mean", "p50", "p90", "p95", "p99", "p999", "max"]
    lines += ["| | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for label, block in (
        ("all answered", s["latency_ms"]),
        ("successful", s["latency_ok_ms"]),
        ("client", s["client"]["latency_ms"]),
    ):
        lines.append(f"| {label} | " + " | ".join("–" if block[k] is None else f"{block[k]:,.1f}" for k in keys) + " |")
    if s["functions"]:
        lines += [
            "",
            "## Functions",
            "",
            "| function | invocations | cold-start ratio | throttles | mean conc. | max conc. | mean instances |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, f in s["functions"].items():
            ratio = "–" if f["cold_start_ratio"] is None else f"{f['cold_start_ratio']:.2%}"
            lines.append(
                f"| {name} | {f['invocations']:,} | {ratio} | {f['throttles']:,} | {f['mean_concurrency']:.2f} | "
                f"{f['max_concurrency']:,} | {f['mean_instances']:.1f} |"
            )
    lines += ["", "## Monthly cost (USD)", "", "| item | quantity | unit | USD |", "|---|---:|---|---:|"]
    for r in result.cost.itertuples():
        lines.append(f"| {r.item} | {r.quantity:,.0f} | {r.unit} | {r.usd:,.2f} |")
    lines += [f"| **total** | | | **{s['cost_monthly_usd']['total']:,.2f}** |", ""]
    lines += [
        "## Figures",
        "",
        "![latency](latency.png)",
        "",
        "![traffic](traffic.png)",
        "",
        "![concurrency](concurrency.png)",
        "",
    ]
    return "\n".join(lines)


def write_run_report(result: Result, out: Path) -> Path:
    """Write the data files, report.md and PNG figures into ``out``, atomically."""
    import matplotlib.pyplot as plt

    from apisim import plots

    def fill(tmp: Path) -> None:
        (tmp / "summary.json").write_text(to_json(result.summary) + "\n", encoding="utf-8")
        if result.has_records:
            result.requests.to_parquet(tmp / "requests.parquet", index=False)
        result.timeseries.to_csv(tmp / "timeseries.csv", index=False)
        result.cost.to_csv(tmp / "cost.csv", index=False)
        for name, draw, data in (
            ("latency", plots.latency_cdf, result.latency_quantiles),
            ("traffic", plots.traffic, result.timeseries),
            ("concurrency", plots.concurrency, result.timeseries),
        ):
            fig, ax = plt.subplots(figsize=(7, 3.6))
            draw(data, ax=ax)
            ax.set_title(f"{result.summary['scenario']}: {name}")
            fig.tight_layout()
            fig.savefig(tmp / f"{name}.png", dpi=96)
            plt.close(fig)
        (tmp / "report.md").write_text(_markdown(result), encoding="utf-8")

    return atomic_dir(out, fill)
