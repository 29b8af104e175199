"""``apisim export``: a simulated month in the shape other tools read.

An Infracost usage file (``version: 0.1``, ``resource_usage:`` keyed by Terraform address) with the
month's simulated usage under Infracost's own keys (its ``infracost-usage-example.yml``):
``aws_api_gateway_rest_api`` ``monthly_requests``; ``aws_apigatewayv2_api`` ``monthly_requests`` and
``request_size_kb`` (HTTP APIs), ``monthly_messages``, ``message_size_kb`` and
``monthly_connection_mins`` (WebSocket APIs); ``aws_lambda_function`` ``monthly_requests`` and
``request_duration_ms``. Addresses use the scenario's names (``apisim import`` names APIs and
functions after their Terraform labels, so an imported design maps back). Doors Infracost prices
with keys not checked here (ALB, CloudFront) are listed in the file's header, not guessed.
"""

from __future__ import annotations

import math
from typing import Any

from apisim import metrics
from apisim.experiment import Result


def _per_resource(result: Result) -> tuple[dict[tuple[str, str], list[Any]], float]:
    """The month's usage lines by (resource, component), and the factor that makes counts monthly."""
    u = metrics.usage(result.log)
    lines: dict[tuple[str, str], list[Any]] = {}
    for line in u.lines:
        lines.setdefault((line.resource, line.component), []).append(line)
    return lines, u.month_scale


def infracost_usage(result: Result) -> tuple[dict[str, Any], list[str]]:
    """The Infracost usage document for ``result``'s month, and what it leaves out (for its header)."""
    sc = result.scenario
    lines, scale = _per_resource(result)
    usage: dict[str, Any] = {}
    left_out: list[str] = []

    def monthly(resource_prefix: str, component: str) -> tuple[float, list[Any]]:
        found = [ln for (r, c), ls in lines.items() if c == component and r.startswith(resource_prefix) for ln in ls]
        return math.fsum(ln.amount for ln in found) * scale, found

    for name, api in sc.all_apis.items():
        prefix = f"api.{name}."
        if api.type == "rest":
            requests, _ = monthly(prefix, "requests")
            usage[f"aws_api_gateway_rest_api.{name}"] = {"monthly_requests": round(requests)}
        elif api.type == "http":
            requests, found = monthly(prefix, "requests")
            sizes = [(ln.amount, ln.meter.get("bytes_per_request", 0.0)) for ln in found]
            weight = math.fsum(a for a, _ in sizes)
            size = math.fsum(a * b for a, b in sizes) / weight if weight else 0.0
            usage[f"aws_apigatewayv2_api.{name}"] = {
                "monthly_requests": round(requests),
                "request_size_kb": round(size / 1024.0, 3),
            }
        elif api.type == "websocket":
            messages, _ = monthly(prefix, "messages")
            minutes, _ = monthly(prefix, "connection minutes")
            # apisim counts messages already in 32 KB units: each is one of at most 32 KB to Infracost.
            usage[f"aws_apigatewayv2_api.{name}"] = {
                "monthly_messages": round(messages),
                "message_size_kb": 32,
                "monthly_connection_mins": round(minutes),
            }
        else:
            left_out.append(f"API {name} ({api.type}): its Infracost usage keys are not exported")
    functions = result.summary["functions"]
    for name, f in sc.functions.items():
        invocations, _ = monthly(f"function.{name}", "requests")
        gb_s = functions[name]["billed_gb_seconds"] if name in functions else 0.0
        if result.summary["basis"] == "window":
            gb_s *= scale
        duration = gb_s / (f.memory_mb / 1024.0) / invocations * 1000.0 if invocations else 0.0
        usage[f"aws_lambda_function.{name}"] = {
            "monthly_requests": round(invocations),
            "request_duration_ms": round(duration, 1),
        }
    return {"version": "0.1", "resource_usage": usage}, left_out


def infracost_text(result: Result) -> str:
    """The usage file's text: a header saying what the numbers rest on, then the document."""
    import yaml

    doc, left_out = infracost_usage(result)
    s = result.summary
    basis = "the calendar month, estimated from windows" if s.get("month") else f"one window × {s['month_scale']:.4g}"
    head = [
        f"# Infracost usage file written by `apisim export` from scenario {s['scenario']} (seed {s['seed']}).",
        f"# The month's simulated usage: {basis}. Use: infracost breakdown --usage-file FILE",
        "# request_duration_ms is each function's billed duration per invocation (billed GB-s / memory).",
    ]
    head += [f"# Not exported: {text}" for text in left_out]
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False)
