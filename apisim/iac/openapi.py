"""OpenAPI 3 and Swagger 2 documents with API Gateway's extensions → one API's routes and authorizer.

Used alone (``apisim import openapi.yaml``) and for the definitions inside templates (a SAM API's
``DefinitionBody``, a REST API's ``Body``), where integration URIs are CloudFormation intrinsics: the
template's resolver then says which function a URI names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from apisim.iac.design import ApiDesign, Design, RouteDesign, Unresolved, Val, function_in_arn, number, safe_name
from apisim.iac.documents import Source
from apisim.problems import Loc

METHODS = {m: m.upper() for m in ("get", "put", "post", "delete", "options", "head", "patch")}
METHODS["x-amazon-apigateway-any-method"] = "ANY"
HTTP_LATENCY = {"dist": "lognormal", "median": 50, "p99": 300}
"""A stand-in for an HTTP backend's latency (the code does not say)."""
AWS_LATENCY = {"dist": "lognormal", "median": 10, "p99": 50}
"""A stand-in for an AWS service integration's latency (the code does not say)."""
MAPPED_EXTENSIONS = {
    "x-amazon-apigateway-integration", "x-amazon-apigateway-authorizer", "x-amazon-apigateway-authtype",
    "x-amazon-apigateway-any-method", "x-amazon-apigateway-cors", "x-amazon-apigateway-importexport-version",
}  # fmt: skip

Target = Callable[[Any, Loc], str | None]
"""Which function a value (an ARN, a URI, an intrinsic) names, or None."""


def _literal_target(value: Any, loc: Loc) -> str | None:
    return function_in_arn(value) if isinstance(value, str) else None


def integration(
    raw: Any, where: str, loc: Loc, design: Design, target: Target, *, kind: str | None = None
) -> tuple[dict[str, Any], str, Val | None]:
    """A route's integration from API Gateway's integration settings (``type``/``uri`` or the
    CloudFormation spelling ``Type``/``Uri``/``IntegrationType``/``IntegrationUri``): the scenario's
    integration, its note, and the integration timeout."""
    get = lambda *keys: next((raw[k] for k in keys if isinstance(raw, dict) and k in raw), None)  # noqa: E731
    kind = str(kind or get("type", "Type", "IntegrationType") or "").lower()
    uri = get("uri", "Uri", "IntegrationUri")
    timeout_ms = get("timeoutInMillis", "TimeoutInMillis")
    timeout = None
    if timeout_ms is not None:
        try:
            timeout = Val(number(timeout_ms, "TimeoutInMillis") / 1000.0, f"integration timeout ({where})")
        except Unresolved:
            timeout = None
    if kind in ("aws_proxy", "aws"):
        fn = target(uri, (*loc, "uri"))
        if fn is not None:
            return {"type": "lambda", "function": design.function(fn, where)}, f"{kind} integration ({where})", timeout
        if kind == "aws" and isinstance(uri, str) and ":lambda:" not in uri:
            service = uri.split(":")[4] if uri.count(":") >= 4 else "aws"
            latency = f"PLACEHOLDER: an AWS service integration ({service}, {where}); its latency is not in the code"
            return {"type": "aws", "service": service, "latency_ms": AWS_LATENCY}, latency, timeout
        why = f"PLACEHOLDER: the integration's function could not be worked out ({where}); written as a mock"
        return {"type": "mock"}, why, timeout
    if kind in ("http", "http_proxy"):
        note = f"PLACEHOLDER: an HTTP backend ({where}); its latency is not in the code"
        return {"type": "http", "latency_ms": HTTP_LATENCY}, note, timeout
    if kind == "mock":
        return {"type": "mock"}, f"mock integration ({where})", timeout
    return {"type": "mock"}, f"PLACEHOLDER: no integration apisim knows ({where}); written as a mock", timeout


def authorizer(scheme: dict[str, Any], name: str, where: str, design: Design, target: Target, loc: Loc) -> Val | None:
    """The scenario's authorizer for an OpenAPI security scheme, or None (an API key, say)."""
    ext = scheme.get("x-amazon-apigateway-authorizer")
    authtype = str(scheme.get("x-amazon-apigateway-authtype", "")).lower()
    if isinstance(ext, dict):
        kind = str(ext.get("type", "")).lower()
        if kind in ("token", "request"):
            fn = target(ext.get("authorizerUri"), (*loc, "x-amazon-apigateway-authorizer", "authorizerUri"))
            if fn is None:
                raise Unresolved(f"security scheme {name}: its authorizer's function could not be worked out")
            ttl = ext.get("authorizerResultTtlInSeconds")
            value: dict[str, Any] = {"type": "lambda", "function": design.function(fn, where)}
            note = f"security scheme {name}: a {kind} Lambda authorizer ({where})"
            if ttl is not None:
                value["cache_ttl"] = number(ttl, "authorizerResultTtlInSeconds")
            else:
                note += "; result TTL not set: AWS's default 300 s"
            return Val(value, note)
        if kind == "cognito_user_pools":
            return Val({"type": "cognito"}, f"security scheme {name}: Cognito user pools ({where})")
        if kind == "jwt":
            return Val({"type": "jwt"}, f"security scheme {name}: a JWT authorizer ({where})")
    if authtype == "awssigv4":
        return Val({"type": "iam"}, f"security scheme {name}: IAM (awsSigv4, {where})")
    if authtype == "cognito_user_pools":
        return Val({"type": "cognito"}, f"security scheme {name}: Cognito user pools ({where})")
    return None


