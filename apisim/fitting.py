"""Measured behaviour → the scenario that reproduces it, every value with what it rests on.

From :class:`apisim.logs.Observations`: each value is fitted by a stated method, with its sample
size and a goodness-of-fit statistic, and written as an ordinary scenario file whose comments say
so (:func:`scenario_text`). What the data cannot say keeps apisim's default, and the comment says
that too.

- **Arrivals**: a Poisson rate (n / span, its standard error √n / span), tested by the index of
  dispersion of counts per bucket (χ² with k − 1 degrees of freedom); when that rejects Poisson at
  0.1% over two hours or more, an hourly ``points`` profile (daily when the data span a day).
- **Durations** (warm run time, cold start, gateway overhead): a lognormal fitted by maximum
  likelihood on the logarithms, written as median and p99, unless the Kolmogorov–Smirnov test
  rejects it at 1% (its p-value is optimistic: the parameters come from the same data), then the
  empirical distribution (at most :data:`MAX_EMPIRICAL_VALUES` quantiles).
- **Idle expiry**: current-status data. Each idle period of an execution environment (one log
  stream, or one instance id) is either ended by a reuse (the environment was alive after that gap)
  or by the first cold start after the environment's last use (it had expired by then: Lambda
  starts a new one only when none is idle). The distribution of the expiry time is the
  nonparametric maximum-likelihood estimate for such data (pool-adjacent-violators), written as a
  uniform distribution over its bulk (from the longest reuse gap below its 10% point to its 90%
  point); when every reuse gap is shorter than every expiry gap, between the longest reuse and the
  shortest expiry (consistent with every observation).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apisim.logs import Observations

MAX_EMPIRICAL_VALUES = 200
"""An empirical distribution keeps at most this many evenly spaced quantiles of the sample."""

KS_ALPHA = 0.01
DISPERSION_ALPHA = 0.001
Z99 = 2.3263478740408408  # the standard normal's 99th percentile


@dataclass
class Fit:
    """A fitted value, as the scenario file writes it, and the words saying what it rests on."""

    value: Any
    note: str


@dataclass
class Fitted:
    """Everything fitted: by scenario key, with notes; and what could not be fitted, said."""

    name: str
    api_type: str
    arrival: Fit | None = None
    routes: dict[str, Fit] = field(default_factory=dict)
    functions: dict[str, dict[str, Fit]] = field(default_factory=dict)
    overhead: Fit | None = None
    response_bytes: Fit | None = None
    notes: list[str] = field(default_factory=list)  # what the file's header says
    diagnostics: dict[str, Any] = field(default_factory=dict)  # the data behind each fit, for plots and tests


# ----------------------------------------------------------------------------------------------
# Distributions
# ----------------------------------------------------------------------------------------------


def _ms(x: float) -> float:
    """Milliseconds, to a precision a scenario file reads well (four significant digits)."""
    return float(f"{x:.4g}")


def fit_duration(values_ms: np.ndarray, what: str) -> Fit:
    """A duration distribution (ms) for the scenario: lognormal (median, p99) unless KS rejects it."""
    from scipy import stats

    x = np.asarray(values_ms, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    n = len(x)
    if n == 0:
        raise ValueError(f"no {what} to fit")
    if n == 1 or np.ptp(x) == 0:
        return Fit(_ms(float(x[0])), f"{what}: constant, {n:,} value(s)")
    logs = np.log(x)
    mu, sigma = float(logs.mean()), float(logs.std(ddof=1))
    ks = stats.kstest(logs, "norm", args=(mu, sigma))
    median, p99 = math.exp(mu), math.exp(mu + Z99 * sigma)
    if ks.pvalue >= KS_ALPHA or n < 20:
        note = (f"{what}: lognormal by maximum likelihood over {n:,} values (KS D = {ks.statistic:.3f}, "
                f"p = {ks.pvalue:.2g}; parameters from the same data)")  # fmt: skip
        return Fit({"dist": "lognormal", "median": _ms(median), "p99": _ms(p99)}, note)
    qs = np.quantile(x, np.linspace(0, 1, min(n, MAX_EMPIRICAL_VALUES)))
    note = (f"{what}: empirical, {len(qs):,} quantiles of {n:,} values (a lognormal is rejected: KS D = "
            f"{ks.statistic:.3f}, p = {ks.pvalue:.2g}; median {median:.4g}, p99 {p99:.4g} ms)")  # fmt: skip
    return Fit({"dist": "empirical", "values": [_ms(v) for v in qs.tolist()]}, note)


# ----------------------------------------------------------------------------------------------
# Arrivals
# ----------------------------------------------------------------------------------------------


def fit_arrivals(times: np.ndarray) -> tuple[Fit, dict[str, Any]]:
    """A Poisson rate, or an hourly profile when the counts are far from Poisson (see the module)."""
    from scipy import stats

    t = np.sort(np.asarray(times, dtype=float))
    n = len(t)
    span = float(t[-1] - t[0]) if n > 1 else 0.0
    if n < 2 or span <= 0:
        raise ValueError("at least two requests at different times are needed to fit an arrival rate")
    rate = n / span
    diag: dict[str, Any] = {"n": n, "span_s": span, "rate": rate, "first": float(t[0])}
    width = max(60.0, 5.0 / rate)  # buckets expecting five or more arrivals each
    k = int(span // width)
    note = f"arrivals: Poisson, {n:,} requests over {span:,.0f} s = {rate:.6g}/s (± {math.sqrt(n) / span:.2g})"
    if k >= 10:
        counts = np.bincount(((t - t[0]) // width).astype(int).clip(0, k - 1), minlength=k)[:k]
        mean = counts.mean()
        d = float(counts.var(ddof=1) / mean) if mean > 0 else 1.0
        p = float(stats.chi2.sf((k - 1) * d, k - 1))
        diag.update(bucket_s=width, counts=counts, dispersion=d, dispersion_p=p)
        note += f"; index of dispersion {d:.2f} over {k} buckets of {width:,.0f} s (χ² p = {p:.2g})"
        if p < DISPERSION_ALPHA and span >= 7200:
            return _hourly(t, span, note), diag
    else:
        note += "; too few buckets to test whether the counts are Poisson"
    return Fit({"process": "poisson", "rate": float(f"{rate:.6g}")}, note), diag


def _hourly(t: np.ndarray, span: float, note: str) -> Fit:
    """An hourly points profile (by hour of day when the data span a day or more)."""
    hours = np.floor(t / 3600.0)
    if span >= 86400:
        of_day = (hours % 24).astype(int)
        days = span / 86400.0
        rates = np.bincount(of_day, minlength=24) / (days * 3600.0)
        points = [[f"{h}h", float(f"{r:.6g}")] for h, r in enumerate(rates.tolist())]
        return Fit({"process": "poisson", "profile": {"type": "points", "repeat": "daily", "points": points}},
                   note + "; not Poisson at one rate: the mean rate of each hour of the day")  # fmt: skip
    first = hours.min()
    per = np.bincount((hours - first).astype(int)) / 3600.0
    points = [[f"{i}h", float(f"{r:.6g}")] for i, r in enumerate(per.tolist())]
    return Fit({"process": "poisson", "profile": {"type": "points", "points": points}},
               note + "; not Poisson at one rate: each hour's rate, from the first request")  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Idle expiry
# ----------------------------------------------------------------------------------------------


def idle_periods(invocations: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Current-status data for the idle expiry: (gap in seconds, alive after it) per idle period.

    A reuse after a gap: alive (True). An environment's last idle period, ended by the first cold
    start after it: expired by then (False). Needs each invocation's instance, start and end.
    """
    rows = [r for r in invocations if r.get("instance") and r.get("t") is not None]
    for r in rows:
        if r.get("end") is None:
            r["end"] = r["t"] + ((r.get("duration_ms") or 0.0) + (r.get("init_ms") or 0.0)) / 1000.0
    rows.sort(key=lambda r: r["t"])
    colds = np.array([r["t"] for r in rows if r.get("cold")])
    last: dict[str, float] = {}
    gaps, alive = [], []
    for r in rows:
        inst = r["instance"]
        if inst in last and not r.get("cold"):
            gaps.append(r["t"] - last[inst])
            alive.append(True)
        last[inst] = max(last.get(inst, -math.inf), r["end"])
    # Each environment's final idle period: expired by the first cold start after its last use.
    for inst, end in last.items():
        later = colds[colds > end]
        if later.size:
            gaps.append(float(later[0] - end))
            alive.append(False)
        del inst
    return np.array(gaps, dtype=float), np.array(alive, dtype=bool)


