"""``apisim export``: a simulated month in the shapes other tools read.

**Infracost.** A usage file (``version: 0.1``, ``resource_usage:`` keyed by Terraform address) with
the month's simulated usage under the keys Infracost's own resources read (its
``infracost-usage-example.yml``, and each resource's ``infracost_usage`` tags in
``internal/resources/aws/``): ``aws_api_gateway_rest_api`` ``monthly_requests``;
``aws_apigatewayv2_api`` ``monthly_requests``, ``request_size_kb`` (HTTP) or ``monthly_messages``,
``message_size_kb``, ``monthly_connection_mins`` (WebSocket); ``aws_lambda_function``
``monthly_requests``, ``request_duration_ms``; ``aws_lb`` ``new_connections``, ``active_connections``,
``processed_bytes_gb``, ``rule_evaluations``; ``aws_cloudfront_distribution``
``monthly_https_requests``, ``monthly_data_transfer_to_internet_gb``,
``monthly_data_transfer_to_origin_gb`` (by region group); ``aws_cloudfront_function``
``monthly_requests``; ``aws_data_transfer`` ``monthly_outbound_internet_gb``. Addresses use the
scenario's names, or a Terraform file's resources matched by label and type (``apisim import``
names every API and function after its Terraform label).

**CloudWatch.** The simulated per-minute series under CloudWatch's namespaces, metric names and
dimensions, one row per datapoint, to overlay on a dashboard.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apisim import metrics
from apisim.experiment import Result

if TYPE_CHECKING:
    import pandas as pd

PRICED = (
    "aws_api_gateway_rest_api", "aws_apigatewayv2_api", "aws_lambda_function", "aws_lb", "aws_alb",
    "aws_cloudfront_distribution", "aws_cloudfront_function",
)  # fmt: skip
"""Terraform resource types Infracost prices from usage keys that apisim fills."""

VIEWERS = {"north_america": "us", "europe": "europe"}
"""apisim's CloudFront viewer regions → Infracost's region keys (``us``: United States, Mexico, Canada)."""


@dataclass
class InfracostExport:
    """An Infracost usage document, with what each number rests on and what is left unmatched."""

    document: dict[str, Any]
    notes: dict[str, list[str]] = field(default_factory=dict)  # by address: what the numbers rest on
    unmatched: list[str] = field(default_factory=list)  # scenario APIs/functions no Terraform resource matched
    left: list[str] = field(default_factory=list)  # Terraform resources given no usage
    left_out: list[str] = field(default_factory=list)  # what the simulation priced but the file does not carry


def terraform_resources(path: Path) -> dict[tuple[str, str], int | None]:
    """Every resource of a Terraform file, ``(type, label)`` → its line (python-hcl2)."""
    import hcl2

    from apisim.iac.documents import read_text
    from apisim.problems import Problem, ScenarioError

    text = read_text(path)
    try:
        data = hcl2.loads(text, with_meta=True)
    except Exception as exc:  # lark's parse errors share no base outside lark; each knows its line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScenarioError(str(path), [Problem((), f"not valid HCL: {first}", getattr(exc, "line", None))],
                            where="in the file") from None  # fmt: skip
    out: dict[tuple[str, str], int | None] = {}
    for block in data.get("resource") or []:
        for rtype, labelled in block.items():
            for label, body in labelled.items():
                out[(rtype, label)] = body.get("__start_line__") if isinstance(body, dict) else None
    return out


class _Addresses:
    """Terraform addresses for the scenario's resources: by name, or matched in a Terraform file."""

    def __init__(self, terraform: Path | None) -> None:
        self.path = terraform
        self.resources = terraform_resources(terraform) if terraform is not None else None
        self.used: set[tuple[str, str]] = set()
        self.unmatched: list[str] = []

    def of(self, what: str, name: str, types: tuple[str, ...]) -> str:
        """The address of ``what`` ``name`` (the first of ``types`` when no file is given or none matches)."""
        if self.resources is None:
            return f"{types[0]}.{name}"
        for rtype in types:
            if (rtype, name) in self.resources:
                self.used.add((rtype, name))
                return f"{rtype}.{name}"
        # A resource of the only type Terraform allows, when the file holds exactly one of it.
        alone = [k for k in self.resources if k[0] in types and k not in self.used]
        if len(alone) == 1 and what == "CloudFront distribution":
            self.used.add(alone[0])
            return f"{alone[0][0]}.{alone[0][1]}"
        self.unmatched.append(f"{what} {name}: no {' or '.join(types)} labelled {name!r} in {self.path}")
        return f"{types[0]}.{name}"

    def left(self) -> list[str]:
        if self.resources is None:
            return []
        return [
            f"{t}.{label} ({self.path.name}:{line or '?'})"  # type: ignore[union-attr]
            for (t, label), line in self.resources.items()
            if t in PRICED and (t, label) not in self.used
        ]


