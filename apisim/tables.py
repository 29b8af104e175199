"""A run's summary as rich tables, for a person at a terminal."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apisim.experiment import Result
from apisim.headline import basis_line, month_figures, plus_minus


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def render_summary(result: Result, console: Console) -> None:
    """Outcomes, latency, functions and cost, one table each."""
    s = result.summary
    req = s["requests"]
    console.print(
        f"[bold]{escape(s['scenario'])}[/]  seed {s['seed']}  ·  {req['offered']:,} attempts "
        f"({req['offered_per_second']:,.1f}/s)",
        highlight=False,
    )
    console.print(escape(basis_line(s)), highlight=False)
    if s.get("month"):
        figures = "  ·  ".join(f"{label} [bold]{escape(text)}[/]" for label, text in month_figures(s))
        console.print(figures + "  (95% CI)", highlight=False)
    for warning in s.get("warnings", []):
        console.print(f"[yellow]warning: {escape(warning)}[/]", highlight=False)
    outcomes = Table(title="Outcomes (per attempt)", title_justify="left")
    outcomes.add_column("outcome")
    outcomes.add_column("count", justify="right")
    outcomes.add_column("share", justify="right")
    total = req["offered"] or 1
    for name, n in req["by_outcome"].items():
        if n:
            outcomes.add_row(escape(name), f"{n:,}", f"{n / total:.2%}")
    outcomes.add_row("[bold]429 rate[/]", "", _pct(s["rate_429"]))
    client = s["client"]
    if client["attempts_per_request"] and client["attempts_per_request"] > 1:
        outcomes.add_row("[bold]success after retries[/]", "", _pct(client["success_ratio"]))

    latency = Table(title="Latency (ms)", title_justify="left")
    latency.add_column("")
    keys = ["mean", "p50", "p90", "p95", "p99", "p999", "max"]
    for k in keys:
        latency.add_column(k, justify="right")
    latency.add_row("all answered", *(_fmt(s["latency_ms"][k]) for k in keys))
    latency.add_row("successful", *(_fmt(s["latency_ok_ms"][k]) for k in keys))
    latency.add_row("client (with retries)", *(_fmt(client["latency_ms"][k]) for k in keys))

    functions = Table(title="Functions", title_justify="left")
    for col in (
        "function",
        "invocations",
        "cold starts",
        "throttles",
        "mean conc.",
        "max conc.",
        "mean instances",
        "GB-s",
    ):
        functions.add_column(col, justify="left" if col == "function" else "right")
    for name, f in s["functions"].items():
        functions.add_row(
            escape(name),
            f"{f['invocations']:,}",
            f"{f['cold_starts']:,} ({_pct(f['cold_start_ratio'])})",
            f"{f['throttles']:,}",
            _fmt(f["mean_concurrency"], 2),
            f"{f['max_concurrency']:,}",
            _fmt(f["mean_instances"], 1),
            _fmt(f["billed_gb_seconds"], 1),
        )
    cache, auth = s["cache"], s["authorizer"]
    extras = []
    if cache["hits"] + cache["misses"]:
        extras.append(f"cache hit ratio {_pct(cache['hit_ratio'])}")
    if auth["lookups"]:
        extras.append(f"authorizer cache hit ratio {_pct(auth['cache_hit_ratio'])} ({auth['calls']:,} calls)")

    cost = Table(title=f"Monthly cost by resource (USD, prices of {s['prices_retrieved']})", title_justify="left")
    cost.add_column("resource", overflow="fold")
    cost.add_column("component")
    cost.add_column("quantity / month", justify="right")
    cost.add_column("unit")
    cost.add_column("USD", justify="right")
    for r in result.cost.itertuples():
        names = (escape(str(r.resource)), escape(str(r.component)))
        cost.add_row(*names, f"{r.quantity:,.0f}", escape(str(r.unit)), f"{r.usd:,.2f}")
    pm = plus_minus(s, "cost_total")
    total = f"{s['cost_monthly_usd']['total']:,.2f}" + ("" if math.isnan(pm) else f" ± {pm:,.2f}")
    cost.add_row("[bold]total[/]", "", "", "", f"[bold]{total}[/]")

    stages = [(api, name, st) for api, block in s["apis"].items() for name, st in block["stages"].items()]
    apis = None
    if len(stages) > 1:
        apis = Table(title="APIs and stages (one account)", title_justify="left")
        for col in ("API", "stage", "attempts", "429 rate", "p50 ms", "p99 ms", "cache hit ratio"):
            apis.add_column(col, justify="left" if col in ("API", "stage") else "right")
        for api, name, st in stages:
            lat = st["latency_ms"]
            apis.add_row(
                escape(api), escape(name), f"{st['requests']['offered']:,}", _pct(st["rate_429"]),
                _fmt(lat["p50"]), _fmt(lat["p99"]), _pct(st["cache"]["hit_ratio"]),
            )  # fmt: skip

    console.print(outcomes, latency)
    if apis is not None:
        console.print(apis)
    if s["functions"]:
        console.print(functions)
    if extras:
        console.print("  ·  ".join(extras), highlight=False)
    console.print(cost)
