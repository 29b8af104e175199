"""Budget gates for CI: a monthly bill above ``--max-cost``, or above a baseline by more than
``--max-cost-increase`` percent, fails the job (exit 1) with a one-line reason.

Gates judge the month bill's point estimate (``summary['cost_monthly_usd']['total']``), not its
95% interval: a budget is a line a bill either crosses or not, and the ± is shown beside it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apisim.reading import InputRefused, decode_text, read_bounded

BASELINE_LIMIT = 16 * 2**20
"""The largest baseline file read (a summary.json is a few kilobytes)."""


class BaselineError(Exception):
    """A ``--baseline`` file that is not an apisim summary; ``str()`` says which file and why."""


def read_baseline(path: Path) -> dict[str, Any]:
    """A summary written by ``apisim run --out`` (summary.json) or ``--json``, checked to hold a bill."""
    try:
        doc = json.loads(decode_text(read_bounded(path, BASELINE_LIMIT, what="baseline file"), path))
    except InputRefused as exc:
        raise BaselineError(f"--baseline: {exc}") from None
    except (ValueError, UnicodeError) as exc:
        raise BaselineError(f"--baseline {path}: not JSON ({exc})") from None
    total = doc.get("cost_monthly_usd", {}).get("total") if isinstance(doc, dict) else None
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total) or total < 0:
        raise BaselineError(
            f"--baseline {path}: not an apisim run summary (no cost_monthly_usd.total): give the summary.json "
            "written by `apisim run --out DIR`, or the output of `apisim run --json`"
        )
    return doc


def over_budget(
    costs: Mapping[str, float],
    *,
    max_cost: float | None = None,
    max_increase: float | None = None,
    baselines: Mapping[str, tuple[str, float]] | None = None,
) -> list[str]:
    """The reasons a job fails its budget, one line each (empty: within budget).

    ``costs``: label → monthly bill (point estimate, USD); ``baselines``: label → (what the
    baseline is, its bill), for the labels that have one; ``max_increase`` is in percent.
    """
    reasons = []
    for label, usd in costs.items():
        if max_cost is not None and usd > max_cost:
            reasons.append(f"budget: {label} costs ${usd:,.2f}/month, over --max-cost {max_cost:,.2f}")
        if max_increase is None or not baselines or label not in baselines:
            continue
        what, base = baselines[label]
        if base == 0:
            grew = usd > 0
            pct = math.inf
        else:
            pct = (usd - base) / base * 100
            grew = pct > max_increase
        if grew:
            shown = "from $0.00" if math.isinf(pct) else f"{pct:+,.1f}%"
            reasons.append(
                f"budget: {label} costs ${usd:,.2f}/month, {shown} against {what} (${base:,.2f}), "
                f"over --max-cost-increase {max_increase:g}%"
            )
    return reasons
