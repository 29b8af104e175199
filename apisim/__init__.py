"""apisim: simulate API Gateway + Lambda designs under traffic; latency, 429s and the monthly bill.

>>> import apisim
>>> sc = apisim.load("scenarios/default.yaml")        # doctest: +SKIP
>>> res = apisim.simulate(sc, seed=7)                  # doctest: +SKIP
>>> res.summary["latency_ms"]["p99"]                   # doctest: +SKIP
"""

from apisim.crossings import breakeven
from apisim.experiment import Result, replicate, replication_seed, run_many, simulate
from apisim.fitting import fit_files
from apisim.loading import load, validate_scenario
from apisim.problems import RunTooLarge, ScenarioError
from apisim.scenario import Scenario
from apisim.studies import compare, diff, plan, replications, sweep

__version__ = "0.1.0"

__all__ = [
    "Result",
    "RunTooLarge",
    "Scenario",
    "ScenarioError",
    "__version__",
    "breakeven",
    "compare",
    "diff",
    "fit_files",
    "iac",
    "load",
    "plan",
    "plots",
    "replicate",
    "replication_seed",
    "replications",
    "run_many",
    "simulate",
    "sweep",
    "validate_scenario",
]


def __getattr__(name: str) -> object:
    # apisim.plots imports matplotlib, apisim.iac its parsers: only when asked for, so a plain
    # `import apisim` stays light.
    if name in ("plots", "iac"):
        import importlib

        return importlib.import_module(f"apisim.{name}")
    raise AttributeError(f"module 'apisim' has no attribute {name!r}")
