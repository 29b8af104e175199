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


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else (f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return str(value)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:49%;margin:.2em}
.fail{color:#b00;font-weight:bold}"""


class Document:
    """One report written twice at once: Markdown (figures as files) and self-contained HTML (figures inline)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.md += ["#" * level + " " + text, ""]
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str, *, alert: bool = False) -> None:
        self.md += [f"**{text}**" if alert else text, ""]
        self.html.append(f"<p{' class=fail' if alert else ''}>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        self.md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows] + [""]
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


def _scenario_section(
    doc: Document, sc: Scenario, res: Result, failures: list[str], *, source: str, data: Path, figures: Path
) -> list[str]:
    """One scenario's tables, figures (into ``figures``) and data files (into ``data``).

    Returns its row of the overview table, and adds its failed SLOs to ``failures``.
    """
    from apisim import plots, studies
    from apisim.publish import save_figure

    s = res.summary
    h = studies.headline(res)
    slo_rows = []
    for text in sc.slos:
        slo = Slo.parse(text)
        ok = slo.met(h[slo.metric])
        slo_rows.append([text, _fmt(h[slo.metric]), "met" if ok else "FAILED"])
        if not ok:
            failures.append(f"{sc.name}: {text} (was {h[slo.metric]:.4g})")
    data.mkdir(parents=True, exist_ok=True)
    (data / "summary.json").write_text(to_json(s) + "\n", encoding="utf-8")
    res.timeseries.to_csv(data / "timeseries.csv", index=False)
    res.cost.to_csv(data / "cost.csv", index=False)
    drawn = []
    for kind, draw, arg in (
        ("latency", plots.latency_cdf, res.latency_quantiles),
        ("traffic", plots.traffic, res.timeseries),
        ("concurrency", plots.concurrency, res.timeseries),
    ):
        drawn.append(figures / (kind + ".png" if figures == data else f"{sc.name}-{kind}.png"))
        save_figure(drawn[-1], draw, arg, title=f"{sc.name}: {kind}")
    doc.heading(sc.name)
    doc.para(
        f"{source} · seed {s['seed']} · {s['simulated_seconds']:,.0f} s after {s['warmup_seconds']:,.0f} s warm-up "
        f"· month scale ×{s['month_scale']:,.1f}"
    )
    doc.table(["outcome", "attempts"], [[k, f"{n:,}"] for k, n in s["requests"]["by_outcome"].items() if n])
    doc.table(["latency", "ms"], [[k, _fmt(h[f"{k}_ms"])] for k in ("p50", "p90", "p95", "p99", "p999", "mean")])
    cost = [[r.item, f"{r.usd:,.2f}"] for r in res.cost.itertuples()]
    doc.table(["cost item", "USD/month"], [*cost, ["total", f"{h['cost_usd']:,.2f}"]])
    if slo_rows:
        doc.table(["SLO", "measured", ""], slo_rows)
    doc.figures(drawn)
    verdict = "–" if not slo_rows else ("FAILED" if any(r[2] == "FAILED" for r in slo_rows) else "met")
    return [sc.name, *(_fmt(h[k]) for k in ("p50_ms", "p99_ms", "rate_429", "cost_usd")), verdict]


def _comparison_section(doc: Document, name: str, cmp: Any) -> None:
    """One comparison group's table, figures and CSV."""
    from apisim import studies
    from apisim.publish import comparison_figures

    cmp.table.to_csv(doc.root / "data" / f"compare-{name}.csv", index=False)
    folder = doc.root / "figures" / f"compare-{name}"
    folder.mkdir()
    names = comparison_figures(cmp, folder)
    doc.heading(f"Comparison: {name}")
    doc.para("Same seed for every design: the same arrivals.")
    designs = cmp.table["design"].tolist()
    doc.table(["figure", *designs], [[m, *(_fmt(v) for v in cmp.table[m].tolist())] for m in studies.HEADLINE])
    doc.figures([folder / n for n in names])


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
    from apisim import studies

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
    comparisons = {name: studies.compare_runs(designs, seed=seed, workers=workers) for name, designs in groups.items()}
    stamp = dt.datetime.now(dt.UTC)
    day = (today or stamp.date()).isoformat()
    failures: list[str] = []

    def fill(tmp: Path) -> None:
        (tmp / "figures").mkdir()
        (tmp / "data").mkdir()
        body = Document(tmp)
        overview = []
        for (path, sc), res in zip(scenarios, results, strict=True):
            source = f"{path} (sha256 {file_hash(path)})"
            overview.append(
                _scenario_section(
                    body, sc, res, failures, source=source, data=tmp / "data" / sc.name, figures=tmp / "figures"
                )
            )
        for name, cmp in comparisons.items():
            _comparison_section(body, name, cmp)
        doc = Document(tmp)
        doc.heading(f"apisim report, {day}", level=1)
        doc.para(
            f"apisim {__version__} · generated {stamp.isoformat(timespec='seconds')} · prices of "
            f"{results[0].summary['prices_retrieved'] if results else '-'} (us-east-1)"
        )
        if failures:
            doc.para("SLOs failed: " + "; ".join(failures), alert=True)
        if overview:
            doc.heading("Overview")
            doc.table(["scenario", "p50 ms", "p99 ms", "429 rate", "USD/month", "SLOs"], overview)
        doc.md += body.md
        doc.html += body.html
        doc.write(f"apisim report {day}")

    folder = atomic_dir(out_root / day, fill)
    _point_latest(out_root, day)
    return ReportOutcome(folder, failures)


def write_run_report(result: Result, out: Path) -> Path:
    """One run's folder: summary.json, timeseries.csv, cost.csv (requests.parquet with records),
    figures, report.md and index.html, written atomically."""

    def fill(tmp: Path) -> None:
        doc = Document(tmp)
        source = f"apisim {__version__} · prices of {result.summary['prices_retrieved']}"
        _scenario_section(doc, result.scenario, result, [], source=source, data=tmp, figures=tmp)
        if result.has_records:
            result.requests.to_parquet(tmp / "requests.parquet", index=False)
        doc.write(f"apisim: {result.scenario.name}")

    return atomic_dir(out, fill)


def _point_latest(out_root: Path, day: str) -> None:
    """Make ``out_root/latest`` point at ``day`` (replaced in one step)."""
    tmp = out_root / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(day)
    os.replace(tmp, out_root / "latest")
