"""Results on disk: one run's folder (``apisim run --out``) and the dated report of many (``apisim report``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apisim import __version__
from apisim.experiment import Result, run_many
from apisim.loading import Problem, ScenarioError, ScenarioLoader, load
from apisim.output import atomic_dir, to_json
from apisim.scenario import Scenario
from apisim.slo import Slo


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


# ----------------------------------------------------------------------------------------------
# apisim report: a folder of scenarios → reports/<date>/index.html, report.md, figures, data
# ----------------------------------------------------------------------------------------------

COMPARISONS_KEY = "comparisons"
"""A YAML file whose top-level key is this declares comparison groups: ``{group: [a.yaml, b.yaml]}``."""


def is_comparisons_file(path: Path) -> bool:
    """Whether ``path`` declares comparison groups rather than a scenario."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=ScenarioLoader)
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and set(data) == {COMPARISONS_KEY}


def read_comparisons(path: Path) -> dict[str, list[Path]]:
    """The groups a comparisons file declares, with paths relative to its folder; validated."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=ScenarioLoader)[COMPARISONS_KEY]
    problems = []
    groups: dict[str, list[Path]] = {}
    if not isinstance(data, dict):
        raise ScenarioError(
            str(path), [Problem((COMPARISONS_KEY,), "expected a mapping of group name → list of scenario files")]
        )
    for name, files in data.items():
        if not isinstance(files, list) or len(files) < 2:
            problems.append(Problem((COMPARISONS_KEY, str(name)), "a group lists at least two scenario files"))
            continue
        groups[str(name)] = [path.parent / str(f) for f in files]
        for f in groups[str(name)]:
            if not f.exists():
                problems.append(Problem((COMPARISONS_KEY, str(name)), f"no such scenario file: {f}"))
    if problems:
        raise ScenarioError(str(path), problems)
    return groups


@dataclass
class ReportInputs:
    scenarios: list[Path] = field(default_factory=list)
    groups: dict[str, list[Path]] = field(default_factory=dict)


def discover(inputs: list[Path]) -> ReportInputs:
    """Scenario files and comparison groups from files and folders (folders: every *.yaml inside)."""
    found = ReportInputs()
    for item in inputs:
        files = sorted(item.glob("*.yaml")) if item.is_dir() else [item]
        if item.is_dir() is False and not item.exists():
            raise ScenarioError(str(item), [Problem((), "no such file or folder")])
        for f in files:
            if is_comparisons_file(f):
                found.groups.update(read_comparisons(f))
            elif f not in found.scenarios:
                found.scenarios.append(f)
    return found


def file_hash(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256: enough to tell which version a report used."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@dataclass
class ReportOutcome:
    folder: Path
    slo_failures: list[str]


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _html_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in r) + " |" for r in rows),
    ]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else (f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return str(value)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:49%;margin:.2em}
.fail{color:#b00;font-weight:bold}.ok{color:#070}code{background:#f3f3f3;padding:0 .3em}"""


