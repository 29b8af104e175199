"""An imported design written as an ordinary, commented scenario file, checked as ``apisim validate`` would.

The text is written line by line (not dumped) so that every value carries its comment: where in the
infrastructure code it came from, or ``PLACEHOLDER`` where the code cannot know it (traffic, run
times). ``--usage`` takes those from a scenario file instead (one ``apisim fit`` wrote, say).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apisim.iac.design import ApiDesign, Design, Val
from apisim.loading import ScenarioLoader, load, read_document, validate_scenario
from apisim.problems import Problem, ScenarioError
from apisim.scenario import WS_SPECIAL, Scenario

PLACEHOLDER = "PLACEHOLDER"
DURATION = {"dist": "lognormal", "median": 100, "p99": 500}
"""A stand-in for a handler's run time: infrastructure code never says how long a handler runs."""
RATE = 1
"""A stand-in arrival rate (requests a second): small, so a first run is quick."""
FITTED_FUNCTION_KEYS = ("duration_ms", "cold_start_ms", "idle_expiry")

_PLAIN = re.compile(r"^[A-Za-z0-9_$/.][A-Za-z0-9_$./ +*-]*(?<! )$")


def flow(value: Any) -> str:
    """``value`` as YAML flow text that apisim's loader reads back exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flow(str(k))}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and yaml.load(text, Loader=ScenarioLoader) == text:
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _comment(text: str) -> str:
    one_line = " ".join(str(text).split())
    return f"  # {one_line[:300]}" if one_line else ""


@dataclass
class Usage:
    """What a scenario file (``apisim fit``'s, say) says about traffic and run times."""

    source: str
    clients: list[dict[str, Any]]
    functions: dict[str, dict[str, Any]]


def read_usage(path: str | Path) -> Usage:
    """The clients and functions' run times of the scenario file ``path`` (validated first)."""
    load(path)  # every check validate makes: a usage file that is no scenario is refused, located
    data = read_document(path).data
    functions = {str(k): v for k, v in (data.get("functions") or {}).items() if isinstance(v, dict)}
    return Usage(str(path), list(data.get("clients") or []), functions)


@dataclass
class _Out:
    lines: list[str] = field(default_factory=list)

    def put(self, indent: int, key: str, value: Any = None, note: str = "", *, block: bool = False) -> None:
        pad = "  " * indent
        head = f"{pad}{key}:" if block else f"{pad}{key}: {flow(value)}"
        self.lines.append(head + _comment(note))

    def val(self, indent: int, key: str, val: Val | None) -> None:
        if val is not None:
            self.put(indent, key, val.value, (f"{PLACEHOLDER}: " if val.placeholder else "") + val.note)


def _header(design: Design, usage: Usage | None) -> list[str]:
    out = [
        f"# Imported by `apisim import` from {design.source} ({design.kind}).",
        "# Each value's comment says where it came from. PLACEHOLDER marks what infrastructure code cannot",
        "# know (traffic, run times): replace each one, or import again with --usage FILE (a scenario such as",
        "# `apisim fit` writes), whose clients and run times take their place. Check: apisim validate FILE.",
    ]
    if usage is not None:
        out.append(f"# Traffic and run times from {usage.source}.")
    sections = [
        ("Assumed (AWS's documented defaults where the code sets nothing):", design.assumptions),
        ("Not mapped (no scenario key for it, or no bearing on traffic, latency or cost):", design.unmapped),
        ("Unresolved (each written as a marked placeholder):", [p.render(design.source) for p in design.problems]),
    ]
    for title, items in sections:
        if items:
            out.append(f"# {title}")
            out += [f"#   - {' '.join(item.split())}" for item in items]
    return out


def _cache(stage: Any) -> tuple[dict[str, Any], str] | None:
    if stage.cache_size is None:
        return None
    ttl = stage.cache_ttl or Val(300, "TTL not set: AWS's default 300 s")
    return {"size_gb": stage.cache_size.value, "ttl": ttl.value}, f"{stage.cache_size.note}; {ttl.note}"


def _api(out: _Out, api: ApiDesign) -> None:
    out.put(1, api.name, note=f"from {api.address}", block=True)
    out.val(2, "type", api.type)
    for key in ("endpoint", "route_selection", "invoke_mode", "throttle", "authorizer"):
        out.val(2, key, getattr(api, key))
    if api.usage_plans:
        out.put(2, "usage_plans", block=True)
        for name, plan in api.usage_plans.items():
            out.put(3, name, note=plan.note, block=True)
            if plan.throttle is not None:
                out.put(4, "rate", plan.throttle.value["rate"], plan.throttle.note)
                out.put(4, "burst", plan.throttle.value["burst"], plan.throttle.note)
            out.val(4, "quota", plan.quota)
            if plan.stages is not None:
                out.put(4, "stages", plan.stages, "the plan's API stages")
    if api.stages:
        out.put(2, "stages", block=True)
        for name, stage in api.stages.items():
            cache = _cache(stage)
            if stage.throttle is None and cache is None:
                out.put(3, name, {}, stage.note)
                continue
            out.put(3, name, note=stage.note, block=True)
            out.val(4, "throttle", stage.throttle)
            if cache is not None:
                out.put(4, "cache", cache[0], cache[1])
    out.put(2, "routes", block=True)
    for route in api.routes:
        out.lines.append(f"      - route: {flow(route.route)}" + _comment(route.note))
        out.put(4, "integration", route.integration)
        out.val(4, "throttle", route.throttle)
        out.val(4, "cache", route.cache)
        out.val(4, "timeout", route.timeout)


def _placeholder_clients(api: ApiDesign) -> list[tuple[dict[str, Any], str]]:
    first_stage = next(iter(api.stages), None)
    base: dict[str, Any] = {"api": api.name}
    if first_stage is not None:
        base["stage"] = first_stage
    why = f"{PLACEHOLDER}: traffic is not in infrastructure code; measure it (apisim fit) or set it"
    if api.type.value == "websocket":
        client = {"name": f"{api.name}-users", **base}
        client["connections"] = {"arrival": {"process": "poisson", "rate": 0.1}}
        targets = [r.route for r in api.routes if r.route not in WS_SPECIAL]
        if targets:
            client["messages"] = {"rate_per_connection": 0.01}
        return [(client, why)]
    arrival = {"process": "poisson", "rate": RATE}
    if not api.usage_plans:
        return [({"name": f"{api.name}-users", **base, "arrival": arrival}, why)]
    out = []
    for name, plan in api.usage_plans.items():
        client = {"name": f"{api.name}-{name}", **base, "usage_plan": name, "api_keys": max(1, plan.keys)}
        if plan.stages and client.get("stage") not in plan.stages:
            client["stage"] = plan.stages[0]
        keys = f"{plan.keys} API key(s) in the plan" if plan.keys else "no API key found for the plan: 1 assumed"
        out.append(({**client, "arrival": arrival}, f"{why}; {keys}"))
    return out


def _fitted_client(raw: dict[str, Any], api: ApiDesign, notes: list[str]) -> dict[str, Any]:
    """A fitted client adapted to the imported API: names it does not have are dropped, with a note."""
    client = {k: v for k, v in raw.items() if k not in ("api", "stage", "usage_plan")}
    client["api"] = api.name
    stages = list(api.stages)
    if stages:
        client["stage"] = raw.get("stage") if raw.get("stage") in stages else stages[0]
    if raw.get("usage_plan") in api.usage_plans:
        client["usage_plan"] = raw["usage_plan"]
    elif raw.get("usage_plan") is not None:
        notes.append(f"client {raw.get('name')}: usage plan {raw['usage_plan']} is not in the code: dropped")
    mix = raw.get("routes")
    if isinstance(mix, dict):
        known = {r.route for r in api.routes}
        kept = {k: v for k, v in mix.items() if k in known}
        if kept != mix:
            notes.append(
                f"client {raw.get('name')}: routes not in the code dropped: {', '.join(sorted(set(mix) - known))}"
            )
        total = sum(kept.values())
        if kept and total > 0:
            client["routes"] = {k: v / total for k, v in kept.items()}
        else:
            client.pop("routes", None)
    return client


def _websocket_client(raw: dict[str, Any]) -> bool:
    conns = raw.get("connections")
    return isinstance(conns, dict) and ("arrival" in conns or "population" in conns)


def _clients(design: Design, usage: Usage | None) -> tuple[list[tuple[dict[str, Any], str]], list[str]]:
    notes: list[str] = []
    fitted: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for i, raw in enumerate(usage.clients if usage else []):
        if not isinstance(raw, dict):
            continue
        ws = _websocket_client(raw)
        fits = [a for a in design.apis.values() if (a.type.value == "websocket") == ws]
        target = design.apis.get(raw.get("api")) if raw.get("api") in design.apis else (fits[0] if fits else None)
        if target is None or (target.type.value == "websocket") != ws:
            notes.append(f"client {raw.get('name')} from {usage.source}: no imported API of its kind: left out")  # type: ignore[union-attr]
            continue
        note = f"from {usage.source} clients.{i}"  # type: ignore[union-attr]
        fitted.setdefault(target.name, []).append((_fitted_client(raw, target, notes), note))
    out = []
    for api in design.apis.values():
        out += fitted.get(api.name) or _placeholder_clients(api)
    return out, notes


def _function_fields(design: Design, usage: Usage | None) -> dict[str, dict[str, Val]]:
    out = {}
    first = next(iter(usage.functions.items()), None) if usage else None
    for name, fn in design.functions.items():
        fields = dict(fn.fields)
        own = usage.functions.get(name) if usage else None
        chosen = (name, own) if own is not None else first
        for key in FITTED_FUNCTION_KEYS:
            if chosen is not None and key in chosen[1]:
                how = "" if chosen[0] == name else " (no fitted function of this name: the first one's)"
                fields[key] = Val(chosen[1][key], f"from {usage.source} functions.{chosen[0]}.{key}{how}")  # type: ignore[union-attr]
        if "duration_ms" not in fields:
            note = "the handler's warm run time is not in infrastructure code; measure it (apisim fit) or set it"
            fields["duration_ms"] = Val(DURATION, note, placeholder=True)
        out[name] = fields
    return out


def render(design: Design, usage: Usage | None = None, *, name: str = "imported") -> str:
    """The scenario file's text for ``design`` (traffic and run times from ``usage`` where given)."""
    clients, notes = _clients(design, usage)
    if notes:
        design.assumptions.extend(notes)
    out = _Out(_header(design, usage))
    out.put(0, "name", name)
    out.put(0, "description", f"imported from {design.source} ({design.kind}) by apisim import")
    sim = {"duration": "10m", "warmup": "1m"}
    out.put(0, "simulation", sim, "a first look: 10-minute windows of the month (raise for the answer you decide with)")
    out.put(0, "apis", block=True)
    for api in design.apis.values():
        _api(out, api)
    out.put(0, "functions", block=True)
    for fname, fields in _function_fields(design, usage).items():
        out.put(1, fname, note=f"from {design.functions[fname].address}", block=True)
        for key, val in fields.items():
            out.val(2, key, val)
    out.put(0, "clients", block=True)
    for client, note in clients:
        first = True
        for key, value in client.items():
            lead = "  - " if first else "    "
            out.lines.append(f"{lead}{key}: {flow(value)}" + (_comment(note) if first else ""))
            first = False
    return "\n".join(out.lines) + "\n"


def check(text: str, source: str) -> Scenario:
    """Validate the written text as ``apisim validate`` would read it back (a bug, or a design AWS
    would refuse, is reported located in the written text)."""
    try:
        data = yaml.load(text, Loader=ScenarioLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [Problem((), f"the written scenario is not YAML: {exc}")]) from None
    return validate_scenario(data, source=source)
