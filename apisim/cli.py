"""The ``apisim`` command: run, validate and describe scenarios.

Exit codes: 0 ok, 2 bad input (a scenario problem, a run refused as too large, a bad option).
Errors are one paragraph per problem, never a traceback.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer.core import TyperGroup

from apisim import __version__
from apisim.durations import from_text
from apisim.experiment import DaskUnavailable, Result, check, simulate
from apisim.loading import is_comparisons, load, read_comparisons, read_document, validate_scenario
from apisim.output import OutputRefused, preflight, to_json
from apisim.problems import ScenarioError
from apisim.scenario import Scenario

ABORTED = 130
"""Exit code after Ctrl-C: 128 + SIGINT, as shells report a process the signal ended."""


class _Group(TyperGroup):
    """apisim's commands, whose help shows a metavar for each value (``DURATION``, ``N``) and none for a
    flag: typer prints its own type labels (``<bool>``, ``<list[str]>``) otherwise, which say nothing to a user."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_help(command.get_params(ctx))
        return command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # click would say "Aborted!" and exit 1; a shell expects 128 + SIGINT from a Ctrl-C. The
            # workers are already stopped (apisim.experiment) and half-written output is apisim's own.
            sys.stderr.write("\nAborted\n")
            raise typer.Exit(ABORTED) from None


def _plain_help(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # a flag takes no value: nothing to show after it
        elif getattr(param, "param_type_name", "") == "argument" and param.metavar is not None:
            param.display_type_rich = lambda ctx: None  # its metavar is already its name in the help
    return params


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    help="Simulate API Gateway + Lambda designs: latency percentiles, 429s and the monthly bill.",
)
# rich honours NO_COLOR (https://no-color.org) and FORCE_COLOR on its own, in both consoles and in
# typer's help: passing no_color here would only stop a user from overriding it. tests/test_cli.py checks.
err = Console(stderr=True, emoji=False)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"apisim {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the apisim version and exit"),
    ] = False,
) -> None:
    pass


def _console() -> Console:
    """Standard output; text from files and names is escaped, so ``[`` and ``:x:`` print as written."""
    return Console(emoji=False)


class UserError(Exception):
    """Bad input from the user: reported in one paragraph, exit code 2."""


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except (ScenarioError, UserError, OutputRefused, DaskUnavailable) as exc:
        _error(str(exc))
        raise typer.Exit(2) from None


def _error(text: str) -> None:
    err.print("[bold red]error:[/] ", end="", highlight=False)
    err.print(text, highlight=False, markup=False, soft_wrap=True)


def _warning(text: str) -> None:
    err.print("[bold yellow]warning:[/] ", end="", highlight=False)
    err.print(text, highlight=False, markup=False, soft_wrap=True)


def _times(duration: str | None, warmup: str | None) -> tuple[float | None, float | None]:
    """--duration and --warmup in seconds (``10m``, ``30s``, or a plain number of seconds)."""
    try:
        return (
            from_text(duration) if duration is not None else None,
            from_text(warmup) if warmup is not None else None,
        )
    except ValueError as exc:
        raise UserError(f"--duration/--warmup: {exc}") from None


def _with_overrides(
    sc: Scenario,
    duration: str | None,
    warmup: str | None,
    basis: str | None = None,
    windows: int | None = None,
    engine: str | None = None,
) -> Scenario:
    if basis is not None and basis not in ("month", "window"):
        raise UserError(f"--basis is month or window, not {basis!r}")
    try:
        sc = sc.with_engine(engine)
    except ValueError as exc:
        raise UserError(f"--engine: {exc}") from None
    try:
        return sc.with_times(*_times(duration, warmup), basis=basis, windows=windows)
    except ValueError as exc:
        raise UserError(
            f"--duration/--warmup/--windows: {exc} (at most 366 days; warm-up shorter than the run)"
        ) from None


BASIS = typer.Option(
    metavar="month|window",
    help="month: the calendar month from simulation.start, estimated from windows (the default); "
    "window: one window scaled to pricing.month (overrides simulation.basis)",
)
WINDOWS = typer.Option(
    metavar="N", min=2, max=400, help="month basis: how many windows represent the month (overrides simulation.windows)"
)
ENGINE = typer.Option(
    metavar="auto|python|compiled",
    help="which code simulates (the same numbers): python, the readable reference; compiled, the Numba kernel "
    "(an error for what it does not cover); auto, the kernel for runs of 1M attempts or more (overrides "
    "simulation.engine)",
)
EXACT_MONTH = typer.Option(
    "--exact-month", help="simulate every request of the month (the reference for the estimate; slow)"
)


def _prepare(
    path: Path,
    duration: str | None,
    warmup: str | None,
    *,
    force: bool,
    records: bool | None = False,
    basis: str | None = None,
    exact_month: bool = False,
    windows: int | None = None,
    engine: str | None = None,
) -> Scenario:
    """Every check ``run`` makes before simulating, in one place (``validate`` makes the same ones).

    Reads and validates the file (and its traces), applies ``--duration``/``--warmup``/``--basis``,
    and checks the run (or the month's windows) against the time and memory limits (``records``:
    whether rows would be kept).
    """
    sc = _with_overrides(load(path, force=force), duration, warmup, basis, windows, engine)
    if records and (sc.simulation.basis == "month" or exact_month):
        raise UserError(
            "--records keeps one row per attempt of one window: add --basis window (the month is estimated "
            "from many windows, and keeps only their totals)"
        )
    check(sc, force=force, records=records, exact_month=exact_month)
    return sc


def _out_ok(out: Path | None, overwrite: bool) -> None:
    """Refuse a bad --out before any simulating (a file in the way, a folder apisim did not write)."""
    if out is not None:
        preflight(out, overwrite=overwrite)


SEED = typer.Option(metavar="SEED", min=0, max=2**64 - 1, help="override simulation.seed (0 to 2**64 - 1)")
FORMAT = typer.Option(
    "--format",
    metavar="table|json|markdown|github-comment",
    help="table (the terminal), json (as --json), markdown, or github-comment (a Markdown diff to post on a "
    "pull request as is)",
)
MAX_COST = typer.Option(
    metavar="USD",
    min=0.0,
    help="exit 1 if a monthly bill is over USD (the month bill's point estimate, cost_monthly_usd.total)",
)
MAX_COST_INCREASE = typer.Option(
    metavar="PCT",
    help="exit 1 if a monthly bill (its point estimate) is more than PCT percent over the baseline's",
)
BASELINE = typer.Option(
    metavar="FILE",
    help="summary.json of an earlier run (run --out DIR, or run --json) to compare the bill against",
)


