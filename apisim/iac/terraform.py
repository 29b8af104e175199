"""Terraform HCL → a design: aws_lambda_*, aws_api_gateway_*, aws_apigatewayv2_* and simple ALBs.

Parsed by python-hcl2. References are resolved where the file settles them: ``var.NAME`` with a
default, ``local.NAME``, and attributes of the file's own resources (``aws_lambda_function.x.invoke_arn``
names function ``x``). Any other expression (a function call, a conditional, a module's output) is a
located problem, and the value a marked placeholder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

from apisim.iac import openapi
from apisim.iac.design import (
    ApiDesign,
    Design,
    FunctionDesign,
    PlanDesign,
    RouteDesign,
    StageDesign,
    Unresolved,
    Val,
    function_in_arn,
    method_setting,
    number,
    safe_name,
    throttle,
    unique,
)
from apisim.iac.documents import read_text
from apisim.problems import Problem, ScenarioError

_WHOLE = re.compile(r"^\$\{([^{}]*)\}$")
_INTERP = re.compile(r"\$\{([^{}]*)\}")
_REF = re.compile(r"^(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\.([a-z_]+))?$")
_ANY_REF = re.compile(r"(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)")
CACHE_SIZES = {"0.5": 0.5, "1.6": 1.6, "6.1": 6.1, "13.5": 13.5, "28.4": 28.4, "58.2": 58.2, "118": 118, "237": 237}
META = {"__start_line__", "__end_line__"}


@dataclass(frozen=True)
class TfRef:
    """A reference to one of the file's resources (``aws_lambda_function.orders.arn``)."""

    type: str
    label: str
    attr: str | None = None


