"""The dated report of many scenarios and comparison groups (``apisim report``), written whole or not at all."""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apisim import __version__
from apisim.experiment import run_many
from apisim.formats import label as figure_label
from apisim.formats import number
from apisim.headline import HEADLINE
from apisim.loading import is_comparisons, load, read_comparisons, read_document
from apisim.output import point_latest, preflight_root, publish_new, safe_name, stamp
from apisim.pages import Card, Page, scenario_section
from apisim.problems import Problem, ScenarioError, ScenarioErrors
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


def discover(inputs: list[Path], *, force: bool = False, errors: list[ScenarioError] | None = None) -> ReportInputs:
    """Scenario files and comparison groups from files and folders (folders: every *.yaml inside).

    Every file is read once, through the same bounded reader as a scenario. A group name used by
    two comparison files is kept twice, the second as ``name (2)``. A file that cannot be read is
    refused after all are read (every problem at once), or added to ``errors`` when it is given.
    """
    found = ReportInputs()
    collect = errors is not None
    errors = errors if errors is not None else []
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.glob("*.yaml") if p.is_file())
        elif os.path.lexists(item):
            files = [item]
        else:
            errors.append(ScenarioError(str(item), [Problem((), "no such file or folder")], where="with this input"))
            continue
        for f in files:
            try:
                doc = read_document(f, force=force)
                groups = read_comparisons(doc) if is_comparisons(doc) else None
            except ScenarioError as exc:  # every file is read before the report says no: all problems at once
                errors.append(exc)
                continue
            if groups is not None:
                for name, members in groups.items():
                    label, n = name, 1
                    while label in found.groups:
                        n += 1
                        label = f"{name} ({n})"
                    found.groups[label] = members
            elif f not in found.scenarios:
                found.scenarios.append(f)
    if errors and not collect:
        raise errors[0] if len(errors) == 1 else ScenarioErrors(errors)
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
    slo_uncertain: list[str] = field(default_factory=list)  # the 95% interval straddles the limit
    overview: list[list[str]] = field(default_factory=list)  # the overview table's rows, one per scenario
    summaries: dict[str, dict] = field(default_factory=dict)  # each scenario's summary, by its label


def p99_limit(scenarios: list[Scenario]) -> float | None:
    """The tightest ``p99 <`` SLO among the designs, to draw on a Pareto chart (None: no such SLO)."""
    slos = [Slo.parse(text) for sc in scenarios for text in sc.slos]
    limits = [slo.limit for slo in slos if slo.metric == "p99_ms" and slo.op in ("<", "<=")]
    return min(limits) if limits else None


def _comparison_section(page: Page, name: str, slug: str, cmp: Any) -> None:
    """One comparison group's table, charts, figures and CSV (files named by ``slug``, never by ``name``)."""
    from apisim import charts
    from apisim.publish import comparison_figures

    cmp.table.to_csv(page.root / "data" / f"compare-{slug}.csv", index=False)
    folder = page.root / "figures" / f"compare-{slug}"
    folder.mkdir()
    names = comparison_figures(cmp, folder)
    page.heading(f"Comparison: {name}", anchor=f"compare-{slug}")
    page.para("Same seed for every design: the same arrivals. Changes are against the first design.", meta=True)
    designs = cmp.table["design"].tolist()
    base = cmp.table.iloc[0]
    rows = []
    items = [c for c in cmp.table.columns if str(c).startswith("cost.") and not str(c).endswith("_ci95")]
    for m in [*HEADLINE, *items]:
        values = cmp.table[m].tolist()
        if all(v != v or (m in items and v == 0) for v in values):
            continue  # nothing measured (no cache anywhere), or a cost line no design has
        cells = [f"{number(m, v)} ({_change(base[m], v)})" for v in values[1:]]
        rows.append([figure_label(m), number(m, values[0]), *cells])
    page.table(["figure", *designs], rows)
    results = cmp.results
    p99 = [float(v) for v in cmp.table["p99_ms"]]
    cost = [float(v) for v in cmp.table["cost_usd"]]
    page.charts_grid(
        [
            charts.latency_tail({d: r.latency_quantiles for d, r in results.items()}),
            charts.p99_by_design({d: r.timeseries for d, r in results.items()}),
            charts.cost_by_design(cmp.table),
            charts.pareto([str(d) for d in designs], p99, cost, p99_limit([r.scenario for r in results.values()])),
            charts.outcomes_by_design({d: r.summary["requests"]["by_outcome"] for d, r in results.items()}),
            charts.busy_by_design({d: r.timeseries for d, r in results.items()}),
        ],
        [folder / n for n in names],
    )