def _basis(result: Result) -> str:
    """What every number of the month rests on, in words (the basis, its windows, the bill's ±)."""
    s = result.summary
    month = s.get("month")
    if month:
        ci = (month.get("ci95") or {}).get("cost_total")
        pm = f"the bill ±${ci['plus_minus']:,.2f} at 95%" if ci else "no ± (every slice simulated whole)"
        return (
            f"the month from {month['start']}, estimated from {month['windows']} windows of "
            f"{month['window_seconds']:g}s ({pm})"
        )
    counted = s["simulated_seconds"]  # the summary's simulated time is the counted part
    return f"one {counted:g}s window (after {s['warmup_seconds']:g}s warm-up) × {s['month_scale']:.6g}; no ±"


def infracost_export(result: Result, terraform: Path | None = None) -> InfracostExport:
    """The Infracost usage document of ``result``'s month, what each number rests on, and (with a
    ``terraform`` file) the scenario's resources no Terraform resource matched and the reverse."""
    sc = result.scenario
    u = metrics.usage(result.log)
    scale = u.month_scale

    def monthly(resource: str, component: str, *, prefix: bool = False) -> float:
        """The month's amount of a usage line (every stage's, with ``prefix``), as the bill counts it."""
        found = [
            ln
            for ln in u.lines
            if ln.component == component and (ln.resource.startswith(resource) if prefix else ln.resource == resource)
        ]
        return math.fsum(ln.amount * (1.0 if ln.kind == "level" else scale) for ln in found)

    at = _Addresses(terraform)
    out = InfracostExport({"version": "0.1", "resource_usage": {}})
    usage = out.document["resource_usage"]
    basis = _basis(result)
    apis = result.summary["apis"]
    for name, api in sc.all_apis.items():
        stages = f"api.{name}."
        if api.type == "rest":
            address = at.of("REST API", name, ("aws_api_gateway_rest_api",))
            usage[address] = {"monthly_requests": round(monthly(stages, "requests", prefix=True))}
            note = ["monthly_requests: billed requests, every stage (throttled, quota-refused, unauthorized "
                    "and invalid ones are not billed)"]  # fmt: skip
            cached = sorted({ln.resource for ln in u.lines if ln.component == "cache cluster" and
                             ln.resource.startswith(f"cache.{name}.")})  # fmt: skip
            if cached:
                note.append(f"cache ({', '.join(cached)}): Infracost prices it from aws_api_gateway_stage's "
                            "cache_cluster_size, which has no usage keys")  # fmt: skip
            out.notes[address] = note
        elif api.type == "http":
            address = at.of("HTTP API", name, ("aws_apigatewayv2_api",))
            lines = [ln for ln in u.lines if ln.component == "requests" and ln.resource.startswith(stages)]
            requests = math.fsum(ln.amount for ln in lines)
            payload = math.fsum(ln.amount * ln.meter.get("bytes_per_request", 0.0) for ln in lines)
            size = payload / requests if requests else 0.0
            usage[address] = {
                "monthly_requests": round(requests * scale),
                # Infracost reads whole KB and bills ceil(KB / 512) requests each: rounding up keeps that.
                "request_size_kb": max(1, math.ceil(size / 1024.0 - 1e-9)),
            }
            out.notes[address] = [
                "monthly_requests: billed requests, every stage",
                f"request_size_kb: the mean request + response payload ({size:,.0f} bytes), rounded up to a KB",
            ]
        elif api.type == "websocket":
            address = at.of("WebSocket API", name, ("aws_apigatewayv2_api",))
            ws = apis.get(name, {}).get("websocket", {})
            usage[address] = {
                "monthly_messages": round(monthly(stages, "messages", prefix=True)),
                "message_size_kb": 32,
                "monthly_connection_mins": round(monthly(stages, "connection minutes", prefix=True)),
            }
            out.notes[address] = [
                "monthly_messages: billed 32 KB units (in and out; apisim meters each message already), so 32 KB each",
                f"monthly_connection_mins: connection minutes billed ({ws.get('connections', {}).get('opened', 0):,} "
                "connections opened in the counted time)",
            ]
        elif api.type == "alb":
            address = at.of("ALB", name, ("aws_lb", "aws_alb"))
            alb = apis[name]["alb"]
            usage[address] = {
                "new_connections": round(alb["new_connections_per_s"]),
                "active_connections": round(alb["active_connections_per_min"]),
                "processed_bytes_gb": round(alb["processed_gb_per_hour"], 6),
                "rule_evaluations": round(alb["requests_per_s"] * alb["rules"]),
            }
            out.notes[address] = [
                f"average rates (Infracost reads whole numbers): {alb['new_connections_per_s']:.4g} new connections/s, "
                f"{alb['active_connections_per_min']:.4g} active connections/min, {alb['processed_gb_per_hour']:.4g} "
                f"GB processed/hour, {alb['requests_per_s']:.4g} requests/s × {alb['rules']} rules",
                "Infracost's LCU arithmetic is not apisim's (AWS's 25 new connections/s and 0.4 GB/h per LCU for "
                "Lambda targets, 10 rules free; apisim prices each window's hours at their own largest dimension): "
                f"apisim bills {monthly(f'alb.{name}', 'LCU hours'):,.1f} LCU-hours",
            ]
        else:
            out.left_out.append(f"API {name} ({api.type}): Infracost has no usage keys for it")
        if api.cloudfront is not None:
            _cloudfront(out, at, name, api, monthly)
    for name, f in sc.functions.items():
        address = at.of("function", name, ("aws_lambda_function",))
        invocations = monthly(f"function.{name}", "requests")
        gb_s = monthly(f"function.{name}", "duration")
        ms = gb_s / (f.memory_mb / 1024.0) / invocations * 1000.0 if invocations else 0.0
        usage[address] = {"monthly_requests": round(invocations), "request_duration_ms": round(ms, 3)}
        note = [
            f"request_duration_ms: on-demand billed GB-seconds ({gb_s:,.1f}) / {f.memory_mb} MB / invocations "
            "(Infracost rounds it up to a whole ms)"
        ]
        if f.provisioned_concurrency:
            note.append(f"its {f.provisioned_concurrency} provisioned concurrency "
                        "(aws_lambda_provisioned_concurrency_config) is not exported: see apisim's bill")  # fmt: skip
        out.notes[address] = note
    gb_out = math.fsum(ln.amount * scale for ln in u.lines if ln.price == "data_transfer.out")
    if gb_out:
        region = sc.pricing.region
        address = f"aws_data_transfer.{region.replace('-', '_')}"
        usage[address] = {"region": region, "monthly_outbound_internet_gb": round(gb_out, 6)}
        out.notes[address] = ["responses to the internet from every API and function URL (not CloudFront's)"]
    for address in usage:
        out.notes.setdefault(address, []).append(f"rests on {basis}")
    out.unmatched = at.unmatched
    out.left = at.left()
    return out