class Module:
    """One Terraform file being imported."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path, self.lines = path, text.splitlines()
        self.design = Design(path.name, "Terraform")
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        for block in data.get("resource") or []:
            for rtype, labelled in block.items():
                for label, body in labelled.items():
                    self.resources[(rtype, label)] = body
        self.variables = {name: body for block in data.get("variable") or [] for name, body in block.items()}
        self.locals = {k: v for block in data.get("locals") or [] for k, v in block.items() if k not in META}
        self.used: dict[tuple[str, str], set[str]] = {key: set() for key in self.resources}

    def of(self, rtype: str) -> list[tuple[str, dict[str, Any]]]:
        return [(label, body) for (t, label), body in self.resources.items() if t == rtype]

    def address(self, rtype: str, label: str) -> str:
        body = self.resources.get((rtype, label), {})
        return f"{rtype}.{label} ({self.path.name}:{body.get('__start_line__', '?')})"

    def where(self, rtype: str, label: str, key: str) -> str:
        """``key (main.tf:LINE)``: the line of ``key = ...`` inside the resource's block."""
        body = self.resources.get((rtype, label), {})
        start, end = body.get("__start_line__", 1), body.get("__end_line__", 0)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*[={{]")
        for n in range(start, min(end, len(self.lines)) + 1):
            if pattern.match(self.lines[n - 1]):
                return f"{key} ({self.path.name}:{n})"
        return f"{key} ({self.path.name}:{start})"

    def line(self, rtype: str, label: str, key: str) -> int | None:
        found = re.search(r":(\d+)\)$", self.where(rtype, label, key))
        return int(found.group(1)) if found else None

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """``value`` with the references the file settles worked out; raises :class:`Unresolved`."""
        if depth > 20:
            raise Unresolved("references nested too deeply to follow")
        if isinstance(value, list):
            return [self.resolve(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v, depth + 1) for k, v in value.items() if k not in META}
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _WHOLE.match(value)
        if whole:
            return self._expr(whole.group(1).strip(), depth)
        return _INTERP.sub(lambda m: str(self._expr(m.group(1).strip(), depth)), value)

    def _expr(self, expr: str, depth: int) -> Any:
        if expr.startswith("var."):
            var = self.variables.get(expr[4:])
            if var is None or "default" not in var:
                raise Unresolved(f"{expr} has no default (its value is given when Terraform runs)")
            return self.resolve(var["default"], depth + 1)
        if expr.startswith("local."):
            if expr[6:] not in self.locals:
                raise Unresolved(f"{expr} is not defined in this file's locals")
            return self.resolve(self.locals[expr[6:]], depth + 1)
        ref = _REF.match(expr)
        if ref and (ref.group(1), ref.group(2)) in self.resources:
            return TfRef(ref.group(1), ref.group(2), ref.group(3))
        raise Unresolved(f"the expression {expr} is not worked out by apisim import")

    def get(self, rtype: str, label: str, key: str, body: dict[str, Any] | None = None) -> Any:
        """An attribute resolved (None if absent); an unresolved one is recorded, located, and None."""
        self.used[(rtype, label)].add(key)
        body = self.resources[(rtype, label)] if body is None else body
        if key not in body:
            return None
        try:
            return self.resolve(body[key])
        except Unresolved as exc:
            loc = (f"{rtype}.{label}", key)
            self.design.unresolved(loc, self.line(rtype, label, key), str(exc), "AWS's default, or left out")
            return None

    def block(self, rtype: str, label: str, key: str) -> dict[str, Any]:
        found = self.get(rtype, label, key)
        if isinstance(found, list):
            found = found[0] if found else {}
        return found if isinstance(found, dict) else {}

    def ref(self, rtype: str, label: str, key: str, wanted: str) -> str | None:
        """The label of the ``wanted`` resource an attribute refers to."""
        value = self.get(rtype, label, key)
        return value.label if isinstance(value, TfRef) and value.type == wanted else None

    def target(self, value: Any) -> str | None:
        """The function a raw attribute names: ``aws_lambda_function.x.*`` (or an alias of it), or a literal ARN."""
        for text in _strings(value):
            for rtype, label in _ANY_REF.findall(text):
                if rtype == "aws_lambda_function" and (rtype, label) in self.resources:
                    return label
                if rtype == "aws_lambda_alias" and (rtype, label) in self.resources:
                    return self.target(self.resources[(rtype, label)].get("function_name"))
            literal = function_in_arn(text)
            if literal is not None:
                return literal
        return None


def _strings(value: Any) -> list[str]:
    out, stack = [], [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack += list(v.values())
        elif isinstance(v, list):
            stack += v
    return out


def _functions(m: Module) -> None:
    for label, _ in m.of("aws_lambda_function"):
        rt = "aws_lambda_function"
        fn = FunctionDesign(safe_name(label), m.address(rt, label))
        for key, out, convert in (("memory_size", "memory_mb", int), ("timeout", "timeout", float)):
            before = len(m.design.problems)
            value = m.get(rt, label, key)
            if len(m.design.problems) > before:
                note = f"{m.where(rt, label, key)} is unresolved: AWS's default"
                fn.fields[out] = Val({"memory_mb": 128, "timeout": 3}[out], note, placeholder=True)
            if value is not None:
                fn.fields[out] = Val(convert(number(value, key)), m.where(rt, label, key))
        reserved = m.get(rt, label, "reserved_concurrent_executions")
        if reserved is not None and int(number(reserved, "reserved_concurrent_executions")) >= 0:
            fn.fields["reserved_concurrency"] = Val(int(reserved), m.where(rt, label, "reserved_concurrent_executions"))
        arch = m.get(rt, label, "architectures")
        if isinstance(arch, list) and arch:
            fn.fields["arch"] = Val(str(arch[0]), m.where(rt, label, "architectures"))
        m.design.functions[fn.name] = fn
    for label, body in m.of("aws_lambda_provisioned_concurrency_config"):
        rt = "aws_lambda_provisioned_concurrency_config"
        fn = m.target(body.get("function_name"))
        m.used[(rt, label)].update({"function_name", "qualifier"})
        count = m.get(rt, label, "provisioned_concurrent_executions")
        if fn in m.design.functions and count is not None:
            where = f"{m.address(rt, label)}: {m.where(rt, label, 'provisioned_concurrent_executions')}"
            m.design.functions[fn].fields["provisioned_concurrency"] = Val(int(number(count, "count")), where)


def _resource_path(m: Module, label: str | None, depth: int = 0) -> str:
    if label is None or depth > 50:
        return "/"
    body = m.resources.get(("aws_api_gateway_resource", label), {})
    m.used[("aws_api_gateway_resource", label)].update({"rest_api_id", "parent_id", "path_part"})
    parent = m.resolve(body.get("parent_id"))
    part = str(m.resolve(body.get("path_part", "")))
    up = parent.label if isinstance(parent, TfRef) and parent.type == "aws_api_gateway_resource" else None
    return _resource_path(m, up, depth + 1).rstrip("/") + "/" + part


def _method_key(m: Module, rtype: str, label: str) -> tuple[str | None, str, str] | None:
    """(API label, path, METHOD) of a method or an integration."""
    try:
        api = m.ref(rtype, label, "rest_api_id", "aws_api_gateway_rest_api")
        res = m.get(rtype, label, "resource_id")
        path = _resource_path(
            m, res.label if isinstance(res, TfRef) and res.type == "aws_api_gateway_resource" else None
        )
        method = m.get(rtype, label, "http_method")
        if isinstance(method, TfRef):
            method = m.resolve(m.resources[(method.type, method.label)].get("http_method"))
    except Unresolved:
        return None
    return (api, path, str(method).upper()) if method is not None else None


def _rest(m: Module, apis: dict[str, ApiDesign]) -> None:
    for label, _ in m.of("aws_api_gateway_rest_api"):
        rt = "aws_api_gateway_rest_api"
        api = ApiDesign(safe_name(label), m.address(rt, label), Val("rest", rt))
        types = m.block(rt, label, "endpoint_configuration").get("types")
        if types:
            api.endpoint = Val(str(types[0]).lower(), m.where(rt, label, "endpoint_configuration"))
        else:
            api.endpoint = Val("edge", "endpoint_configuration not set: API Gateway's default, edge-optimized")
        m.used[(rt, label)].add("name")
        apis[f"rest:{label}"] = api
    integrations = {}
    for label, body in m.of("aws_api_gateway_integration"):
        rt = "aws_api_gateway_integration"
        key = _method_key(m, rt, label)
        m.used[(rt, label)].update({"type", "uri", "timeout_milliseconds", "integration_http_method"})
        timeout = m.get(rt, label, "timeout_milliseconds")
        raw = {"type": m.get(rt, label, "type"), "uri": body.get("uri"), "timeoutInMillis": timeout}
        integrations[key] = openapi.integration(
            raw, m.address(rt, label), (f"{rt}.{label}",), m.design, lambda v, loc: m.target(v)
        )
    authorizers: dict[str, dict[str, int]] = {}
    for label, _ in m.of("aws_api_gateway_method"):
        rt = "aws_api_gateway_method"
        key = _method_key(m, rt, label)
        if key is None or f"rest:{key[0]}" not in apis:
            m.design.unmapped.append(f"{m.address(rt, label)}: its API, resource or method is not in this file")
            continue
        api = apis[f"rest:{key[0]}"]
        integ, note, timeout = integrations.get(key) or ({"type": "mock"}, "PLACEHOLDER: no integration", None)
        api.routes.append(RouteDesign(f"{key[2]} {key[1]}", integ, f"{m.address(rt, label)}: {note}", timeout=timeout))
        kind = str(m.get(rt, label, "authorization") or "NONE").upper()
        auth = m.ref(rt, label, "authorizer_id", "aws_api_gateway_authorizer")
        found = auth if kind in ("CUSTOM", "COGNITO_USER_POOLS") and auth else {"AWS_IAM": "iam"}.get(kind)
        if found is None and kind == "COGNITO_USER_POOLS":
            found = "cognito"
        if found:
            authorizers.setdefault(api.name, {}).setdefault(found, 0)
            authorizers[api.name][found] += 1
        if m.get(rt, label, "api_key_required"):
            api.type.note += f"; {key[2]} {key[1]} requires an API key"
    for api in [a for a in apis.values() if a.name in authorizers]:
        used = authorizers[api.name]
        key = max(used, key=lambda k: used[k])
        api.authorizer = _authorizer(m, key, "aws_api_gateway_authorizer")
        if used[key] < len(api.routes) or len(used) > 1:
            m.design.unmapped.append(f"{api.name}: its authorizer guards {used[key]} of {len(api.routes)} methods; "
                                     "apisim's authorizer guards every route")  # fmt: skip
    for label, _ in m.of("aws_api_gateway_stage"):
        rt = "aws_api_gateway_stage"
        api = apis.get(f"rest:{m.ref(rt, label, 'rest_api_id', 'aws_api_gateway_rest_api')}")
        name = m.get(rt, label, "stage_name")
        m.used[(rt, label)].add("deployment_id")
        if api is None or name is None:
            continue
        stage = StageDesign(f"from {m.address(rt, label)}")
        if m.get(rt, label, "cache_cluster_enabled"):
            size = m.get(rt, label, "cache_cluster_size")
            where = m.where(rt, label, "cache_cluster_enabled")
            if size is None:
                stage.cache_size = Val(0.5, f"{where}; cache_cluster_size not set: AWS's default 0.5 GB")
            elif str(size) in CACHE_SIZES:
                stage.cache_size = Val(CACHE_SIZES[str(size)], m.where(rt, label, "cache_cluster_size"))
        else:
            m.get(rt, label, "cache_cluster_size")
        api.stages[safe_name(str(name))] = stage
    for label, body in m.of("aws_api_gateway_method_settings"):
        _method_settings(m, label, body, apis)


def _method_settings(m: Module, label: str, body: dict[str, Any], apis: dict[str, ApiDesign]) -> None:
    rt = "aws_api_gateway_method_settings"
    api = apis.get(f"rest:{m.ref(rt, label, 'rest_api_id', 'aws_api_gateway_rest_api')}")
    stage = m.get(rt, label, "stage_name")
    if isinstance(stage, TfRef):
        stage = m.resolve(m.resources[(stage.type, stage.label)].get("stage_name"))
    path = str(m.get(rt, label, "method_path") or "*/*")
    settings = m.block(rt, label, "settings")
    if api is None or stage is None or safe_name(str(stage)) not in api.stages:
        m.design.unmapped.append(f"{m.address(rt, label)}: its API or stage is not in this file")
        return
    st = api.stages[safe_name(str(stage))]
    where = m.address(rt, label)
    tr = throttle(settings.get("throttling_rate_limit"), settings.get("throttling_burst_limit"), f"settings {where}")
    if path == "*/*":
        st.throttle = tr or st.throttle
        if settings.get("cache_ttl_in_seconds") is not None:
            st.cache_ttl = Val(number(settings["cache_ttl_in_seconds"], "ttl"), f"cache_ttl_in_seconds {where}")
        if settings.get("caching_enabled") is False:
            for route in api.routes:
                route.cache = Val(False, f"caching_enabled false {where}")
        return
    resource, _, method = path.rpartition("/")
    method_setting(m.design, api, "/" + resource.lstrip("/"), method.upper(), settings, tr, where)


def _authorizer(m: Module, key: str, rtype: str) -> Val:
    if key in ("iam", "cognito", "jwt"):
        return Val({"type": key}, "the routes' authorization")
    body = m.resources[(rtype, key)]
    kind = str(m.get(rtype, key, "type") or m.get(rtype, key, "authorizer_type") or "TOKEN").upper()
    structural = {"name", "rest_api_id", "api_id", "identity_source", "identity_sources", "authorizer_uri"}
    structural.add("provider_arns")
    m.used[(rtype, key)].update({*structural, "authorizer_payload_format_version", "jwt_configuration"})
    if kind == "COGNITO_USER_POOLS":
        return Val({"type": "cognito"}, f"{m.address(rtype, key)}: type COGNITO_USER_POOLS")
    if kind == "JWT":
        return Val({"type": "jwt"}, f"{m.address(rtype, key)}: authorizer_type JWT")
    fn = m.target(body.get("authorizer_uri"))
    if fn is None:
        m.design.unresolved((f"{rtype}.{key}", "authorizer_uri"), m.line(rtype, key, "authorizer_uri"),
                            "the authorizer's function could not be worked out", "no authorizer")  # fmt: skip
        return Val({"type": "none"}, f"PLACEHOLDER: {m.address(rtype, key)}'s function is unresolved", placeholder=True)
    value: dict[str, Any] = {"type": "lambda", "function": m.design.function(fn, m.address(rtype, key))}
    ttl = m.get(rtype, key, "authorizer_result_ttl_in_seconds")
    note = f"{m.address(rtype, key)}: a {kind.lower()} Lambda authorizer"
    if ttl is not None:
        value["cache_ttl"] = number(ttl, "authorizer_result_ttl_in_seconds")
        note += f"; {m.where(rtype, key, 'authorizer_result_ttl_in_seconds')}"
    else:
        note += "; result TTL not set: the provider's default 300 s"
    return Val(value, note)


def _usage_plans(m: Module, apis: dict[str, ApiDesign]) -> None:
    keys: dict[str, int] = {}
    for label, _ in m.of("aws_api_gateway_usage_plan_key"):
        rt = "aws_api_gateway_usage_plan_key"
        plan = m.ref(rt, label, "usage_plan_id", "aws_api_gateway_usage_plan")
        m.used[(rt, label)].update({"key_id", "key_type"})
        if plan:
            keys[plan] = keys.get(plan, 0) + 1
    for label, body in m.of("aws_api_gateway_usage_plan"):
        rt = "aws_api_gateway_usage_plan"
        m.used[(rt, label)].update({"name", "api_stages", "throttle_settings", "quota_settings", "description"})
        tr = m.resolve((body.get("throttle_settings") or [{}])[0])
        quota_raw = m.resolve((body.get("quota_settings") or [{}])[0])
        for entry in body.get("api_stages") or []:
            api_ref = m.resolve(entry.get("api_id"))
            api = apis.get(f"rest:{api_ref.label}") if isinstance(api_ref, TfRef) else None
            if api is None:
                m.design.unmapped.append(f"{m.address(rt, label)}: an api_stages entry names no API of this file")
                continue
            stage = m.resolve(entry.get("stage"))
            if isinstance(stage, TfRef):
                stage = m.resolve(m.resources[(stage.type, stage.label)].get("stage_name"))
            plan = PlanDesign(f"from {m.address(rt, label)}", keys=keys.get(label, 0))
            plan.stages = [safe_name(str(stage))] if stage and safe_name(str(stage)) in api.stages else None
            plan.throttle = throttle(
                tr.get("rate_limit"), tr.get("burst_limit"), m.where(rt, label, "throttle_settings")
            )
            if quota_raw.get("limit") is not None:
                quota = {"limit": int(number(quota_raw["limit"], "limit")),
                         "period": str(quota_raw.get("period", "MONTH")).lower()}  # fmt: skip
                if quota_raw.get("offset"):
                    quota["offset"] = int(number(quota_raw["offset"], "offset"))
                plan.quota = Val(quota, m.where(rt, label, "quota_settings"))
            api.usage_plans[safe_name(label)] = plan


def _v2(m: Module, apis: dict[str, ApiDesign]) -> None:
    for label, _ in m.of("aws_apigatewayv2_api"):
        rt = "aws_apigatewayv2_api"
        proto = str(m.get(rt, label, "protocol_type") or "HTTP").upper()
        kind = "websocket" if proto == "WEBSOCKET" else "http"
        api = ApiDesign(safe_name(label), m.address(rt, label), Val(kind, m.where(rt, label, "protocol_type")))
        m.used[(rt, label)].add("name")
        rse = m.get(rt, label, "route_selection_expression")
        if kind == "websocket" and rse:
            api.route_selection = Val(str(rse), m.where(rt, label, "route_selection_expression"))
        apis[f"v2:{label}"] = api
    integrations = {}
    for label, body in m.of("aws_apigatewayv2_integration"):
        rt = "aws_apigatewayv2_integration"
        m.used[(rt, label)].update({"api_id", "integration_type", "integration_uri", "timeout_milliseconds",
                                    "integration_method", "payload_format_version"})  # fmt: skip
        timeout = m.get(rt, label, "timeout_milliseconds")
        kind = m.get(rt, label, "integration_type")
        raw = {"type": kind, "uri": body.get("integration_uri"), "timeoutInMillis": timeout}
        integrations[label] = openapi.integration(
            raw, m.address(rt, label), (f"{rt}.{label}",), m.design, lambda v, loc: m.target(v)
        )
    authorized: dict[str, dict[str, int]] = {}
    for label, body in m.of("aws_apigatewayv2_route"):
        rt = "aws_apigatewayv2_route"
        api = apis.get(f"v2:{m.ref(rt, label, 'api_id', 'aws_apigatewayv2_api')}")
        key = m.get(rt, label, "route_key")
        m.used[(rt, label)].add("target")
        if api is None or key is None:
            continue
        found = [
            lbl for t, lbl in _ANY_REF.findall(" ".join(_strings(body.get("target")))) if t.endswith("integration")
        ]
        integ, note, timeout = (
            integrations.get(found[0]) if found else ({"type": "mock"}, "PLACEHOLDER: no target", None)
        )
        route, where = str(key), m.address(rt, label)
        if api.type.value == "http" and route == "$default":
            route, where = "ANY /{proxy+}", where + "; the $default route, written as ANY /{proxy+}"
        api.routes.append(RouteDesign(route, integ, f"{where}: {note}", timeout=timeout))
        kind = str(m.get(rt, label, "authorization_type") or "NONE").upper()
        auth = m.ref(rt, label, "authorizer_id", "aws_apigatewayv2_authorizer")
        if kind != "NONE":
            k = auth or {"AWS_IAM": "iam", "JWT": "jwt"}.get(kind, kind.lower())
            authorized.setdefault(api.name, {}).setdefault(k, 0)
            authorized[api.name][k] += 1
    for api in [a for a in apis.values() if a.name in authorized and a.type.value != "rest"]:
        used = authorized[api.name]
        key = max(used, key=lambda k: used[k])
        api.authorizer = _authorizer(m, key, "aws_apigatewayv2_authorizer")
        if used[key] < len(api.routes) or len(used) > 1:
            m.design.unmapped.append(f"{api.name}: its authorizer guards {used[key]} of {len(api.routes)} routes; "
                                     "apisim's authorizer guards every route")  # fmt: skip
    for label, body in m.of("aws_apigatewayv2_stage"):
        rt = "aws_apigatewayv2_stage"
        api = apis.get(f"v2:{m.ref(rt, label, 'api_id', 'aws_apigatewayv2_api')}")
        name = m.get(rt, label, "name")
        m.used[(rt, label)].update({"auto_deploy", "default_route_settings", "route_settings"})
        if api is None or name is None:
            continue
        stage = StageDesign(f"from {m.address(rt, label)}")
        drs = m.resolve((body.get("default_route_settings") or [{}])[0])
        stage.throttle = throttle(drs.get("throttling_rate_limit"), drs.get("throttling_burst_limit"),
                                  m.where(rt, label, "default_route_settings"))  # fmt: skip
        api.stages[safe_name(str(name))] = stage
        for s in m.resolve(body.get("route_settings") or []):
            tr = throttle(s.get("throttling_rate_limit"), s.get("throttling_burst_limit"),
                          m.where(rt, label, "route_settings"))  # fmt: skip
            for route in api.routes:
                if route.route == s.get("route_key") and tr is not None:
                    route.throttle = tr


def _function_urls(m: Module, apis: dict[str, ApiDesign]) -> None:
    for label, body in m.of("aws_lambda_function_url"):
        rt = "aws_lambda_function_url"
        fn = m.target(body.get("function_name"))
        m.used[(rt, label)].update({"function_name", "qualifier", "cors"})
        if fn is None:
            m.design.unresolved((f"{rt}.{label}", "function_name"), m.line(rt, label, "function_name"),
                                "the URL's function could not be worked out", "URL left out")  # fmt: skip
            continue
        api = ApiDesign(safe_name(label), m.address(rt, label), Val("function_url", rt))
        auth = str(m.get(rt, label, "authorization_type") or "NONE").upper()
        api.authorizer = Val({"type": "iam" if auth == "AWS_IAM" else "none"}, m.where(rt, label, "authorization_type"))
        mode = m.get(rt, label, "invoke_mode")
        if mode:
            api.invoke_mode = Val(str(mode).lower(), m.where(rt, label, "invoke_mode"))
        integ = {"type": "lambda", "function": m.design.function(fn, m.address(rt, label))}
        api.routes.append(RouteDesign("ANY /", integ, "a function URL: every path reaches its function"))
        apis[f"url:{label}"] = api


def _albs(m: Module, apis: dict[str, ApiDesign]) -> None:
    groups: dict[str, str | None] = {}
    for label, _ in m.of("aws_lb_target_group"):
        if str(m.get("aws_lb_target_group", label, "target_type")).lower() == "lambda":
            groups[label] = None
    for label, body in m.of("aws_lb_target_group_attachment"):
        rt = "aws_lb_target_group_attachment"
        group = m.ref(rt, label, "target_group_arn", "aws_lb_target_group")
        m.used[(rt, label)].add("target_id")
        if group in groups:
            groups[group] = m.target(body.get("target_id"))
    listeners = {
        label: m.ref("aws_lb_listener", label, "load_balancer_arn", "aws_lb") for label, _ in m.of("aws_lb_listener")
    }

    def alb(lb: str | None) -> ApiDesign | None:
        if lb is None:
            return None
        key = f"alb:{lb}"
        if key not in apis:
            apis[key] = ApiDesign(safe_name(lb), m.address("aws_lb", lb), Val("alb", "aws_lb"))
        return apis[key]

    def forward(body: dict[str, Any]) -> str | None:
        for action in body.get("action") or body.get("default_action") or []:
            for text in _strings(action.get("target_group_arn")):
                for t, lbl in _ANY_REF.findall(text):
                    if t == "aws_lb_target_group" and groups.get(lbl):
                        return groups[lbl]
        return None

    for label, body in m.of("aws_lb_listener_rule"):
        rt = "aws_lb_listener_rule"
        m.used[(rt, label)].update({"listener_arn", "action", "condition", "priority"})
        fn = forward(body)
        api = alb(listeners.get(m.ref(rt, label, "listener_arn", "aws_lb_listener") or ""))
        if api is None or fn is None:
            m.design.unmapped.append(f"{m.address(rt, label)}: not a rule forwarding to a Lambda target group")
            continue
        paths, methods = ["/*"], ["ANY"]
        for cond in body.get("condition") or []:
            for pp in cond.get("path_pattern") or []:
                paths = [str(v) for v in pp.get("values") or []]
            for hm in cond.get("http_request_method") or []:
                methods = [str(v).upper() for v in hm.get("values") or []]
        for path in paths:
            for method in methods:
                integ = {"type": "lambda", "function": m.design.function(fn, m.address(rt, label))}
                api.routes.append(RouteDesign(f"{method} {path}", integ, f"listener rule {m.address(rt, label)}"))
    for label, body in m.of("aws_lb_listener"):
        m.used[("aws_lb_listener", label)].update({"default_action", "port", "protocol"})
        fn = forward(body)
        api = alb(listeners[label]) if fn else None
        if api is not None and fn is not None:
            integ = {"type": "lambda", "function": m.design.function(fn, m.address("aws_lb_listener", label))}
            api.routes.append(RouteDesign("ANY /*", integ, f"default action of {m.address('aws_lb_listener', label)}"))


MAPPED = {
    "aws_lambda_function", "aws_lambda_provisioned_concurrency_config", "aws_lambda_function_url", "aws_lambda_alias",
    "aws_api_gateway_rest_api", "aws_api_gateway_resource", "aws_api_gateway_method", "aws_api_gateway_integration",
    "aws_api_gateway_stage", "aws_api_gateway_method_settings", "aws_api_gateway_usage_plan",
    "aws_api_gateway_usage_plan_key", "aws_api_gateway_api_key", "aws_api_gateway_authorizer",
    "aws_api_gateway_deployment", "aws_apigatewayv2_api", "aws_apigatewayv2_route", "aws_apigatewayv2_integration",
    "aws_apigatewayv2_stage", "aws_apigatewayv2_authorizer", "aws_lb", "aws_lb_listener", "aws_lb_listener_rule",
    "aws_lb_target_group", "aws_lb_target_group_attachment",
}  # fmt: skip
ATTACHED = {"count", "for_each", "depends_on", "lifecycle", "provider", "tags", "__start_line__", "__end_line__"}


def import_terraform(path: Path) -> Design:
    """A Terraform file as a design (see the module docstring)."""
    text = read_text(path)
    try:
        data = hcl2.loads(text, with_meta=True)
    except Exception as exc:  # lark's parse errors have no common base outside lark; each has its line
        line = getattr(exc, "line", None)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScenarioError(str(path), [Problem((), f"not valid HCL: {first}", line)], where="in the file") from None
    m = Module(path, text, data)
    _functions(m)
    apis: dict[str, ApiDesign] = {}
    _rest(m, apis)
    _usage_plans(m, apis)
    _v2(m, apis)
    _function_urls(m, apis)
    _albs(m, apis)
    design = m.design
    for api in apis.values():
        if not api.routes:
            design.unmapped.append(f"{api.address}: no routes found (a body in another file?): not written")
            continue
        api.name = unique(api.name, design.apis)
        design.apis[api.name] = api
    for (rtype, label), body in m.resources.items():
        if rtype not in MAPPED:
            design.unmapped.append(f"{m.address(rtype, label)}: a resource type apisim does not map")
            continue
        left = [k for k in body if k not in m.used[(rtype, label)] and k not in ATTACHED]
        if left:
            design.unmapped.append(f"{m.address(rtype, label)}: {', '.join(left)}")
        if "count" in body or "for_each" in body:
            design.unmapped.append(f"{m.address(rtype, label)}: count / for_each (imported as one resource)")
    return design