def _pava(gaps: np.ndarray, expired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The NPMLE of F(g) = P(expiry ≤ g) for current-status data: the isotonic regression of the
    expired indicators on the gaps (pool-adjacent-violators)."""
    order = np.argsort(gaps, kind="stable")
    g, y = gaps[order], expired[order].astype(float)
    blocks: list[list[float]] = []  # [sum, count]
    for v in y:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    f = np.concatenate([np.full(int(c), s / c) for s, c in blocks])
    return g, f


def fit_idle_expiry(gaps: np.ndarray, alive: np.ndarray) -> Fit | None:
    """A uniform idle expiry consistent with the idle periods (see the module's docstring)."""
    if gaps.size == 0 or alive.all() or not alive.any():
        return None
    longest_alive = float(gaps[alive].max())
    shortest_expired = float(gaps[~alive].min())
    n_alive, n_expired = int(alive.sum()), int((~alive).sum())
    if longest_alive < shortest_expired:
        low, high = longest_alive, shortest_expired
        how = (f"every one of {n_alive:,} reuses came after a shorter gap than any of {n_expired:,} expiries: "
               "between the longest reuse gap and the shortest expiry gap")  # fmt: skip
    else:
        g, f = _pava(gaps, ~alive)
        # The estimate only moves at expiry gaps: its q-point x_q says the expiry is in (the longest
        # reuse gap below x_q, x_q]. The bulk between the 10% and 90% points is the distribution;
        # mass below 10% comes from cold starts that found an environment alive, which Lambda does
        # now and then and apisim does not model (said in the note).
        lo_q = float(g[min(int(np.searchsorted(f, 0.10)), len(g) - 1)])
        high = float(g[min(int(np.searchsorted(f, 0.90)), len(g) - 1)])
        below = gaps[alive & (gaps < lo_q)]
        low = float(below.max()) if below.size else lo_q
        early = float(f[g < low].max()) if (g < low).any() else 0.0
        how = (f"{n_alive:,} reuses and {n_expired:,} expiries overlap: between the 10% and 90% points of the "
               "nonparametric estimate for current-status data (pool-adjacent-violators), from the longest "
               f"reuse gap below the first; {early:.1%} of the estimate lies below it (cold starts that "
               "found an environment alive: not modelled)")  # fmt: skip
    if high <= low:
        high = low + 1.0
    return Fit({"dist": "uniform", "low": f"{low:.1f}s", "high": f"{high:.1f}s"}, f"idle expiry: {how}")


# ----------------------------------------------------------------------------------------------
# The whole fit
# ----------------------------------------------------------------------------------------------


def _route_name(route: str | None) -> str:
    """A route as the scenario names it: METHOD /path (an HTTP API's ``$default`` is ``ANY /``)."""
    if not route or route == "$default":
        return "ANY /"
    method, _, path = route.partition(" ")
    if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY") and path.startswith("/"):
        return f"{method.upper()} {path}"
    return "ANY /"


def fit(obs: Observations, *, name: str = "fitted", api_type: str = "http") -> Fitted:
    """Fit a scenario to what was read. Raises ``ValueError`` (for a person) when nothing can be."""
    out = Fitted(name=name, api_type=api_type)
    req = obs.requests
    inv = obs.invocations
    times = np.array([r["t"] for r in req if r.get("t") is not None], dtype=float)
    if times.size < 2:
        times = np.array([r["t"] for r in inv if r.get("t") is not None], dtype=float)
    count = obs.metrics.get("Count")
    if times.size >= 2:
        out.arrival, out.diagnostics["arrivals"] = fit_arrivals(times)
    elif count:
        per_minute = np.array([v for _, v in count])
        stamps = np.array([t for t, _ in count])
        step = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 60.0
        rate = float(per_minute.sum() / (len(per_minute) * step))
        out.arrival = Fit({"process": "poisson", "rate": float(f"{rate:.6g}")},
                          f"arrivals: Poisson, CloudWatch Count: {per_minute.sum():,.0f} requests in "
                          f"{len(per_minute)} periods of {step:g} s")  # fmt: skip
    else:
        raise ValueError("no request times in the input: give access logs, REPORT lines with timestamps, "
                         "a table with a start column, or CloudWatch Count")  # fmt: skip

    routes = Counter(_route_name(r.get("route")) for r in req) if req else Counter({"ANY /": max(1, len(times))})
    total = sum(routes.values())
    for route, n in sorted(routes.items()):
        out.routes[route] = Fit(n / total, f"{n:,} of {total:,} requests")

    by_function: dict[str, list[dict[str, Any]]] = {}
    for r in inv:
        by_function.setdefault(r.get("function") or "function", []).append(r)
    if not by_function:
        by_function["function"] = []
        out.notes.append("no Lambda REPORT lines or durations: the function's run time is a placeholder")
    for fname, rows in sorted(by_function.items()):
        f: dict[str, Fit] = {}
        warm = np.array([r["duration_ms"] for r in rows if not r.get("cold") and r.get("duration_ms") is not None])
        if warm.size == 0:
            warm = np.array([r["duration_ms"] for r in rows if r.get("duration_ms") is not None])
        seen = out.diagnostics.setdefault("durations", {}).setdefault(fname, {})
        if warm.size:
            seen["duration_ms"] = warm
            f["duration_ms"] = fit_duration(warm, "warm run time (Duration)")
            longest = max((r.get("duration_ms") or 0.0) + (r.get("init_ms") or 0.0) for r in rows) / 1000.0
            if longest > 3.0:
                f["timeout"] = Fit(f"{math.ceil(longest)}s", "timeout: the longest invocation seen, rounded up "
                                   "(the logs do not say the function's timeout)")  # fmt: skip
        else:
            f["duration_ms"] = Fit(100, "PLACEHOLDER: no durations in the input; set the handler's run time")
        inits = np.array([r["init_ms"] for r in rows if r.get("cold") and r.get("init_ms") is not None])
        cold_n = sum(1 for r in rows if r.get("cold"))
        if inits.size:
            seen["cold_start_ms"] = inits
            f["cold_start_ms"] = fit_duration(inits, "cold start (Init Duration)")
        elif cold_n and req and any(r.get("latency_ms") is not None for r in req):
            extra = _cold_extra(obs)
            if extra is not None and extra.size:
                seen["cold_start_ms"] = extra
                f["cold_start_ms"] = fit_duration(extra, "cold start (a cold request's latency minus the warm median)")
        memory = Counter(int(r["memory_mb"]) for r in rows if r.get("memory_mb"))
        if memory:
            mb, seen = memory.most_common(1)[0]
            f["memory_mb"] = Fit(mb, f"Memory Size of {seen:,} of {len(rows):,} invocations")
        gaps, alive = idle_periods(rows)
        expiry = fit_idle_expiry(gaps, alive)
        out.diagnostics.setdefault("idle", {})[fname] = (gaps, alive)
        if expiry is not None:
            f["idle_expiry"] = expiry
        elif rows:
            out.notes.append(f"{fname}: idle expiry not fitted (no instance ids with both reuses and expiries): "
                             "apisim's estimate stands")  # fmt: skip
        if rows:
            out.diagnostics.setdefault("cold", {})[fname] = (cold_n, len(rows))
        out.functions[fname] = f

    overhead = [r["latency_ms"] - r["integration_ms"] for r in req
                if r.get("latency_ms") is not None and r.get("integration_ms") is not None]  # fmt: skip
    if overhead:
        x = np.array(overhead)
        out.overhead = fit_duration(x[x > 0], "gateway overhead (responseLatency − integrationLatency)")
    statuses = Counter(r["status"] for r in req if r.get("status") is not None)
    if statuses:
        answered = sum(statuses.values())
        errors = sum(n for s, n in statuses.items() if s >= 500)
        thr = statuses.get(429, 0)
        out.diagnostics["statuses"] = dict(statuses)
        if errors and len(out.functions) == 1:
            fname = next(iter(out.functions))
            out.functions[fname]["error_fraction"] = Fit(
                float(f"{errors / answered:.4g}"), f"{errors:,} of {answered:,} answers were 5xx"
            )
        if thr:
            out.notes.append(f"{thr:,} of {answered:,} answers were 429: throttles emerge from the design's "
                             "limits when simulated; they are not fitted")  # fmt: skip
    sizes = [r["response_bytes"] for r in req if r.get("response_bytes") is not None and r.get("status") == 200]
    if sizes:
        out.response_bytes = Fit(round(float(np.mean(sizes))), f"mean responseLength of {len(sizes):,} 200 answers")
    keys = {r["api_key"] for r in req if r.get("api_key")}
    if keys:
        out.notes.append(f"{len(keys):,} API keys seen: give the client api_keys: {len(keys)} and its usage_plan "
                         "(a REST API's) to simulate their buckets and quotas")  # fmt: skip
    if obs.skipped:
        out.notes.append(f"{len(obs.skipped):,} input lines could not be read (listed on stderr)")
    return out


def _cold_extra(obs: Observations) -> np.ndarray | None:
    """A cold request's latency beyond the warm median, where requests and invocations pair up by time."""
    pairs = [(r.get("latency_ms"), i.get("cold")) for r, i in zip(obs.requests, obs.invocations, strict=False)]
    warm = [lat for lat, cold in pairs if lat is not None and cold is False]
    cold = [lat for lat, cold in pairs if lat is not None and cold]
    if not warm or not cold:
        return None
    return np.array(cold) - float(np.median(warm))


# ----------------------------------------------------------------------------------------------
# The scenario file
# ----------------------------------------------------------------------------------------------


def _flow(value: Any) -> str:
    """A value in YAML flow style, on one line."""
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False).strip().removesuffix("...").strip()
    )