def _cloudfront(out: InfracostExport, at: _Addresses, name: str, api: Any, monthly: Any) -> None:
    """A CloudFront distribution's requests and transfer by region, and its CloudFront Functions."""
    cf = api.cloudfront
    region = VIEWERS[cf.viewers]
    resource = f"cloudfront.{name}"
    address = at.of("CloudFront distribution", name, ("aws_cloudfront_distribution",))
    out.document["resource_usage"][address] = {
        "monthly_https_requests": {region: round(monthly(resource, "HTTPS requests"))},
        "monthly_data_transfer_to_internet_gb": {region: round(monthly(resource, "data transfer out"), 6)},
        "monthly_data_transfer_to_origin_gb": {region: round(monthly(resource, "data transfer to origin"), 6)},
    }
    out.notes[address] = [f"viewers in {cf.viewers} (Infracost's {region!r}); every request HTTPS"]
    calls = monthly(resource, "CloudFront Functions")
    if calls:
        fn = at.of("CloudFront function", name, ("aws_cloudfront_function",))
        out.document["resource_usage"][fn] = {"monthly_requests": round(calls)}
        out.notes[fn] = [f"the viewer function of {name}'s distribution: one invocation per request"]
    if monthly(resource, "Lambda@Edge requests"):
        out.left_out.append(f"Lambda@Edge of {name}'s distribution: its function has no address here")