def _format(chosen: str | None, json_out: bool) -> str:
    """--format, with --json as its alias for json."""
    from apisim.formats import FORMATS

    if chosen is not None and chosen not in FORMATS:
        raise UserError(f"--format is one of {', '.join(FORMATS)}, not {chosen!r}")
    if json_out and chosen not in (None, "json"):
        raise UserError(f"--json is --format json: give one of --json and --format {chosen}")
    return "json" if json_out else (chosen or "table")


def _baseline(path: Path | None, max_increase: float | None, *, fallback: bool = False) -> dict[str, Any] | None:
    """The --baseline summary, read before any simulating; --max-cost-increase needs one (``fallback``:
    the verb has its own, compare's first design)."""
    from apisim.gates import BaselineError, read_baseline

    if path is None:
        if max_increase is not None and not fallback:
            raise UserError("--max-cost-increase PCT needs --baseline FILE (the summary.json of an earlier run)")
        return None
    try:
        return read_baseline(path)
    except BaselineError as exc:
        raise UserError(str(exc)) from None


def _budget(reasons: list[str]) -> None:
    """Say why the job is over budget, one line each on stderr; exit 1 if it is."""
    for reason in reasons:
        err.print(reason, highlight=False, markup=False, soft_wrap=True)
    if reasons:
        raise typer.Exit(1)


def _against_baseline(base: dict[str, Any], summary: dict[str, Any]) -> Any:
    """A run's headline figures against a baseline run's (:func:`apisim.studies.diff`)."""
    import pandas as pd

    from apisim.headline import headline
    from apisim.studies import diff

    label = "baseline" if base.get("scenario") == summary["scenario"] else f"baseline ({base.get('scenario')})"
    rows = [{"design": label, **headline(base)}, {"design": summary["scenario"], **headline(summary)}]
    return diff(pd.DataFrame(rows))


FORCE = typer.Option(help="go ahead even above the run's time and memory limits (and read larger files)")
WORKERS = typer.Option(metavar="N", min=1, help="worker processes (default: one per core)")
REPLICATIONS = typer.Option(
    metavar="N", min=1, help="independent runs (seeds derived from the seed); means with 95% CIs"
)
OVERWRITE = typer.Option(
    help="write into an existing folder apisim did not create (only apisim's own files are ever replaced)"
)


def _run_with_progress(
    sc: Scenario,
    seed: int | None,
    force: bool,
    records: bool | None,
    quiet: bool,
    exact_month: bool = False,
    workers: int | None = None,
) -> Result:
    options: dict[str, Any] = {"force": force, "records": records, "exact_month": exact_month, "workers": workers}
    if quiet or not err.is_terminal:
        return simulate(sc, seed, **options)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(escape(sc.name), total=1.0)
        return simulate(sc, seed, **options, progress=lambda done: bar.update(task, completed=done))


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario file (YAML)")],
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout, nothing else")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="write summary.json, timeseries.csv, cost.csv, report.md, figures (requests.parquet with records)",
        ),
    ] = None,
    seed: Annotated[int | None, SEED] = None,
    duration: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="override simulation.duration: 10m, 30s, or a number of seconds"),
    ] = None,
    warmup: Annotated[
        str | None, typer.Option(metavar="DURATION", help="override simulation.warmup: 30s, or a number of seconds")
    ] = None,
    force: Annotated[bool, FORCE] = False,
    overwrite: Annotated[bool, OVERWRITE] = False,
    records: Annotated[
        bool | None,
        typer.Option(
            "--records/--no-records",
            help="keep one row per attempt for requests.parquet (default: with --out, for runs up to 1M attempts)",
        ),
    ] = None,
    replications: Annotated[
        int, typer.Option(metavar="N", min=1, help="independent runs; report means with 95% CIs")
    ] = 1,
    workers: Annotated[
        int | None, typer.Option(metavar="N", min=1, help="worker processes for replications (default: cores)")
    ] = None,
    dask: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="run replications on a Dask scheduler (address, or 'local')")
    ] = None,
    basis: Annotated[str | None, BASIS] = None,
    windows: Annotated[int | None, WINDOWS] = None,
    engine: Annotated[str | None, ENGINE] = None,
    exact_month: Annotated[bool, EXACT_MONTH] = False,
    format_: Annotated[str | None, FORMAT] = None,
    max_cost: Annotated[float | None, MAX_COST] = None,
    max_cost_increase: Annotated[float | None, MAX_COST_INCREASE] = None,
    baseline: Annotated[Path | None, BASELINE] = None,
) -> None:
    """Simulate one scenario and show outcomes, latency, cold starts and the monthly cost (of the
    calendar month, with 95% intervals, unless the scenario's basis is a window).

    Exit codes: 0 ok, 1 over budget (--max-cost, --max-cost-increase), 2 bad input.
    """
    with _user_errors():
        shape = _format(format_, json_out)
        json_out = shape == "json"
        base = _baseline(baseline, max_cost_increase)
        if replications > 1 and shape not in ("table", "json"):
            raise UserError(f"--format {shape} shows one run: leave out --replications, or use table or json")
        if replications > 1 and (max_cost is not None or max_cost_increase is not None):
            raise UserError("--max-cost and --max-cost-increase judge one run's bill: leave out --replications")
        if records is None and out is None:
            records = False  # only --out writes them (requests.parquet): without it, nothing would read them
        sc = _prepare(
            scenario, duration, warmup, force=force, records=records if replications == 1 else False, basis=basis,
            exact_month=exact_month, windows=windows, engine=engine,
        )  # fmt: skip
        _out_ok(out, overwrite)
        if replications > 1:
            _replicated(sc, replications, seed, workers, dask, out, json_out, force, overwrite)
            return
        quiet = shape != "table"
        result = _run_with_progress(sc, seed, force, records, quiet=quiet, exact_month=exact_month, workers=workers)
        if out is not None:
            result.write(out, overwrite=overwrite)
        s = result.summary
        reasons = _run_budget(s, max_cost, max_cost_increase, base, baseline)
        if shape == "json":
            sys.stdout.write(to_json(s) + "\n")
        elif shape in ("markdown", "github-comment"):
            from apisim import formats

            if shape == "markdown":
                sys.stdout.write(formats.run_markdown(s, result.cost))
            else:
                against = _against_baseline(base, s) if base is not None else None
                sys.stdout.write(formats.run_comment(s, result.cost, diff=against, slos=sc.slos, gates=reasons))
        else:
            from apisim.tables import render_summary

            console = _console()
            render_summary(result, console)
            if out is not None:
                console.print(f"results written to [bold]{escape(str(out))}[/]")
        _budget(reasons)


def _run_budget(
    s: dict[str, Any], max_cost: float | None, max_increase: float | None, base: dict[str, Any] | None,
    path: Path | None,
) -> list[str]:  # fmt: skip
    """Why the run is over budget (one line each; none: within it)."""
    from apisim.gates import over_budget

    label = f"scenario {s['scenario']}"
    baselines = {label: (f"the baseline {path}", float(base["cost_monthly_usd"]["total"]))} if base else None
    costs = {label: float(s["cost_monthly_usd"]["total"])}
    return over_budget(costs, max_cost=max_cost, max_increase=max_increase, baselines=baselines)