def scenario_text(f: Fitted, sources: list[str]) -> str:
    """The fitted scenario as a commented YAML file (every fitted value says what it rests on)."""
    lines = ["# Fitted by `apisim fit` from:"]
    lines += [f"#   {s}" for s in sources]
    for note in f.notes:
        lines.append(f"# Note: {note}")
    lines += ["# Every value below says what it was fitted from; the rest are apisim's defaults.", ""]
    lines += [f"name: {f.name}", "simulation: {duration: 1h, warmup: 10m}", "api:", f"  type: {f.api_type}"]
    if f.overhead is not None:
        lines.append(f"  overhead_ms: {_flow(f.overhead.value)}   # {f.overhead.note}")
    lines.append("  routes:")
    first = next(iter(f.functions))
    if len(f.functions) > 1:
        lines.append(f"    # the logs do not say which function a route invokes: every route invokes {first}; edit")
    for route in f.routes:
        lines += [f"    - route: {route}", f"      integration: {{type: lambda, function: {first}}}"]
    lines.append("functions:")
    for fname, fits in f.functions.items():
        lines.append(f"  {fname}:")
        for key in ("memory_mb", "duration_ms", "cold_start_ms", "idle_expiry", "timeout", "error_fraction"):
            if key in fits:
                lines.append(f"    {key}: {_flow(fits[key].value)}   # {fits[key].note}")
    lines += ["clients:", "  - name: observed"]
    assert f.arrival is not None
    lines.append(f"    arrival: {_flow(f.arrival.value)}")
    lines.append(f"    # {f.arrival.note}")
    if len(f.routes) > 1:
        shares = {r: fit.value for r, fit in f.routes.items()}  # unrounded: they add up to 1
        lines.append(f"    routes: {_flow(shares)}   # " + "; ".join(f"{r}: {fit.note}" for r, fit in f.routes.items()))
    if f.response_bytes is not None:
        lines.append(f"    response_bytes: {f.response_bytes.value}   # {f.response_bytes.note}")
    return "\n".join(lines) + "\n"


