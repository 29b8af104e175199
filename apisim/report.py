"""Results on disk: one run's folder (``apisim run --out``) and the dated report of many (``apisim report``)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apisim import __version__
from apisim.experiment import Result, run_many
from apisim.loading import is_comparisons, load, read_comparisons, read_document
from apisim.output import point_latest, preflight_root, publish, publish_new, safe_name, stamp, to_json
from apisim.problems import Problem, ScenarioError
from apisim.scenario import Scenario
from apisim.slo import Slo
from apisim.studies import unique_labels

# ----------------------------------------------------------------------------------------------
# apisim report: a folder of scenarios → reports/<date and time>/index.html, report.md, figures, data
# ----------------------------------------------------------------------------------------------


@dataclass
class ReportInputs:
    """What a report runs: scenario files, and comparison groups (name → scenario files)."""

    scenarios: list[Path] = field(default_factory=list)
    groups: dict[str, list[Path]] = field(default_factory=dict)


def discover(inputs: list[Path], *, force: bool = False) -> ReportInputs:
    """Scenario files and comparison groups from files and folders (folders: every *.yaml inside).

    Every file is read once, through the same bounded reader as a scenario. A group name used by
    two comparison files is kept twice, the second as ``name (2)``.
    """
    found = ReportInputs()
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.glob("*.yaml") if p.is_file())
        elif os.path.lexists(item):
            files = [item]
        else:
            raise ScenarioError(str(item), [Problem((), "no such file or folder")])
        for f in files:
            doc = read_document(f, force=force)
            if is_comparisons(doc):
                for name, members in read_comparisons(doc).items():
                    label, n = name, 1
                    while label in found.groups:
                        n += 1
                        label = f"{name} ({n})"
                    found.groups[label] = members
            elif f not in found.scenarios:
                found.scenarios.append(f)
    return found


def duplicate_names(scenarios: list[tuple[Path, Scenario]]) -> list[str]:
    """One warning per scenario name used by more than one file (a report tells them apart as ``name (2)``)."""
    by_name: dict[str, list[Path]] = {}
    for path, sc in scenarios:
        by_name.setdefault(sc.name, []).append(path)
    return [
        f"scenario name {name!r} is used by {len(paths)} files ({', '.join(map(str, paths))}); "
        f"a report labels them {', '.join(repr(x) for x in unique_labels([name] * len(paths)))}"
        for name, paths in by_name.items()
        if len(paths) > 1
    ]


def file_hash(sc: Scenario) -> str:
    """The first 12 hex digits of the SHA-256 of the file as it was read: which version a report used."""
    return sc.origin.digest[:12] or "unknown"


@dataclass
class ReportOutcome:
    folder: Path
    slo_failures: list[str]
    latest: bool = True  # whether OUT/latest now points at this report (False: a newer one, or no links here)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else (f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return str(value)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:49%;margin:.2em}
.fail{color:#b00;font-weight:bold}"""


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]#|!"} | {"<": "&lt;", ">": "&gt;"})


def _md(text: str) -> str:
    """Text as Markdown shows it literally: names cannot make headings, links, tables or HTML."""
    return text.translate(_MD_SPECIAL)


class Page:
    """One report written twice at once: Markdown (figures as files) and self-contained HTML (figures inline)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.md += ["#" * level + " " + _md(text), ""]
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str, *, alert: bool = False) -> None:
        self.md += [f"**{_md(text)}**" if alert else _md(text), ""]
        self.html.append(f"<p{' class=fail' if alert else ''}>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.md += ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
        self.md += ["| " + " | ".join(_md(str(c)) for c in r) + " |" for r in rows] + [""]
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
    page: Page, label: str, sc: Scenario, res: Result, failures: list[str], *, source: str, data: Path, figures: Path,
    prefix: str = "",
) -> list[str]:  # fmt: skip
    """One scenario's tables, figures (into ``figures``, named ``prefix`` + kind) and data files (into ``data``).

    ``label`` is the scenario's name as the report shows it (names are labels, never file names).
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
            failures.append(f"{label}: {text} (was {h[slo.metric]:.4g})")
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
        drawn.append(figures / f"{prefix}{kind}.png")
        save_figure(drawn[-1], draw, arg, title=f"{label}: {kind}")
    page.heading(label)
    page.para(
        f"{source} · seed {s['seed']} · {s['simulated_seconds']:,.0f} s after {s['warmup_seconds']:,.0f} s warm-up "
        f"· month scale ×{s['month_scale']:,.1f}"
    )
    page.table(["outcome", "attempts"], [[k, f"{n:,}"] for k, n in s["requests"]["by_outcome"].items() if n])
    page.table(["latency", "ms"], [[k, _fmt(h[f"{k}_ms"])] for k in ("p50", "p90", "p95", "p99", "p999", "mean")])
    cost = [[r.item, f"{r.usd:,.2f}"] for r in res.cost.itertuples()]
    page.table(["cost item", "USD/month"], [*cost, ["total", f"{h['cost_usd']:,.2f}"]])
    if slo_rows:
        page.table(["SLO", "measured", ""], slo_rows)
    page.figures(drawn)
    verdict = "–" if not slo_rows else ("FAILED" if any(r[2] == "FAILED" for r in slo_rows) else "met")
    return [label, *(_fmt(h[k]) for k in ("p50_ms", "p99_ms", "rate_429", "cost_usd")), verdict]


