"""The billing month in the calendar: where it ends, and where usage-plan quota periods begin.

Time in a run is seconds from ``simulation.start`` (a UTC instant). The month is
``[start, start + one calendar month)``: from the 1st of April, 30 days; from the 1st of February
2026, 28. Quota periods follow the UTC calendar, as API Gateway's usage plans do: a DAY begins at
00:00 UTC, a WEEK at 00:00 UTC on Sunday, a MONTH at 00:00 UTC on the 1st. The quota's ``offset``
is the number of requests subtracted from the limit in the period that contains the start (AWS's
API reference, QuotaSettings: "The number of requests subtracted from the given limit in the initial
time period"; older SDK documentation described it as the day a WEEK starts, which apisim does not
follow). https://docs.aws.amazon.com/apigateway/latest/api/API_QuotaSettings.html
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import math

DEFAULT_START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
"""A month of 30 days (the 1st of April 2026 is a Wednesday)."""

DAY = 86400.0
WEEK = 7 * DAY


def add_month(when: dt.datetime) -> dt.datetime:
    """The same instant one calendar month later (the 31st of January + 1 month = the 28th of February)."""
    year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def month_seconds(start: dt.datetime) -> float:
    """The length of the billing month that begins at ``start``, in seconds."""
    return (add_month(start) - start).total_seconds()


def at(start: dt.datetime, seconds: float) -> str:
    """Month time ``seconds`` as a UTC date and time (``2026-04-02 10:43 UTC``)."""
    return (start + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M UTC")


def period_starts(kind: str, start: dt.datetime, span: float) -> list[float]:
    """Where each quota period of ``kind`` (day, week or month) begins, in seconds from ``start``,
    for the periods that overlap [0, span); the first is 0 (the initial period, cut by the start)."""
    out = [0.0]
    if kind == "day":
        first = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        step = dt.timedelta(days=1)
    elif kind == "week":
        midnight = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
        days_to_sunday = (6 - midnight.weekday()) % 7 or 7  # Monday is 0, Sunday 6
        first = midnight + dt.timedelta(days=days_to_sunday)
        step = dt.timedelta(days=7)
    elif kind == "month":
        first = add_month(dt.datetime(start.year, start.month, 1, tzinfo=dt.UTC))
        step = None
    else:
        raise ValueError(f"no quota period {kind!r}")
    boundary = first
    while (offset := (boundary - start).total_seconds()) < span:
        if offset > 0:
            out.append(offset)
        boundary = add_month(boundary) if step is None else boundary + step
    return out


class CalendarPeriods:
    """Which quota period an instant (seconds from the start) falls in, by the UTC calendar.

    Period 0 is the initial one (from the start to the first boundary); times before the start
    are period -1 (the previous month, for a window's warm-up); the last period runs on for ever.
    """

    __slots__ = ("_starts",)

    def __init__(self, kind: str, start: dt.datetime, span: float) -> None:
        self._starts = period_starts(kind, start, span)

    def containing(self, t: float) -> tuple[int, float, float]:
        """The index of the period holding ``t`` and its [begin, end)."""
        if t < 0:
            return -1, -math.inf, 0.0
        i = self.index(t)
        starts = self._starts
        return i, starts[i], starts[i + 1] if i + 1 < len(starts) else math.inf

    def index(self, t: float) -> int:
        """0 for the initial period, 1 for the next, ..."""
        starts = self._starts
        if t < starts[-1]:
            lo, hi = 0, len(starts) - 1
            while lo < hi:  # the last start at or before t
                mid = (lo + hi + 1) // 2
                if starts[mid] <= t:
                    lo = mid
                else:
                    hi = mid - 1
            return lo
        return len(starts) - 1

    def bounds(self, span: float) -> list[tuple[float, float]]:
        """Each period's [begin, end) within [0, span)."""
        edges = [*self._starts, math.inf]
        return [(a, min(b, span)) for a, b in itertools.pairwise(edges) if a < span]
