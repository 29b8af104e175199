"""Scenario file → validated :class:`~apisim.scenario.Scenario`, or an error a person can act on.

YAML is read with PyYAML's safe loader only: tags that would build Python objects are refused,
and so are alias "bombs" (documents whose aliases expand to far more nodes than they contain).
Every problem names the file, the line, the field path and what is allowed.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from apisim.scenario import Loc, Scenario, reference_problems

MAX_EXPANDED_NODES = 100_000
"""A scenario is small; more nodes than this after expanding aliases is an attack or a mistake."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, located."""

    loc: Loc
    message: str
    line: int | None = None
    value: Any = None

    @property
    def path(self) -> str:
        return ".".join(str(p) for p in self.loc) or "(top level)"

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        got = "" if self.value is None else f" (got {_short(self.value)})"
        return f"{where}: {self.path}: {self.message}{got}"


class ScenarioError(Exception):
    """A scenario that cannot be used; ``str()`` is the full user-facing explanation."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        n = len(problems)
        head = f"{source}: {n} problem{'s' if n != 1 else ''} in the scenario"
        super().__init__("\n".join([head, *("  " + p.render(source) for p in problems)]))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ----------------------------------------------------------------------------------------------
# YAML
# ----------------------------------------------------------------------------------------------


class ScenarioLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans.

    Why: YAML 1.1 reads ``on``, ``off``, ``yes`` and ``no`` as booleans, which would turn the
    retry policy's ``on:`` key into ``True``. Only ``true`` and ``false`` are booleans here.
    """


ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # guards against recursive aliases
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    memo[key] = size
    return size


def compose_yaml(text: str, source: str) -> yaml.Node | None:
    """Parse YAML text into a node tree (which keeps line numbers), refusing alias bombs."""
    try:
        node = yaml.compose(text, Loader=ScenarioLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(filter(None, [exc.context, exc.problem])) or "not valid YAML"
        raise ScenarioError(source, [Problem((), f"YAML syntax error: {msg}", line)]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [Problem((), f"YAML error: {exc}")]) from None
    if node is not None:
        size = _expanded_size(node, {})
        if size > MAX_EXPANDED_NODES:
            raise ScenarioError(
                source,
                [
                    Problem(
                        (), f"refused: aliases expand this document to {size:,} nodes (limit {MAX_EXPANDED_NODES:,})"
                    )
                ],
            )
    return node


def construct(node: yaml.Node | None, source: str) -> Any:
    """Turn a safe node tree into plain Python data (dicts, lists, str, numbers, bools)."""
    if node is None:
        return None
    loader = ScenarioLoader("")
    try:
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise ScenarioError(
            source,
            [Problem((), f"not allowed in a scenario: {exc.problem}", mark.line + 1 if mark else None)],
        ) from None
    finally:
        loader.dispose()


def line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The line of the deepest node along ``loc`` (parts not found, like union tags, are skipped)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    nxt = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        if nxt is not None:
            node = nxt
            line = node.start_mark.line + 1
    return line


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
            return clean, f"unknown key '{key}'{hint} Allowed here: {', '.join(a for a in allowed if a != 'base_dir')}"
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


def problems_from_validation(exc: ValidationError, root: yaml.Node | None) -> list[Problem]:
    """Rephrase pydantic's errors and locate them in the YAML."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        _, clean = _model_at(loc)
        clean = tuple(p for p in clean if p not in ("function-before", "function-after"))
        clean, message = _friendly(err, clean)
        value = err.get("input")
        if err["type"] in ("missing", "union_tag_not_found") or isinstance(value, (dict, list)):
            value = None
        out.append(Problem(clean, message, line_of(root, clean), value))
    return out


# ----------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------


def validate_scenario(
    data: Any, *, source: str = "<scenario>", root: yaml.Node | None = None, base_dir: str = "."
) -> Scenario:
    """Validate plain data as a scenario, raising :class:`ScenarioError` with every problem found."""
    if not isinstance(data, dict):
        raise ScenarioError(source, [Problem((), "a scenario must be a mapping (name:, api:, clients:, ...)")])
    data = {**data, "base_dir": base_dir}
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, problems_from_validation(exc, root)) from None
    refs = [Problem(loc, msg, line_of(root, loc), value) for loc, msg, value in reference_problems(sc)]
    if refs:
        raise ScenarioError(source, refs)
    return sc


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises :class:`ScenarioError` (with file, line, field and what is allowed) on any problem.
    """
    p = Path(path)
    source = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(source, [Problem((), "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [Problem((), f"cannot read: {exc}")]) from None
    root = compose_yaml(text, source)
    data = construct(root, source)
    return validate_scenario(data, source=source, root=root, base_dir=str(p.parent))