def _comparison_section(page: Page, name: str, slug: str, cmp: Any) -> None:
    """One comparison group's table, figures and CSV (files named by ``slug``, never by ``name``)."""
    from apisim import studies
    from apisim.publish import comparison_figures

    cmp.table.to_csv(page.root / "data" / f"compare-{slug}.csv", index=False)
    folder = page.root / "figures" / f"compare-{slug}"
    folder.mkdir()
    names = comparison_figures(cmp, folder)
    page.heading(f"Comparison: {name}")
    page.para("Same seed for every design: the same arrivals.")
    designs = cmp.table["design"].tolist()
    page.table(["figure", *designs], [[m, *(_fmt(v) for v in cmp.table[m].tolist())] for m in studies.HEADLINE])
    page.figures([folder / n for n in names])


def write_report(
    inputs: list[Path],
    out_root: Path,
    *,
    seed: int | None = None,
    duration: float | None = None,
    warmup: float | None = None,
    workers: int | None = None,
    force: bool = False,
    now: dt.datetime | None = None,
) -> ReportOutcome:
    """Run every scenario and comparison group, and write a new folder in ``out_root``, whole or not at all.

    The folder is named by the date and time (UTC), plus a counter if that name is taken: two
    reports never share a folder, and nothing already in ``out_root`` is replaced. It holds
    index.html (self-contained: figures embedded), report.md with figures/, and data/
    (summary.json, timeseries.csv, cost.csv per scenario; a CSV per comparison), each named from
    a safe slug of the scenario's name. ``out_root/latest`` is then switched to it in one rename.
    Every input is read, validated and checked against the run limits before anything runs.
    Returns the folder and the SLOs that failed.
    """
    from apisim import budget, studies

    preflight_root(out_root)
    found = discover(inputs, force=force)
    if not found.scenarios and not found.groups:
        raise ScenarioError(", ".join(map(str, inputs)), [Problem((), "no scenario files found")])
    loaded: dict[Path, Scenario] = {}

    def prepared(path: Path) -> Scenario:
        if path not in loaded:
            sc = load(path, force=force)
            d = duration if duration is not None else sc.simulation.duration
            w = warmup if warmup is not None else min(sc.simulation.warmup, d / 4)
            try:
                loaded[path] = sc.with_times(d, w)
            except ValueError as exc:
                raise sc.origin.error([(("simulation",), f"with --duration/--warmup: {exc}", None)]) from None
            budget.check(loaded[path], force=force, records=False)
        return loaded[path]

    scenarios = [(p, prepared(p)) for p in found.scenarios]
    groups = {name: [prepared(p) for p in files] for name, files in found.groups.items()}  # validate all first
    results = run_many(
        [(sc, seed if seed is not None else sc.simulation.seed) for _, sc in scenarios], workers=workers, force=force
    )
    comparisons = {
        name: studies.compare_runs(designs, seed=seed, workers=workers, force=force) for name, designs in groups.items()
    }
    when = now or dt.datetime.now(dt.UTC)
    failures: list[str] = []

    def fill(tmp: Path) -> None:
        (tmp / "figures").mkdir()
        (tmp / "data").mkdir()
        body = Page(tmp)
        overview = []
        taken: set[str] = set()
        labels = unique_labels([sc.name for _, sc in scenarios])
        for (path, sc), label, res in zip(scenarios, labels, results, strict=True):
            slug = safe_name(label, taken)
            source = f"{path} (sha256 {file_hash(sc)})"
            data = tmp / "data" / slug
            row = _scenario_section(
                body, label, sc, res, failures, source=source, data=data, figures=tmp / "figures", prefix=f"{slug}-"
            )
            overview.append(row)
        for name, cmp in comparisons.items():
            _comparison_section(body, name, safe_name(name, taken), cmp)
        page = Page(tmp)
        page.heading(f"apisim report, {when:%Y-%m-%d %H:%M} UTC", level=1)
        page.para(
            f"apisim {__version__} · generated {when.isoformat(timespec='seconds')} · prices of "
            f"{results[0].summary['prices_retrieved'] if results else '-'} (us-east-1)"
        )
        for warning in duplicate_names(scenarios):
            page.para(f"Note: {warning}.")
        if failures:
            page.para("SLOs failed: " + "; ".join(failures), alert=True)
        if overview:
            page.heading("Overview")
            page.table(["scenario", "p50 ms", "p99 ms", "429 rate", "USD/month", "SLOs"], overview)
        page.md += body.md
        page.html += body.html
        page.write(f"apisim report {when:%Y-%m-%d %H:%M}")

    folder = publish_new(out_root, stamp(when), fill, kind="report")
    return ReportOutcome(folder, failures, latest=point_latest(out_root, folder.name))


def write_run_report(result: Result, out: Path, *, overwrite: bool = False) -> Path:
    """One run's folder: summary.json, timeseries.csv, cost.csv (requests.parquet with records),
    figures, report.md and index.html, written atomically (see :func:`apisim.output.publish`)."""

    def fill(tmp: Path) -> None:
        page = Page(tmp)
        source = f"apisim {__version__} · prices of {result.summary['prices_retrieved']}"
        _scenario_section(page, result.scenario.name, result.scenario, result, [], source=source, data=tmp, figures=tmp)
        if result.has_records:
            result.requests.to_parquet(tmp / "requests.parquet", index=False)
        page.write(f"apisim: {result.scenario.name}")

    return publish(out, fill, kind="run", overwrite=overwrite)
