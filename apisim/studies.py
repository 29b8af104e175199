"""Studies over many runs: replications with confidence intervals, design comparisons, sweeps, plans.

Each returns a tidy DataFrame. Runs go through :func:`apisim.experiment.run_many`, so they use
worker processes (or a Dask cluster) and give the same numbers as running them one by one.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apisim import budget
from apisim.experiment import Result, replication_seed, run_many
from apisim.headline import HEADLINE
from apisim.headline import headline as figures
from apisim.loading import Problem, ScenarioError, load, validate_scenario
from apisim.problems import Origin
from apisim.scenario import Scenario, TraceArrival
from apisim.slo import Slo

if TYPE_CHECKING:
    import pandas as pd


def headline(result: Result) -> dict[str, float]:
    """The headline figures of one run (see :mod:`apisim.headline`)."""
    return figures(result.summary)


def confidence(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its ``level`` confidence interval (Student's t; NaN half-width for one value)."""
    from scipy import stats

    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), math.nan
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def summarize_replications(rows: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Mean ± 95% confidence interval of every headline figure (per group of ``by`` columns)."""
    import pandas as pd

    metrics = [c for c in rows.columns if c in HEADLINE or c.startswith("cost.")]
    out = []
    groups = rows.groupby(list(by), sort=False, dropna=False) if by else [((), rows)]
    for key, group in groups:
        record: dict[str, Any] = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        record["replications"] = len(group)
        for m in metrics:
            mean, half = confidence(group[m].tolist())
            record[m] = mean
            if len(group) == 1 and f"{m}_pm" in group:  # one month: its own 95% interval from its windows
                half = float(group[f"{m}_pm"].iloc[0])
            record[f"{m}_ci95"] = half
        out.append(record)
    return pd.DataFrame(out)


def unique_labels(names: Sequence[str]) -> list[str]:
    """``names`` with repeats told apart: the second ``x`` becomes ``x (2)``, the third ``x (3)``."""
    taken: set[str] = set()
    out = []
    for name in names:
        label, n = name, 1
        while label in taken:
            n += 1
            label = f"{name} ({n})"
        taken.add(label)
        out.append(label)
    return out


# ----------------------------------------------------------------------------------------------
# Editing scenarios by dotted path
# ----------------------------------------------------------------------------------------------


def scenario_data(sc: Scenario) -> dict[str, Any]:
    """The scenario as plain data that :func:`validate_scenario` accepts back unchanged."""
    return sc.model_dump(mode="json", exclude_none=True)


NAMED = {"functions": "function", "apis": "API"}
"""Top-level collections whose members a path may change but not create (:func:`with_changes`)."""


def with_changes(
    sc: Scenario, changes: Mapping[str, Any], *, source: str | None = None, force: bool = False
) -> Scenario:
    """A copy of ``sc`` with each dotted path set (``api.cache.ttl``, ``api.routes.0.cache``), re-validated.

    Missing sections on the way are created (setting ``api.cache.ttl`` adds a cache), but not
    functions or APIs (``functions.nope.memory_mb``: no such function). Raises :class:`ScenarioError`
    naming the path if the result is not a valid scenario.
    """
    source = source or sc.origin.source
    data = copy.deepcopy(scenario_data(sc))
    for path, value in changes.items():
        parts = path.split(".")
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    message = f"no item {part} here (there are {len(node)})"
                    raise ScenarioError(
                        source, [Problem(tuple(parts[: i + 1]), message, sc.origin.line(tuple(parts[:i])))]
                    )
                node = node[int(part)]
            elif isinstance(node, dict):
                if part not in node and i == 1 and parts[0] in NAMED:
                    # A missing section is created (api.cache.ttl adds a cache), but a function or API
                    # named wrongly would become a new one, silently left out of the design.
                    what = NAMED[parts[0]]
                    defined = ", ".join(sorted(map(str, node))) or "none"
                    message = f"no such {what} {part!r} (defined {what}s: {defined})"
                    raise ScenarioError(source, [Problem(tuple(parts[:2]), message, sc.origin.line((parts[0],)))])
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise ScenarioError(source, [Problem(tuple(parts[: i + 1]), "is a value, not a section")])
        last = parts[-1]
        if not isinstance(node, (list, dict)):
            raise ScenarioError(source, [Problem(tuple(parts[:-1]), "is a value, not a section")])
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                message = f"no item {last} here (there are {len(node)})"
                raise ScenarioError(source, [Problem(tuple(parts), message, sc.origin.line(tuple(parts[:-1])))])
            node[int(last)] = value
        else:
            node[last] = value
    known = {
        (c.arrival.file, c.arrival.column): c.arrival.times for c in sc.clients if isinstance(c.arrival, TraceArrival)
    }
    try:
        return validate_scenario(
            data, origin=Origin(source, sc.origin.lines), base_dir=sc.base_dir, force=force, traces=known
        )
    except ScenarioError as exc:
        label = ", ".join(f"{k}={v}" for k, v in changes.items())
        raise ScenarioError(f"{source} with {label}", exc.problems) from None


def parse_assignment(text: str) -> tuple[str, list[Any]]:
    """``"api.cache.ttl=0s,30s,5m"`` → ``("api.cache.ttl", ["0s", "30s", "5m"])`` (numbers as numbers)."""
    import yaml

    from apisim.loading import ScenarioLoader

    if "=" not in text:
        raise ValueError(f"expected PATH=VALUE[,VALUE...], got {text!r}")
    path, _, raw = text.partition("=")
    values = []
    for v in (v.strip() for v in raw.split(",")):
        if v:
            try:
                values.append(yaml.load(v, Loader=ScenarioLoader))
            except (yaml.YAMLError, ValueError, RecursionError) as exc:
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ValueError(f"{path.strip()}: cannot read the value {v!r}: {problem}") from None
    if not path.strip() or not values:
        raise ValueError(f"expected PATH=VALUE[,VALUE...], got {text!r}")
    return path.strip(), values


# ----------------------------------------------------------------------------------------------
# Studies
# ----------------------------------------------------------------------------------------------


def _as_scenario(s: Scenario | str | Path, force: bool = False) -> Scenario:
    return s if isinstance(s, Scenario) else load(s, force=force)


def _rows(
    points: Sequence[tuple[dict[str, Any], Scenario]],
    replications: int | range,
    seed: int | None,
    workers: int | None,
    dask: str | None,
    progress: Callable[[int, int], None] | None,
    force: bool,
    keep: bool = False,
    known: Mapping[tuple[int, int], Result] | None = None,
) -> tuple[list[dict[str, Any]], list[Result]]:
    """One row of headline figures per point × replication; the runs too with ``keep`` (else workers
    send back only the figures). The study's size is checked against :mod:`apisim.budget` first.
    ``known``: runs already made, by (``id`` of the scenario object, seed), reused rather than run
    again (a run depends only on its scenario and seed)."""
    jobs = []
    labels = []
    indices = range(replications) if isinstance(replications, int) else replications
    if isinstance(replications, int) and replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    if not force and points:
        budget.check_runs(len(points) * len(indices), points[0][1])
        budget.check_study([sc for _, sc in points], len(indices))
    for label, sc in points:
        base = sc.simulation.seed if seed is None else seed
        for r in indices:
            jobs.append((sc, replication_seed(base, r)))
            labels.append({**label, "replication": r, "seed": jobs[-1][1]})
    if keep:
        known = known or {}
        todo = [job for job in jobs if (id(job[0]), job[1]) not in known]
        fresh = iter(run_many(todo, workers=workers, dask=dask, progress=progress, force=force) if todo else [])
        results = [known.get((id(sc), s)) or next(fresh) for sc, s in jobs]
        figures = [headline(res) for res in results]
    else:
        results = []
        figures = run_many(jobs, workers=workers, dask=dask, progress=progress, force=force, reduce=headline)
    return [{**label, **fig} for label, fig in zip(labels, figures, strict=True)], results


def replications(
    scenario: Scenario | str | Path,
    n: int,
    *,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per replication: its seed and headline figures."""
    import pandas as pd

    sc = _as_scenario(scenario, force)
    rows, _ = _rows([({"scenario": sc.name}, sc)], n, seed, workers, dask, progress, force)
    return pd.DataFrame(rows)


@dataclass
class Comparison:
    """Designs run on the same traffic: a table, and each design's first replication for plots."""

    table: pd.DataFrame  # one row per design: mean (and ±95% CI with replications) of each figure
    rows: pd.DataFrame  # one row per design × replication
    results: dict[str, Result]

    def diff(self, baseline: str | None = None) -> pd.DataFrame:
        """Each design against the baseline (default: the first design); see :func:`diff`."""
        return diff(self.table, baseline)


DIFF_COLUMNS = ("metric", "baseline_design", "baseline", "design", "value", "change", "change_pct")


def diff(table: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Every design against a baseline, figure by figure, like ``infracost diff``.

    ``table`` is a comparison's table (:func:`compare`: one row per design, column ``design``);
    ``baseline`` names its baseline design (default: the first). One row per headline figure and
    cost line (``cost.<item>``) and other design: ``baseline`` and ``value`` (the designs' figures),
    ``change`` (value − baseline) and ``change_pct`` (the change in percent of the baseline; NaN
    when the baseline is 0 or not measured).
    """
    import pandas as pd

    if baseline is None:
        baseline = str(table["design"].iloc[0])
    if baseline not in set(table["design"].astype(str)):
        raise ValueError(f"no design named {baseline!r} to compare against (designs: {', '.join(table['design'])})")
    metrics = [m for m in HEADLINE if m in table] + sorted(c for c in table.columns if str(c).startswith("cost."))
    by = table.assign(design=table["design"].astype(str)).set_index("design")
    base = by.loc[baseline]
    out = []
    for design, row in by.iterrows():
        if design == baseline:
            continue
        for m in metrics:
            was, now = float(base[m]), float(row[m])
            delta = now - was
            pct = delta / abs(was) * 100 if was and not math.isnan(was) else (0.0 if delta == 0 else math.nan)
            out.append(dict(zip(DIFF_COLUMNS, (m, baseline, was, design, now, delta, pct), strict=True)))
    return pd.DataFrame(out, columns=list(DIFF_COLUMNS))


def compare_runs(
    scenarios: Sequence[Scenario | str | Path],
    *,
    seed: int | None = None,
    replications: int = 1,
    workers: int | None = None,
    dask: str | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    known: Mapping[tuple[int, int], Result] | None = None,
) -> Comparison:
    """Run designs with the same seed (common random numbers: the same arrivals for all).

    Two designs with the same name are told apart as ``name`` and ``name (2)``. ``known``: runs
    already made, by (``id`` of the scenario object, seed), reused rather than run again.
    """
    import pandas as pd

    if not scenarios:
        raise ValueError("compare needs at least one design")
    designs = [_as_scenario(s, force) for s in scenarios]
    names = unique_labels([d.name for d in designs])
    common = seed if seed is not None else designs[0].simulation.seed
    points = [({"design": n}, d) for n, d in zip(names, designs, strict=True)]
    rows, firsts = _rows(points, range(1), common, workers, dask, progress, force, keep=True, known=known)
    if replications > 1:
        rows += _rows(points, range(1, replications), common, workers, dask, progress, force)[0]
    frame = pd.DataFrame(rows)
    table = summarize_replications(frame, by=["design"])
    return Comparison(table=table, rows=frame, results=dict(zip(names, firsts, strict=True)))


def compare(
    scenarios: Sequence[Scenario | str | Path],
    *,
    seed: int | None = None,
    replications: int = 1,
    workers: int | None = None,
    dask: str | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per design (mean, and ±95% CI with replications, of every headline figure).

    Designs run with the same seed, so they see the same arrivals. :func:`compare_runs` also
    returns the per-replication rows and each design's run, for figures.
    """
    return compare_runs(
        scenarios, seed=seed, replications=replications, workers=workers, dask=dask, force=force, progress=progress
    ).table


def sweep(
    scenario: Scenario | str | Path,
    vary: Mapping[str, Sequence[Any]],
    *,
    seed: int | None = None,
    replications: int = 1,
    workers: int | None = None,
    dask: str | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """The cartesian product of ``vary`` (dotted path → values): one row per point × replication.

    Every point is validated, and the whole study's size checked, before anything runs, so a
    bad value fails fast with its path.
    """
    import pandas as pd

    points = grid_points(_as_scenario(scenario, force), vary, replications=replications, force=force)
    rows, _ = _rows(points, replications, seed, workers, dask, progress, force)
    return pd.DataFrame(rows)


def grid_points(
    base: Scenario, vary: Mapping[str, Sequence[Any]], *, replications: int = 1, force: bool = False
) -> list[tuple[dict[str, Any], Scenario]]:
    """Every combination of ``vary``'s values, as (the change, the validated scenario) pairs.

    The grid's size is checked before any point is built (:func:`apisim.budget.check_grid`).
    """
    paths = list(vary)
    for path, values in vary.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"{path}: give a list of values to try, got {values!r}")
    if not force:
        budget.check_grid(math.prod(len(vary[p]) for p in paths), replications, base)
    points = []
    for values in itertools.product(*(vary[p] for p in paths)):
        change = dict(zip(paths, values, strict=True))
        points.append((change, with_changes(base, change, force=force)))
    return points


# ----------------------------------------------------------------------------------------------
# SLOs and plans
# ----------------------------------------------------------------------------------------------


NEAR_BOUND = 0.05
"""A figure this close to an SLO's bound (relative) gets :data:`NEAR_REPLICATIONS` replications in a plan."""
NEAR_REPLICATIONS = 3


def plan(
    scenario: Scenario | str | Path,
    vary: Mapping[str, Sequence[Any]],
    slos: Sequence[Slo | str],
    *,
    seed: int | None = None,
    replications: int = 1,
    search: str = "grid",
    workers: int | None = None,
    dask: str | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    near: float = NEAR_BOUND,
    near_replications: int = NEAR_REPLICATIONS,
) -> pd.DataFrame:
    """Every point of the grid, cheapest first, with whether it meets every SLO and why not.

    The first row with ``feasible`` True is the plan. SLOs are judged on the mean over a point's
    replications; ``failed`` lists the objectives a point misses, with its value.

    A point whose figure lies within ``near`` (relative, default 5%) of an SLO's bound after its
    replications gets more, up to ``near_replications`` (default 3): a verdict that close should
    not rest on one run. Column ``near_bound`` names the objectives that asked for them. Under
    ``search="halving"`` this holds for points screened out early too.

    ``search="halving"`` (for large grids with several replications) is successive halving:
    every point first gets one replication; each round keeps the better half (feasible and
    cheap first, then the nearest misses) and doubles its replications, until the survivors have
    ``replications``. Points screened out early keep their fewer replications (column
    ``replications``), so the table still says why each was dropped.
    """
    import pandas as pd

    if search not in ("grid", "halving"):
        raise ValueError(f"search must be 'grid' or 'halving', got {search!r}")
    objectives = [s if isinstance(s, Slo) else Slo.parse(s) for s in slos]
    paths = list(vary)
    points = grid_points(_as_scenario(scenario, force), vary, replications=replications, force=force)
    settle = (near_replications, (seed, workers, dask, progress, force))
    if search == "grid" or replications == 1:
        rows, _ = _rows(points, replications, seed, workers, dask, progress, force)
        frame = pd.DataFrame(rows)
        return _settle_near_bounds(_judge(frame, paths, objectives), frame, points, paths, objectives, near, *settle)
    alive = list(range(len(points)))
    done = 0
    frames = []
    while True:
        target = replications if len(alive) == 1 else min(replications, max(1, 2 * done))
        rows, _ = _rows([points[i] for i in alive], range(done, target), seed, workers, dask, progress, force)
        frames.append(pd.DataFrame(rows))
        done = target
        frame = pd.concat(frames, ignore_index=True)
        table = _judge(frame, paths, objectives)
        if done >= replications:
            # Screened-out points too: a verdict within `near` of a bound should not rest on one run.
            table = _settle_near_bounds(table, frame, points, paths, objectives, near, *settle)
            # Only points that got every replication can be the plan.
            screened = table["replications"] < replications
            table["screened_out"] = screened
            note = "screened out after " + table["replications"].astype(str) + " replication(s)"
            table.loc[screened, "failed"] = [
                f"{n}; {f}" if f else n for n, f in zip(note[screened], table.loc[screened, "failed"], strict=True)
            ]
            table.loc[screened, "feasible"] = False
            return table
        ranked = table[table["replications"] == done].sort_values(
            ["feasible", "cost_usd", "miss"], ascending=[False, True, True], kind="stable"
        )
        keep = ranked.head(max(1, len(ranked) // 2))
        keys = {tuple(r) for r in keep[paths].itertuples(index=False)}
        alive = [i for i in alive if tuple(points[i][0][p] for p in paths) in keys]


def _near(row: Any, objectives: Sequence[Slo], near: float) -> list[str]:
    """The objectives whose bound ``row``'s figure lies within ``near`` of (relative)."""
    out = []
    for o in objectives:
        v = float(row[o.metric])
        if math.isfinite(v) and o.limit > 0 and abs(v / o.limit - 1.0) <= near:
            out.append(o.text)
    return out


def _settle_near_bounds(
    table: pd.DataFrame,
    rows: pd.DataFrame,
    points: Sequence[tuple[dict[str, Any], Scenario]],
    paths: list[str],
    objectives: Sequence[Slo],
    near: float,
    wanted: int,
    run: tuple[Any, ...],
) -> pd.DataFrame:
    """Up to ``wanted`` replications for the points within ``near`` of a bound (each from the
    replications it has: successive halving leaves them unequal), then the plan judged again."""
    import pandas as pd

    def key(values: Any) -> tuple[Any, ...]:
        return tuple(values[p] for p in paths)

    asked = {key(r): _near(r, objectives, near) for _, r in table.iterrows()}
    have = {key(r): int(r["replications"]) for _, r in table.iterrows()}
    extra: list[dict[str, Any]] = []
    for start in sorted({n for k, n in have.items() if asked[k] and n < wanted}):
        closer = [pt for pt in points if asked.get(key(pt[0])) and have[key(pt[0])] == start]
        extra += _rows(closer, range(start, wanted), *run)[0]
    if extra:
        table = _judge(pd.concat([rows, pd.DataFrame(extra)], ignore_index=True), paths, objectives)
    table["near_bound"] = ["; ".join(asked.get(key(r), [])) for _, r in table.iterrows()]
    return table


def _judge(rows: pd.DataFrame, paths: list[str], objectives: Sequence[Slo]) -> pd.DataFrame:
    """Mean per point, whether it meets every objective (``miss``: the largest relative miss), cheapest first.

    An objective is judged on the figure's 95% interval where it has one (replications, or the
    month's own ±): met if the whole interval meets it, failed if none of it does, else
    ``uncertain``; ``settle_replications`` then says about how many replications would narrow
    the interval enough to decide (the half-width shrinks as one over their square root).
    """
    table = summarize_replications(rows, by=paths)
    failed, uncertain, miss, settle, verdict = [], [], [], [], []
    for _, row in table.iterrows():
        bad, unsure, needed = [], [], 0.0
        for o in objectives:
            v = float(row[o.metric])
            half = float(row.get(f"{o.metric}_ci95", math.nan))
            judged = o.judge(v, half)
            if judged == "met":
                continue
            if judged == "failed":
                bad.append(f"{o.text} (was {o.measured(v)})")
                continue
            unsure.append(f"{o.text} (was {o.measured(v, half)})")
            gap = abs(v - o.limit)
            needed = max(needed, math.inf if gap == 0 else row["replications"] * (half / gap) ** 2)
        failed.append("; ".join(bad))
        uncertain.append("; ".join(unsure))
        settle.append(math.ceil(needed) if unsure and math.isfinite(needed) else (math.nan if not unsure else math.inf))
        verdict.append("failed" if bad else ("uncertain" if unsure else "met"))
        values = {o: float(row[o.metric]) for o in objectives}
        miss.append(max([v / o.limit - 1 for o, v in values.items() if not o.met(v) and o.limit > 0], default=0.0))
    table["failed"] = failed
    table["uncertain"] = uncertain
    table["verdict"] = verdict
    table["settle_replications"] = settle
    table["feasible"] = table["verdict"] == "met"
    table["miss"] = miss
    return table.sort_values(["cost_usd", "p99_ms"], kind="stable").reset_index(drop=True)
