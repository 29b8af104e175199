"""A run's summary and studies' tables as rich tables, for a person at a terminal.

A table never cuts a number or a header: text columns wrap, and a table too wide for the
terminal (80 columns, or piped) is shown vertically, one block of ``field  value`` per row.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from apisim.experiment import Result
from apisim.formats import half_width, is_half_width, number
from apisim.headline import basis_line, month_figures, plus_minus, websocket_rows, websocket_title

TEXT_MIN = 10
"""The narrowest a text column may wrap to before the table is shown vertically instead."""

WINNER = "★ "
"""Marks a highlighted row (a plan's winner), so it shows without colour too."""


def _plain(cell: str) -> str:
    return Text.from_markup(cell).plain


def show(
    console: Console,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    *,
    highlight: Collection[int] = (),
) -> None:
    """Print a table whose cells are rich markup (names already escaped); ``right``: the number columns.

    Number columns never wrap, so a number is never cut; text columns fold. When even folded
    text leaves too little room for the numbers, the table is printed vertically. Rows in
    ``highlight`` are bold and marked with :data:`WINNER`.
    """
    rows = [[(WINNER + c if i == 0 and n in highlight else c) for i, c in enumerate(r)] for n, r in enumerate(rows)]
    if highlight:
        rows = [[("  " + r[0] if n not in highlight else r[0]), *r[1:]] for n, r in enumerate(rows)]
    widths = []
    for i, (h, r) in enumerate(zip(headers, right, strict=True)):
        cells = [_plain(row[i]) for row in rows]
        if r:  # whole numbers and whole header words: these columns never shrink
            widths.append(max([len(c) for c in cells] + [len(w) for w in h.split()] + [1]))
        else:
            longest = max([len(w) for c in [h, *cells] for w in c.split()] + [1])
            widths.append(min(longest, TEXT_MIN))
    needed = sum(widths) + 3 * len(widths) + 1  # one space either side and a rule between columns
    if needed <= console.width:
        table = Table(title=escape(title), title_justify="left", min_width=min(console.width, len(title)))
        for h, r in zip(headers, right, strict=True):
            if r:  # a header too breaks only between its words: no_wrap keeps each of its lines whole
                table.add_column(escape("\n".join(h.split())), justify="right", no_wrap=True)
            else:
                table.add_column(escape(h), overflow="fold")
        for n, row in enumerate(rows):
            table.add_row(*row, style="bold" if n in highlight else None)
        console.print(table)
        return
    width = min(console.width, len(title))  # the title on one line when it fits
    vertical = Table(title=escape(title), title_justify="left", show_header=False, min_width=width)
    vertical.add_column("field", overflow="fold")
    vertical.add_column("value", overflow="fold")
    names = [escape(h.replace("\n", "")) for h in headers]  # one line each: a header's breaks were for columns
    for n, row in enumerate(rows):
        style = "bold" if n in highlight else None
        for i, name in enumerate(names):
            vertical.add_row(name, row[i], style=style, end_section=i == len(names) - 1)
    console.print(vertical)


HEADERS = {
    "cost_usd": "USD/month", "p50_ms": "p50 ms", "p99_ms": "p99 ms", "rate_429": "429 rate",
    "cold_start_ratio": "cold starts", "cache_hit_ratio": "cache hits", "settle_replications": "settle reps",
    "replications": "reps", "replication": "rep.",
}  # fmt: skip
"""Short headers for study columns at a terminal (files and JSON keep the column names)."""


def header(column: str) -> str:
    """A study column's terminal header: a short name, or a dotted path broken at its dots."""
    if column in HEADERS:
        return HEADERS[column]
    if len(column) <= 12:
        return column
    parts = [p.replace("_", "_\n") if len(p) > 12 else p for p in column.split(".")]
    return ".\n".join(parts)


def frame(
    console: Console, data: Any, title: str, columns: Sequence[str] | None = None, *, highlight: Collection[int] = ()
) -> None:
    """A study's DataFrame as a table: figures formatted by their names (ms, %, USD), their ``_ci95``
    half-widths rounded like their figure, names escaped."""
    cols = list(columns or data.columns)
    right = [data[c].dtype.kind in "fiu" for c in cols]
    rows = []
    for _, r in data.iterrows():
        cells = []
        for c in cols:
            base = c.removesuffix("_ci95").removesuffix("_pm")
            if is_half_width(c) and base in r:
                cells.append(half_width(base, r[base], r[c]))
            else:
                cells.append(number(c, r[c]))
        rows.append([escape(x) for x in cells])
    show(console, title, [header(c) for c in cols], rows, right, highlight=highlight)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _pct(value: float | None) -> str:
    return number("rate_429", value)


def render_summary(result: Result, console: Console) -> None:
    """Outcomes, latency, functions and cost, one table each (vertical when too wide for the terminal)."""
    s = result.summary
    req = s["requests"]
    console.print(
        f"[bold]{escape(s['scenario'])}[/]  seed {s['seed']}  ·  {req['offered']:,} attempts "
        f"({req['offered_per_second']:,.1f}/s)  ·  {s.get('engine', 'python')} engine",
        highlight=False,
    )
    console.print(escape(basis_line(s)), highlight=False)
    if s.get("month"):
        # Lines break between figures, never inside one (a value and its ± stay together).
        parts = [(f"{label} [bold]{escape(text)}[/]", len(f"{label} {text}")) for label, text in month_figures(s)]
        parts.append(("(95% CI)", 8))
        line, used = "", 0
        for markup, width in parts:
            if line and used + 5 + width > console.width:
                console.print(line, highlight=False, soft_wrap=True)
                line, used = "", 0
            line, used = (f"{line}  ·  {markup}", used + 5 + width) if line else (markup, width)
        console.print(line, highlight=False, soft_wrap=True)
    for warning in s.get("warnings", []):
        console.print(f"[yellow]warning: {escape(warning)}[/]", highlight=False)
    total = req["offered"] or 1
    outcomes = [[escape(name), f"{n:,}", _pct(n / total)] for name, n in req["by_outcome"].items() if n]
    outcomes.append(["[bold]429 rate[/]", "", _pct(s["rate_429"])])
    client = s["client"]
    if client["attempts_per_request"] and client["attempts_per_request"] > 1:
        outcomes.append(["[bold]success after retries[/]", "", _pct(client["success_ratio"])])

    keys = ["mean", "p50", "p90", "p95", "p99", "p999", "max"]
    latency = [
        [label, *(_fmt(block[k]) for k in keys)]
        for label, block in (("all answered", s["latency_ms"]), ("successful", s["latency_ok_ms"]),
                             ("client (retries)", client["latency_ms"]))
    ]  # fmt: skip

    functions = [
        [
            escape(name), f"{f['invocations']:,}", f"{f['cold_starts']:,}", _pct(f["cold_start_ratio"]),
            f"{f['throttles']:,}", _fmt(f["mean_concurrency"], 2), f"{f['max_concurrency']:,}",
            _fmt(f["mean_instances"], 1), _fmt(f["billed_gb_seconds"], 1),
        ]
        for name, f in s["functions"].items()
    ]  # fmt: skip
    cache, auth = s["cache"], s["authorizer"]
    extras = []
    if cache["hits"] + cache["misses"]:
        extras.append(f"cache hit ratio {_pct(cache['hit_ratio'])}")
    if auth["lookups"]:
        extras.append(f"authorizer cache hit ratio {_pct(auth['cache_hit_ratio'])} ({auth['calls']:,} calls)")

    cost = [
        [
            escape(str(r["resource"])),
            escape(str(r["component"])),
            f"{r['quantity']:,.0f}",
            escape(str(r["unit"])),
            f"{r['usd']:,.2f}",
        ]
        for r in result.cost_rows
    ]
    pm = plus_minus(s, "cost_total")
    bill = f"{s['cost_monthly_usd']['total']:,.2f}" + ("" if math.isnan(pm) else f" ± {pm:,.2f}")
    cost.append(["[bold]total[/]", "", "", "", f"[bold]{bill}[/]"])

    stages = [(api, name, st) for api, block in s["apis"].items() for name, st in block["stages"].items()]
    apis = [
        [
            escape(api), escape(name), f"{st['requests']['offered']:,}", _pct(st["rate_429"]),
            _fmt(st["latency_ms"]["p50"]), _fmt(st["latency_ms"]["p99"]), _pct(st["cache"]["hit_ratio"]),
        ]
        for api, name, st in stages
    ]  # fmt: skip

    show(console, "Outcomes (per attempt)", ["outcome", "count", "share"], outcomes, [False, True, True])
    show(console, "Latency (ms)", ["", *keys], latency, [False] + [True] * len(keys))
    if len(stages) > 1:
        show(console, "APIs and stages (one account)", ["API", "stage", "attempts", "429 rate", "p50 ms", "p99 ms",
             "cache hits"], apis, [False, False, True, True, True, True, True])  # fmt: skip
    if s["functions"]:
        headers = ["function", "calls", "cold", "cold %", "thrott.", "conc.", "max", "inst.", "GB-s"]
        title = "Functions (calls: invocations; conc., max: mean and max concurrency; inst.: mean instances)"
        show(console, title, headers, functions,
             [False] + [True] * 8)  # fmt: skip
    if extras:
        console.print("  ·  ".join(extras), highlight=False)
    for api, rows in websocket_rows(s).items():
        show(console, escape(websocket_title(s, api)), ["", "value"], [[escape(a), b] for a, b in rows], [False, True])
    show(
        console, f"Monthly cost by resource (USD, prices of {s['prices_retrieved']})",
        ["resource", "component", "quantity/month", "unit", "USD"], cost, [False, False, True, False, True],
    )  # fmt: skip