def _jobs_progress(total: int, quiet: bool) -> tuple[Progress | None, Any]:
    if quiet or not err.is_terminal:
        return None, None
    bar = Progress(
        TextColumn("[bold]runs"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), console=err, transient=True,
    )  # fmt: skip
    task = bar.add_task("runs", total=total)
    # The total comes from each call: a halving plan runs in rounds of different sizes.
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Any]:
    bar, callback = _jobs_progress(total, quiet)
    if bar is None:
        yield None
        return
    with bar:
        yield callback


def _frame_table(frame: Any, title: str, columns: list[str] | None = None, *, highlight: tuple[int, ...] = ()) -> None:
    """Print a study's DataFrame (numbers formatted by column name; vertical when too wide)."""
    from apisim.tables import frame as show_frame

    show_frame(_console(), frame, title, columns, highlight=highlight)


def _replicated(
    sc: Scenario,
    n: int,
    seed: int | None,
    workers: int | None,
    dask: str | None,
    out: Path | None,
    json_out: bool,
    force: bool,
    overwrite: bool,
) -> None:
    from apisim import studies
    from apisim.publish import write_frames

    with _progress(n, json_out) as progress:
        rows = studies.replications(sc, n, seed=seed, workers=workers, dask=dask, force=force, progress=progress)
    summary = studies.summarize_replications(rows)
    if out is not None:
        write_frames(out, {"replications.csv": rows, "summary.csv": summary}, overwrite=overwrite)
    if json_out:
        record = summary.iloc[0].to_dict()
        metrics = {m: {"mean": record[m], "ci95": record[f"{m}_ci95"]} for m in studies.HEADLINE if m in record}
        doc = {"scenario": sc.name, "replications": n, "summary": metrics, "rows": rows.to_dict(orient="records")}
        sys.stdout.write(json.dumps(_json_safe(doc), indent=2) + "\n")
        return
    from apisim.formats import half_width, number
    from apisim.tables import show

    record = summary.iloc[0]
    means = [[m, number(m, record[m]), half_width(m, record[m], record[f"{m}_ci95"])] for m in studies.HEADLINE]
    show(_console(), f"{sc.name}: {n} replications (mean ± 95% CI)", ["figure", "mean", "± 95% CI"],
         [[escape(c) for c in r] for r in means], [False, True, True])  # fmt: skip
    _frame_table(rows, "Per replication", ["replication", "seed", "p50_ms", "p99_ms", "rate_429", "cost_usd"])


def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN (nothing measured) becomes null, numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


@app.command()
def compare(
    scenarios: Annotated[list[Path], typer.Argument(metavar="SCENARIO...", help="scenario files, one per design")],
    seed: Annotated[
        int | None, typer.Option(metavar="SEED", min=0, max=2**64 - 1, help="common seed (default: the first file's)")
    ] = None,
    replications: Annotated[int, REPLICATIONS] = 1,
    duration: Annotated[
        str | None, typer.Option(metavar="DURATION", help="override every design's simulation.duration")
    ] = None,
    basis: Annotated[str | None, BASIS] = None,
    windows: Annotated[int | None, WINDOWS] = None,
    engine: Annotated[str | None, ENGINE] = None,
    warmup: Annotated[
        str | None, typer.Option(metavar="DURATION", help="override every design's simulation.warmup")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="write compare.csv, compare.json, rows.csv and figures here")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the table as JSON")] = False,
    workers: Annotated[int | None, WORKERS] = None,
    dask: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Dask scheduler address, or 'local'")] = None,
    force: Annotated[bool, FORCE] = False,
    overwrite: Annotated[bool, OVERWRITE] = False,
    format_: Annotated[str | None, FORMAT] = None,
    max_cost: Annotated[float | None, MAX_COST] = None,
    max_cost_increase: Annotated[
        float | None,
        typer.Option(
            metavar="PCT",
            help="exit 1 if a design's monthly bill (its point estimate) is more than PCT percent over the "
            "baseline's: --baseline FILE, else the first design",
        ),
    ] = None,
    baseline: Annotated[Path | None, BASELINE] = None,
) -> None:
    """Run designs on the same traffic (same seed) and show them side by side, then each against the
    first (the baseline): every figure and cost line, its change and % change.

    Exit codes: 0 ok, 1 over budget (--max-cost, --max-cost-increase), 2 bad input.
    """
    from apisim import studies
    from apisim.gates import over_budget
    from apisim.publish import write_comparison

    with _user_errors():
        shape = _format(format_, json_out)
        json_out = shape == "json"
        base = _baseline(baseline, max_cost_increase, fallback=True)
        designs = [
            _prepare(p, duration, warmup, force=force, basis=basis, windows=windows, engine=engine) for p in scenarios
        ]
        _out_ok(out, overwrite)
        with _progress(len(designs) * replications, json_out) as progress:
            result = studies.compare_runs(
                designs, seed=seed, replications=replications, workers=workers, dask=dask, force=force,
                progress=progress,
            )  # fmt: skip
        if out is not None:
            write_comparison(result, out, overwrite=overwrite)
        from apisim import formats

        against = result.diff()
        costs = {f"design {d}": float(c) for d, c in zip(result.table["design"], result.table["cost_usd"], strict=True)}
        if base is not None:
            what, usd = f"the baseline {baseline}", float(base["cost_monthly_usd"]["total"])
        else:
            first = str(result.table["design"].iloc[0])
            what, usd = f"the first design, {first}", float(result.table["cost_usd"].iloc[0])
            costs = {"design " + first: costs.pop("design " + first), **costs}
        baselines = {k: (what, usd) for k in costs if base is not None or k != next(iter(costs))}
        reasons = over_budget(costs, max_cost=max_cost, max_increase=max_cost_increase, baselines=baselines)
        if shape == "json":
            sys.stdout.write(result.table.to_json(orient="records", indent=2) + "\n")
        elif shape == "markdown":
            sys.stdout.write(formats.compare_markdown(result.table, against))
        elif shape == "github-comment":
            verdicts = {n: formats.slo_verdicts(r.scenario.slos, r.summary) for n, r in result.results.items()}
            sys.stdout.write(formats.compare_comment(result.table, against, verdicts, reasons))
        else:
            from apisim.tables import show

            shown = result.table[["design", *studies.HEADLINE, *_ci_columns(result.table)]]
            headers, rows = formats.compare_rows(shown)
            show(_console(), "Designs compared (same arrivals)", headers, [[escape(c) for c in r] for r in rows],
                 [False] + [True] * (len(headers) - 1))  # fmt: skip
            _show_diff(against)
        _budget(reasons)