@dataclass
class FitResult:
    """What :func:`fit_files` gives: the scenario, its file's text, the fits behind it, what was read."""

    scenario: Any  # apisim.Scenario
    text: str
    fitted: Fitted
    observations: Observations


def fit_files(
    *,
    access_logs: list[Any] | None = None,
    access_format: str | None = None,
    report_logs: list[Any] | None = None,
    function: str | None = None,
    metrics: list[Any] | None = None,
    requests: list[Any] | None = None,
    columns: str | None = None,
    name: str = "fitted",
    api_type: str = "http",
    force: bool = False,
) -> FitResult:
    """Read the files and fit a scenario (``apisim fit``'s work, for Python): ``result.scenario`` runs
    with :func:`apisim.simulate`, ``result.text`` is the commented file. Raises ``InputRefused`` for a
    file that is not what its argument says and ``ValueError`` when nothing can be fitted."""
    from pathlib import Path

    from apisim import logs
    from apisim.loading import validate_scenario

    def paths(files: list[Any] | None) -> list[Path]:
        return [Path(f) for f in files or []]

    if api_type not in ("http", "rest"):
        raise ValueError(f"the API's type is http or rest, not {api_type!r}")
    if not (access_logs or report_logs or metrics or requests):
        raise ValueError("give at least one input: access logs, REPORT logs, metrics or a requests table")
    if requests and not columns:
        raise ValueError("a requests table needs its columns (which column is what), e.g. start=start_time:s")
    obs = logs.Observations()
    if access_logs:
        logs.read_access_logs(paths(access_logs), obs, template=access_format, force=force)
    if report_logs:
        logs.read_report_logs(paths(report_logs), obs, function=function, force=force)
    if metrics:
        logs.read_metrics(paths(metrics), obs, force=force)
    if requests:
        logs.read_requests(paths(requests), logs.parse_columns(columns or ""), obs, force=force)
    fitted = fit(obs, name=name, api_type=api_type)
    text = scenario_text(fitted, obs.sources)
    import yaml

    sc = validate_scenario(yaml.safe_load(text), source="the fitted scenario")
    return FitResult(sc, text, fitted, obs)
