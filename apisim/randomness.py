"""Named random streams: one numpy Generator per source of randomness.

Why: a stream is identified by a stable name (``"client/web/arrivals"``), not by the order in
which components happen to be built, so adding a function does not shift anyone else's draws,
a run is identical in any process, and two designs run with the same seed see the same
arrivals (common random numbers). Python's ``hash()`` is salted per process, and a 32-bit
checksum lets two different names share a stream (CRC-32 pairs are found in seconds), so names
are turned into 128-bit integers with SHA-256 instead.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_id(name: str) -> int:
    """A process-independent 128-bit id for a stream name (collision-resistant)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:16], "big")


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator for stream ``name`` under ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stable_id(name),))))