def _show_diff(diff: Any) -> None:
    """Each design against the baseline, one table per design: figure, both values, change, change %."""
    from apisim.formats import diff_rows
    from apisim.tables import show

    _, rows = diff_rows(diff)
    for design in dict.fromkeys(diff["design"]):
        base = str(diff["baseline_design"].iloc[0])
        mine = [[escape(c) for i, c in enumerate(r) if i != 1] for r in rows if r[1] == design]
        show(_console(), f"{design} against {base} (baseline)", ["figure", base, str(design), "change", "change %"],
             mine, [False, True, True, True, True])  # fmt: skip


def _ci_columns(table: Any) -> list[str]:
    """The headline figures' 95% half-width columns a study table has."""
    from apisim.headline import HEADLINE

    return [f"{m}_ci95" for m in HEADLINE if f"{m}_ci95" in table]


def _vary(assignments: list[str], option: str) -> dict[str, list[Any]]:
    from apisim.studies import parse_assignment

    out = {}
    for text in assignments:
        try:
            path, values = parse_assignment(text)
        except ValueError as exc:
            raise UserError(f"{option}: {exc}") from None
        out[path] = values
    if not out:
        raise UserError(f"give at least one {option} PATH=VALUE[,VALUE...]")
    return out


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="the base scenario")],
    set_: Annotated[
        list[str],
        typer.Option("--set", metavar="PATH=V1,V2", help="PATH=V1,V2,... (repeat; the cartesian product is run)"),
    ] = [],  # noqa: B006
    seed: Annotated[int | None, SEED] = None,
    replications: Annotated[int, REPLICATIONS] = 1,
    duration: Annotated[str | None, typer.Option(metavar="DURATION", help="override simulation.duration")] = None,
    basis: Annotated[str | None, BASIS] = None,
    windows: Annotated[int | None, WINDOWS] = None,
    engine: Annotated[str | None, ENGINE] = None,
    warmup: Annotated[str | None, typer.Option(metavar="DURATION", help="override simulation.warmup")] = None,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="write sweep.csv, summary.csv and figures here")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
    workers: Annotated[int | None, WORKERS] = None,
    dask: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Dask scheduler address, or 'local'")] = None,
    force: Annotated[bool, FORCE] = False,
    overwrite: Annotated[bool, OVERWRITE] = False,
) -> None:
    """Run every combination of the given values; one row per point and replication."""
    from apisim import studies
    from apisim.publish import write_sweep

    with _user_errors():
        vary = _vary(set_, "--set")
        base = _prepare(scenario, duration, warmup, force=force, basis=basis, windows=windows, engine=engine)
        _out_ok(out, overwrite)
        total = replications * math.prod(len(values) for values in vary.values())
        with _progress(total, json_out) as progress:
            rows = studies.sweep(
                base, vary, seed=seed, replications=replications, workers=workers, dask=dask, force=force,
                progress=progress,
            )  # fmt: skip
        summary = studies.summarize_replications(rows, by=list(vary))
        if out is not None:
            write_sweep(rows, summary, list(vary), out, overwrite=overwrite)
        if json_out:
            sys.stdout.write(rows.to_json(orient="records", indent=2) + "\n")
            return
        _frame_table(
            summary,
            f"Sweep of {base.name}",
            [*vary, "p50_ms", "p99_ms", "rate_429", "cold_start_ratio", *_if_cached(summary), "cost_usd"],
        )


@app.command()
def breakeven(
    scenarios: Annotated[list[Path], typer.Argument(metavar="SCENARIO...", help="two or more designs")],
    volume: Annotated[
        str | None,
        typer.Option(metavar="LOW..HIGH", help="requests a month, e.g. 1M..1B (k, M, B suffixes; the default)"),
    ] = None,
    vary: Annotated[
        str | None,
        typer.Option(
            metavar="PATH=V1,V2",
            help="instead of volume: one numeric value of every design, e.g. "
            "clients.0.response_bytes=1024,32768,262144",
        ),
    ] = None,
    points: Annotated[
        int, typer.Option(metavar="N", min=2, max=50, help="volumes spread evenly on a log scale over the range")
    ] = 9,
    tolerance: Annotated[
        float, typer.Option(metavar="FRACTION", min=0.001, max=0.5, help="bisect a crossing to this relative width")
    ] = 0.01,
    seed: Annotated[int | None, SEED] = None,
    duration: Annotated[str | None, typer.Option(metavar="DURATION", help="override every design's duration")] = None,
    basis: Annotated[str | None, BASIS] = None,
    windows: Annotated[int | None, WINDOWS] = None,
    engine: Annotated[str | None, ENGINE] = None,
    warmup: Annotated[str | None, typer.Option(metavar="DURATION", help="override every design's warmup")] = None,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="write breakeven.csv, crossings.csv and breakeven.png here")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the rows and crossings as JSON")] = False,
    workers: Annotated[int | None, WORKERS] = None,
    force: Annotated[bool, FORCE] = False,
    overwrite: Annotated[bool, OVERWRITE] = False,
) -> None:
    """Where the designs' monthly bills cross as the monthly volume grows (the same workload scaled).

    Every client's arrival rate is scaled by one factor to each volume; all designs run on one seed.
    """
    from apisim import crossings as be
    from apisim.publish import write_breakeven

    with _user_errors():
        if len(scenarios) < 2:
            raise UserError("breakeven compares at least two designs: give two or more scenario files")
        if volume is not None and vary is not None:
            raise UserError("give --volume or --vary, not both")
        low_high, varied = None, None
        if vary is not None:
            ((path, values),) = _vary([vary], "--vary").items()
            if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in values):
                raise UserError(f"--vary {path}: break-even needs numbers, got {', '.join(map(str, values))}")
            varied = (path, values)
        else:
            try:
                low_high = be.parse_range(volume or "1M..1B")
            except ValueError as exc:
                raise UserError(f"--volume: {exc}") from None
        designs = [
            _prepare(p, duration, warmup, force=force, basis=basis, windows=windows, engine=engine) for p in scenarios
        ]
        if varied is None:
            for path, sc in zip(scenarios, designs, strict=True):
                try:
                    be.monthly_volume(sc)
                except ValueError as exc:
                    raise UserError(f"{path}: {exc}") from None
        _out_ok(out, overwrite)
        count = points if varied is None else len(varied[1])
        with _progress(len(designs) * count, json_out) as progress:
            try:
                frame = be.breakeven(
                    designs, volume=low_high, vary=varied, points=points, tolerance=tolerance, seed=seed,
                    workers=workers, force=force, progress=progress,
                )  # fmt: skip
            except ValueError as exc:
                raise UserError(str(exc)) from None
        found = be.crossings(frame)
        if out is not None:
            write_breakeven(frame, found, out, overwrite=overwrite)
        if json_out:
            doc = {"rows": frame.to_dict(orient="records"), "crossings": found.to_dict(orient="records")}
            sys.stdout.write(json.dumps(_json_safe(doc), indent=2) + "\n")
            return
        x = frame.attrs["x"]
        grid = frame[~frame["refined"]]
        table = grid.pivot(index=x, columns="design", values="cost_usd").reset_index()
        table[x] = [f"{v:,.0f}" if x == "volume" else f"{v:,.6g}" for v in table[x]]
        for name in table.columns[1:]:
            table[name] = [f"{v:,.2f}" for v in table[name]]
        by = "requests a month" if x == "volume" else x
        _frame_table(table, f"Monthly bill (USD) by {by}", highlight=())
        console = _console()
        if found.empty:
            console.print("no crossing in this range: the cheapest design stays the cheapest", highlight=False)
        for r in found.itertuples():
            where = f"[bold]{r.at:,.0f}[/] requests a month" if x == "volume" else f"{escape(x)} = [bold]{r.at:,.6g}[/]"
            console.print(
                f"{escape(r.design)} and {escape(r.other)} cross at {where} (${r.cost_usd:,.2f}/month each)",
                highlight=False,
            )
        if out is not None:
            console.print(f"results written to [bold]{escape(str(out))}[/]")