def add_paths(
    doc: dict[str, Any], api: ApiDesign, design: Design, src: Source, base: Loc, target: Target, what: str
) -> None:
    """The document's paths as ``api``'s routes, its security schemes as its authorizer; what has no
    scenario key is listed on ``design.unmapped``."""
    schemes = (doc.get("components") or {}).get("securitySchemes") or doc.get("securityDefinitions") or {}
    scheme_loc = (*base, "components", "securitySchemes") if "components" in doc else (*base, "securityDefinitions")
    found: dict[str, Val | None] = {}
    for name, scheme in schemes.items() if isinstance(schemes, dict) else ():
        if not isinstance(scheme, dict):
            continue
        loc = (*scheme_loc, name)
        try:
            found[name] = authorizer(scheme, name, src.at(loc), design, target, loc)
        except Unresolved as exc:
            design.unresolved(loc, src.line(loc), str(exc), "no authorizer")
            found[name] = None
        if found[name] is None and scheme.get("type") == "apiKey":
            design.unmapped.append(
                f"{what}: security scheme {name} (an API key, {src.at(loc)}): apisim's clients send keys through a "
                "usage plan (usage_plans, a client's usage_plan), which this document does not define"
            )
    used: Counter[str] = Counter()
    default_security = doc.get("security") or []
    for key in doc:
        if str(key).startswith("x-amazon-apigateway-") and key not in MAPPED_EXTENSIONS:
            design.unmapped.append(f"{what}: {key} ({src.at((*base, key))})")
    paths = doc.get("paths") or {}
    for path, item in paths.items() if isinstance(paths, dict) else ():
        if not isinstance(item, dict):
            continue
        for method_key, op in item.items():
            method = METHODS.get(str(method_key).lower())
            if method is None or not isinstance(op, dict):
                continue
            loc = (*base, "paths", path, method_key)
            where = src.at(loc)
            route = f"{method} {path}"
            if path in ("$default", "/$default"):
                route = "ANY /{proxy+}"
                where += "; the $default route, written as ANY /{proxy+}"
            raw = op.get("x-amazon-apigateway-integration")
            if raw is None:
                integ, note, timeout = (
                    {"type": "mock"},
                    f"PLACEHOLDER: no x-amazon-apigateway-integration ({where})",
                    None,
                )
            else:
                integ, note, timeout = integration(
                    raw, where, (*loc, "x-amazon-apigateway-integration"), design, target
                )
            api.routes.append(RouteDesign(route, integ, f"{path} {method_key} ({where}): {note}", timeout=timeout))
            for requirement in op.get("security", default_security) or []:
                for name in requirement if isinstance(requirement, dict) else ():
                    if found.get(name) is not None:
                        used[name] += 1
    if used:
        name, count = used.most_common(1)[0]
        api.authorizer = found[name]
        if count < len(api.routes) or len(used) > 1:
            design.unmapped.append(
                f"{what}: the authorizer {name} guards {count} of {len(api.routes)} routes (others: "
                f"{', '.join(n for n in used if n != name) or 'none'}); apisim's authorizer guards every route"
            )


def is_http_api(doc: dict[str, Any]) -> bool:
    """Whether an OpenAPI document describes an HTTP API: it uses HTTP APIs' own extensions (CORS, the
    payload format version of an integration); otherwise it is taken as a REST API's."""
    if "x-amazon-apigateway-cors" in doc or "x-amazon-apigateway-importexport-version" in doc:
        return True
    for item in (doc.get("paths") or {}).values():
        for op in item.values() if isinstance(item, dict) else ():
            integ = op.get("x-amazon-apigateway-integration") if isinstance(op, dict) else None
            if isinstance(integ, dict) and "payloadFormatVersion" in integ:
                return True
    return False


def import_openapi(src: Source) -> Design:
    """An OpenAPI 3 or Swagger 2 document as a design: one API, named after its title."""
    doc = src.data
    design = Design(src.name, "OpenAPI 3" if "openapi" in doc else "Swagger 2")
    title = (doc.get("info") or {}).get("title") or src.path.stem
    name = safe_name(title)
    http = is_http_api(doc)
    kind = Val(
        "http" if http else "rest",
        f"{'HTTP API extensions (x-amazon-apigateway-cors, payloadFormatVersion)' if http else 'no HTTP API extension'}"
        f" ({src.name})",
    )
    api = ApiDesign(name, f"info.title ({src.at(('info', 'title'))})", kind)
    if not http:
        api.endpoint = Val("edge", "an imported REST API's endpoint type is set at import, not in the document: "
                                   "AWS's default, edge-optimized")  # fmt: skip
    design.apis[name] = api
    add_paths(doc, api, design, src, (), _literal_target, f"{name} ({src.name})")
    return design
