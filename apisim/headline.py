"""The headline figures: what people compare designs on, flat, from one run's summary.

Every study reports these per run (plus ``cost.<item>`` per line item); SLOs are judged on them.
"""

from __future__ import annotations

import math
from typing import Any

HEADLINE = (
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "mean_ms", "rate_429", "error_rate",
    "cold_start_ratio", "cache_hit_ratio", "cost_usd",
)  # fmt: skip
"""The figures every study reports per run (plus ``cost.<item>`` per line item)."""


def headline(summary: dict[str, Any]) -> dict[str, float]:
    """The figures people compare designs on, flat, from one run's summary (NaN where not applicable)."""
    s = summary
    out: dict[str, float] = {}
    lat = s["latency_ms"]
    for key in ("p50", "p90", "p95", "p99", "p999", "mean"):
        out[f"{key}_ms"] = math.nan if lat[key] is None else float(lat[key])
    out["rate_429"] = _nan(s["rate_429"])
    out["error_rate"] = _nan(s["error_rate"])
    invocations = sum(f["invocations"] for f in s["functions"].values())
    colds = sum(f["cold_starts"] for f in s["functions"].values())
    out["cold_start_ratio"] = colds / invocations if invocations else math.nan
    out["cache_hit_ratio"] = _nan(s["cache"]["hit_ratio"])
    out["cost_usd"] = float(s["cost_monthly_usd"]["total"])
    for item, usd in s["cost_monthly_usd"]["items"].items():
        out[f"cost.{item}"] = float(usd)
    for key, figure in PLUS_MINUS.items():
        out[f"{key}_pm"] = plus_minus(s, figure)
    return out


PLUS_MINUS = {
    "cost_usd": "cost_total",
    "rate_429": "rate_429",
    "p99_ms": "p99_ms",
    "cold_start_ratio": "cold_start_ratio",
}
"""Headline figures that carry a 95% half-width (``<key>_pm``) under the month basis: their key in
the summary's ``month.ci95``."""


def plus_minus(summary: dict[str, Any], figure: str) -> float:
    """The 95% half-width of a month figure from its windows (NaN when there is none: the window
    basis, the exact month, which is one random month without an interval, or nothing measured)."""
    month = summary.get("month")
    ci = month["ci95"].get(figure) if month else None
    return math.nan if ci is None else float(ci["plus_minus"])


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and abs(seconds / size - round(seconds / size)) < 0.05:
            return f"{round(seconds / size)}{unit}"
    return f"{seconds:,.4g}s"


def basis_line(summary: dict[str, Any]) -> str:
    """What the figures rest on, in one sentence (the terminal's and the report's)."""
    s = summary
    month = s.get("month")
    if not month:
        return (
            f"basis: window · {_duration(s['simulated_seconds'])} simulated after {_duration(s['warmup_seconds'])} "
            f"warm-up, counts scaled ×{s['month_scale']:,.1f} to the month"
        )
    days = f"{month['days']:g} days from {month['start']}"
    if month["method"] == "exact":
        how = f"every request simulated (after {_duration(month['window_warmup_seconds'])} warm-up)"
    else:
        strata = f"{month['strata']} {'stratum' if month['strata'] == 1 else 'strata'}"
        asked = month.get("windows_asked", month["windows"])
        more = (
            f" ({asked} asked: each kind of slice, by load, quota state and swing, needs two)"
            if asked < month["windows"]
            else ""
        )
        how = (
            f"estimated from {month['windows']} windows{more} of {_duration(month['window_seconds'])} in "
            f"{strata}, each after {_duration(month['window_warmup_seconds'])} warm-up "
            f"({month['warmup_reason']})"
        )
    return f"basis: month · {days} · {how}"


def with_pm(value: float | None, pm: float, kind: str) -> str:
    """A figure with its ± (``kind``: usd, pct or ms)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = {"usd": f"${value:,.2f}", "pct": f"{value:.2%}", "ms": f"{value:,.1f} ms"}[kind]
    if math.isnan(pm):
        return text
    tail = {"usd": f"${pm:,.2f}", "pct": f"{pm:.2%}", "ms": f"{pm:,.1f} ms"}[kind]
    return f"{text} ± {tail}"


def month_figures(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The month's figures with their 95% ± (label, text), for the terminal and the report."""
    h = headline(summary)
    return [
        ("monthly bill", with_pm(h["cost_usd"], h["cost_usd_pm"], "usd")),
        ("429 rate", with_pm(h["rate_429"], h["rate_429_pm"], "pct")),
        ("p99", with_pm(h["p99_ms"], h["p99_ms_pm"], "ms")),
        ("cold-start ratio", with_pm(h["cold_start_ratio"], h["cold_start_ratio_pm"], "pct")),
    ]


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def websocket_title(summary: dict[str, Any], api: str) -> str:
    """The caption of a WebSocket API's figures: whose counts they are (the month's, or the window's)."""
    whose = "the month's counts" if summary.get("month") else "counts in the simulated window; the bill scales them"
    return f"WebSocket API {api} ({whose})"


def websocket_rows(summary: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Each WebSocket API's figures as (figure, value) rows, by API: what the terminal and the
    report show (the summary's ``apis.NAME.websocket`` block, read for a person)."""
    out = {}
    for api, block in summary["apis"].items():
        w = block.get("websocket")
        if w is None:
            continue
        c, m, closes, meter = w["connections"], w["messages"], w["closes"], w["metering"]
        lat = w["message_latency_ms"]
        refused = ", ".join(f"{n:,} × {code}" for code, n in c["refused_by_status"].items()) or "none"
        rows = [
            ["connections open (mean / peak)", f"{_n(c['mean_open'], 1)} / {c['peak_open']:,}"],
            ["connections opened (ConnectCount)", f"{c['opened']:,} ({w['connect_count']:,})"],
            ["$connect refused", refused],
            ["connection minutes", _n(c["connection_minutes"], 0)],
            ["messages in / pings / out (MessageCount)", f"{m['in']:,} / {m['pings']:,} / {m['out']:,} "
             f"({w['message_count']:,})"],
            ["billed message units (32 KB)", f"{m['units']:,}"],
            ["closes: client / idle / max duration / 1009", " / ".join(f"{closes[k]:,}" for k in
             ("client", "idle", "max_duration", "1009"))],
            ["pushes to stale ids (410) / throttled", f"{w['pushes']['gone_410']:,} / {w['pushes']['throttled']:,}"],
            ["$disconnect run / lost", f"{w['disconnects']['run']:,} / {w['disconnects']['lost']:,}"],
            ["message latency p50 / p99 (ms)", f"{_n(lat['p50'], 1)} / {_n(lat['p99'], 1)}"],
        ]  # fmt: skip
        for route, r in w["routes"].items():
            if r["invocations"]:
                rows.append([f"route {route}: invocations (cold)", f"{r['invocations']:,} ({r['cold_starts']:,})"])
        other = "per_connection" if meter["connection_minutes"] == "exact" else "exact"
        rows.append([
            f"billing choice: minutes {meter['connection_minutes']} (else {other})",
            f"{_n(meter['connection_minutes_' + meter['connection_minutes']], 0)} "
            f"(else {_n(meter['connection_minutes_' + other], 0)})",
        ])  # fmt: skip
        counted = "counted" if meter["connect_disconnect"] else "not counted"
        rows.append([f"billing choice: $connect/$disconnect messages {counted}",
                     f"{meter['connect_disconnect_messages']:,} messages"])  # fmt: skip
        out[api] = rows
    return out


def _n(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"