def _if_cached(summary: Any) -> list[str]:
    """The hit ratio column, when some point has a response cache (else it is all blanks)."""
    return ["cache_hit_ratio"] if summary["cache_hit_ratio"].notna().any() else []


@app.command()
def plan(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="the base scenario")],
    slo: Annotated[
        list[str], typer.Option("--slo", metavar="SLO", help='objective, e.g. "p99<800ms", "rate_429<0.001" (repeat)')
    ] = [],  # noqa: B006
    vary: Annotated[list[str], typer.Option("--vary", metavar="PATH=V1,V2", help="PATH=V1,V2,... (repeat)")] = [],  # noqa: B006
    seed: Annotated[int | None, SEED] = None,
    replications: Annotated[int, REPLICATIONS] = 1,
    near_replications: Annotated[
        int,
        typer.Option(
            metavar="N", min=1, help="replications for a point within 5% of an SLO bound (1: just --replications)"
        ),
    ] = 3,
    search: Annotated[
        str,
        typer.Option(
            metavar="grid|halving", help="grid, or halving: successive halving on replications for large grids"
        ),
    ] = "grid",
    duration: Annotated[str | None, typer.Option(metavar="DURATION", help="override simulation.duration")] = None,
    basis: Annotated[str | None, BASIS] = None,
    windows: Annotated[int | None, WINDOWS] = None,
    engine: Annotated[str | None, ENGINE] = None,
    warmup: Annotated[str | None, typer.Option(metavar="DURATION", help="override simulation.warmup")] = None,
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="write plan.csv and figures here")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the winner and every point as JSON")] = False,
    workers: Annotated[int | None, WORKERS] = None,
    dask: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Dask scheduler address, or 'local'")] = None,
    force: Annotated[bool, FORCE] = False,
    overwrite: Annotated[bool, OVERWRITE] = False,
) -> None:
    """Find the cheapest design in the grid that meets every SLO. Exit 1 if none does."""
    from apisim import studies
    from apisim.formats import number
    from apisim.publish import write_plan

    with _user_errors():
        grid = _vary(vary, "--vary")
        if not slo:
            raise UserError('give at least one --slo, e.g. --slo "p99<800ms"')
        try:
            objectives = [studies.Slo.parse(s) for s in slo]
        except ValueError as exc:
            raise UserError(f"--slo: {exc}") from None
        base = _prepare(scenario, duration, warmup, force=force, basis=basis, windows=windows, engine=engine)
        _out_ok(out, overwrite)
        total = replications * math.prod(len(values) for values in grid.values())
        if search not in ("grid", "halving"):
            raise UserError(f"--search must be grid or halving, got {search!r}")
        with _progress(total, json_out) as progress:
            table = studies.plan(
                base,
                grid,
                objectives,
                seed=seed,
                replications=replications,
                search=search,
                workers=workers,
                dask=dask,
                force=force,
                progress=progress,
                near_replications=near_replications,
            )
        if out is not None:
            limits = [o.limit for o in objectives if o.metric == "p99_ms" and o.op in ("<", "<=")]
            write_plan(table, list(grid), out, overwrite=overwrite, p99_limit=min(limits, default=None))
        near = table[table["near_bound"] != ""]
        feasible = table[table["feasible"]]
        if json_out:
            doc = {
                "winner": feasible.iloc[0].to_dict() if len(feasible) else None,
                "points": table.to_dict(orient="records"),
            }
            sys.stdout.write(json.dumps(_json_safe(doc), indent=2) + "\n")
        else:
            console = _console()
            shown = table.copy()
            shown["verdict"] = [_verdict(r) for _, r in table.iterrows()]
            cols = [*grid, "cost_usd", "p99_ms", "rate_429", "cold_start_ratio", "verdict"]
            winner = (int(feasible.index[0]),) if len(feasible) else ()
            _frame_table(shown, f"Plan for {base.name}: cheapest first (★ the cheapest meeting every SLO)", cols,
                         highlight=winner)  # fmt: skip
            # Under halving, a near point screened out early got them even when --replications is more.
            if len(near) and (near_replications > replications or search == "halving"):
                console.print(
                    f"{len(near)} point(s) within {studies.NEAR_BOUND:.0%} of an SLO's bound got at least "
                    f"{near_replications} replications each (--near-replications)",
                    highlight=False,
                )
            if len(feasible):
                w = feasible.iloc[0]
                choice = escape(", ".join(f"{k}={w[k]}" for k in grid))
                console.print(
                    f"[bold green]cheapest design meeting every SLO:[/] {choice} at ${w['cost_usd']:,.2f}/month",
                    highlight=False,
                )
                cheaper = table.iloc[: feasible.index[0]]
                for _, r in cheaper.iterrows():
                    point = ", ".join(f"{k}={r[k]}" for k in grid)
                    if r["verdict"] == "uncertain":
                        settle = number("settle_replications", r["settle_replications"])
                        text = f"  cheaper but uncertain: {point}: {r['uncertain']} (about {settle} "
                        text += "replications would settle it)"
                    else:
                        text = f"  cheaper but failed: {point}: {r['failed']}"
                    console.print(escape(text), highlight=False, soft_wrap=True)  # one line per point, for grep
            else:
                console.print("[bold red]no design in the grid meets every SLO[/]")
        if not len(feasible):
            raise typer.Exit(1)


