"""Per-attempt records, kept only when asked for (or for small runs), spilled to Parquet in chunks."""

from __future__ import annotations

import tempfile
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

COLUMNS: dict[str, str] = {
    # name: array typecode
    "request_id": "q",
    "attempt": "b",
    "client": "h",
    "route": "h",
    "t_arrival": "d",
    "latency": "d",
    "outcome": "b",
    "status": "h",
    "overhead": "d",
    "auth": "d",
    "integration": "d",
    "auth_cache_hit": "b",  # -1: no Lambda authorizer call was needed or possible
    "function": "h",  # -1: no Lambda invoked for the integration
    "cold_start": "b",  # -1: no Lambda invoked
    "init": "d",
    "billed_ms": "q",
}

SPILL_ROWS = 1_000_000
"""Rows held in memory before a chunk is written to Parquet."""


class Records:
    """A run's per-attempt columns: in memory for small runs, in a temporary Parquet file otherwise."""

    def __init__(
        self, columns: dict[str, np.ndarray] | None = None, path: Path | None = None, keep: object = None
    ) -> None:
        self._columns = columns
        self.path = path
        self._keep = keep  # the temporary folder holding `path` lives as long as this object

    def arrays(self) -> dict[str, np.ndarray]:
        """Every column as a numpy array (read from disk if it was spilled)."""
        if self._columns is None:
            import pyarrow.parquet as pq

            table = pq.read_table(self.path)
            self._columns = {name: table.column(name).to_numpy() for name in COLUMNS}
        return self._columns


class AttemptLog:
    """Append-only columns, one row per attempt. ``record`` takes the fields in ``COLUMNS`` order."""

    __slots__ = ("_appends", "_path", "_spill_rows", "_tmp", "_writer", "columns")

    def __init__(self, spill_rows: int = SPILL_ROWS) -> None:
        self.columns = {name: array(code) for name, code in COLUMNS.items()}
        self._appends = tuple(col.append for col in self.columns.values())
        self._spill_rows = spill_rows
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._writer: Any = None  # pyarrow.parquet.ParquetWriter, opened on the first spill
        self._path: Path | None = None

    def record(
        self,
        request_id: int,
        attempt: int,
        client: int,
        route: int,
        t_arrival: float,
        latency: float,
        outcome: int,
        status: int,
        overhead: float,
        auth: float,
        integration: float,
        auth_cache_hit: int,
        function: int,
        cold_start: int,
        init: float,
        billed_ms: int,
    ) -> None:
        a = self._appends
        a[0](request_id)
        a[1](attempt)
        a[2](client)
        a[3](route)
        a[4](t_arrival)
        a[5](latency)
        a[6](outcome)
        a[7](status)
        a[8](overhead)
        a[9](auth)
        a[10](integration)
        a[11](auth_cache_hit)
        a[12](function)
        a[13](cold_start)
        a[14](init)
        a[15](billed_ms)

    def __len__(self) -> int:
        return len(self.columns["request_id"])

    def _arrays(self) -> dict[str, np.ndarray]:
        return {name: np.frombuffer(col, dtype=col.typecode).copy() for name, col in self.columns.items()}

    def spill_if_large(self) -> None:
        """Write the rows held so far to Parquet once they are many (called between windows)."""
        if len(self) >= self._spill_rows:
            self._spill()

    def _spill(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(self._arrays())
        if self._writer is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="apisim-records-")
            self._path = Path(self._tmp.name) / "requests.parquet"
            self._writer = pq.ParquetWriter(self._path, table.schema)
        self._writer.write_table(table)
        for name, code in COLUMNS.items():
            self.columns[name] = array(code)
        self._appends = tuple(col.append for col in self.columns.values())

    def finish(self) -> Records:
        """The records, in memory if they never grew large, else in their Parquet file."""
        if self._writer is None:
            return Records(self._arrays())
        if len(self):
            self._spill()
        self._writer.close()
        return Records(path=self._path, keep=self._tmp)
