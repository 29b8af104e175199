"""Reading a YAML or JSON document of infrastructure code: bounded, safe, with the line of every key.

CloudFormation's short-form tags (``!Ref``, ``!GetAtt``, ``!Sub``...) are read by cfn-flip's loader
(AWS's own, a PyYAML safe loader), which turns each into its long form (``{"Ref": ...}``). The node tree
is composed first through apisim's guards (size, alias bombs: :func:`apisim.loading.compose_yaml`), so
every key keeps its line for located messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cfn_tools.yaml_loader import CfnYamlLoader

from apisim.loading import compose_yaml
from apisim.problems import Loc, Problem, ScenarioError
from apisim.reading import InputRefused, decode_text, read_bounded

MAX_BYTES = 2**20
"""CloudFormation refuses templates over 1 MB; an OpenAPI or Terraform file of an API is far smaller."""


@dataclass
class Source:
    """A document as read: its data, and the line of each key (by path)."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def line(self, loc: Loc) -> int | None:
        """The line of the deepest key along ``loc`` that was written."""
        for end in range(len(loc), 0, -1):
            found = self.lines.get(tuple(loc[:end]))
            if found is not None:
                return found
        return None

    def at(self, loc: Loc) -> str:
        """``file:line`` of ``loc`` (the file alone where no line is known)."""
        line = self.line(loc)
        return f"{self.name}:{line}" if line else self.name


def read_text(path: Path) -> str:
    """The UTF-8 text of the regular file ``path``, bounded; a located error otherwise."""
    try:
        return decode_text(read_bounded(path, MAX_BYTES, what="file of infrastructure code"), path)
    except InputRefused as exc:
        raise ScenarioError(str(path), [Problem((), str(exc))], where="with this input") from None


def _key_lines(root: yaml.Node, source: str) -> dict[Loc, int]:
    """The line of every key (and list item), without recursion; a key written twice is an error."""
    lines: dict[Loc, int] = {}
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                line = key.start_mark.line + 1
                if key.value in first:
                    message = f"key written twice in one mapping (lines {first[key.value]} and {line})"
                    raise ScenarioError(source, [Problem((*loc, key.value), message, line)], where="in the file")
                first[key.value] = line
                lines[(*loc, key.value)] = line
                stack.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*loc, i)] = item.start_mark.line + 1
                stack.append((item, (*loc, i)))
    return lines


def read_source(path: str | Path) -> Source:
    """Read a YAML or JSON document (CloudFormation tags allowed) with its key lines."""
    p = Path(path)
    text = read_text(p)
    try:
        root = compose_yaml(text, str(p), loader=CfnYamlLoader)
    except ScenarioError as exc:
        try:  # JSON that YAML 1.1 does not read (tabs, say) is still JSON
            return Source(p, json.loads(text))
        except ValueError:
            raise ScenarioError(exc.source, exc.problems, where="in the file") from None
    if root is None:
        raise ScenarioError(str(p), [Problem((), "an empty file")], where="in the file")
    lines = _key_lines(root, str(p))
    loader = CfnYamlLoader("")
    try:
        data = _plain(loader.construct_document(root))
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = f"cannot read this value: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        raise ScenarioError(str(p), [Problem((), message, line)], where="in the file") from None
    finally:
        loader.dispose()
    return Source(p, data, lines)


def _plain(node: Any) -> Any:
    """cfn-flip's ordered mappings as plain dicts (order kept), iteratively deep."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
