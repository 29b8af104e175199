"""Usage → the month's bill, one row per resource and cost component, priced from ``data/prices.yaml``.

The bill knows no door by name: every usage line names its price, and the price says how it is
metered and charged. Counts measured in the simulated window are scaled to the month first;
levels held all month (a cache cluster, configured provisioned concurrency) are multiplied by
the month's length. Tiers apply to the account's monthly total of a price (AWS's tiers aggregate
across APIs and functions), after the free tier where the scenario asks for it (it lasts 12
months), and each resource's row gets its share of that total's cost. The rows are Infracost's
breakdown shape: ``resource``, ``component``, ``item``, ``quantity``, ``unit``, ``unit_price``,
``usd``, ``detail``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from apisim.defaults import data_file
from apisim.engine.door import UsageLine
from apisim.metrics import Usage

if TYPE_CHECKING:
    import pandas as pd

LINE_ITEMS = (
    "api_requests", "api_connections", "api_cache", "lambda_requests", "lambda_compute", "lambda_provisioned",
    "data_transfer", "load_balancer", "cloudfront", "edge_functions",
)  # fmt: skip
"""The summary's ``cost_monthly_usd.items`` keys (each price in prices.yaml names its item)."""

Tiers = list[tuple[float | None, float]]


@dataclass(frozen=True)
class PriceTable:
    """The price data with its provenance."""

    data: dict[str, Any]

    @property
    def retrieved(self) -> str:
        return str(self.data["retrieved"])

    @property
    def region(self) -> str:
        return str(self.data["region"])

    def price(self, key: str) -> dict[str, Any]:
        """The price a usage line names; a ``KeyError`` names the missing key."""
        try:
            return self.data["prices"][key]
        except KeyError:
            raise KeyError(f"no price {key!r} in data/prices.yaml") from None


@cache
def prices() -> PriceTable:
    """The price table shipped with apisim."""
    return PriceTable(data_file("prices.yaml"))


def tiered(quantity: float, tiers: Tiers) -> float:
    """Price ``quantity`` units through ``tiers`` of (upper bound or None, price per unit)."""
    total = 0.0
    lower = 0.0
    for upper, price in tiers:
        if quantity <= lower:
            break
        top = quantity if upper is None else min(quantity, float(upper))
        total += (top - lower) * price
        if upper is None:
            break
        lower = float(upper)
    return total


def monthly_quantity(line: UsageLine, u: Usage, price: dict[str, Any]) -> float:
    """The line's quantity for the month, in the price's unit (metered units where the price meters)."""
    if line.kind == "level":
        quantity = line.amount * u.month_seconds / float(price.get("level_seconds", 1))
    else:
        quantity = line.amount * u.month_scale
    metering = price.get("metering_bytes")
    if metering:
        quantity *= max(1, math.ceil(line.meter.get("bytes_per_request", 0.0) / metering))
    return quantity


def _flat(price: dict[str, Any], line: UsageLine) -> float:
    per_unit = price["per_unit"]
    if "by" in price:
        return float(per_unit[line.meter[price["by"]]])
    return float(per_unit)


def _money_per_unit(value: float, unit: str) -> str:
    if value and value < 1e-3:
        return f"${value * 1e6:,.2f} per million {unit}"
    return f"${value:,.4g} per {unit.rstrip('s') if unit.endswith('hours') else unit}"


def _free(u: Usage, table: PriceTable, totals: dict[str, float]) -> dict[str, float]:
    """How much of each price's monthly total the free tier covers: every allowance with
    ``free_tier: true`` (a new account's first year), only those that never expire with ``always``."""
    free: dict[str, float] = defaultdict(float)
    if not u.free_tier:
        return free
    for allowance in table.data["free_tier"]["allowances"]:
        if u.free_tier == "always" and allowance["lasts"] != "always":
            continue
        left = float(allowance["amount"])
        for key in allowance["prices"]:
            taken = min(left, max(0.0, totals.get(key, 0.0) - free[key]))
            free[key] += taken
            left -= taken
    return free


