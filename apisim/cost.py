"""Usage for one month → the bill, line by line, from the tiered price tables in ``data/prices.yaml``.

Counts are scaled to the month first and tiers applied after (a tier boundary is a monthly
quantity). The free tier is applied only when the scenario asks for it: it lasts 12 months.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from apisim.metrics import Usage

if TYPE_CHECKING:
    import pandas as pd

LINE_ITEMS = ("api_requests", "api_cache", "lambda_requests", "lambda_compute", "lambda_provisioned", "data_transfer")

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


@cache
def prices() -> PriceTable:
    """The price table shipped with apisim."""
    text = resources.files("apisim").joinpath("data/prices.yaml").read_text(encoding="utf-8")
    return PriceTable(yaml.safe_load(text))


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


def monthly_bill(u: Usage, table: PriceTable | None = None) -> pd.DataFrame:
    """One row per line item: ``item``, ``quantity``, ``unit``, ``usd``, ``detail``."""
    import pandas as pd

    p = (table or prices()).data
    free = p["free_tier"] if u.free_tier else None
    rows = []

    def row(item: str, quantity: float, unit: str, usd: float, detail: str) -> None:
        rows.append({"item": item, "quantity": quantity, "unit": unit, "usd": usd, "detail": detail})

    api = p["api_requests"][u.api_type]
    billable = u.api_requests
    if free:
        billable = max(0.0, billable - free[f"api_requests_{u.api_type}"])
    unit = "metered requests (512 KB units)" if u.api_type == "http" else "requests"
    row("api_requests", u.api_requests, unit, tiered(billable, api["tiers"]), f"{u.api_type.upper()} API tiers")

    if u.cache_size_gb is not None:
        hourly = p["api_cache"]["hourly"][u.cache_size_gb]
        row("api_cache", u.month_hours, "cache hours", hourly * u.month_hours, f"{u.cache_size_gb:g} GB at ${hourly}/h")
    else:
        row("api_cache", 0.0, "cache hours", 0.0, "no cache")

    lam = p["lambda"]
    requests = u.lambda_requests
    if free:
        requests = max(0.0, requests - free["lambda_requests"])
    row(
        "lambda_requests",
        u.lambda_requests,
        "invocations",
        requests * lam["requests"]["per_request"],
        "$0.20 per million",
    )

    free_gb_s = free["lambda_gb_seconds"] if free else 0.0
    compute = 0.0
    for arch in ("x86_64", "arm64"):
        gb_s = u.gb_seconds.get(arch, 0.0)
        taken = min(gb_s, free_gb_s)
        free_gb_s -= taken
        compute += tiered(gb_s - taken, lam["compute"][arch])
    total_gb_s = sum(u.gb_seconds.values())
    split = ", ".join(f"{arch} {gb:,.0f}" for arch, gb in u.gb_seconds.items() if gb)
    row("lambda_compute", total_gb_s, "GB-seconds", compute, f"on-demand duration ({split or 'none'})")

    provisioned = 0.0
    for arch in ("x86_64", "arm64"):
        rates = lam["provisioned"][arch]
        provisioned += u.provisioned_gb_seconds.get(arch, 0.0) * rates["concurrency"]
        provisioned += u.provisioned_duration_gb_seconds.get(arch, 0.0) * rates["duration"]
    configured = sum(u.provisioned_gb_seconds.values())
    row(
        "lambda_provisioned",
        configured,
        "GB-seconds configured",
        provisioned,
        "provisioned concurrency plus duration of invocations it served",
    )

    gb = u.transfer_gb
    if free:
        gb = max(0.0, gb - free["data_transfer_gb"])
    row("data_transfer", u.transfer_gb, "GB out", tiered(gb, p["data_transfer_out"]["tiers"]), "to the internet")
    return pd.DataFrame(rows)


def cost_summary(bill: pd.DataFrame) -> dict[str, Any]:
    """The summary's ``cost_monthly_usd`` block."""
    items = {str(r.item): float(r.usd) for r in bill.itertuples()}
    return {"total": float(sum(items.values())), "items": items}