def infracost_usage(result: Result, terraform: Path | None = None) -> dict[str, Any]:
    """The Infracost usage document of ``result``'s month (``{"version": "0.1", "resource_usage": ...}``),
    addressed by the scenario's names or matched to the resources of a ``terraform`` file."""
    return infracost_export(result, terraform).document


def infracost_text(result: Result, terraform: Path | None = None) -> str:
    """The usage file's text: a header, then each resource with a comment saying what its numbers rest on."""
    import yaml

    ex = infracost_export(result, terraform)
    s = result.summary
    head = [
        f"# Infracost usage file written by `apisim export` from scenario {s['scenario']} (seed {s['seed']}).",
        f"# Every number is the month's simulated usage: {_basis(result)}.",
        "# Use: infracost breakdown --path . --usage-file FILE",
    ]
    head += [f"# Not exported: {text}" for text in ex.left_out]
    head += [f"# No Terraform match (written under its own name): {text}" for text in ex.unmatched]
    head += [f"# Terraform resource given no usage: {text}" for text in ex.left]
    body = [yaml.safe_dump({"version": ex.document["version"]}, sort_keys=False).rstrip(), "resource_usage:"]
    for address, values in ex.document["resource_usage"].items():
        body += [f"  # {note}" for note in ex.notes.get(address, [])]
        block = yaml.safe_dump({address: values}, sort_keys=False, width=1000).rstrip().splitlines()
        body += [f"  {line}" for line in block]
    return "\n".join(head + body) + "\n"


# -- CloudWatch -----------------------------------------------------------------------------------

COLUMNS = ["timestamp", "namespace", "metric", "dimensions", "statistic", "value", "unit", "period_s", "series"]