def _verdict(point: Any) -> str:
    """A plan point's verdict with its reasons, in one cell (the table stays narrow enough for 80 columns)."""
    from apisim.formats import number

    if point["verdict"] == "met":
        return "met"
    if point["verdict"] == "failed":
        return f"failed: {point['failed']}"
    settle = number("settle_replications", point["settle_replications"])
    return f"uncertain: {point['uncertain']} (about {settle} replications would settle it)"


@app.command()
def report(
    inputs: Annotated[
        list[Path],
        typer.Argument(metavar="PATH...", help="scenario files and folders (a folder's comparisons.yaml adds groups)"),
    ],
    out: Annotated[
        Path,
        typer.Option(metavar="DIR", help="reports root: writes a new DIR/DATE-TIME/ and points DIR/latest at it"),
    ] = Path("reports"),
    seed: Annotated[
        int | None,
        typer.Option(
            metavar="SEED", min=0, max=2**64 - 1, help="one seed for every run (default: each scenario's own)"
        ),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(metavar="DURATION", help="override every scenario's simulation.duration")
    ] = None,
    basis: Annotated[str | None, BASIS] = None,
    windows: Annotated[int | None, WINDOWS] = None,
    warmup: Annotated[
        str | None, typer.Option(metavar="DURATION", help="override every scenario's simulation.warmup")
    ] = None,
    workers: Annotated[int | None, WORKERS] = None,
    engine: Annotated[str | None, ENGINE] = None,
    fail_on_slo: Annotated[bool, typer.Option(help="exit 1 if a scenario misses one of its slos")] = False,
    force: Annotated[bool, FORCE] = False,
    json_out: Annotated[bool, typer.Option("--json", help="the same as --format json")] = False,
    format_: Annotated[str | None, FORMAT] = None,
    max_cost: Annotated[float | None, MAX_COST] = None,
    max_cost_increase: Annotated[float | None, MAX_COST_INCREASE] = None,
    baseline: Annotated[
        list[Path],
        typer.Option(
            metavar="FILE",
            help="summary.json of an earlier run, compared with the scenario of the same name (repeat for several)",
        ),
    ] = [],  # noqa: B006
) -> None:
    """Run scenarios and comparison groups into a dated HTML + Markdown report, written atomically.

    Exit codes (for cron and CI): 0 ok, 1 an SLO failed (with --fail-on-slo) or a bill is over budget
    (--max-cost, --max-cost-increase), 2 bad input. An SLO whose 95% interval straddles its limit is
    reported as uncertain and does not fail the run.
    """
    from apisim.report import write_report

    with _user_errors():
        shape = _format(format_, json_out)
        bases = {}
        for path in baseline:
            doc = _baseline(path, None)
            bases[str(doc.get("scenario"))] = (path, doc)
        if max_cost_increase is not None and not bases:
            raise UserError("--max-cost-increase PCT needs --baseline FILE (the summary.json of an earlier run)")
        d, w = _times(duration, warmup)
        if basis is not None and basis not in ("month", "window"):
            raise UserError(f"--basis is month or window, not {basis!r}")
        if engine is not None and engine not in ("auto", "python", "compiled"):
            raise UserError(f"--engine: engine is auto, python or compiled, not {engine!r}")
        with _progress(1, shape == "json") as progress:  # the total is known once the inputs are read
            outcome = write_report(
                inputs, out, seed=seed, duration=d, warmup=w, workers=workers, force=force, basis=basis,
                windows=windows, progress=progress, engine=engine,
            )  # fmt: skip
    reasons = []
    if fail_on_slo and outcome.slo_failures:
        reasons.append(f"SLO: {len(outcome.slo_failures)} failed (--fail-on-slo)")
    from apisim.gates import over_budget

    costs = {f"scenario {label}": float(s["cost_monthly_usd"]["total"]) for label, s in outcome.summaries.items()}
    found = {
        f"scenario {label}": (f"the baseline {path}", float(doc["cost_monthly_usd"]["total"]))
        for label, (path, doc) in bases.items()
        if label in outcome.summaries
    }
    for name in bases.keys() - outcome.summaries.keys():
        _warning(f"--baseline {bases[name][0]}: no scenario in the report is named {name!r}; not compared")
    reasons += over_budget(costs, max_cost=max_cost, max_increase=max_cost_increase, baselines=found)
    _report_output(outcome, shape, out, bases, reasons)
    _budget(reasons)


def _report_output(
    outcome: Any, shape: str, out: Path, bases: dict[str, tuple[Path, dict[str, Any]]], gates: list[str]
) -> None:
    """What report prints: where it wrote, and its overview in the chosen --format (a pull-request
    comment says which gates failed, ``gates``)."""
    from apisim import formats

    if shape == "json":
        doc = {
            "folder": str(outcome.folder), "latest": outcome.latest, "slo_failures": outcome.slo_failures,
            "slo_uncertain": outcome.slo_uncertain,
            "scenarios": {label: {"cost_usd": s["cost_monthly_usd"]["total"], "summary": s}
                          for label, s in outcome.summaries.items()},
        }  # fmt: skip
        sys.stdout.write(json.dumps(_json_safe(doc), indent=2) + "\n")
        return
    if shape in ("markdown", "github-comment"):
        if shape == "markdown":
            sys.stdout.write(
                formats.report_markdown(
                    outcome.overview, outcome.slo_failures, outcome.slo_uncertain, outcome.summaries
                )
            )
            return
        import pandas as pd

        from apisim.studies import diff

        costs = {label: float(s["cost_monthly_usd"]["total"]) for label, s in outcome.summaries.items()}
        parts = []
        for label, s in outcome.summaries.items():
            if label in bases:
                was = {"design": f"{label} (baseline)", **_headline(bases[label][1])}
                rows = [was, {"design": label, **_headline(s)}]
                parts.append(diff(pd.DataFrame(rows)))
        against = pd.concat(parts, ignore_index=True) if parts else None
        sys.stdout.write(
            formats.report_comment(
                outcome.overview,
                outcome.slo_failures,
                outcome.slo_uncertain,
                costs,
                against,
                outcome.summaries,
                gates,
            )
        )
        return
    console = _console()
    folder, page = escape(str(outcome.folder)), escape(str(outcome.folder / "index.html"))
    console.print(f"report written to [bold]{folder}[/] ({page})", highlight=False)
    if not outcome.latest:
        latest = escape(str(out / "latest"))
        console.print(f"note: {latest} still points at a newer report (or links cannot be made here)")
    for failure in outcome.slo_failures:
        console.print(f"[red]SLO failed:[/] {escape(failure)}", highlight=False, soft_wrap=True)
    for doubt in outcome.slo_uncertain:
        console.print(f"[yellow]SLO uncertain:[/] {escape(doubt)}", highlight=False, soft_wrap=True)


