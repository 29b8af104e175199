"""Per-attempt records: optional, spilled to Parquet in chunks, and consistent with the streaming totals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apisim import load, simulate
from apisim.engine import records as records_module
from apisim.outcomes import Outcome

ROOT = Path(__file__).resolve().parents[1]


def short(path: str, duration: float):
    sc = load(ROOT / path)
    return sc.model_copy(
        update={
            "simulation": sc.simulation.model_copy(update={"duration": duration, "warmup": 10.0, "basis": "window"})
        }
    )


def test_summary_percentiles_are_within_half_a_percent_of_exact() -> None:
    res = simulate(short("scenarios/03-authorizer.yaml", 300.0), records=True)
    r = res.requests
    lat = np.sort(r.loc[~r["warmup"], "latency_ms"].to_numpy())
    n = lat.size
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)):
        got = res.summary["latency_ms"][key]
        # Any sample between the ranks just below and above q·n is an exact q-quantile.
        lo, hi = lat[max(0, int(np.floor(q * n)) - 1)], lat[min(n - 1, int(np.ceil(q * n)))]
        assert lo * 0.995 <= got <= hi * 1.005, key
    assert res.summary["latency_ms"]["max"] == pytest.approx(lat[-1])
    assert res.summary["latency_ms"]["mean"] == pytest.approx(lat.mean())


def test_records_agree_with_the_streaming_totals() -> None:
    res = simulate(short("scenarios/08-sustained-overload.yaml", 40.0), records=True)
    r = res.requests
    counted = r[~r["warmup"]]
    by = res.summary["requests"]["by_outcome"]
    for o in Outcome:
        assert by[o.key] == int((counted["outcome"] == o.key).sum())
    assert res.summary["client"]["requests"] == counted.loc[counted["attempt"] == 1, "request_id"].nunique()


def test_large_record_sets_are_spilled_to_parquet_in_chunks(monkeypatch) -> None:
    sc = short("scenarios/06-http-api.yaml", 60.0)
    in_memory = simulate(sc, records=True)
    monkeypatch.setattr(records_module, "SPILL_ROWS", 1000)
    monkeypatch.setattr(records_module.AttemptLog.__init__, "__defaults__", (1000,))
    spilled = simulate(sc, records=True)
    assert spilled.log.records.path is not None and spilled.log.records.path.exists()
    assert in_memory.log.records.path is None
    assert spilled.requests.equals(in_memory.requests)


def test_summary_mode_keeps_no_rows_but_the_same_numbers() -> None:
    sc = short("scenarios/05-read-heavy.yaml", 60.0)
    with_rows, without = simulate(sc, records=True), simulate(sc, records=False)
    assert without.log.records is None and not without.has_records
    assert with_rows.summary == without.summary
    with pytest.raises(ValueError, match="records=True"):
        _ = without.requests
