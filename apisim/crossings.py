"""Break-even: where the monthly bills of two or more designs cross as the monthly volume grows (or
as one value of the scenario does: a payload size, a TTL).

Every design runs the same workload scaled to each volume (every client's arrival rate times the
same factor), with one seed for all (common random numbers). Volumes are spread evenly on a log
scale; where two designs' bills change order between neighbouring volumes, the bracket is
bisected (on the log scale, running both designs at each midpoint) until it is narrower than
``tolerance``, and the crossing is read off linearly inside it.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apisim.experiment import run_many
from apisim.scenario import ConstantArrival, PoissonArrival, Scenario
from apisim.studies import _as_scenario, headline, unique_labels, with_changes

if TYPE_CHECKING:
    import pandas as pd

FIGURES = ("cost_usd", "p99_ms", "rate_429", "error_rate", "cold_start_ratio")
"""The headline figures a break-even table keeps per design and volume."""

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}


def parse_volume(text: str) -> float:
    """``5M`` → 5,000,000: a monthly request count with an optional k, M or B (G) suffix."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([kmbg]?)\s*", text.lower())
    if not m:
        raise ValueError(f"not a volume: {text!r} (say e.g. 500k, 5M or 1B requests a month)")
    value = float(m.group(1)) * _SUFFIX[m.group(2)]
    if not 1.0 <= value <= 1e13:
        raise ValueError(f"a volume between 1 and 10 trillion requests a month, not {text!r}")
    return value


def parse_range(text: str) -> tuple[float, float]:
    """``1M..1B`` → (1e6, 1e9)."""
    low, sep, high = text.partition("..")
    if not sep:
        raise ValueError(f"a range is LOW..HIGH, e.g. 1M..1B, not {text!r}")
    lo, hi = parse_volume(low), parse_volume(high)
    if not lo < hi:
        raise ValueError(f"the range's low end must be below its high end: {text!r}")
    return lo, hi


def monthly_volume(sc: Scenario) -> float:
    """The requests a month the scenario's clients send (their mean rates over ``pricing.month``)."""
    total = 0.0
    for i, c in enumerate(sc.clients):
        a = c.arrival
        if a is None:
            raise ValueError(
                f"clients.{i}: break-even scales request arrival rates; a WebSocket client's volume is its "
                "connections and messages (compare its designs with --vary instead)"
            )
        if not isinstance(a, (PoissonArrival, ConstantArrival)) or a.rate is None:
            raise ValueError(
                f"clients.{i}.arrival: break-even scales Poisson and constant arrival rates; this client's "
                f"arrival ({a.process}) has no rate to scale"
            )
        total += float(a.rate) * sc.pricing.month
    if total <= 0:
        raise ValueError("the clients send no requests: nothing to scale")
    return total


def at_volume(sc: Scenario, volume: float, *, force: bool = False) -> Scenario:
    """``sc`` with every client's rate scaled by one factor so that the month holds ``volume`` requests."""
    factor = volume / monthly_volume(sc)
    changes = {f"clients.{i}.arrival.rate": float(c.arrival.rate) * factor for i, c in enumerate(sc.clients)}  # type: ignore[union-attr]
    return with_changes(sc, changes, force=force)