BILL_COLUMNS = ["resource", "component", "item", "quantity", "unit", "unit_price", "usd", "detail"]


def monthly_bill(u: Usage, table: PriceTable | None = None) -> pd.DataFrame:
    """One row per resource and cost component: ``resource``, ``component``, ``item``, ``quantity``,
    ``unit``, ``unit_price`` (the average paid per unit), ``usd`` and ``detail`` (the formula in words)."""
    import pandas as pd

    return pd.DataFrame(bill_rows(u, table), columns=BILL_COLUMNS)


def bill_rows(u: Usage, table: PriceTable | None = None) -> list[dict[str, Any]]:
    """:func:`monthly_bill`'s rows as dicts. Why apart: the summary needs only these, and building the
    DataFrame would import pandas (a quarter of a second of every ``apisim run``)."""
    table = table or prices()
    quantities = [(line, monthly_quantity(line, u, table.price(line.price))) for line in u.lines]
    totals: dict[str, float] = defaultdict(float)
    for line, q in quantities:
        totals[line.price] += q
    free = _free(u, table, totals)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line, q in quantities:
        price = table.price(line.price)
        total = totals[line.price]
        share = q / total if total else 0.0
        billable = total - free[line.price]
        if "tiers" in price:
            usd = tiered(billable, price["tiers"]) * share
        else:
            usd = max(0.0, q - free[line.price] * share) * _flat(price, line)
        key = (line.resource, line.component, line.price)
        row = rows.setdefault(key, {"resource": line.resource, "component": line.component, "item": price["item"],
                                    "quantity": 0.0, "unit": price["unit"], "usd": 0.0, "_price": price,
                                    "_line": line})  # fmt: skip
        row["quantity"] += q
        row["usd"] += usd
    out = []
    for row in rows.values():
        price, line = row.pop("_price"), row.pop("_line")
        row["unit_price"] = row["usd"] / row["quantity"] if row["quantity"] else 0.0
        row["detail"] = _detail(row, price, line, totals[line.price], free[line.price])
        out.append(row)
    return out


def _detail(row: dict[str, Any], price: dict[str, Any], line: UsageLine, total: float, free: float) -> str:
    unit = price["unit"]
    q = row["quantity"]
    words = f"{q:,.0f} {unit}"
    if line.kind == "level":
        words += " (held all month)"
    if "tiers" in price:
        first_upper, first_price = price["tiers"][0]
        tier = f"the first {float(first_upper):,.0f} at {_money_per_unit(first_price, unit)}" if first_upper else ""
        if total > q * (1 + 1e-12):
            words += f", a share of the account's {total:,.0f} this month"
        words += f", through AWS's tiers ({tier})" if tier else ", through AWS's tiers"
    else:
        words += f" × {_money_per_unit(_flat(price, line), unit)}"
        if "by" in price:
            words += f" ({line.meter[price['by']]:g} GB)"
    if free:
        words += f"; the free tier covers {free:,.0f} of the account's"
    return words


def cost_summary(bill: pd.DataFrame | list[dict[str, Any]]) -> dict[str, Any]:
    """The summary's ``cost_monthly_usd`` block: the total, by line item, and by resource, from
    :func:`monthly_bill` or :func:`bill_rows`."""
    rows = bill if isinstance(bill, list) else bill.to_dict("records")
    items = {item: 0.0 for item in LINE_ITEMS}
    by_resource: dict[str, float] = {}
    for r in rows:
        items[str(r["item"])] = items.get(str(r["item"]), 0.0) + float(r["usd"])
        by_resource[str(r["resource"])] = by_resource.get(str(r["resource"]), 0.0) + float(r["usd"])
    return {"total": math.fsum(float(r["usd"]) for r in rows), "items": items, "by_resource": by_resource}