def write_report(
    inputs: list[Path],
    out_root: Path,
    *,
    seed: int | None = None,
    duration: float | None = None,
    warmup: float | None = None,
    workers: int | None = None,
    today: dt.date | None = None,
) -> ReportOutcome:
    """Run every scenario and comparison group, and write ``out_root/<date>/`` whole or not at all.

    The folder holds index.html (self-contained: figures embedded), report.md with figures/,
    and data/ (summary.json, timeseries.csv, cost.csv per scenario; a CSV per comparison).
    ``out_root/latest`` then points at it. Returns the folder and the SLOs that failed.
    """
    from apisim import plots, studies
    from apisim.publish import comparison_figures, save_figure

    found = discover(inputs)
    if not found.scenarios and not found.groups:
        raise ScenarioError(", ".join(map(str, inputs)), [Problem((), "no scenario files found")])

    def prepared(path: Path) -> Scenario:
        sc = load(path)
        sim = sc.simulation
        d = duration if duration is not None else sim.duration
        w = warmup if warmup is not None else min(sim.warmup, d / 4)
        return sc.model_copy(update={"simulation": sim.model_copy(update={"duration": d, "warmup": w})})

    scenarios = [(p, prepared(p)) for p in found.scenarios]
    groups = {name: [prepared(p) for p in files] for name, files in found.groups.items()}  # validate all first
    results = run_many([(sc, seed if seed is not None else sc.simulation.seed) for _, sc in scenarios], workers=workers)
    comparisons = {name: studies.compare(designs, seed=seed, workers=workers) for name, designs in groups.items()}
    stamp = dt.datetime.now(dt.UTC)
    day = (today or stamp.date()).isoformat()
    failures: list[str] = []

    def fill(tmp: Path) -> None:
        figures = tmp / "figures"
        figures.mkdir()
        data = tmp / "data"
        data.mkdir()
        md = [f"# apisim report, {day}", "",
              f"apisim {__version__} · generated {stamp.isoformat(timespec='seconds')} · prices of "
              f"{results[0].summary['prices_retrieved'] if results else '-'} (us-east-1)", ""]  # fmt: skip
        page = [f"<h1>apisim report, {day}</h1>", f"<p>{html.escape(md[2])}</p>"]
        overview = []
        for (path, sc), res in zip(scenarios, results, strict=True):
            s = res.summary
            h = studies.headline(res)
            slo_rows = []
            for text in sc.slos:
                slo = Slo.parse(text)
                ok = slo.met(h[slo.metric])
                slo_rows.append([text, _fmt(h[slo.metric]), "met" if ok else "FAILED"])
                if not ok:
                    failures.append(f"{sc.name}: {text} (was {h[slo.metric]:.4g})")
            verdict = "–" if not slo_rows else ("FAILED" if any(r[2] == "FAILED" for r in slo_rows) else "met")
            overview.append([sc.name, *(_fmt(h[k]) for k in ("p50_ms", "p99_ms", "rate_429", "cost_usd")), verdict])
            folder = data / sc.name
            folder.mkdir()
            (folder / "summary.json").write_text(to_json(s) + "\n", encoding="utf-8")
            res.timeseries.to_csv(folder / "timeseries.csv", index=False)
            res.cost.to_csv(folder / "cost.csv", index=False)
            names = []
            for kind, draw, arg in (("latency", plots.latency_cdf, res.latency_quantiles),
                                    ("traffic", plots.traffic, res.timeseries),
                                    ("concurrency", plots.concurrency, res.timeseries)):  # fmt: skip
                name = f"{sc.name}-{kind}.png"
                save_figure(figures / name, draw, arg, title=f"{sc.name}: {kind}")
                names.append(name)
            source = (
                f"`{path}` (sha256 {file_hash(path)}) · seed {s['seed']} · "
                f"{s['simulated_seconds']:,.0f} s after {s['warmup_seconds']:,.0f} s warm-up"
            )
            lat = [[k, _fmt(h[f"{k}_ms"])] for k in ("p50", "p90", "p95", "p99", "p999", "mean")]
            cost = [[r.item, f"{r.usd:,.2f}"] for r in res.cost.itertuples()] + [["total", f"{h['cost_usd']:,.2f}"]]
            outcomes = [[k, f"{n:,}"] for k, n in s["requests"]["by_outcome"].items() if n]
            md += [f"## {sc.name}", "", source, ""]
            md += [*_md_table(["outcome", "attempts"], outcomes), ""]
            md += [*_md_table(["latency", "ms"], lat), ""]
            md += [*_md_table(["cost item", "USD/month"], cost), ""]
            if slo_rows:
                md += [*_md_table(["SLO", "measured", ""], slo_rows), ""]
            md += [f"![{n}](figures/{n})" for n in names] + [""]
            page += [f"<h2>{html.escape(sc.name)}</h2>", f"<p>{html.escape(source)}</p>",
                     _html_table(["outcome", "attempts"], outcomes), _html_table(["latency", "ms"], lat),
                     _html_table(["cost item", "USD/month"], cost)]  # fmt: skip
            if slo_rows:
                page.append(_html_table(["SLO", "measured", ""], slo_rows))
            page += [_img(figures / n) for n in names]
        for name, cmp in comparisons.items():
            cmp.table.to_csv(data / f"compare-{name}.csv", index=False)
            sub = figures / f"compare-{name}"
            sub.mkdir()
            names = comparison_figures(cmp, sub)
            designs = cmp.table["design"].tolist()
            rows = [[m, *(_fmt(v) for v in cmp.table[m].tolist())] for m in studies.HEADLINE]
            md += [f"## Comparison: {name}", "", "Same seed for every design: the same arrivals.", ""]
            md += [*_md_table(["figure", *designs], rows), ""]
            md += [f"![{n}](figures/compare-{name}/{n})" for n in names] + [""]
            page += [f"<h2>Comparison: {html.escape(name)}</h2>", _html_table(["figure", *designs], rows)]
            page += [_img(sub / n) for n in names]
        summary_header = ["scenario", "p50 ms", "p99 ms", "429 rate", "USD/month", "SLOs"]
        md[4:4] = ["## Overview", "", *_md_table(summary_header, overview), ""]
        page[2:2] = ["<h2>Overview</h2>", _html_table(summary_header, overview)]
        if failures:
            md[4:4] = ["**SLOs failed:** " + "; ".join(failures), ""]
            page[2:2] = [f'<p class="fail">SLOs failed: {html.escape("; ".join(failures))}</p>']
        (tmp / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
        head = f"<meta charset='utf-8'><title>apisim report {day}</title><style>{_CSS}</style>"
        doc = f"<!doctype html><html><head>{head}</head><body>"
        (tmp / "index.html").write_text(doc + "\n".join(page) + "</body></html>\n", encoding="utf-8")

    folder = atomic_dir(out_root / day, fill)
    _point_latest(out_root, day)
    return ReportOutcome(folder, failures)


def _point_latest(out_root: Path, day: str) -> None:
    """Make ``out_root/latest`` point at ``day`` (replaced in one step)."""
    tmp = out_root / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(day)
    os.replace(tmp, out_root / "latest")