def _headline(summary: dict[str, Any]) -> dict[str, float]:
    from apisim.headline import headline

    return headline(summary)


@app.command()
def validate(
    scenarios: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help="scenario files, comparison files or folders of them")
    ],
    duration: Annotated[
        str | None, typer.Option(metavar="DURATION", help="check as run would with this --duration")
    ] = None,
    basis: Annotated[str | None, BASIS] = None,
    windows: Annotated[int | None, WINDOWS] = None,
    engine: Annotated[str | None, ENGINE] = None,
    warmup: Annotated[
        str | None, typer.Option(metavar="DURATION", help="check as run would with this --warmup")
    ] = None,
    force: Annotated[bool, FORCE] = False,
) -> None:
    """Check scenario files as ``run`` would, without simulating: every problem, with file, line and field.

    The checks are the ones ``run`` makes before it starts: the file (size, encoding, YAML), the
    schema, references between sections, trace files, and the run's time and memory limits.
    """
    from apisim.report import duplicate_names

    failed = 0
    files: list[Path] = []
    for p in scenarios:
        found = sorted(x for x in p.glob("*.yaml") if x.is_file()) if p.is_dir() else [p]
        if not found:
            failed += 1
            _error(f"{p}: a folder with no scenario files (*.yaml) in it")
        files += found
    loaded: list[tuple[Path, Scenario]] = []
    members: list[Path] = []  # scenarios named by comparison groups: checked too, as report will
    for path in files:
        try:
            doc = read_document(path, force=force)
            if is_comparisons(doc):
                groups = read_comparisons(doc)
                members += [m for group in groups.values() for m in group]
                names = escape(", ".join(groups))
                _console().print(f"[green]ok[/] {escape(str(path))} (comparison groups: {names})", highlight=False)
                continue
            sc = validate_scenario(doc.data, origin=doc.origin, base_dir=str(doc.path.parent), force=force)
            sc = _with_overrides(sc, duration, warmup, basis, windows, engine)
            check(sc, force=force, records=None)
        except (ScenarioError, UserError) as exc:
            failed += 1
            _error(str(exc))
        else:
            loaded.append((path, sc))
            _console().print(f"[green]ok[/] {escape(str(path))} ({escape(sc.name)})", highlight=False)
    checked = {os.path.abspath(p) for p in files}
    for path in dict.fromkeys(m for m in members if os.path.abspath(m) not in checked):
        try:
            _prepare(path, duration, warmup, force=force, records=False, basis=basis, windows=windows, engine=engine)
        except (ScenarioError, UserError) as exc:
            failed += 1
            _error(str(exc))
    for warning in duplicate_names(loaded):
        _warning(warning)
    if failed:
        raise typer.Exit(2)


@app.command()
def init(
    api_type: Annotated[
        str,
        typer.Option("--type", metavar="rest|http|alb|function_url|websocket", help="the front door of the function"),
    ] = "http",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="write the scenario here (default: stdout)")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace FILE if it exists")] = False,
) -> None:
    """Write a commented starter scenario: every key a newcomer needs, with its default and unit."""
    from apisim.starter import TYPES, starter

    with _user_errors():
        if api_type not in TYPES:
            raise UserError(f"--type is one of {', '.join(TYPES)}, not {api_type!r}")
        text = starter(api_type)
        if out is None:
            sys.stdout.write(text)
            return
        _write_new(out, text, overwrite=overwrite)
    _console().print(f"wrote [bold]{escape(str(out))}[/]: check it with apisim validate, run it with apisim run")


FIT_FILE_OPTIONS = ("--access-logs", "--report-logs", "--metrics", "--requests")
"""fit's options that take several files at once (``--access-logs logs/*.json``, as a shell expands it)."""


@app.command()
def fit(
    access_logs: Annotated[list[Path] | None, typer.Option(metavar="FILES", help="API Gateway access logs")] = None,
    access_format: Annotated[
        str | None,
        typer.Option(metavar="TEMPLATE", help="the stage's access-log format string, when not a console one"),
    ] = None,
    report_logs: Annotated[
        list[Path] | None, typer.Option(metavar="FILES", help="Lambda logs with REPORT lines (file name: the function)")
    ] = None,
    function: Annotated[
        str | None, typer.Option(metavar="NAME", help="the function every REPORT file belongs to")
    ] = None,
    metrics: Annotated[
        list[Path] | None, typer.Option(metavar="FILES", help="aws cloudwatch get-metric-data JSON output")
    ] = None,
    requests: Annotated[
        list[Path] | None, typer.Option(metavar="FILES", help="per-request CSV or Parquet (give --columns)")
    ] = None,
    columns: Annotated[
        str | None, typer.Option(metavar="MAP", help="start=COL:s,duration=COL:ms,cold=COL,instance=COL,...")
    ] = None,
    name: Annotated[str, typer.Option(metavar="NAME", help="the fitted scenario's name")] = "fitted",
    api_type: Annotated[str, typer.Option("--type", metavar="http|rest", help="the API's type")] = "http",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="write the scenario here (default: stdout)")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace FILE (and the --report folder) if it exists")] = False,
    report: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="plots of each fit against the data, and a simulation's against it"),
    ] = None,
    force: Annotated[bool, typer.Option(help="read input files past the size limits")] = False,
) -> None:
    """Fit a scenario to what AWS logged: arrivals, route mix, run times, cold starts, idle expiry, overhead."""
    from apisim.fitting import fit_files
    from apisim.reading import InputRefused

    with _user_errors():
        try:
            result = fit_files(
                access_logs=access_logs, access_format=access_format, report_logs=report_logs, function=function,
                metrics=metrics, requests=requests, columns=columns, name=name, api_type=api_type, force=force,
            )  # fmt: skip
        except (InputRefused, ValueError) as exc:
            raise UserError(str(exc)) from None
        sc, text, fitted, obs = result.scenario, result.text, result.fitted, result.observations
        for line in obs.skipped_text():
            _warning(f"skipped {line}")
        if out is None:
            sys.stdout.write(text)
        else:
            _write_new(out, text, overwrite=overwrite)
        if report is not None:
            from apisim.fitreport import write_fit_report

            write_fit_report(report, sc, fitted, overwrite=overwrite)
    if out is not None:
        _console().print(f"wrote [bold]{escape(str(out))}[/]: check it with apisim validate, run it with apisim run")
    if report is not None:
        _console().print(f"wrote [bold]{escape(str(report))}[/]: the fits against the data")


