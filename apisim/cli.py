"""The ``apisim`` command: run, validate and describe scenarios.

Exit codes: 0 ok, 2 bad input (a scenario problem, a run refused as too large, a bad option).
Errors are one paragraph per problem, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from apisim import __version__
from apisim.durations import to_seconds
from apisim.engine.simulation import RunTooLarge
from apisim.experiment import Result, simulate
from apisim.loading import ScenarioError, load
from apisim.output import to_json
from apisim.scenario import Scenario

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate API Gateway + Lambda designs: latency percentiles, 429s and the monthly bill.",
)
err = Console(stderr=True)


class UserError(Exception):
    """Bad input from the user: reported in one paragraph, exit code 2."""


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except (ScenarioError, RunTooLarge, UserError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


def _with_overrides(sc: Scenario, duration: str | None, warmup: str | None) -> Scenario:
    if duration is None and warmup is None:
        return sc
    sim = sc.simulation
    try:
        new_duration = to_seconds(duration) if duration is not None else sim.duration
        new_warmup = to_seconds(warmup) if warmup is not None else sim.warmup
    except ValueError as exc:
        raise UserError(f"--duration/--warmup: {exc}") from None
    if new_duration <= 0 or new_warmup >= new_duration:
        raise UserError(
            f"warmup ({new_warmup:g}s) must be shorter than duration ({new_duration:g}s); pass --warmup as well"
        )
    return sc.model_copy(update={"simulation": sim.model_copy(update={"duration": new_duration, "warmup": new_warmup})})


def _run_with_progress(sc: Scenario, seed: int | None, force: bool, records: bool | None, quiet: bool) -> Result:
    if quiet or not err.is_terminal:
        return simulate(sc, seed, force=force, records=records)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(sc.name, total=1.0)
        return simulate(sc, seed, force=force, records=records, progress=lambda done: bar.update(task, completed=done))


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML)")],
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout, nothing else")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="write summary.json, timeseries.csv, cost.csv, report.md, figures (requests.parquet with records)"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="override simulation.seed")] = None,
    duration: Annotated[str | None, typer.Option(help="override simulation.duration, e.g. 10m")] = None,
    warmup: Annotated[str | None, typer.Option(help="override simulation.warmup, e.g. 30s")] = None,
    force: Annotated[bool, typer.Option(help="run even if the run is estimated to be very large")] = False,
    records: Annotated[
        bool | None,
        typer.Option("--records/--no-records", help="keep one row per attempt (default: for runs up to 1M attempts)"),
    ] = None,
) -> None:
    """Simulate one scenario and show outcomes, latency, cold starts and the monthly cost."""
    with _user_errors():
        sc = _with_overrides(load(scenario), duration, warmup)
        result = _run_with_progress(sc, seed, force, records, quiet=json_out)
        if out is not None:
            result.write(out)
        if json_out:
            sys.stdout.write(to_json(result.summary) + "\n")
            return
        from apisim.tables import render_summary

        console = Console()
        render_summary(result, console)
        if out is not None:
            console.print(f"results written to [bold]{out}[/]")


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario files")],
) -> None:
    """Check scenario files against the schema; report every problem with file, line and field."""
    failed = 0
    for path in scenarios:
        try:
            sc = load(path)
        except ScenarioError as exc:
            failed += 1
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        else:
            Console().print(f"[green]ok[/] {path} ({sc.name})", highlight=False)
    if failed:
        raise typer.Exit(2)


@app.command()
def schema() -> None:
    """Print the scenario JSON Schema (for editor completion via yaml-language-server)."""
    doc = Scenario.model_json_schema(mode="validation")
    doc["properties"].pop("base_dir", None)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "apisim scenario"
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@app.command()
def version() -> None:
    """Print the apisim version."""
    Console().print(__version__)


def main() -> None:
    """Entry point of the ``apisim`` script."""
    app()


if __name__ == "__main__":
    main()
