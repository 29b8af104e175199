"""Durations written the way people write them: ``250ms``, ``30s``, ``5m``, ``1h``, ``1d``."""

from __future__ import annotations

import math
import re

_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(us|ms|s|min|m|h|d)\s*$")

DURATION_HINT = "a duration like 250ms, 30s, 5m, 1h or 1d, or a plain number"

MAX_SECONDS = 1e9
"""No duration in a scenario is longer than about 31 years; a larger number is a mistake, and would
overflow the sums a run makes of them."""
DURATION_REGEX = r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(us|ms|s|min|m|h|d)\s*$"


def to_seconds(value: object, *, bare_unit_s: float = 1.0) -> float:
    """Convert a duration to seconds.

    A number is read in the unit of its field (``bare_unit_s`` seconds per unit: 1 for
    fields in seconds, 1e-3 for ``*_ms`` fields); a string must carry its own unit.
    Raises ``ValueError`` with a message fit to show a user.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value) * bare_unit_s
        except OverflowError:  # an int too large for a float
            seconds = math.inf
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not {DURATION_HINT} (units: ms, s, m, h, d)")
        seconds = float(match.group(1)) * _UNITS_S[match.group(2)]
    else:
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be finite and not negative, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"a duration must be at most {MAX_SECONDS:.0e} seconds (about 31 years), got {value!r}")
    return seconds + 0.0  # -0.0 becomes 0.0: numpy refuses a negative zero as a scale


def from_text(text: str) -> float:
    """A duration typed on a command line: ``10m``, ``250ms``, or a plain number of seconds (``90``)."""
    try:
        number = float(text)
    except ValueError:
        return to_seconds(text)
    return to_seconds(number)


def format_seconds(seconds: float) -> str:
    """Render seconds compactly for people (``90`` → ``1.5m``)."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds * 1000:g}ms"
