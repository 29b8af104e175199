"""Which engine runs a scenario, and running it: the Python engine (:mod:`apisim.engine.simulation`,
the readable reference) or the compiled one (:mod:`apisim.engine.compiled`, for what it covers).

Both take the same built run and give the same numbers for the same seed; this module only chooses.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from apisim.budget import estimate
from apisim.engine import simulation
from apisim.engine.apigateway import ApiGateway
from apisim.engine.build import Run, build
from apisim.engine.cache import TtlCache
from apisim.engine.simulation import RunLog
from apisim.problems import EngineUnavailable
from apisim.scenario import Scenario

ENGINES = ("auto", "python", "compiled")

AUTO_MIN_ATTEMPTS = 1_000_000
"""``auto`` runs the kernel from this many expected attempts on: below it the Python engine is done
before the kernel's first compile (about 7 s, once per machine; then about half a second to load) would
pay for itself. Both give the same numbers, so the choice only moves wall time."""


def unsupported(run: Run) -> str | None:
    """Why the compiled kernel cannot run ``run`` (the feature it does not cover), or None if it can.

    Here, not in :mod:`apisim.engine.compiled`: asking must not import Numba (a second of start-up).
    """
    for door in run.doors.values():
        if type(door).__name__ == "CloudFrontDoor":
            return "CloudFront in front of an API"
        if type(door) is not ApiGateway:
            return f"{door.kind} APIs"
        for state in door.stage_states:
            if state.cache is not None and type(state.cache) is not TtlCache:
                return "a response cache smaller than its keys (LRU eviction)"
    if run.tally.extra:
        return "WebSocket APIs"
    if run.log is not None:
        return "per-attempt records (--records)"
    if importlib.util.find_spec("numba") is None:  # pragma: no cover - a dependency; a broken install falls back
        return "Numba is not installed here"
    return None


def choose_engine(built: Run, choice: str) -> tuple[str, str | None]:
    """The engine that runs ``built`` (``python`` or ``compiled``) for ``choice``, and why the kernel
    cannot run it (None if it can). Raises :class:`EngineUnavailable` for ``compiled`` when it cannot."""
    if choice not in ENGINES:
        raise ValueError(f"engine is one of {', '.join(ENGINES)}, not {choice!r}")
    if choice == "python":
        return "python", None
    if choice == "auto" and estimate(built.scenario, records=False).attempts < AUTO_MIN_ATTEMPTS:
        return "python", None  # small: not worth loading the kernel, nor asking what it covers
    why = unsupported(built)
    if why is not None and choice == "compiled":
        sc = built.scenario
        raise sc.origin.error(
            [(("simulation", "engine"), f"the compiled engine does not cover {why}: use python or auto", None)],
            EngineUnavailable,
        )
    if why is not None:
        return "python", why
    return "compiled", None


def run(
    sc: Scenario,
    seed: int | None = None,
    *,
    records: bool,
    progress: Callable[[float], None] | None = None,
    at: float | None = None,
    engine: str | None = None,
) -> RunLog:
    """Simulate ``sc`` once. ``seed`` defaults to the scenario's own.

    ``records``: keep one row per attempt (True), or only the running totals (False). The run's
    size is not checked here: :func:`apisim.budget.check` does that before any work starts.
    ``at``: the run is a window of the month beginning at month time ``at`` (see
    :func:`apisim.engine.build.build`). ``engine``: ``python``, ``compiled`` (an error if the kernel
    does not cover the scenario) or ``auto`` (the compiled one where it covers the scenario and the
    run is large: :data:`AUTO_MIN_ATTEMPTS`); default ``simulation.engine``. Both give the same
    numbers; the run says which one ran it (``RunLog.engine``).
    """
    seed = sc.simulation.seed if seed is None else seed
    if not 0 <= seed < 2**64:
        raise ValueError(f"a seed is an integer from 0 to 2**64 - 1, got {seed}")
    built = build(sc, seed, records=records, at=at)
    chosen, _ = choose_engine(built, sc.simulation.engine if engine is None else engine)
    if chosen == "compiled":
        from apisim.engine import compiled

        return compiled.drive(built, progress)
    return simulation.drive(built, progress)
