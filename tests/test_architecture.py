"""Data flows one way: scenario → engine → metrics → cost → tables/reports → CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import apisim

PKG = Path(apisim.__file__).parent
LATER = {
    "engine": {
        "apisim.metrics",
        "apisim.cost",
        "apisim.experiment",
        "apisim.tables",
        "apisim.report",
        "apisim.plots",
        "apisim.cli",
        "apisim.output",
    },
    "metrics": {
        "apisim.cost",
        "apisim.experiment",
        "apisim.studies",
        "apisim.tables",
        "apisim.report",
        "apisim.plots",
        "apisim.cli",
    },
    "studies": {"apisim.report", "apisim.publish", "apisim.tables", "apisim.cli"},
    "scenario": {"apisim.engine", "apisim.metrics", "apisim.cost", "apisim.loading", "apisim.cli"},
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_module_reaches_back_up_the_chain() -> None:
    files = {
        "engine": list((PKG / "engine").glob("*.py")),
        "metrics": [PKG / "metrics.py"],
        "scenario": [PKG / "scenario.py", PKG / "distributions.py", PKG / "durations.py", PKG / "slo.py"],
        "studies": [PKG / "studies.py"],
    }
    for stage, paths in files.items():
        for path in paths:
            bad = {m for m in imports(path) if any(m == x or m.startswith(x + ".") for x in LATER[stage])}
            assert not bad, f"{path.name} imports {bad}"


def test_only_the_run_loop_reads_the_schema() -> None:
    for path in (PKG / "engine").glob("*.py"):
        if path.name != "simulation.py":
            assert "apisim.scenario" not in imports(path), path.name


def test_public_api_is_what_the_readme_documents() -> None:
    documented = {"Result", "RunTooLarge", "Scenario", "ScenarioError", "__version__", "load", "replicate"}
    documented |= {"replication_seed", "run_many", "simulate", "validate_scenario", "compare", "sweep", "plan"}
    documented |= {"replications", "plots"}
    assert set(apisim.__all__) == documented
    readme = (PKG.parent / "README.md").read_text()
    for name in documented - {"__version__", "Scenario", "Result", "replications"}:
        assert name in readme, f"apisim.{name} is not in the README"
