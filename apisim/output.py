"""Writing results to disk, atomically: a folder appears whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apisim.experiment import Result


def to_json(summary: dict[str, Any]) -> str:
    """The summary as JSON text (NaN-free: missing figures are null)."""
    return json.dumps(summary, indent=2, allow_nan=False, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_dir(target: Path, fill: Callable[[Path], None]) -> Path:
    """Build a folder with ``fill(tmp)`` next to ``target``, then swap it into place.

    Why: a killed or failed run must never leave a half-written result where a reader (a cron
    job, a dashboard) would take it for a whole one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        fill(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_run(result: Result, out: Path) -> Path:
    """summary.json, requests.parquet, timeseries.csv and cost.csv under ``out``."""

    def fill(tmp: Path) -> None:
        (tmp / "summary.json").write_text(to_json(result.summary) + "\n", encoding="utf-8")
        result.requests.to_parquet(tmp / "requests.parquet", index=False)
        result.timeseries.to_csv(tmp / "timeseries.csv", index=False)
        result.cost.to_csv(tmp / "cost.csv", index=False)

    return atomic_dir(out, fill)
