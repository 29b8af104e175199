"""AWS's defaults, limits and behaviours in force, read from ``data/limits.yaml``: the one place they live.

Every value there carries its source and whether AWS documents it or it is our estimate; the
schema's defaults and the engine's estimates are taken from here, never written into the code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

_SAFE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where installed: same safety, ~20x faster


def data_file(name: str) -> Any:
    """A data file shipped with apisim (``data/<name>``), parsed by YAML's safe loader.

    Why libyaml: the price table alone took 50 ms of every ``apisim run`` with the pure-Python parser.
    """
    text = resources.files("apisim").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=_SAFE)


@cache
def table() -> dict[str, Any]:
    """The whole data file (parsed once)."""
    return data_file("limits.yaml")


def value(*path: str) -> Any:
    """The value at ``path`` in the data file, e.g. ``value("account_throttle", "rate")``."""
    node: Any = table()
    for part in path:
        node = node[part]
    return node


def estimate(*path: str) -> Any:
    """An estimate (AWS publishes no figure), e.g. ``estimate("overhead_ms", "rest")``."""
    return value("estimates", *path)
