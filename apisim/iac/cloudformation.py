"""SAM and CloudFormation templates → a design: functions, API Gateway APIs, function URLs, ALBs.

Intrinsics are resolved where the template alone settles them: a parameter's ``Default``, pseudo
parameters inside ``!Sub``, ``!If`` on conditions over those, ``!FindInMap``, ``!Select``, ``!Join``,
and ``!Ref``/``!GetAtt`` of the template's own resources. Anything else (``!ImportValue``, a parameter
without a default) is a located problem, and the value a marked placeholder.

SAM's implicit APIs follow its documentation: ``Api`` events without ``RestApiId`` share a REST API
``ServerlessRestApi`` with stage ``Prod``, ``HttpApi`` events without ``ApiId`` an HTTP API
``ServerlessHttpApi`` with stage ``$default``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
from apisim.iac.documents import Source
from apisim.problems import Loc

FUNCTIONS = ("AWS::Serverless::Function", "AWS::Lambda::Function")
PSEUDO = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
"""Pseudo parameters that only ever appear inside ARNs and URIs here: any stand-in reads the same."""
CACHE_SIZES = {"0.5": 0.5, "1.6": 1.6, "6.1": 6.1, "13.5": 13.5, "28.4": 28.4, "58.2": 58.2, "118": 118, "237": 237}
AWS_DEFAULTS = {"memory_mb": 128, "timeout": 3}
"""What Lambda takes when a function sets no memory or timeout: written in place of an unresolved one."""
IMPLICIT_REST, IMPLICIT_HTTP = "ServerlessRestApi", "ServerlessHttpApi"
_SUB = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")


@dataclass(frozen=True)
class Ref:
    """A reference to one of the template's resources (``!Ref X``, ``!GetAtt X.Attr``)."""

    logical: str
    attr: str | None = None

    def __str__(self) -> str:
        return "${" + self.logical + (f".{self.attr}" if self.attr else "") + "}"


