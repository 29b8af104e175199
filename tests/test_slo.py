"""SLOs are judged on a figure's 95% interval where it has one; whole counts add up to their total."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from apisim.month import whole
from apisim.slo import Slo


def test_an_slo_is_met_failed_or_uncertain_by_its_interval() -> None:
    slo = Slo.parse("p99<800ms")
    assert slo.judge(700.0, 50.0) == "met"
    assert slo.judge(900.0, 50.0) == "failed"
    assert slo.judge(790.0, 50.0) == "uncertain"
    assert slo.judge(790.0) == slo.judge(790.0, math.nan) == "met"  # no interval: the value alone
    assert Slo.parse("rate_429<=0.01").judge(0.01, 0.0) == "met"


@given(st.lists(st.floats(min_value=0.0, max_value=1e9, allow_nan=False), min_size=1, max_size=12))
def test_whole_counts_add_up_to_the_rounded_total_and_stay_within_one(values: list[float]) -> None:
    counts = whole(np.array(values))
    assert int(counts.sum()) == round(math.fsum(values))
    assert np.all(np.abs(counts - np.array(values)) < 1.0 + 1e-6)
