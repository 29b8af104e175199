"""Trace files (recorded arrival times) read on the loading side, bounded and checked line by line.

A trace is a CSV file (optionally gzip-compressed, ``.csv.gz``) with a header and a column of
arrival times in seconds from the start of the run. Its path is relative to the scenario file's
folder and may not leave it (a scenario shared in a repository must not read files elsewhere).
Every value must be a finite number ≥ 0; the first bad one is reported with its line.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from apisim.problems import Loc
from apisim.reading import InputRefused, inside, read_bounded
from apisim.scenario import Scenario, TraceArrival

MAX_TRACE_BYTES = 32 * 2**20
"""A trace file's size (after decompression) without ``force``."""
MAX_TRACE_ROWS = 1_000_000
"""Arrivals in one trace without ``force``."""
MAX_HEADER_BYTES = 64 * 1024
MAX_COLUMNS = 1_000
"""A trace's header line: a few columns are expected; thousands would take pandas minutes to parse."""


def trace_path(base_dir: str, file: str) -> Path:
    """The trace's path, checked to stay inside the scenario's folder. Raises ``InputRefused``."""
    return inside(base_dir, file, "a trace path is relative to the scenario's folder")


def read_trace(path: Path, column: str, *, force: bool = False) -> np.ndarray:
    """Sorted arrival times (seconds) from ``column`` of the CSV at ``path``. Raises ``InputRefused``."""
    import pandas as pd

    data = read_bounded(
        path, None if force else MAX_TRACE_BYTES, what="trace file", decompress=path.name.endswith(".gz")
    )
    rows = max(data.count(b"\n"), data.count(b"\r")) - 1  # after the header; lines may end in \n, \r\n or \r
    if not force and rows > MAX_TRACE_ROWS:
        raise InputRefused(
            f"{path} has {rows:,} rows, more than the {MAX_TRACE_ROWS:,} allowed in a trace; "
            "pass --force to read it anyway"
        )
    first = data[: MAX_HEADER_BYTES + 1].splitlines()[0] if data else b""
    if not force and (len(first) > MAX_HEADER_BYTES or first.count(b",") >= MAX_COLUMNS):
        raise InputRefused(
            f"{path}: the header line has more than {MAX_COLUMNS:,} columns or {MAX_HEADER_BYTES:,} bytes; "
            "a trace needs one column of arrival times (pass --force to read it anyway)"
        )
    try:
        header = pd.read_csv(io.BytesIO(data), nrows=0).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputRefused(f"{path}: not a CSV file with a header line ({_first_line(exc)})") from None
    if column not in header:
        shown = ", ".join(repr(str(c)[:40]) for c in list(header)[:10]) + (", ..." if len(header) > 10 else "")
        raise InputRefused(f"{path} has no column {column!r} (columns: {shown})")

    def parse(dtype: Any) -> Any:
        try:
            return pd.read_csv(io.BytesIO(data), usecols=[column], dtype={column: dtype}, keep_default_na=False)[column]
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputRefused(f"{path}: {_first_line(exc)}") from None

    try:
        values = parse("float64").to_numpy()  # the common case, in a fraction of the memory of text
        bad = ~np.isfinite(values) | (values < 0)
    except (ValueError, TypeError):
        values, bad = None, None
    if bad is None or bad.any():
        text = parse(str)  # only now, to say which line is wrong
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        rows = np.flatnonzero(~np.isfinite(numbers) | (numbers < 0))
        if not rows.size:
            raise InputRefused(f"{path}: column {column!r} could not be read as numbers")
        row = int(rows[0])
        raise InputRefused(
            f"{path}:{row + 2}: column {column!r} must hold seconds ≥ 0 (finite numbers), got {text.iloc[row][:40]!r}"
        )
    return np.sort(values)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def attach_traces(
    sc: Scenario, *, force: bool = False, known: Mapping[tuple[str, str], np.ndarray] | None = None
) -> list[tuple[Loc, str, Any]]:
    """Read every trace ``sc`` names and keep its times on the scenario; the problems found, located.

    ``known``: times already read, by (file, column), reused instead of reading the file again.
    """
    out: list[tuple[Loc, str, Any]] = []
    for i, client in enumerate(sc.clients):
        arrival = client.arrival
        if not isinstance(arrival, TraceArrival):
            continue
        if known and (arrival.file, arrival.column) in known:
            arrival.attach(known[arrival.file, arrival.column])
            continue
        try:
            times = read_trace(trace_path(sc.base_dir, arrival.file), arrival.column, force=force)
        except InputRefused as exc:
            out.append((("clients", i, "arrival", "file"), str(exc), None))
            continue
        if arrival.period is not None and times.size and times[-1] >= arrival.period:
            message = f"with repeat: {arrival.repeat}, every arrival is within the period ({arrival.period:g}s)"
            out.append((("clients", i, "arrival", "repeat"), message, float(times[-1])))
            continue
        arrival.attach(times)
    return out
