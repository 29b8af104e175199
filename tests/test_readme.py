"""The README's commands and Python snippet work as shown."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from apisim.durations import to_seconds

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


SKIPPED = ("00-", "02-", "04-", "05-read-heavy-no-cache", "07-", "08-", "09-spiky-provisioned", "10-", "default")
"""Shipped scenarios the README's commands do not name: left out of the light copies, and so out of
the report the tour writes over the folder (each is validated and run in test_scenarios, and the
report's comparison groups in test_report)."""


def light_copy(tmp_path: Path) -> None:
    """The shipped scenarios, made light: at most two windows of at most two minutes, each after a
    short warm-up (idle expiry of 1-2 minutes, cache and authorizer TTLs of at most a minute: the
    month's windows warm up for the slowest of these).

    This file checks that the README's commands and code work as shown, not their numbers (the
    shipped scenarios' numbers are checked in test_scenarios and the model tests); lighter copies
    keep ``make test`` inside its budget. Flags a command gives (--duration, --windows) still win.
    """
    folder = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", folder)
    for path in folder.rglob("*.yaml"):
        if path.name.startswith(SKIPPED):
            path.unlink()  # the report over the folder need not run every shipped scenario again
            continue
        doc = _on_is_a_word(yaml.safe_load(path.read_text()))
        if "comparisons" in doc:  # keep the groups whose designs are all still here
            kept = {n: fs for n, fs in doc["comparisons"].items() if not any(f.startswith(SKIPPED) for f in fs)}
            path.write_text(yaml.safe_dump({"comparisons": kept}, sort_keys=False))
            continue
        sim = doc["simulation"]
        duration = min(to_seconds(sim["duration"]), 120.0)
        sim.update(duration=f"{duration:g}s", warmup=f"{min(to_seconds(sim['warmup']), duration / 4):g}s")
        sim.setdefault("windows", 2)
        for f in (doc.get("functions") or {}).values():
            f["idle_expiry"] = {"dist": "uniform", "low": "1m", "high": "2m"}
        for api in [doc["api"]] if "api" in doc else list(doc.get("apis", {}).values()):
            for holder in [api, *(api.get("stages") or {}).values()]:
                if holder.get("cache"):
                    holder["cache"]["ttl"] = f"{min(to_seconds(holder['cache'].get('ttl', 300)), 60.0):g}s"
            if api.get("authorizer"):
                api["authorizer"]["cache_ttl"] = f"{min(to_seconds(api['authorizer'].get('cache_ttl', 300)), 60.0):g}s"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _on_is_a_word(node: Any) -> Any:
    """PyYAML reads the key ``on:`` (a retry's statuses) as True; apisim's loader reads it as a word."""
    if isinstance(node, dict):
        return {("on" if k is True else k): _on_is_a_word(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_on_is_a_word(v) for v in node]
    return node


def test_readme_starts_with_exactly_the_two_commands() -> None:
    first = blocks("")[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make run", "make test"]


def test_tour_commands_run(tmp_path: Path) -> None:
    light_copy(tmp_path)
    shutil.copytree(ROOT / "tests" / "data" / "iac", tmp_path / "tests" / "data" / "iac")  # what `import` reads
    commands = [  # every block after the two commands: the tour and the month's
        line.split("#")[0].strip()
        for block in blocks("")[1:]
        for line in block.splitlines()
        if line.startswith(".venv/bin/apisim")
    ]
    assert len(commands) >= 5

    def run(command: str) -> tuple[str, subprocess.CompletedProcess]:
        copies = " ".join(sorted(p.name for p in (tmp_path / "scenarios").glob("*.yaml")))
        args = shlex.split(command.replace("scenarios/*.yaml", copies))
        kept = ("scenarios/", "tests/")  # files the commands read where they are; others go to the copies
        args = [a if not a.endswith(".yaml") or a.startswith(kept) else f"scenarios/{a}" for a in args[1:]]
        if ">" in args:
            args = args[: args.index(">")]
        proc = subprocess.run(
            [sys.executable, "-m", "apisim.cli", *args],
            cwd=tmp_path, capture_output=True, text=True, check=False,
        )  # fmt: skip
        return command, proc

    # The commands are independent (each writes its own files): two at a time, one per core.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for command, proc in pool.map(run, commands):
            # A plan's exit code 1 is an answer ("no design in the grid meets every SLO"), which the
            # light copies may give: the command worked as shown.
            answered = " plan " in command and proc.returncode == 1 and "meets every SLO" in proc.stdout
            assert proc.returncode == 0 or answered, f"{command}\n{proc.stderr}"
    assert (tmp_path / "runs" / "a" / "report.md").exists()


def test_python_snippet_runs(monkeypatch, tmp_path: Path) -> None:
    light_copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["res"].summary["scenario"] == "authorizer-secured"
    assert (tmp_path / "runs" / "a" / "summary.json").exists()
    assert len(namespace["runs"]) == 2


@pytest.mark.xdist_group(name="kernel")  # it runs the compiled engine: after test_kernel compiled it, not beside
def test_shell_blocks_run_in_order(tmp_path: Path) -> None:
    """```shell blocks are walkthroughs: each line may use what the one before wrote, so they run in
    order, in a copy of the repository's scenarios and examples."""
    light_copy(tmp_path)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "tests" / "data" / "export", tmp_path / "tests" / "data" / "export")  # export --terraform
    lines = [ln.split("  #")[0].strip() for block in blocks("shell") for ln in block.splitlines() if ln.strip()]
    assert lines, "the README has a walkthrough"
    for line in lines:
        assert line.startswith(".venv/bin/apisim "), line
        proc = subprocess.run(
            [sys.executable, "-m", "apisim.cli", *shlex.split(line)[1:]],
            cwd=tmp_path, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