def cloudwatch_frame(result: Result) -> pd.DataFrame:
    """The simulated per-minute series as CloudWatch datapoints, one row each (``COLUMNS``).

    ``timestamp`` is ISO 8601 UTC: ``simulation.start`` plus the window's place in the month plus
    the bucket's time. Only buckets after warm-up (the timeseries' ``warmup`` flag). Buckets are
    gathered into minutes: counts summed, levels averaged weighted by each bucket's width, peaks
    maximised; percentiles only where a bucket is a minute (they do not add). A bucket wider than a
    minute, or one that does not divide it, is kept as it is, its width in ``period_s``. What the
    series cannot give is listed in ``frame.attrs["notes"]``.
    """
    import numpy as np
    import pandas as pd

    sc = result.scenario
    log = result.log
    sample = log.sample
    width = float(sample.bucket_width)
    per_minute = width <= 60.0 and abs(60.0 / width - round(60.0 / width)) < 1e-9
    period = 60.0 if per_minute else width
    ts = result.timeseries
    ts = ts[~ts["warmup"]].copy()
    end = sample.scenario.simulation.duration
    ts["_w"] = np.minimum(ts["t"] + width, end) - ts["t"]  # the last bucket may be cut short by the run's end
    ts["_g"] = np.floor(ts["t"] / period + 1e-9).astype(np.int64)
    groups = ts.groupby("_g", sort=True)
    start = sc.simulation.start + timedelta(seconds=float(sample.at or 0.0))
    series = "the simulated window" if log.basis == "window" else "the month's busiest window"
    stamps = {g: (start + timedelta(seconds=g * period)).strftime("%Y-%m-%dT%H:%M:%SZ") for g in groups.groups}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []

    def emit(namespace: str, metric: str, dims: dict[str, str], statistic: str, values: pd.Series, unit: str) -> None:
        text = json.dumps(dims, separators=(",", ":"))
        for g, v in values.items():
            if not pd.isna(v):
                rows.append(dict(zip(COLUMNS, (stamps[g], namespace, metric, text, statistic, float(v), unit,
                                               period, series), strict=True)))  # fmt: skip

    def level(column: str) -> pd.Series:
        return (ts[column] * ts["_w"]).groupby(ts["_g"]).sum() / groups["_w"].sum()

    stages = list(log.stages)
    kinds = {name: api.type for name, api in sc.all_apis.items()}
    alone = len(stages) == 1 and kinds.get(stages[0][0]) in ("rest", "http")
    if alone and sc.all_apis[stages[0][0]].cloudfront is None:
        api, stage = stages[0]
        rest = kinds[api] == "rest"
        dims = {"ApiName": api, "Stage": stage} if rest else {"ApiId": api, "Stage": stage}
        gw = "AWS/ApiGateway"
        emit(gw, "Count", dims, "Sum", groups["offered"].sum(), "Count")
        emit(gw, "4XXError" if rest else "4xx", dims, "Sum", groups["status_4xx"].sum(), "Count")
        emit(gw, "5XXError" if rest else "5xx", dims, "Sum", groups["status_5xx"].sum(), "Count")
        if rest and any(ln.component == "cache cluster" for ln in metrics.usage(log).lines):
            emit(gw, "CacheHitCount", dims, "Sum", groups["cache_hit"].sum(), "Count")
            notes.append("CacheMissCount: not in the simulated series (the summary's cache block has the misses)")
        if per_minute and width == 60.0:
            for col, stat in (("p50_ms", "p50"), ("p99_ms", "p99")):
                emit(gw, "Latency", dims, stat, groups[col].first(), "Milliseconds")
        else:
            notes.append(f"Latency: percentiles need a minute's bucket, not {width:g}s (simulation.bucket: 60s)")
        if not rest:
            notes.append("ApiId: AWS's generated ID is not known to the scenario; the API's name stands in")
        notes.append("Latency Average, IntegrationLatency: not in the simulated series")
    elif stages:
        why = (
            f"the simulated series is the account's, {len(stages)} stages together"
            if len(stages) > 1
            else f"{stages[0][0]} ({kinds.get(stages[0][0])}) is not an API Gateway REST or HTTP stage on its own"
            + (": CloudFront is in front of it" if sc.all_apis[stages[0][0]].cloudfront is not None else "")
        )
        notes.append(f"AWS/ApiGateway metrics not exported: {why}")
    for name in sc.functions:
        dims = {"FunctionName": name}
        if f"invocations.{name}" in ts:
            emit("AWS/Lambda", "Invocations", dims, "Sum", groups[f"invocations.{name}"].sum(), "Count")
        if f"peak.{name}" in ts:
            emit("AWS/Lambda", "ConcurrentExecutions", dims, "Maximum", groups[f"peak.{name}"].max(), "Count")
        emit("AWS/Lambda", "ConcurrentExecutions", dims, "Average", level(f"concurrency.{name}"), "Count")
    if sc.functions:
        notes.append("AWS/Lambda Throttles and Duration a minute: not in the simulated series (totals in the summary)")
    if any(k == "websocket" for k in kinds.values()):
        notes.append("WebSocket ConnectCount and MessageCount per minute: not in the simulated series "
                     "(the month's totals are the summary's apis.NAME.websocket)")  # fmt: skip
    if not per_minute:
        notes.append(f"the timeseries bucket is {width:g}s, which does not divide a minute: rows are per bucket")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["notes"] = notes
    return frame


def cloudwatch_csv(result: Result) -> str:
    """The CloudWatch datapoints as CSV text (``cloudwatch_frame``'s columns, ``dimensions`` as JSON)."""
    return cloudwatch_frame(result).to_csv(index=False, lineterminator="\n")
