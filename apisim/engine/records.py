"""Per-attempt records, kept column by column (cheap to append, one step from a DataFrame)."""

from __future__ import annotations

from array import array

import numpy as np

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


class AttemptLog:
    """Append-only columns, one row per attempt. ``record`` takes the fields in ``COLUMNS`` order."""

    __slots__ = ("_appends", "columns")

    def __init__(self) -> None:
        self.columns = {name: array(code) for name, code in COLUMNS.items()}
        self._appends = tuple(col.append for col in self.columns.values())

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

    def arrays(self) -> dict[str, np.ndarray]:
        """Zero-copy numpy views of every column."""
        return {
            name: np.frombuffer(col, dtype=col.typecode) if len(col) else np.array([], dtype=col.typecode)
            for name, col in self.columns.items()
        }