def _change(base: Any, value: Any) -> str:
    """The change against the baseline, in percent (``–`` where either is missing or the base is zero)."""
    try:
        b, v = float(base), float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(b) or math.isnan(v):
        return "–"
    if b == 0:
        return "±0%" if v == 0 else "new"
    return f"{(v - b) / abs(b):+.1%}"


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
    basis: str | None = None,
    windows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str | None = None,
) -> ReportOutcome:
    """Run every scenario and comparison group, and write a new folder in ``out_root``, whole or not at all.

    The folder is named by the date and time (UTC), plus a counter if that name is taken: two
    reports never share a folder, and nothing already in ``out_root`` is replaced. It holds
    index.html (self-contained: figures embedded), report.md with figures/, and data/
    (summary.json, timeseries.csv, cost.csv per scenario; a CSV per comparison), each named from
    a safe slug of the scenario's name. ``out_root/latest`` is then switched to it in one rename.
    Every input is read, validated and checked against the run limits before anything runs.
    Returns the folder and the SLOs that failed. ``progress(done, total)`` is called as runs end
    and sections are written (a run a comparison reuses counts when its group is done). ``engine``
    overrides every scenario's ``simulation.engine`` (the same numbers; see :func:`apisim.simulate`).
    """
    from apisim import studies
    from apisim.experiment import check

    preflight_root(out_root)
    errors: list[ScenarioError] = []
    found = discover(inputs, force=force, errors=errors)
    if not found.scenarios and not found.groups and not errors:
        raise ScenarioError(", ".join(map(str, inputs)), [Problem((), "no scenario files found")])
    loaded: dict[Path, Scenario] = {}

    def prepared(path: Path) -> Scenario:
        if path not in loaded:
            sc = load(path, force=force)
            d = duration if duration is not None else sc.simulation.duration
            w = warmup if warmup is not None else min(sc.simulation.warmup, d / 4)
            try:
                loaded[path] = sc.with_times(d, w, basis=basis, windows=windows).with_engine(engine)
            except ValueError as exc:
                raise sc.origin.error([(("simulation",), f"with --duration/--warmup: {exc}", None)]) from None
            check(loaded[path], force=force, records=False)
        return loaded[path]

    def checked(path: Path) -> Scenario | None:
        try:
            return prepared(path)
        except ScenarioError as exc:
            if not any(e.source == exc.source for e in errors):  # a file in a group too is said once
                errors.append(exc)
            return None

    every = [(p, checked(p)) for p in found.scenarios]
    members = {name: [checked(p) for p in files] for name, files in found.groups.items()}  # validate all first
    if errors:
        raise errors[0] if len(errors) == 1 else ScenarioErrors(errors)
    scenarios = [(p, sc) for p, sc in every if sc is not None]
    groups = {name: [sc for sc in designs if sc is not None] for name, designs in members.items()}
    jobs = [(sc, seed if seed is not None else sc.simulation.seed) for _, sc in scenarios]
    total = len(jobs) + sum(map(len, groups.values())) + len(jobs) + len(groups)  # runs, then sections

    def tick(done: int) -> None:
        if progress is not None:
            progress(done, total)

    results = run_many(jobs, workers=workers, force=force, progress=lambda done, _: tick(done))
    # A design a group compares with the seed it was already run on is not run again.
    known = {(id(sc), s): res for (sc, s), res in zip(jobs, results, strict=True)}
    comparisons = {}
    done = len(jobs)
    for name, designs in groups.items():
        comparisons[name] = studies.compare_runs(
            designs, seed=seed, workers=workers, force=force, known=known,
            progress=lambda d, _, base=done: tick(base + d),
        )  # fmt: skip
        done += len(designs)
        tick(done)
    when = now or dt.datetime.now(dt.UTC)
    failures: list[str] = []
    doubts: list[str] = []
    rows: list[list[str]] = []  # the overview, for the command line's --format too

    def fill(tmp: Path) -> None:
        (tmp / "figures").mkdir()
        (tmp / "data").mkdir()
        page = Page(tmp)
        sections, compared = page.sub(), page.sub()
        cards: list[Card] = []
        taken: set[str] = set()
        labels = unique_labels([sc.name for _, sc in scenarios])
        if scenarios:
            sections.heading("Scenarios", level=1, anchor="scenarios")
        for (path, sc), label, res in zip(scenarios, labels, results, strict=True):
            slug = safe_name(label, taken)
            source = f"{path} (sha256 {file_hash(sc)})"
            card = scenario_section(
                sections, label, sc, res, failures, source=source, data=tmp / "data" / slug, figures=tmp / "figures",
                prefix=f"{slug}-", uncertain=doubts, anchor=f"s-{slug}",
            )  # fmt: skip
            cards.append(card)
            p50 = res.summary["latency_ms"]["p50"]
            rows.append([label, "–" if p50 is None else f"{p50:,.1f}", card.p99, card.rate_429, card.bill, card.basis,
                         card.verdict])  # fmt: skip
            tick(done + len(cards))
        if comparisons:
            compared.heading("Comparisons", level=1, anchor="comparisons")
        for i, (name, cmp) in enumerate(comparisons.items(), 1):
            _comparison_section(compared, name, safe_name(name, taken), cmp)
            tick(done + len(cards) + i)
        page.heading(f"apisim report, {when:%Y-%m-%d %H:%M} UTC", level=1)
        page.para(
            f"apisim {__version__} · generated {when.isoformat(timespec='seconds')} · prices of "
            f"{results[0].summary['prices_retrieved'] if results else '-'} (us-east-1)",
            meta=True,
        )
        for warning in duplicate_names(scenarios):
            page.para(f"Note: {warning}.")
        if failures:
            page.para("SLOs failed: " + "; ".join(failures), alert=True)
        if doubts:
            page.warning("SLOs uncertain (the 95% interval straddles the limit): " + "; ".join(doubts))
        if cards:
            page.heading("Overview", anchor="overview")
            page.para("Each card: the month's bill, p99, 429 rate and cold-start ratio, with their 95% intervals "
                      "where the month is estimated from windows; the SLO verdict; the basis.", meta=True)  # fmt: skip
            page.cards(cards)
        page.extend(compared)
        page.extend(sections)
        page.write(f"apisim report {when:%Y-%m-%d %H:%M}")

    folder = publish_new(out_root, stamp(when), fill, kind="report")
    summaries = dict(zip(unique_labels([sc.name for _, sc in scenarios]), (r.summary for r in results), strict=True))
    return ReportOutcome(
        folder, failures, latest=point_latest(out_root, folder.name), slo_uncertain=doubts, overview=rows,
        summaries=summaries,
    )  # fmt: skip
