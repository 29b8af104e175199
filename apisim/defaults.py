"""AWS's defaults, limits and behaviours in force, read from ``data/limits.yaml``: the one place they live.

Every value there carries its source and whether AWS documents it or it is our estimate; the
schema's defaults and the engine's estimates are taken from here, never written into the code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def table() -> dict[str, Any]:
    """The whole data file (parsed once)."""
    text = resources.files("apisim").joinpath("data/limits.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def value(*path: str) -> Any:
    """The value at ``path`` in the data file, e.g. ``value("account_throttle", "rate")``."""
    node: Any = table()
    for part in path:
        node = node[part]
    return node


def estimate(*path: str) -> Any:
    """An estimate (AWS publishes no figure), e.g. ``estimate("overhead_ms", "rest")``."""
    return value("estimates", *path)
