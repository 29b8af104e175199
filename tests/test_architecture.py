"""Data flows one way, layer by layer: a module imports only from its own layer or earlier ones.

Checked structurally: every ``import`` and ``from ... import`` in a module, at any depth (a lazy
import inside a function counts too), resolved to an apisim module and its layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import apisim

PKG = Path(apisim.__file__).parent

LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"problems", "durations", "distributions", "slo", "randomness", "outcomes", "defaults", "months",
                    "reading", "scratch", "output"}),
    ("schema", {"scenario"}),
    ("loading", {"traces", "loading", "budget"}),
    ("inputs", {"logs", "fitting", "iac"}),  # what AWS logs and infrastructure code say → a scenario
    ("engine", {"engine"}),
    ("metrics", {"metrics", "quotas"}),
    ("cost", {"cost", "headline", "month"}),
    ("render", {"charts", "plots", "pages", "formats"}),
    ("orchestration", {"experiment", "studies", "crossings"}),
    ("faces", {"publish", "report", "tables", "gates", "cli", "starter", "fitreport", "exporting", "__init__"}),
]  # fmt: skip
"""scenario file → validated model → engine (build, doors, account, functions) → metrics → month and
cost → rendering → the Python API and studies → the faces people use."""


def layer_of(module: str) -> int:
    first = module.split(".")[1] if module.startswith("apisim.") else module
    for i, (_, members) in enumerate(LAYERS):
        if first in members:
            return i
    raise AssertionError(f"apisim.{first} is in no layer: add it to LAYERS")


def modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        out[".".join(rel.parts)] = path
    return out


def imports(path: Path, module: str) -> set[str]:
    """The apisim modules ``path`` imports, wherever in it (relative imports resolved)."""
    names = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if full in modules() else base)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n == "apisim" or n.startswith("apisim.")}


def test_every_module_has_a_layer() -> None:
    for module in modules():
        if module != "apisim":
            layer_of(module)


def test_no_module_reaches_back_up_the_chain() -> None:
    for module, path in modules().items():
        if module == "apisim":
            continue  # the package's front door re-exports the Python API
        mine = layer_of(module)
        for target in imports(path, module):
            if target == "apisim":
                continue
            theirs = layer_of(target)
            assert theirs <= mine, f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]}), a later layer"


def test_there_are_no_import_cycles() -> None:
    graph = {m: {t for t in imports(p, m) if t in modules() and t != m} for m, p in modules().items()}
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            raise AssertionError(" → ".join([*trail[trail.index(node) :], node]))
        if node in done:
            return
        for nxt in graph.get(node, ()):
            visit(nxt, [*trail, node])
        done.add(node)

    for m in graph:
        if m != "apisim":
            visit(m, [])


def test_only_the_builder_and_the_loop_read_the_schema() -> None:
    for module, path in modules().items():
        if module.startswith("apisim.engine.") and module not in (
            "apisim.engine.build",
            "apisim.engine.simulation",
            "apisim.engine.engines",
        ):
            assert "apisim.scenario" not in imports(path, module), module


def test_the_bill_knows_no_door_by_name() -> None:
    source = (PKG / "cost.py").read_text()
    for word in ("apigateway", "rest", "http", "ApiGateway"):
        assert f'"{word}' not in source and f"'{word}" not in source, word


def test_public_api_is_what_the_readme_documents() -> None:
    documented = {"Result", "RunTooLarge", "Scenario", "ScenarioError", "__version__", "load", "replicate"}
    documented |= {"replication_seed", "run_many", "simulate", "validate_scenario", "compare", "sweep", "plan", "diff"}
    documented |= {"replications", "plots", "breakeven", "fit_files", "iac"}
    assert set(apisim.__all__) == documented
    readme = (PKG.parent / "README.md").read_text()
    for name in documented - {"__version__", "Scenario", "Result", "replications"}:
        assert name in readme, f"apisim.{name} is not in the README"
