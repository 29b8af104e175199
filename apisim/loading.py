"""Scenario file → validated :class:`~apisim.scenario.Scenario`, or an error a person can act on.

Reading is bounded before anything is parsed: only regular files, at most :data:`MAX_SCENARIO_BYTES`
(see :mod:`apisim.reading`). YAML is parsed with PyYAML's safe loader (libyaml's where installed)
under YAML 1.2 rules, so nothing in a file means something a reader would not expect:

- only ``true``/``false`` are booleans (YAML 1.1 would read the retry policy's ``on:`` as True);
- an integer with a leading zero is an error (YAML 1.1 reads ``01024`` as octal 532);
- ``1:30`` and dates stay text; a key written twice in one mapping is an error naming both lines;
- tags that would build Python objects are refused, and so are alias "bombs" (documents whose
  aliases expand to far more nodes than they contain) and nesting deeper than :data:`MAX_DEPTH`.

Every problem names the file, the line, the field path and what is allowed. The same module reads
comparison files (``comparisons: {group: [a.yaml, b.yaml]}``), with the same guarantees.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from apisim.problems import SHOWN, Loc, Origin, Problem, ScenarioError
from apisim.reading import InputRefused, decode_text, inside, read_bounded
from apisim.scenario import Scenario, label_problem, reference_problems
from apisim.traces import attach_traces

__all__ = ["Problem", "ScenarioError", "load", "validate_scenario"]

MAX_SCENARIO_BYTES = 1 * 2**20
"""A scenario file's size without ``force``: scenarios are a few kilobytes; this leaves room for long
empirical distributions and keeps parsing well under a second."""
MAX_EXPANDED_NODES = 100_000
"""A scenario is small; more nodes than this after expanding aliases is an attack or a mistake."""
MAX_DEPTH = 32
"""Nesting deeper than this is no scenario (the deepest real key is about six levels down)."""

# ----------------------------------------------------------------------------------------------
# YAML 1.2 rules on PyYAML's safe loader
# ----------------------------------------------------------------------------------------------

_SafeBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 20x faster, same safety


class ScenarioLoader(_SafeBase):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader with YAML 1.2 scalars (see the module docstring for why)."""


_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
ScenarioLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+.0123456789"),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"]),
):
    ScenarioLoader.add_implicit_resolver(_tag, _regexp, list(_first))


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if len(digits) > 40:
        raise yaml.constructor.ConstructorError(
            None, None, f"the number {text[:20]}... has {len(digits)} digits; no value here is that large",
            node.start_mark,
        )  # fmt: skip
    if len(digits) > 1 and digits.startswith("0") and digits[1] not in "xo":
        octal = f" (or 0o{digits.lstrip('0')} if you mean octal)" if set(digits) <= set("01234567") else ""
        raise yaml.constructor.ConstructorError(
            None, None,
            f"{text!r} has a leading zero, which YAML 1.1 reads as an octal number; write {int(digits) * sign}{octal}",
            node.start_mark,
        )  # fmt: skip
    try:
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        return sign * int(digits)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not an integer", node.start_mark) from None


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    try:
        if text.endswith((".inf", ".nan")):
            return float(text.replace(".", ""))
        return float(text)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a number", node.start_mark) from None


ScenarioLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
ScenarioLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _walk(root: yaml.Node) -> tuple[dict[Loc, int], dict[tuple[int, int], Loc], list[Problem]]:
    """One pass over the node tree (never recursive): the line of every field, the field at each
    (line, column) where a value starts, duplicate keys, depth."""
    lines: dict[Loc, int] = {(): root.start_mark.line + 1}
    at: dict[tuple[int, int], Loc] = {}
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:  # an alias: its fields are located where the anchor was written
            continue
        seen.add(id(node))
        at[node.start_mark.line, node.start_mark.column] = loc
        if len(loc) > MAX_DEPTH:
            line = node.start_mark.line + 1
            problems.append(Problem(loc[:3], f"nested more than {MAX_DEPTH} levels deep", line))
            return lines, at, problems
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key.start_mark.line + 1
                if key.value in first_line:
                    before = first_line[key.value]
                    where = f"line {line}" if before == line else f"lines {before} and {line}"
                    message = f"key written twice in one mapping ({where}); YAML would silently keep the last"
                    problems.append(Problem((*loc, key.value), message, line))
                    continue
                first_line[key.value] = line
                child = (*loc, key.value)
                lines[child] = value.start_mark.line + 1
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*loc, i)
                lines[child] = item.start_mark.line + 1
                stack.append((item, child))
    return lines, at, problems


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes after expanding every alias (iterative, memoised; stops counting past ``limit``)."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size and not children_done:
            continue
        children = (
            [c for kv in node.value for c in kv]
            if isinstance(node, yaml.MappingNode)
            else node.value
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        if children_done:
            size[key] = min(limit + 1, 1 + sum(size.get(id(c), 1) for c in children))
            continue
        size[key] = 1  # a recursive alias counts once
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return size[id(root)]


def compose_yaml(text: str, source: str, loader: Any = None) -> yaml.Node | None:
    """Parse YAML text into a node tree (which keeps line numbers), refusing alias bombs and huge documents.

    ``loader``: a safe PyYAML loader class other than the scenario's (CloudFormation's short-form tags).
    """
    # Every value needs a separator (a comma or a line); counting them first refuses a document
    # far over the node limit before the parser builds an object for each of its values.
    separators = text.count(",") + text.count("\n")
    if separators > 2 * MAX_EXPANDED_NODES:
        raise ScenarioError(
            source, [Problem((), f"refused: about {separators:,} values, more than a scenario holds (limit "
                                 f"{MAX_EXPANDED_NODES:,} nodes)")],
        )  # fmt: skip
    try:
        node = yaml.compose(text, Loader=loader or ScenarioLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(filter(None, [exc.context, exc.problem])) or "not valid YAML"
        if mark is not None:
            msg += f" (column {mark.column + 1})"
        if "expected" in msg or "not allowed" in msg:
            msg += "; check this line's indentation against the line above, and that a value with ': ' is quoted"
        raise ScenarioError(source, [Problem((), f"YAML syntax error: {msg}", line)]) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise ScenarioError(source, [Problem((), f"YAML error: {_first_line(exc)}")]) from None
    if node is not None:
        size = _expanded_size(node, MAX_EXPANDED_NODES)
        if size > MAX_EXPANDED_NODES:
            raise ScenarioError(
                source,
                [Problem((), f"refused: this document has more than {MAX_EXPANDED_NODES:,} nodes once its aliases "
                             f"are expanded (limit {MAX_EXPANDED_NODES:,})")],
            )  # fmt: skip
    return node


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def construct(node: yaml.Node | None, source: str, fields: Mapping[tuple[int, int], Loc] | None = None) -> Any:
    """Turn a safe node tree into plain Python data (dicts, lists, str, numbers, bools).

    ``fields`` ((line, column) → field, from the walk) lets a value refused here be named by its field.
    """
    if node is None:
        return None
    loader = ScenarioLoader("")
    try:
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        problem = exc.problem or "not allowed"
        if problem.startswith("could not determine a constructor"):
            problem = f"not allowed in a scenario: {problem}"
        where = (fields or {}).get((mark.line, mark.column), ()) if mark else ()
        raise ScenarioError(source, [Problem(where, problem, mark.line + 1 if mark else None)]) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise ScenarioError(source, [Problem((), f"YAML error: {_first_line(exc)}")]) from None
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Document:
    """A YAML input file, read safely: its data and where each field was written."""

    path: Path
    data: Any
    origin: Origin


def read_document(path: str | Path, *, force: bool = False) -> Document:
    """Read, bound and parse a YAML input file; raises :class:`ScenarioError` (located) on any problem."""
    p = Path(path)
    source = str(path)
    try:
        raw = read_bounded(p, None if force else MAX_SCENARIO_BYTES, what="scenario file")
        text = decode_text(raw, source)
    except InputRefused as exc:
        raise ScenarioError(source, [Problem((), str(exc))], where="with this input") from None
    try:
        root = compose_yaml(text, source)
    except ScenarioError as exc:  # not yet a scenario or a comparisons file: a file that is not YAML
        raise ScenarioError(exc.source, exc.problems, where="in the file") from None
    lines: dict[Loc, int] = {}
    fields: dict[tuple[int, int], Loc] = {}
    if root is not None:
        lines, fields, problems = _walk(root)
        if problems:
            raise ScenarioError(source, problems)
    return Document(p, construct(root, source, fields), Origin(source, lines, hashlib.sha256(raw).hexdigest()))


# ----------------------------------------------------------------------------------------------
# pydantic errors → Problems
# ----------------------------------------------------------------------------------------------


def _model_at(loc: Loc) -> tuple[type[BaseModel] | None, Loc]:
    """Walk the schema along ``loc``: the model class reached, and ``loc`` without union-tag parts.

    Why: pydantic puts the tag of a discriminated union (``lambda`` in
    ``integration.lambda.function``) into its error locations, but the user never wrote it.
    """
    tp: Any = Scenario
    clean: list[str | int] = []
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, _UnionOf):
            member = tp.tagged(part)
            if member is not None:
                tp = member
                continue
            tp = None
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            tp = field.annotation if field is not None else None
        else:
            tp = _container_item(tp)
        clean.append(part)
    tp = _unwrap(tp)
    return (tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None), tuple(clean)


class _UnionOf:
    """Several possible models at one place (a discriminated union)."""

    def __init__(self, members: list[Any]) -> None:
        self.members = members

    def tagged(self, tag: Any) -> Any:
        for member in self.members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                for name in ("type", "process", "dist"):
                    field = member.model_fields.get(name)
                    if field is not None and typing.get_args(field.annotation) == (tag,):
                        return member
        return None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else _UnionOf(args)
        else:
            return tp


def _container_item(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    return None


def _friendly(err: dict[str, Any], clean: Loc) -> tuple[Loc, str]:
    kind = err["type"]
    msg = err["msg"]
    if kind == "extra_forbidden":
        parent, _ = _model_at(clean[:-1])
        key = str(clean[-1])
        if parent is not None:
            allowed = sorted(parent.model_fields)
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return clean, f"unknown key '{key}'{hint} Allowed here: {', '.join(allowed)}"
        return clean, f"unknown key '{key}'"
    if kind == "missing":
        return clean, "required field is missing"
    if kind.startswith("value_error"):
        msg = msg.removeprefix("Value error, ")
    elif kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return (*clean, str(ctx.get("discriminator", "")).strip("'")), (
            f"must be one of {ctx.get('expected_tags', '')}"
        )
    elif kind == "union_tag_not_found":
        ctx = err.get("ctx", {})
        return clean, f"needs {ctx.get('discriminator', 'a type key')}"
    return clean, msg[0].lower() + msg[1:] if msg else msg


def problems_from_validation(exc: ValidationError, origin: Origin) -> list[Problem]:
    """Rephrase pydantic's errors and locate them in the file."""
    out = []
    for n, err in enumerate(exc.errors()):
        loc = tuple(err["loc"])
        if n >= SHOWN:  # only counted, not shown: no need to find the closest key for each
            out.append(Problem(loc, err["msg"]))
            continue
        _, clean = _model_at(loc)
        clean = tuple(p for p in clean if p not in ("function-before", "function-after"))
        clean, message = _friendly(err, clean)
        value = err.get("input")
        if err["type"] in ("missing", "union_tag_not_found") or isinstance(value, (dict, list)):
            value = None
        out.append(Problem(clean, message, origin.line(clean), value))
    return out


# ----------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------


def validate_scenario(
    data: Any,
    *,
    source: str = "<scenario>",
    origin: Origin | None = None,
    base_dir: str = ".",
    force: bool = False,
    traces: Mapping[tuple[str, str], Any] | None = None,
) -> Scenario:
    """Validate plain data as a scenario, raising :class:`ScenarioError` with every problem found.

    Trace files the scenario names are read here (relative to ``base_dir``), bounded and checked;
    ``traces`` gives times already read, by (file, column). ``force`` lifts the trace size limits.
    """
    origin = origin or Origin(source)
    if not isinstance(data, dict):
        raise ScenarioError(
            origin.source, [Problem((), "a scenario must be a mapping (name:, api:, clients:, ...)", origin.line(()))]
        )
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        found = problems_from_validation(exc, origin)
        # References are checked on the validated scenario below, which a schema error prevents: the
        # ones the raw document can still answer are listed now, so one pass shows every problem.
        found += [p for p in raw_reference_problems(data, origin) if not _overlaps(p.loc, found)]
        raise ScenarioError(origin.source, found) from None
    except RecursionError:
        raise ScenarioError(origin.source, [Problem((), "nested too deeply to be a scenario")]) from None
    sc._origin = origin
    sc._base_dir = base_dir
    found = reference_problems(sc)
    if not found:
        found = attach_traces(sc, force=force, known=traces)
    if found:
        raise origin.error(found)
    return sc


def raw_reference_problems(data: Mapping[str, Any], origin: Origin) -> list[Problem]:
    """References between sections (a route's or an authorizer's function, a client's API), checked on
    the document as written: for a file the schema refuses, so they are reported with its errors.

    Only references whose both ends are well formed are judged (a function named by text, under a
    ``functions:`` mapping); the same messages as :func:`apisim.scenario.reference_problems`.
    """
    functions = data.get("functions") or {}
    if not isinstance(functions, dict):
        return []
    known = f"defined functions: {', '.join(sorted(map(str, functions))) or 'none'}"
    out: list[Problem] = []

    def function_ref(loc: Loc, holder: Any) -> None:
        if isinstance(holder, dict) and holder.get("type") == "lambda":
            name = holder.get("function")
            if isinstance(name, str) and name not in functions:
                at = (*loc, "function")
                out.append(Problem(at, f"no such function ({known})", origin.line(at), name))

    apis = data.get("apis")
    if isinstance(apis, dict):
        written: list[tuple[Loc, Any]] = [(("apis", str(name)), api) for name, api in apis.items()]
    else:
        written = [(("api",), data.get("api"))]
    for at, api in written:
        if not isinstance(api, dict):
            continue
        routes = api.get("routes")
        for i, route in enumerate(routes if isinstance(routes, list) else []):
            if isinstance(route, dict):
                function_ref((*at, "routes", i, "integration"), route.get("integration"))
        function_ref((*at, "authorizer"), api.get("authorizer"))
    clients = data.get("clients")
    if isinstance(apis, dict) and isinstance(clients, list):
        for i, client in enumerate(clients):
            name = client.get("api") if isinstance(client, dict) else None
            if isinstance(name, str) and name not in apis:
                loc = ("clients", i, "api")
                message = f"no such API (defined: {', '.join(map(str, apis))})"
                out.append(Problem(loc, message, origin.line(loc), name))
    return out


def _overlaps(loc: Loc, problems: list[Problem]) -> bool:
    """Whether the schema already reported something at ``loc``, or around it."""
    return any(p.loc[: len(loc)] == loc or loc[: len(p.loc)] == p.loc for p in problems if p.loc)


def load(path: str | Path, *, force: bool = False) -> Scenario:
    """Read and validate a scenario file.

    Raises :class:`ScenarioError` (with file, line, field and what is allowed) on any problem.
    ``force`` lifts the size limits on the file and its traces (never the refusal of FIFOs,
    devices and folders).
    """
    doc = read_document(path, force=force)
    if is_comparisons(doc):
        raise ScenarioError(
            doc.origin.source, [Problem((), "this is a comparisons file, not a scenario (give it to apisim report)", 1)]
        )
    return validate_scenario(doc.data, origin=doc.origin, base_dir=str(doc.path.parent), force=force)


# ----------------------------------------------------------------------------------------------
# Comparison files
# ----------------------------------------------------------------------------------------------

COMPARISONS_KEY = "comparisons"
MAX_GROUPS = 100
MAX_GROUP_SIZE = 20
"""A YAML file whose only top-level key is this declares comparison groups: ``{group: [a.yaml, b.yaml]}``."""


def is_comparisons(doc: Document) -> bool:
    """Whether ``doc`` declares comparison groups rather than a scenario."""
    return isinstance(doc.data, dict) and set(doc.data) == {COMPARISONS_KEY}


def read_comparisons(doc: Document) -> dict[str, list[Path]]:
    """The groups a comparisons file declares, with paths relative to its folder; validated."""
    data = doc.data[COMPARISONS_KEY]
    origin = doc.origin
    problems = []
    groups: dict[str, list[Path]] = {}
    if not isinstance(data, dict) or not data:
        loc: Loc = (COMPARISONS_KEY,)
        raise ScenarioError(
            origin.source,
            [Problem(loc, "expected a mapping of group name → list of scenario files", origin.line(loc))],
            where="in the comparison groups",
        )
    if len(data) > MAX_GROUPS:
        loc = (COMPARISONS_KEY,)
        problem = Problem(loc, f"at most {MAX_GROUPS} groups", origin.line(loc))
        raise ScenarioError(origin.source, [problem], where="in the comparison groups")
    for name, files in data.items():
        loc = (COMPARISONS_KEY, str(name))
        label = label_problem(name) if isinstance(name, str) else "a group name is text"
        if label:
            problems.append(Problem(loc, label, origin.line(loc)))
            continue
        if (
            not isinstance(files, list)
            or not 2 <= len(files) <= MAX_GROUP_SIZE
            or not all(isinstance(f, str) for f in files)
        ):
            message = f"a group lists 2 to {MAX_GROUP_SIZE} scenario files"
            problems.append(Problem(loc, message, origin.line(loc)))
            continue
        members = []
        for f in files:
            try:
                path = inside(doc.path.parent, f, "a scenario in a group is relative to the comparisons file's folder")
            except InputRefused as exc:
                problems.append(Problem(loc, str(exc), origin.line(loc)))
                continue
            if not path.is_file():
                problems.append(Problem(loc, f"no such scenario file: {path}", origin.line(loc)))
            members.append(path)
        groups[name] = members
    if problems:
        raise ScenarioError(origin.source, problems, where="in the comparison groups")
    return groups
