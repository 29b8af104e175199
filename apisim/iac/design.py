"""What an importer found in a file of infrastructure code, before it is written as a scenario.

Every value carries a note saying where it came from (a property and its line) or what was assumed,
so the scenario written from it can say so beside each value. Values the file does not settle (an
intrinsic the importer cannot resolve) are kept as marked placeholders, with a located problem.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from apisim.problems import Loc, Problem
from apisim.scenario import NAME_MAX, label_problem


class Unresolved(Exception):
    """A value the file alone does not settle (an import from another stack, a function call);
    ``str()`` says why, for a person."""


@dataclass
class Val:
    """A scenario value and where it came from (``placeholder``: a stand-in the user must replace)."""

    value: Any
    note: str
    placeholder: bool = False


@dataclass
class RouteDesign:
    route: str
    integration: dict[str, Any]
    note: str
    throttle: Val | None = None
    cache: Val | None = None
    timeout: Val | None = None


@dataclass
class StageDesign:
    note: str
    throttle: Val | None = None
    cache_size: Val | None = None
    cache_ttl: Val | None = None


@dataclass
class PlanDesign:
    note: str
    throttle: Val | None = None
    quota: Val | None = None
    stages: list[str] | None = None
    keys: int = 0


@dataclass
class ApiDesign:
    name: str
    address: str
    type: Val
    endpoint: Val | None = None
    throttle: Val | None = None
    authorizer: Val | None = None
    invoke_mode: Val | None = None
    route_selection: Val | None = None
    routes: list[RouteDesign] = field(default_factory=list)
    stages: dict[str, StageDesign] = field(default_factory=dict)
    usage_plans: dict[str, PlanDesign] = field(default_factory=dict)


@dataclass
class FunctionDesign:
    name: str
    address: str
    fields: dict[str, Val] = field(default_factory=dict)


@dataclass
class Design:
    """An imported design: APIs and functions by name, what was not mapped, and what was not resolved."""

    source: str
    kind: str
    apis: dict[str, ApiDesign] = field(default_factory=dict)
    functions: dict[str, FunctionDesign] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def unresolved(self, loc: Loc, line: int | None, why: str, instead: str) -> None:
        """Record a value the file does not settle, and what was written in its place."""
        self.problems.append(Problem(loc, f"{why}; written as a marked placeholder ({instead})", line))

    def function(self, name: str, referenced_by: str) -> str:
        """The function ``name``, added with AWS's defaults when the file only refers to it."""
        if name not in self.functions:
            self.functions[name] = FunctionDesign(name, f"{referenced_by}, which names it (not defined in this file)")
        return name


def safe_name(raw: str) -> str:
    """``raw`` made a valid apisim name (scenario.label_problem): invisible and control characters
    dropped, at most NAME_MAX characters. Logical IDs and Terraform labels pass unchanged."""
    text = "".join(ch for ch in str(raw) if unicodedata.category(ch)[0] not in "CZ" or ch == " ").strip()
    text = text[:NAME_MAX] or "unnamed"
    assert label_problem(text) is None, text
    return text


def unique(name: str, taken: set[str] | dict[str, Any]) -> str:
    """``name``, or ``name-2``, ``name-3``... when two resources of different types share a label."""
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


_ARN_FUNCTION = re.compile(r"function:([A-Za-z0-9_-]+)")


def function_in_arn(text: str) -> str | None:
    """The function a literal Lambda ARN (or an integration URI holding one) names, or None."""
    found = _ARN_FUNCTION.search(text)
    return found.group(1) if found else None


def throttle(rate: Any, burst: Any, note: str) -> Val | None:
    """A throttle from AWS's rate and burst limits; AWS's unset values (none, -1) fall back to the
    account's (its stage-level default), said in the note; a rate of 0 (block everything) is refused."""
    if rate is None and burst is None:
        return None
    rate = None if rate is None or float(rate) < 0 else float(rate)
    burst = None if burst is None or int(burst) < 0 else int(burst)
    if rate is None and burst is None:
        return None
    parts = []
    if rate is None:
        rate = 10000.0
        parts.append("rate not set: the account's 10,000")
    if burst is None:
        burst = 5000
        parts.append("burst not set: the account's 5,000")
    if rate <= 0:
        raise Unresolved("a rate limit of 0 blocks every request, which apisim does not model")
    value = {"rate": int(rate) if rate == int(rate) else rate, "burst": burst}
    return Val(value, note + (f" ({'; '.join(parts)})" if parts else ""))


def number(value: Any, what: str) -> float:
    """A number from a template value (CloudFormation parameters are often strings of digits)."""
    if isinstance(value, bool):
        raise Unresolved(f"{what}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    try:
        text = str(value).strip()
        return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
    except ValueError:
        raise Unresolved(f"{what}: expected a number, got {value!r}") from None


def method_setting(
    design: Design, api: ApiDesign, path: str, method: str, s: dict[str, Any], tr: Val | None, where: str
) -> None:
    """One method's own throttle and caching (apisim keeps one per route, for every stage); what has no
    scenario key (a method's own cache TTL, throttles that differ by stage) is listed as unmapped."""
    keys = [r for r in api.routes if r.route.split(" ", 1)[1] == path and method in ("*", r.route.split(" ", 1)[0])]
    if not keys:
        design.unmapped.append(f"method settings {where}: no route {method} {path} in {api.name}")
        return
    for route in keys:
        if tr is not None:
            if route.throttle is not None and route.throttle.value != tr.value:
                design.unmapped.append(f"method settings {where}: {route.route}'s throttle differs by stage; "
                                       "apisim keeps one per route (the first)")  # fmt: skip
            else:
                route.throttle = tr
        enabled = s.get("CachingEnabled", s.get("caching_enabled"))
        if enabled is not None:
            route.cache = Val(bool(enabled), f"CachingEnabled {where}")
    ttl = s.get("CacheTtlInSeconds", s.get("cache_ttl_in_seconds"))
    if ttl is not None:
        design.unmapped.append(f"method settings {where}: a method's own cache TTL ({ttl} s); apisim has one per stage")