@app.command()
def export(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario file (YAML)")],
    infracost_usage: Annotated[
        Path | None, typer.Option(metavar="FILE", help="write an Infracost usage file of the simulated month here")
    ] = None,
    cloudwatch: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="write the simulated per-minute series here as CloudWatch datapoints (CSV)"),
    ] = None,
    terraform: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="address the usage file by this Terraform file's resources (by label)"),
    ] = None,
    seed: Annotated[int | None, SEED] = None,
    duration: Annotated[
        str | None, typer.Option(metavar="DURATION", help="override simulation.duration: 10m, 30s, or seconds")
    ] = None,
    warmup: Annotated[str | None, typer.Option(metavar="DURATION", help="override simulation.warmup")] = None,
    basis: Annotated[str | None, typer.Option(metavar="month|window", help="override simulation.basis")] = None,
    windows: Annotated[int | None, typer.Option(metavar="N", min=2, help="override simulation.windows")] = None,
    force: Annotated[bool, FORCE] = False,
    overwrite: Annotated[bool, typer.Option(help="replace the files if they exist")] = False,
) -> None:
    """Simulate the scenario's month and write its usage for Infracost (infracost breakdown --usage-file)
    and its per-minute series as CloudWatch datapoints."""
    from apisim.exporting import cloudwatch_frame, infracost_export, infracost_text, terraform_resources

    with _user_errors():
        if infracost_usage is None and cloudwatch is None:
            raise UserError("nothing to write: give --infracost-usage FILE, --cloudwatch FILE, or both")
        if terraform is not None and infracost_usage is None:
            raise UserError("--terraform addresses the Infracost usage file: give --infracost-usage FILE too")
        if terraform is not None:
            terraform_resources(terraform)  # a broken file is reported before the month is simulated
        sc = _with_overrides(load(scenario, force=force), duration, warmup, basis, windows)
        for out in (infracost_usage, cloudwatch):
            if out is not None and out.exists() and not overwrite:
                raise UserError(f"{out} exists; pass --overwrite to replace it")
        if cloudwatch is not None and sc.simulation.bucket is None:
            # CloudWatch's datapoints are a minute each: a minute's bucket keeps its percentiles exact.
            sc = sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"bucket": 60.0})})
        result = simulate(sc, seed=seed, force=force)
        if infracost_usage is not None:
            ex = infracost_export(result, terraform)
            for line in ex.unmatched:
                _warning(f"no Terraform match: {line}")
            for line in ex.left:
                _warning(f"Terraform resource given no usage: {line}")
            _write_new(infracost_usage, infracost_text(result, terraform), overwrite=overwrite)
        if cloudwatch is not None:
            frame = cloudwatch_frame(result)
            for note in frame.attrs["notes"]:
                err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
            _write_new(cloudwatch, frame.to_csv(index=False, lineterminator="\n"), overwrite=overwrite)
    if infracost_usage is not None:
        _console().print(f"wrote [bold]{escape(str(infracost_usage))}[/]: infracost breakdown --usage-file it")
    if cloudwatch is not None:
        _console().print(f"wrote [bold]{escape(str(cloudwatch))}[/]: CloudWatch datapoints, one a row")


def _many_values(argv: list[str]) -> list[str]:
    """``fit --access-logs a b c`` as ``fit --access-logs a --access-logs b --access-logs c``: a shell
    expands ``logs/*.json`` into many words, and click's options take one value each."""
    verb = next((w for w in argv if not w.startswith("-")), None)
    if verb != "fit":
        return argv
    out: list[str] = []
    current = None
    for word in argv:
        if word in FIT_FILE_OPTIONS:
            current = word
            continue
        if current is not None and not word.startswith("-"):
            out += [current, word]
            continue
        current = None
        out.append(word)
    return out


@app.command(name="import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="a SAM or CloudFormation template, an OpenAPI document or a Terraform file"
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="write the scenario here (default: stdout)")
    ] = None,
    usage: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="a scenario (apisim fit's, say) whose clients and run times replace the placeholders"
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace FILE if it exists")] = False,
) -> None:
    """Write a scenario from infrastructure code: its APIs, routes, throttles, caches, authorizers and functions.

    Every value's comment says where in the code it came from; what the code cannot know (traffic, run
    times) is a marked PLACEHOLDER, or comes from --usage. What is not mapped is listed at the top and on
    stderr. A value the code does not settle (an intrinsic, an expression) is a located error, exit 2:
    the scenario is still written, with that value a marked placeholder.
    """
    from apisim.iac import import_file, read_usage

    with _user_errors():
        imported = import_file(file, read_usage(usage) if usage is not None else None)
        design = imported.design
        for item in design.unmapped:
            _warning(f"{file}: not mapped: {item}")
        if out is None:
            sys.stdout.write(imported.text)
        else:
            _write_new(out, imported.text, overwrite=overwrite)
        if design.problems:
            raise ScenarioError(str(file), design.problems, where="the scenario leaves as placeholders")
    if out is not None:
        _console().print(
            f"wrote [bold]{escape(str(out))}[/] ({len(imported.scenario.all_apis)} API(s), "
            f"{len(imported.scenario.functions)} function(s)): set its PLACEHOLDER values, then apisim run",
            highlight=False,
        )


def _write_new(path: Path, text: str, *, overwrite: bool) -> None:
    """Write ``text`` to the file ``path``: a new file, or (``overwrite``) one replaced whole, never a folder."""
    if path.is_dir():
        raise UserError(f"{path}: a folder; give a file name")
    if not path.parent.is_dir():
        raise UserError(f"{path}: no folder {path.parent} to write into")
    data = text.encode()
    try:
        if not overwrite:
            # O_EXCL: refused if anything is there, a link included, even one made after the check.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return
        # Replaced by a rename: a link is replaced, never followed, and a reader sees all or nothing.
        tmp = path.with_name(f".{path.name}.apisim-tmp-{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except FileExistsError:
        raise UserError(f"{path} exists; pass --overwrite to replace it") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None


@app.command()
def schema() -> None:
    """Print the scenario JSON Schema (for editor completion via yaml-language-server)."""
    doc = Scenario.model_json_schema(mode="validation")
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "apisim scenario"
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@app.command()
def version() -> None:
    """Print the apisim version."""
    _console().print(__version__)


def main() -> None:
    """Entry point of the ``apisim`` script."""
    # Figures are only ever written to files from the command line. The variable, not matplotlib.use():
    # the same effect without importing matplotlib (0.1 s) in a command that draws nothing.
    os.environ["MPLBACKEND"] = "Agg"
    try:
        app(args=_many_values(sys.argv[1:]))
    except SystemExit as exc:
        # The process ends here: whatever the collector could still free no longer matters, and the
        # interpreter's last collection would walk every object Numba made (0.1 s of a compiled run).
        gc.freeze()
        if exc.code == ABORTED:
            # After a Ctrl-C a stopped worker pool's threads may still be closing their pipes; the
            # interpreter's shutdown would then print their errors under "Aborted". Output is
            # complete (what apisim wrote was cleaned up on the way out), so leave at once.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(ABORTED)
        raise


if __name__ == "__main__":
    main()