class Template:
    """One template being imported: its resolver, and what each resource's properties mapped to."""

    def __init__(self, src: Source) -> None:
        self.src = src
        data = src.data
        self.resources: dict[str, Any] = {k: v for k, v in (data.get("Resources") or {}).items() if isinstance(v, dict)}
        self.params: dict[str, Any] = data.get("Parameters") or {}
        self.mappings: dict[str, Any] = data.get("Mappings") or {}
        self.conditions: dict[str, Any] = data.get("Conditions") or {}
        self.globals: dict[str, Any] = data.get("Globals") or {}
        sam = "AWS::Serverless" in str(data.get("Transform", "")) or any(
            str(r.get("Type", "")).startswith("AWS::Serverless::") for r in self.resources.values()
        )
        self.design = Design(src.name, "SAM" if sam else "CloudFormation")
        self.used: dict[str, set[str]] = {name: set() for name in self.resources}
        self.pending: list[tuple[str, dict[str, Any], StageDesign, ApiDesign, Loc]] = []

    # -- the resolver ------------------------------------------------------------------------

    def kind(self, logical: str) -> str:
        return str(self.resources.get(logical, {}).get("Type", ""))

    def props(self, logical: str) -> dict[str, Any]:
        found = self.resources.get(logical, {}).get("Properties") or {}
        return found if isinstance(found, dict) else {}

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """``value`` with every intrinsic the template settles worked out; raises :class:`Unresolved`."""
        if depth > 20:
            raise Unresolved("intrinsics nested too deeply to follow")
        if isinstance(value, list):
            return [self.resolve(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v, depth + 1) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self._ref(arg)
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            if parts and parts[0] in self.resources:
                return Ref(parts[0], ".".join(map(str, parts[1:])) or None)
            raise Unresolved(f"!GetAtt {arg}: no such resource in this template")
        if key == "Fn::If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond, depth + 1) else no, depth + 1)
        if key == "Fn::FindInMap":
            name, first, second = (self.resolve(a, depth + 1) for a in arg[:3])
            try:
                return self.resolve(self.mappings[name][first][second], depth + 1)
            except (KeyError, TypeError):
                raise Unresolved(f"!FindInMap [{name}, {first}, {second}]: no such entry in Mappings") from None
        if key == "Fn::Select":
            index, items = self.resolve(arg[0], depth + 1), self.resolve(arg[1], depth + 1)
            try:
                return items[int(index)]
            except (IndexError, TypeError, ValueError):
                raise Unresolved(f"!Select {index}: not an index of {items!r}") from None
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(self.resolve(i, depth + 1)) for i in self.resolve(items, depth + 1))
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return _SUB.sub(lambda m: str(self._sub(m.group(1), extra, depth)), str(text))
        if key.startswith("Fn::") or key == "Condition":
            short = key.removeprefix("Fn::")
            raise Unresolved(f"!{short} is not worked out by apisim import (its value is known only when deployed)")
        return {key: self.resolve(arg, depth + 1)}

    def _ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return None
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            param = self.params[name] or {}
            if "Default" not in param:
                raise Unresolved(f"parameter {name} has no Default (its value is given when the stack is deployed)")
            return param["Default"]
        if name in self.resources:
            return Ref(str(name))
        raise Unresolved(f"!Ref {name}: neither a parameter nor a resource of this template")

    def _sub(self, name: str, extra: dict[str, Any], depth: int) -> Any:
        if name in extra:
            return self.resolve(extra[name], depth + 1)
        if "." in name and name.split(".", 1)[0] in self.resources:
            logical, attr = name.split(".", 1)
            return Ref(logical, attr)
        return self._ref(name)

    def condition(self, name: Any, depth: int = 0) -> bool:
        """The truth of a condition (or a condition function) over values the template settles."""
        node = self.conditions.get(name) if isinstance(name, str) else name
        if node is None:
            raise Unresolved(f"condition {name}: not defined in Conditions")
        if not isinstance(node, dict) or len(node) != 1:
            raise Unresolved(f"condition {name}: not a condition function")
        ((key, arg),) = node.items()
        if key == "Fn::Equals":
            a, b = (self.resolve(x, depth + 1) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not self.condition(arg[0], depth + 1)
        if key == "Fn::And":
            return all(self.condition(c, depth + 1) for c in arg)
        if key == "Fn::Or":
            return any(self.condition(c, depth + 1) for c in arg)
        if key == "Condition":
            return self.condition(arg, depth + 1)
        raise Unresolved(f"condition {name}: {key} is not worked out by apisim import")

    def target(self, value: Any, loc: Loc) -> str | None:
        """The Lambda function a value names: a reference to one of the template's functions (or its
        alias or version), a ``${Fn.Arn}`` inside ``!Sub``, or a literal ARN."""
        stack = [value]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                if "Ref" in v or "Fn::GetAtt" in v:
                    raw = v.get("Ref", v.get("Fn::GetAtt"))
                    logical = str(raw.split(".", 1)[0] if isinstance(raw, str) else (raw or [""])[0])
                    fn = self.function_of(logical)
                    if fn is not None:
                        return fn
                stack += list(v.values())
            elif isinstance(v, list):
                stack += v
            elif isinstance(v, str):
                for name in _SUB.findall(v):
                    fn = self.function_of(name.split(".", 1)[0])
                    if fn is not None:
                        return fn
                literal = function_in_arn(v)
                if literal is not None:
                    return literal
        return None

    def function_of(self, logical: str) -> str | None:
        """The function a resource is, or belongs to (an alias, a version), as its scenario name."""
        kind = self.kind(logical)
        if kind in FUNCTIONS:
            return logical
        if kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            return self.target(self.props(logical).get("FunctionName"), ())
        return None

    # -- reading properties -----------------------------------------------------------------

    def loc(self, logical: str, *keys: str | int) -> Loc:
        return ("Resources", logical, "Properties", *keys)

    def get(self, logical: str, props: dict[str, Any], key: str, *, base: Loc | None = None) -> Any:
        """A property resolved (None if absent); an unresolved one is recorded, located, and None."""
        if logical in self.used:
            self.used[logical].add(key)
        if key not in props:
            return None
        loc = (*(base or self.loc(logical)), key)
        try:
            return self.resolve(props[key])
        except (Unresolved, ValueError, TypeError) as exc:
            self.design.unresolved(loc, self.src.line(loc), f"{key}: {exc}", "AWS's default, or left out")
            return None

    def where(self, logical: str, *keys: str | int, base: Loc | None = None) -> str:
        """``Key (file:line)``; a value from Globals says so (``Globals.Function.Key``)."""
        path = (*base, *keys) if base and base[0] == "Globals" else keys
        return f"{'.'.join(map(str, path))} ({self.src.at((*(base or self.loc(logical)), *keys))})"

    def address(self, logical: str) -> str:
        return f"{logical} ({self.src.at(('Resources', logical))})"


# -- functions ------------------------------------------------------------------------------


def _function(t: Template, logical: str) -> None:
    props = t.props(logical)
    sam = t.kind(logical) == "AWS::Serverless::Function"
    glob = (t.globals.get("Function") or {}) if sam else {}
    fn = FunctionDesign(safe_name(logical), t.address(logical))
    for key, out, convert in (
        ("MemorySize", "memory_mb", int),
        ("Timeout", "timeout", float),
        ("ReservedConcurrentExecutions", "reserved_concurrency", int),
    ):
        own = key in props
        base = None if own else ("Globals", "Function")
        before = len(t.design.problems)
        value = t.get(logical, props if own else glob, key, base=base)
        if len(t.design.problems) > before and out in AWS_DEFAULTS:
            note = f"{key} is unresolved ({t.src.at((*(base or t.loc(logical)), key))}): AWS's default"
            fn.fields[out] = Val(AWS_DEFAULTS[out], note, placeholder=True)
        if value is not None:
            try:
                fn.fields[out] = Val(convert(number(value, key)), t.where(logical, key, base=base))
            except Unresolved as exc:
                t.design.unresolved((*(base or t.loc(logical)), key), None, str(exc), "AWS's default")
    arch_base = None if "Architectures" in props else ("Globals", "Function")
    arch = t.get(logical, props if arch_base is None else glob, "Architectures", base=arch_base)
    if isinstance(arch, list) and arch:
        fn.fields["arch"] = Val(str(arch[0]), t.where(logical, "Architectures", base=arch_base))
    pc_src = props if "ProvisionedConcurrencyConfig" in props else glob
    pc = t.get(logical, pc_src, "ProvisionedConcurrencyConfig")
    if isinstance(pc, dict) and pc.get("ProvisionedConcurrentExecutions") is not None:
        count = int(number(pc["ProvisionedConcurrentExecutions"], "ProvisionedConcurrentExecutions"))
        fn.fields["provisioned_concurrency"] = Val(count, t.where(logical, "ProvisionedConcurrencyConfig"))
    t.design.functions[fn.name] = fn
    if sam:
        t.used[logical].add("Events")  # each event is mapped or listed by _events


def _provisioned(t: Template, logical: str) -> None:
    """An alias or version's ProvisionedConcurrencyConfig belongs to its function."""
    props = t.props(logical)
    fn = t.target(props.get("FunctionName"), t.loc(logical, "FunctionName"))
    t.get(logical, props, "FunctionName")
    pc = t.get(logical, props, "ProvisionedConcurrencyConfig")
    if fn in t.design.functions and isinstance(pc, dict) and pc.get("ProvisionedConcurrentExecutions") is not None:
        count = int(number(pc["ProvisionedConcurrentExecutions"], "ProvisionedConcurrentExecutions"))
        t.design.functions[fn].fields["provisioned_concurrency"] = Val(
            count,
            f"{logical}.ProvisionedConcurrencyConfig ({t.src.at(t.loc(logical, 'ProvisionedConcurrencyConfig'))})",
        )


# -- API Gateway ----------------------------------------------------------------------------


def _endpoint(t: Template, logical: str, props: dict[str, Any], base: Loc | None = None) -> Val:
    raw = t.get(logical, props, "EndpointConfiguration", base=base)
    if isinstance(raw, dict):
        raw = raw.get("Type") or (raw.get("Types") or [None])[0]
    if raw is None:
        return Val("edge", "EndpointConfiguration not set: API Gateway's default for a REST API, edge-optimized")
    return Val(str(raw).lower(), t.where(logical, "EndpointConfiguration", base=base))


def _stage_settings(
    t: Template, logical: str, props: dict[str, Any], stage: StageDesign, api: ApiDesign, base: Loc | None = None
) -> None:
    """A REST stage's cache cluster and MethodSettings (stage-wide and per method), once its routes are known."""
    if t.get(logical, props, "CacheClusterEnabled", base=base) in (True, "true", "True"):
        size = t.get(logical, props, "CacheClusterSize", base=base)
        if size is None:
            enabled = t.where(logical, "CacheClusterEnabled", base=base)
            stage.cache_size = Val(0.5, f"{enabled}; CacheClusterSize not set: AWS's default 0.5 GB")
        elif str(size) in CACHE_SIZES:
            stage.cache_size = Val(CACHE_SIZES[str(size)], t.where(logical, "CacheClusterSize", base=base))
    else:
        t.get(logical, props, "CacheClusterSize", base=base)
    settings = t.get(logical, props, "MethodSettings", base=base) or []
    for i, s in enumerate(settings if isinstance(settings, list) else []):
        where = t.where(logical, "MethodSettings", i, base=base)
        path, method = str(s.get("ResourcePath", "/*")), str(s.get("HttpMethod", "*"))
        tr = throttle(s.get("ThrottlingRateLimit"), s.get("ThrottlingBurstLimit"), where)
        if path in ("/*", "*") and method == "*":
            if tr is not None:
                stage.throttle = tr
            if s.get("CacheTtlInSeconds") is not None:
                stage.cache_ttl = Val(
                    number(s["CacheTtlInSeconds"], "CacheTtlInSeconds"), f"CacheTtlInSeconds in {where}"
                )
            if s.get("CachingEnabled") is not None and not s["CachingEnabled"]:
                for route in api.routes:
                    route.cache = Val(False, f"CachingEnabled false {where}")
            continue
        decoded = "/" + path.lstrip("/").replace("~1", "/").lstrip("/")  # AWS writes / inside a path as ~1
        method_setting(t.design, api, decoded, method, s, tr, where)


def _rest_api(t: Template, logical: str) -> ApiDesign:
    props = t.props(logical)
    api = ApiDesign(safe_name(logical), t.address(logical), Val("rest", t.kind(logical)))
    api.endpoint = _endpoint(t, logical, props)
    t.used[logical].update({"Name", "Description"})
    body = t.get(logical, props, "Body")
    if isinstance(body, dict):
        openapi.add_paths(body, api, t.design, t.src, t.loc(logical, "Body"), t.target, api.name)
    return api


def _resource_path(t: Template, logical: str, seen: int = 0) -> str:
    props = t.props(logical)
    t.used[logical].update({"RestApiId", "ParentId", "PathPart"})
    parent = props.get("ParentId")
    part = str(t.resolve(props.get("PathPart", "")))
    if seen > 50:
        raise Unresolved("resources nested too deeply")
    if isinstance(parent, dict) and "Ref" in parent and t.kind(parent["Ref"]) == "AWS::ApiGateway::Resource":
        return _resource_path(t, parent["Ref"], seen + 1).rstrip("/") + "/" + part
    return "/" + part


def _methods(t: Template, apis: dict[str, ApiDesign]) -> None:
    authorizers: dict[str, dict[str, int]] = {}
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGateway::Method"]:
        props = t.props(logical)
        api_ref = t.get(logical, props, "RestApiId")
        api = apis.get(api_ref.logical) if isinstance(api_ref, Ref) else None
        if api is None:
            t.design.unmapped.append(f"{t.address(logical)}: RestApiId names no REST API of this template")
            continue
        res = props.get("ResourceId")
        t.used[logical].add("ResourceId")
        try:
            path = _resource_path(t, res["Ref"]) if isinstance(res, dict) and "Ref" in res else "/"
            method = str(t.resolve(props.get("HttpMethod", "ANY"))).upper()
        except Unresolved as exc:
            t.design.unresolved(t.loc(logical), t.src.line(t.loc(logical)), str(exc), "route left out")
            continue
        t.used[logical].add("HttpMethod")
        where = t.address(logical)
        raw = t.get(logical, props, "Integration") or {}
        integ, note, timeout = openapi.integration(raw, where, t.loc(logical, "Integration"), t.design, t.target)
        api.routes.append(RouteDesign(f"{method} {path}", integ, f"{where}: {note}", timeout=timeout))
        kind = str(t.get(logical, props, "AuthorizationType") or "NONE").upper()
        auth_ref = t.get(logical, props, "AuthorizerId")
        key = {"AWS_IAM": "iam", "COGNITO_USER_POOLS": "cognito"}.get(kind)
        if kind in ("CUSTOM", "COGNITO_USER_POOLS") and isinstance(auth_ref, Ref):
            key = auth_ref.logical
        if key:
            authorizers.setdefault(api.name, {}).setdefault(key, 0)
            authorizers[api.name][key] += 1
        if t.get(logical, props, "ApiKeyRequired"):
            api.type.note += f"; {method} {path} requires an API key ({where})"
    for api_name, used in authorizers.items():
        api = apis[api_name]
        key = max(used, key=lambda k: used[k])
        api.authorizer = _authorizer(t, key)
        if used[key] < len(api.routes) or len(used) > 1:
            t.design.unmapped.append(f"{api_name}: its authorizer ({key}) guards {used[key]} of {len(api.routes)} "
                                     "methods; apisim's authorizer guards every route")  # fmt: skip


def _authorizer(t: Template, key: str) -> Val:
    if key in ("iam", "cognito"):
        return Val({"type": key}, f"methods' AuthorizationType ({'AWS_IAM' if key == 'iam' else 'COGNITO_USER_POOLS'})")
    props = t.props(key)
    t.used[key].update({"Name", "RestApiId", "ApiId", "IdentitySource", "AuthorizerType"})
    kind = str(t.get(key, props, "Type") or "TOKEN").upper()
    if kind == "COGNITO_USER_POOLS":
        t.get(key, props, "ProviderARNs")
        return Val({"type": "cognito"}, f"{t.address(key)}: Type COGNITO_USER_POOLS")
    if kind == "JWT" or str(props.get("AuthorizerType", "")).upper() == "JWT":
        return Val({"type": "jwt"}, f"{t.address(key)}: a JWT authorizer")
    uri_key = "AuthorizerUri"
    fn = t.target(props.get(uri_key), t.loc(key, uri_key))
    t.used[key].add(uri_key)
    if fn is None:
        t.design.unresolved(t.loc(key, uri_key), t.src.line(t.loc(key, uri_key)),
                            "the authorizer's function could not be worked out", "no authorizer")  # fmt: skip
        return Val({"type": "none"}, f"PLACEHOLDER: {t.address(key)}'s function is unresolved", placeholder=True)
    value: dict[str, Any] = {"type": "lambda", "function": t.design.function(fn, t.address(key))}
    ttl = t.get(key, props, "AuthorizerResultTtlInSeconds")
    note = f"{t.address(key)}: a {kind.lower()} Lambda authorizer"
    if ttl is not None:
        value["cache_ttl"] = number(ttl, "AuthorizerResultTtlInSeconds")
        note += f"; TTL {t.where(key, 'AuthorizerResultTtlInSeconds')}"
    else:
        note += "; result TTL not set: AWS's default 300 s"
    return Val(value, note)


def _stages(t: Template, apis: dict[str, ApiDesign]) -> None:
    for logical in [n for n in t.resources if t.kind(n) in ("AWS::ApiGateway::Stage", "AWS::ApiGateway::Deployment")]:
        props = t.props(logical)
        api_ref = t.get(logical, props, "RestApiId")
        api = apis.get(api_ref.logical) if isinstance(api_ref, Ref) else None
        name = t.get(logical, props, "StageName")
        if t.kind(logical) == "AWS::ApiGateway::Deployment":
            props = t.get(logical, props, "StageDescription") or {}
            if name is None:
                continue  # a deployment without a stage of its own: its stages are Stage resources
        if api is None or name is None:
            continue
        t.used[logical].add("DeploymentId")
        stage = StageDesign(f"{t.kind(logical)} {t.address(logical)}")
        api.stages[safe_name(str(name))] = stage
        _stage_settings(t, logical, props, stage, api)


def _stage_name(t: Template, value: Any) -> str | None:
    """A stage named by text, or by a reference to a Stage resource (whose Ref is its name)."""
    if isinstance(value, Ref) and t.kind(value.logical) == "AWS::ApiGateway::Stage":
        return str(t.resolve(t.props(value.logical).get("StageName")))
    return None if value is None or isinstance(value, Ref) else str(value)


def _usage_plans(t: Template, apis: dict[str, ApiDesign]) -> None:
    keys: dict[str, int] = {}
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGateway::UsagePlanKey"]:
        plan = t.get(logical, t.props(logical), "UsagePlanId")
        t.get(logical, t.props(logical), "KeyId")
        t.get(logical, t.props(logical), "KeyType")
        if isinstance(plan, Ref):
            keys[plan.logical] = keys.get(plan.logical, 0) + 1
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGateway::ApiKey"]:
        t.used[logical].update({"Enabled", "Name", "Description"})  # keys count through UsagePlanKey
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGateway::UsagePlan"]:
        props = t.props(logical)
        plan_name = safe_name(logical)
        t.used[logical].update({"UsagePlanName", "Description"})
        tr_raw = t.get(logical, props, "Throttle") or {}
        quota_raw = t.get(logical, props, "Quota")
        for i, entry in enumerate(t.get(logical, props, "ApiStages") or []):
            api_ref = entry.get("ApiId")
            api = apis.get(api_ref.logical) if isinstance(api_ref, Ref) else None
            if api is None:
                t.design.unmapped.append(f"{t.address(logical)}: ApiStages.{i} names no API of this template")
                continue
            plan = api.usage_plans.setdefault(plan_name, PlanDesign(f"from {t.address(logical)}", stages=[]))
            plan.keys = keys.get(logical, 0)
            stage = _stage_name(t, entry.get("Stage"))
            if stage is not None and plan.stages is not None:
                plan.stages.append(safe_name(stage))
            if entry.get("Throttle"):
                t.design.unmapped.append(f"{t.address(logical)}: per-method throttles of a usage plan "
                                         f"(ApiStages.{i}.Throttle); apisim's plans throttle per key only")  # fmt: skip
            plan.throttle = throttle(tr_raw.get("RateLimit"), tr_raw.get("BurstLimit"), t.where(logical, "Throttle"))
            if isinstance(quota_raw, dict) and quota_raw.get("Limit") is not None:
                quota = {"limit": int(number(quota_raw["Limit"], "Limit")),
                         "period": str(quota_raw.get("Period", "MONTH")).lower()}  # fmt: skip
                if quota_raw.get("Offset"):
                    quota["offset"] = int(number(quota_raw["Offset"], "Offset"))
                plan.quota = Val(quota, t.where(logical, "Quota"))
        for name in t.design.apis:
            plan = apis[name].usage_plans.get(plan_name) if name in apis else None
            if plan is not None and plan.stages is not None:
                known = set(apis[name].stages)
                plan.stages = [s for s in plan.stages if s in known] or None


# -- SAM ------------------------------------------------------------------------------------


def _sam_api(t: Template, logical: str | None, http: bool) -> ApiDesign:
    """An explicit AWS::Serverless::Api / HttpApi, or (``logical`` None) SAM's implicit one,
    configured by Globals.Api / Globals.HttpApi."""
    name = logical or (IMPLICIT_HTTP if http else IMPLICIT_REST)
    section = "HttpApi" if http else "Api"
    props = t.props(logical) if logical else (t.globals.get(section) or {})
    base = t.loc(logical) if logical else ("Globals", section)
    kind = "AWS::Serverless::HttpApi" if http else "AWS::Serverless::Api"
    address = t.address(logical) if logical else f"{name} (SAM's implicit {kind}, from the functions' {section} events)"
    api = ApiDesign(safe_name(name), address, Val("http" if http else "rest", kind))
    owner = logical or ""
    default_stage = "$default" if http else "Prod"
    stage_name = t.get(owner, props, "StageName", base=base) or default_stage
    stage = StageDesign(
        f"StageName ({t.src.at((*base, 'StageName'))})"
        if "StageName" in props
        else f"SAM's default stage {default_stage}"
    )
    api.stages[safe_name(str(stage_name))] = stage
    if not http:
        api.endpoint = _endpoint(t, owner, props, base)
        t.pending.append((owner, props, stage, api, base))  # per-method settings need the events' routes
    else:
        drs = t.get(owner, props, "DefaultRouteSettings", base=base) or {}
        stage.throttle = throttle(drs.get("ThrottlingRateLimit"), drs.get("ThrottlingBurstLimit"),
                                  f"DefaultRouteSettings ({t.src.at((*base, 'DefaultRouteSettings'))})")  # fmt: skip
    body = t.get(owner, props, "DefinitionBody", base=base)
    if isinstance(body, dict):
        openapi.add_paths(body, api, t.design, t.src, (*base, "DefinitionBody"), t.target, api.name)
    auth = t.get(owner, props, "Auth", base=base) or {}
    default = auth.get("DefaultAuthorizer")
    authorizers = auth.get("Authorizers") or {}
    if default in authorizers:
        api.authorizer = _sam_authorizer(t, default, authorizers[default], (*base, "Auth", "Authorizers", default))
    elif default == "AWS_IAM" or auth.get("EnableIamAuthorizer"):
        api.authorizer = Val({"type": "iam"}, f"Auth ({t.src.at((*base, 'Auth'))})")
    plan = auth.get("UsagePlan") if isinstance(auth, dict) else None
    if isinstance(plan, dict) and str(plan.get("CreateUsagePlan", "NONE")).upper() != "NONE":
        where = f"Auth.UsagePlan ({t.src.at((*base, 'Auth', 'UsagePlan'))})"
        design = PlanDesign(f"SAM's usage plan from {where}, with one API key", keys=1)
        tr = plan.get("Throttle") or {}
        design.throttle = throttle(tr.get("RateLimit"), tr.get("BurstLimit"), where)
        q = plan.get("Quota")
        if isinstance(q, dict) and q.get("Limit") is not None:
            quota = {"limit": int(number(q["Limit"], "Limit")), "period": str(q.get("Period", "MONTH")).lower()}
            design.quota = Val(quota, where)
        api.usage_plans[f"{api.name}UsagePlan"] = design
    if logical:
        for key in ("Auth", "DefinitionBody", "StageName", "EndpointConfiguration", "MethodSettings"):
            t.used[logical].add(key)
    return api


def _sam_authorizer(t: Template, name: str, raw: Any, loc: Loc) -> Val:
    where = f"Auth.Authorizers.{name} ({t.src.at(loc)})"
    if not isinstance(raw, dict):
        return Val({"type": "none"}, f"PLACEHOLDER: {where} unreadable", placeholder=True)
    if "UserPoolArn" in raw:
        return Val({"type": "cognito"}, f"a Cognito authorizer, {where}")
    if "JwtConfiguration" in raw:
        return Val({"type": "jwt"}, f"a JWT authorizer, {where}")
    fn = t.target(raw.get("FunctionArn"), (*loc, "FunctionArn"))
    if fn is None:
        t.design.unresolved((*loc, "FunctionArn"), t.src.line(loc), "the authorizer's function could not be worked out",
                            "no authorizer")  # fmt: skip
        return Val({"type": "none"}, f"PLACEHOLDER: {where}: function unresolved", placeholder=True)
    value: dict[str, Any] = {"type": "lambda", "function": t.design.function(fn, where)}
    ttl = (raw.get("Identity") or {}).get("ReauthorizeEvery")
    note = f"a Lambda authorizer, {where}"
    if ttl is not None:
        value["cache_ttl"] = number(t.resolve(ttl), "ReauthorizeEvery")
        note += "; Identity.ReauthorizeEvery"
    else:
        note += "; ReauthorizeEvery not set: SAM's default 300 s"
    return Val(value, note)


def _events(t: Template, apis: dict[str, ApiDesign], logical: str) -> None:
    events = t.props(logical).get("Events") or {}
    for name, event in events.items() if isinstance(events, dict) else ():
        loc = t.loc(logical, "Events", name)
        kind = str((event or {}).get("Type", ""))
        props = (event or {}).get("Properties") or {}
        if kind not in ("Api", "HttpApi"):
            t.design.unmapped.append(f"{logical} event {name} of type {kind} ({t.src.at(loc)}): not a front door")
            continue
        http = kind == "HttpApi"
        ref_key = "ApiId" if http else "RestApiId"
        try:
            ref = t.resolve(props.get(ref_key))
            path, method = t.resolve(props.get("Path")), t.resolve(props.get("Method"))
        except Unresolved as exc:
            t.design.unresolved(loc, t.src.line(loc), f"event {name}: {exc}", "route left out")
            continue
        target = ref.logical if isinstance(ref, Ref) else (IMPLICIT_HTTP if http else IMPLICIT_REST)
        if target not in apis:
            apis[target] = _sam_api(t, None, http)
        api = apis[target]
        route = f"{str(method).upper()} {path}" if path and method else "ANY /{proxy+}"
        note = f"{logical} event {name} ({t.src.at(loc)})"
        if not (path and method):
            note += ": an HttpApi event without Path and Method is the $default route, written as ANY /{proxy+}"
        timeout = props.get("TimeoutInMillis")
        tval = Val(number(timeout, "TimeoutInMillis") / 1000.0, f"TimeoutInMillis ({note})") if timeout else None
        integ = {"type": "lambda", "function": safe_name(logical)}
        api.routes.append(RouteDesign(route, integ, note, timeout=tval))
        auth = props.get("Auth") or {}
        if isinstance(auth, dict) and auth.get("Authorizer") not in (None,) and api.authorizer is None:
            t.design.unmapped.append(f"{note}: Auth.Authorizer {auth['Authorizer']} names no DefaultAuthorizer; "
                                     "apisim's authorizer is the API's")  # fmt: skip
        settings = props.get("RouteSettings") or {}
        if settings:
            rt = throttle(settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit"), note)
            api.routes[-1].throttle = rt


# -- API Gateway v2, function URLs, load balancers --------------------------------------------


def _v2(t: Template, apis: dict[str, ApiDesign]) -> None:
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGatewayV2::Api"]:
        props = t.props(logical)
        proto = str(t.get(logical, props, "ProtocolType") or "HTTP").upper()
        kind = "websocket" if proto == "WEBSOCKET" else "http"
        api = ApiDesign(safe_name(logical), t.address(logical), Val(kind, t.where(logical, "ProtocolType")))
        rse = t.get(logical, props, "RouteSelectionExpression")
        if kind == "websocket" and rse:
            api.route_selection = Val(str(rse), t.where(logical, "RouteSelectionExpression"))
        target = t.get(logical, props, "Target")
        if target is not None:
            fn = t.target(props.get("Target"), t.loc(logical, "Target"))
            if fn:
                integ = {"type": "lambda", "function": t.design.function(fn, t.address(logical))}
                api.routes.append(
                    RouteDesign("ANY /{proxy+}", integ, f"quick create: Target {t.where(logical, 'Target')}")
                )
                api.stages["$default"] = StageDesign("quick create's $default stage")
        body = t.get(logical, props, "Body")
        if isinstance(body, dict):
            openapi.add_paths(body, api, t.design, t.src, t.loc(logical, "Body"), t.target, api.name)
        apis[logical] = api
    integrations: dict[str, tuple[dict[str, Any], str, Val | None]] = {}
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGatewayV2::Integration"]:
        props = t.props(logical)
        for key in ("ApiId", "IntegrationType", "IntegrationUri", "TimeoutInMillis", "IntegrationMethod",
                    "PayloadFormatVersion"):  # fmt: skip
            t.used[logical].add(key)
        integrations[logical] = openapi.integration(props, t.address(logical), t.loc(logical), t.design, t.target)
    authorized: dict[str, dict[str, int]] = {}
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGatewayV2::Route"]:
        props = t.props(logical)
        api_ref = t.get(logical, props, "ApiId")
        api = apis.get(api_ref.logical) if isinstance(api_ref, Ref) else None
        key = t.get(logical, props, "RouteKey")
        if api is None or key is None:
            continue
        target = props.get("Target")
        t.used[logical].add("Target")
        found = [n for n in integrations if n in str(target)]
        if not found:
            refs = [v.get("Ref") for v in _walk(target) if isinstance(v, dict) and "Ref" in v]
            found = [r for r in refs if r in integrations]
        integ, note, timeout = integrations[found[0]] if found else ({"type": "mock"}, "PLACEHOLDER: no Target", None)
        route = str(key)
        where = t.address(logical)
        if api.type.value == "http" and route == "$default":
            route, where = "ANY /{proxy+}", where + "; the $default route, written as ANY /{proxy+}"
        api.routes.append(RouteDesign(route, integ, f"{where}: {note}", timeout=timeout))
        kind = str(t.get(logical, props, "AuthorizationType") or "NONE").upper()
        auth = t.get(logical, props, "AuthorizerId")
        if kind != "NONE":
            k = auth.logical if isinstance(auth, Ref) else ("iam" if kind == "AWS_IAM" else kind.lower())
            authorized.setdefault(api.name, {}).setdefault(k, 0)
            authorized[api.name][k] += 1
    for api_name, used in authorized.items():
        api = apis[api_name]
        key = max(used, key=lambda k: used[k])
        if key == "iam":
            api.authorizer = Val({"type": "iam"}, "routes' AuthorizationType AWS_IAM")
        elif key in t.resources:
            props = t.props(key)
            jwt = str(t.get(key, props, "AuthorizerType") or "").upper() == "JWT"
            api.authorizer = Val({"type": "jwt"}, f"{t.address(key)}: JWT") if jwt else _authorizer(t, key)
            t.used[key].update({"ApiId", "AuthorizerUri", "AuthorizerType", "Name", "IdentitySource"})
        if used[key] < len(api.routes) or len(used) > 1:
            t.design.unmapped.append(f"{api_name}: its authorizer guards {used[key]} of {len(api.routes)} routes; "
                                     "apisim's authorizer guards every route")  # fmt: skip
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ApiGatewayV2::Stage"]:
        props = t.props(logical)
        api_ref = t.get(logical, props, "ApiId")
        api = apis.get(api_ref.logical) if isinstance(api_ref, Ref) else None
        name = t.get(logical, props, "StageName")
        if api is None or name is None:
            continue
        stage = StageDesign(f"AWS::ApiGatewayV2::Stage {t.address(logical)}")
        drs = t.get(logical, props, "DefaultRouteSettings") or {}
        stage.throttle = throttle(drs.get("ThrottlingRateLimit"), drs.get("ThrottlingBurstLimit"),
                                  t.where(logical, "DefaultRouteSettings"))  # fmt: skip
        api.stages[safe_name(str(name))] = stage
        for route_key, s in (t.get(logical, props, "RouteSettings") or {}).items():
            tr = throttle(
                s.get("ThrottlingRateLimit"), s.get("ThrottlingBurstLimit"), t.where(logical, "RouteSettings")
            )
            for route in api.routes:
                if route.route == route_key and tr is not None:
                    route.throttle = tr


def _walk(value: Any) -> list[Any]:
    out, stack = [], [value]
    while stack:
        v = stack.pop()
        out.append(v)
        if isinstance(v, dict):
            stack += list(v.values())
        elif isinstance(v, list):
            stack += v
    return out


def _function_urls(t: Template, apis: dict[str, ApiDesign]) -> None:
    for logical in [n for n in t.resources if t.kind(n) == "AWS::Lambda::Url"]:
        props = t.props(logical)
        fn = t.target(props.get("TargetFunctionArn"), t.loc(logical, "TargetFunctionArn"))
        t.used[logical].add("TargetFunctionArn")
        if fn is None:
            t.design.unresolved(t.loc(logical, "TargetFunctionArn"), t.src.line(t.loc(logical)),
                                "the URL's function could not be worked out", "URL left out")  # fmt: skip
            continue
        api = ApiDesign(
            safe_name(logical), t.address(logical), Val("function_url", f"AWS::Lambda::Url ({t.address(logical)})")
        )
        auth = str(t.get(logical, props, "AuthType") or "NONE").upper()
        api.authorizer = Val({"type": "iam" if auth == "AWS_IAM" else "none"}, t.where(logical, "AuthType"))
        mode = t.get(logical, props, "InvokeMode")
        if mode:
            api.invoke_mode = Val(str(mode).lower(), t.where(logical, "InvokeMode"))
        integ = {"type": "lambda", "function": t.design.function(fn, t.address(logical))}
        api.routes.append(RouteDesign("ANY /", integ, "a function URL: every path reaches its function"))
        apis[logical] = api


def _albs(t: Template, apis: dict[str, ApiDesign]) -> None:
    """Listener rules (and listeners' default actions) forwarding to Lambda target groups."""
    groups = {}
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ElasticLoadBalancingV2::TargetGroup"]:
        props = t.props(logical)
        if str(t.get(logical, props, "TargetType")).lower() == "lambda":
            groups[logical] = t.target(props.get("Targets"), t.loc(logical, "Targets"))
            t.used[logical].add("Targets")
    listeners = {}
    for logical in [n for n in t.resources if t.kind(n) == "AWS::ElasticLoadBalancingV2::Listener"]:
        lb = t.get(logical, t.props(logical), "LoadBalancerArn")
        listeners[logical] = lb.logical if isinstance(lb, Ref) else None

    def forward(actions: Any) -> str | None:
        for v in _walk(actions):
            if isinstance(v, dict) and "Ref" in v and v["Ref"] in groups:
                return groups[v["Ref"]]
        return None

    def alb(lb: str | None) -> ApiDesign | None:
        if lb is None:
            return None
        if lb not in apis:
            apis[lb] = ApiDesign(safe_name(lb), t.address(lb), Val("alb", f"{t.kind(lb)} ({t.address(lb)})"))
        return apis[lb]

    for logical in [n for n in t.resources if t.kind(n) == "AWS::ElasticLoadBalancingV2::ListenerRule"]:
        props = t.props(logical)
        listener = t.get(logical, props, "ListenerArn")
        fn = forward(t.get(logical, props, "Actions"))
        api = alb(listeners.get(listener.logical) if isinstance(listener, Ref) else None)
        if api is None or fn is None:
            t.design.unmapped.append(f"{t.address(logical)}: not a rule forwarding to a Lambda target group")
            continue
        paths, methods = ["/*"], ["ANY"]
        for cond in t.get(logical, props, "Conditions") or []:
            values = (cond.get("PathPatternConfig") or cond.get("HttpRequestMethodConfig") or {}).get("Values")
            values = values or cond.get("Values") or []
            if cond.get("Field") == "path-pattern":
                paths = [str(v) for v in values]
            elif cond.get("Field") == "http-request-method":
                methods = [str(v).upper() for v in values]
            else:
                t.design.unmapped.append(f"{t.address(logical)}: condition {cond.get('Field')} (apisim routes by "
                                         "path and method)")  # fmt: skip
        for path in paths:
            for method in methods:
                integ = {"type": "lambda", "function": t.design.function(fn, t.address(logical))}
                api.routes.append(RouteDesign(f"{method} {path}", integ, f"listener rule {t.address(logical)}"))
    for logical, lb in listeners.items():
        fn = forward(t.props(logical).get("DefaultActions"))
        t.used[logical].add("DefaultActions")
        api = alb(lb) if fn else None
        if api is not None and fn is not None:
            integ = {"type": "lambda", "function": t.design.function(fn, t.address(logical))}
            api.routes.append(RouteDesign("ANY /*", integ, f"default action of listener {t.address(logical)}"))


# -- the whole template ------------------------------------------------------------------------

MAPPED = {
    *FUNCTIONS, "AWS::Lambda::Alias", "AWS::Lambda::Version", "AWS::Serverless::Api", "AWS::Serverless::HttpApi",
    "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Resource", "AWS::ApiGateway::Method", "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Deployment", "AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::UsagePlanKey",
    "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::Authorizer", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::Authorizer",
    "AWS::Lambda::Url", "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ElasticLoadBalancingV2::ListenerRule", "AWS::ElasticLoadBalancingV2::TargetGroup",
}  # fmt: skip


def import_template(src: Source) -> Design:
    """A SAM or CloudFormation template as a design (see the module docstring)."""
    t = Template(src)
    design = t.design
    for logical in t.resources:
        if t.kind(logical) in FUNCTIONS:
            _function(t, logical)
    for logical in t.resources:
        if t.kind(logical) in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            _provisioned(t, logical)
    apis: dict[str, ApiDesign] = {}
    for logical in t.resources:
        if t.kind(logical) in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
            apis[logical] = _sam_api(t, logical, t.kind(logical) == "AWS::Serverless::HttpApi")
        elif t.kind(logical) == "AWS::ApiGateway::RestApi":
            apis[logical] = _rest_api(t, logical)
    for logical in t.resources:
        if t.kind(logical) == "AWS::Serverless::Function":
            _events(t, apis, logical)
    _methods(t, apis)
    _stages(t, apis)
    _v2(t, apis)
    _usage_plans(t, apis)
    _function_urls(t, apis)
    _albs(t, apis)
    for args in t.pending:
        _stage_settings(t, *args)
    for api in apis.values():
        if not api.routes:
            design.unmapped.append(f"{api.address}: no routes found (a definition in another file?): not written")
            continue
        api.name = unique(api.name, design.apis)
        design.apis[api.name] = api
    glob_used = {"Function": {"MemorySize", "Timeout", "ReservedConcurrentExecutions", "Architectures",
                              "ProvisionedConcurrencyConfig"}, "Api": {"EndpointConfiguration", "MethodSettings",
                              "CacheClusterEnabled", "CacheClusterSize", "Auth"}, "HttpApi": {"DefaultRouteSettings",
                              "Auth"}}  # fmt: skip
    for section, settings in t.globals.items():
        left = [k for k in settings or {} if k not in glob_used.get(section, set())]
        if left:
            design.unmapped.append(f"Globals.{section} ({src.at(('Globals', section))}): {', '.join(left)}")
    for logical, resource in t.resources.items():
        kind = t.kind(logical)
        if kind not in MAPPED:
            design.unmapped.append(f"{t.address(logical)}: {kind or 'no Type'}")
            continue
        left = [k for k in t.props(logical) if k not in t.used.get(logical, set())]
        if left:
            design.unmapped.append(f"{t.address(logical)} ({kind}): {', '.join(left)}")
        extra = [k for k in resource if k not in ("Type", "Properties", "DependsOn", "Metadata")]
        if extra:
            design.unmapped.append(f"{t.address(logical)}: {', '.join(extra)} (imported as one resource)")
    return design
