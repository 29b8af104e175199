"""Writing results to disk, atomically: a folder appears whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


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
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide a published report from a web server
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