def breakeven(
    designs: Sequence[Scenario | str | Path],
    *,
    volume: tuple[float, float] | None = None,
    vary: tuple[str, Sequence[float]] | None = None,
    points: int = 9,
    tolerance: float = 0.01,
    seed: int | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per design and point: the month's bill and p99 (and the other :data:`FIGURES`).

    ``volume=(low, high)``: the points are ``points`` monthly volumes (requests a month) spread
    evenly on a log scale, column ``volume``, plus the bisection's volumes around each crossing
    (``refined``). ``vary=(path, values)``: the points are the values of one dotted path (a
    payload size, a cache TTL: ``clients.0.response_bytes``), column ``path``; a crossing is read
    off linearly between neighbouring values. ``df.attrs["x"]`` names the column;
    ``df.attrs["crossings"]`` lists where two designs' bills cross (see :func:`crossings`).
    """
    import numpy as np
    import pandas as pd

    if len(designs) < 2:
        raise ValueError("break-even needs at least two designs")
    if (volume is None) == (vary is None):
        raise ValueError("give volume=(low, high) or vary=(path, values), one of them")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance is a fraction between 0 and 1, got {tolerance}")
    scs = [_as_scenario(d, force) for d in designs]
    names = unique_labels([d.name for d in scs])
    common = seed if seed is not None else scs[0].simulation.seed
    if volume is not None:
        if points < 2:
            raise ValueError(f"points must be at least 2, got {points}")
        for sc in scs:
            monthly_volume(sc)  # every design can be scaled, before anything runs
        low, high = volume
        x, grid = "volume", [float(v) for v in np.geomspace(low, high, points)]

        def point(sc: Scenario, v: float) -> Scenario:
            return at_volume(sc, v, force=force)

        pairs = len(names) * (len(names) - 1) // 2
        extra = pairs * math.ceil(math.log2(math.log(high / low) / tolerance + 1))
    else:
        x, values = vary  # type: ignore[misc]
        grid = sorted(values)
        if len(grid) < 2:
            raise ValueError(f"vary {x}: give at least two values")

        def point(sc: Scenario, v: float) -> Scenario:
            return with_changes(sc, {x: v}, force=force)

        for sc in scs:
            for v in grid:
                point(sc, v)  # every point is a valid scenario, before anything runs
        extra = 0
    total = len(names) * (len(grid) + extra)
    done = 0

    def run(at: Sequence[float], refined: bool) -> list[dict[str, Any]]:
        nonlocal done
        jobs = [(point(sc, v), common) for v in at for sc in scs]
        base = done

        def tick(d: int, _: int) -> None:
            if progress is not None:
                progress(base + d, max(total, base + d))

        figures = run_many(jobs, workers=workers, force=force, progress=tick, reduce=headline)
        done += len(jobs)
        labels = [(v, n) for v in at for n in names]
        return [
            {x: v, "design": n, "refined": refined, **{k: f[k] for k in FIGURES}}
            for (v, n), f in zip(labels, figures, strict=True)
        ]

    rows = run(grid, False)
    found = []
    for a, b in itertools.combinations(names, 2):
        cost = _costs(rows, x)
        for lo, hi in itertools.pairwise(grid):
            if _sign(cost[(lo, a)] - cost[(lo, b)]) * _sign(cost[(hi, a)] - cost[(hi, b)]) >= 0:
                continue
            while volume is not None and hi / lo - 1 > tolerance:
                mid = math.sqrt(lo * hi)
                rows += run([mid], True)
                cost = _costs(rows, x)
                if _sign(cost[(lo, a)] - cost[(lo, b)]) * _sign(cost[(mid, a)] - cost[(mid, b)]) < 0:
                    hi = mid
                else:
                    lo = mid
            found.append(_cross(a, b, lo, hi, cost))
    frame = pd.DataFrame(rows).sort_values([x, "design"], kind="stable").reset_index(drop=True)
    frame.attrs["x"] = x
    frame.attrs["crossings"] = found
    return frame


def crossings(frame: pd.DataFrame) -> pd.DataFrame:
    """The crossings a :func:`breakeven` table found: one row per pair of designs and crossing, at
    ``at`` (a volume, or the varied path's value) where both cost ``cost_usd``."""
    import pandas as pd

    return pd.DataFrame(frame.attrs.get("crossings", []), columns=["design", "other", "at", "cost_usd"])


def _costs(rows: list[dict[str, Any]], x: str) -> dict[tuple[float, str], float]:
    return {(r[x], r["design"]): float(r["cost_usd"]) for r in rows}


def _sign(x: float) -> int:
    return 0 if x == 0 else (1 if x > 0 else -1)


def _cross(a: str, b: str, lo: float, hi: float, cost: dict[tuple[float, str], float]) -> dict[str, Any]:
    """Where the bills of ``a`` and ``b`` meet inside [lo, hi], both taken as straight lines there."""
    d_lo = cost[(lo, a)] - cost[(lo, b)]
    d_hi = cost[(hi, a)] - cost[(hi, b)]
    share = d_lo / (d_lo - d_hi) if d_lo != d_hi else 0.5
    at = lo + share * (hi - lo)
    usd = cost[(lo, a)] + share * (cost[(hi, a)] - cost[(lo, a)])
    return {"design": a, "other": b, "at": at, "cost_usd": usd}
