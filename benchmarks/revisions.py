"""Compare this tree with an earlier revision: the same numbers, and no slower.

    python -m benchmarks.revisions numbers REV   # every shipped scenario: the same summary in both trees
    python -m benchmarks.revisions speed REV     # benchmark scenarios as whole processes, alternating trees
    python -m benchmarks.revisions instructions REV   # CPU instructions per simulated request (valgrind)

REV is checked out into a temporary git worktree; both trees run with this venv's interpreter and
libraries, one process at a time, so the only difference is apisim's own code. ``numbers`` exits 1
if a figure the earlier revision reported differs (floats beyond a relative 1e-9); keys the new tree
adds are listed, not judged. ``speed`` runs each case ``--rounds`` times, alternating trees, and
reports the fastest process of each (the least disturbed by anything else on the machine).
``instructions`` counts instructions under valgrind's callgrind at two run lengths and reports the
difference per request: the same count on every run, whatever else the machine does (wall time on a
shared virtual machine moves by 10-20% from minute to minute), and free of start-up costs.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SUMMARY = """
import json, sys
import apisim
from apisim.output import to_json
sc = apisim.load(sys.argv[1])
print(to_json(apisim.simulate(sc, force=True, records=False).summary))
"""


@contextmanager
def worktree(rev: str):
    with tempfile.TemporaryDirectory(prefix="apisim-rev-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def _summary(tree: Path, scenario: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", SUMMARY, str(scenario)], cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {scenario.name}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Where ``after`` differs from ``before`` on what ``before`` has (new keys in ``after`` are fine)."""
    if isinstance(before, dict):
        if not isinstance(after, dict):
            return [f"{path}: was a mapping"]
        out = []
        for key, value in before.items():
            if key not in after:
                out.append(f"{path}.{key}: missing")
            else:
                out += differences(value, after[key], f"{path}.{key}")
        return out
    if isinstance(before, float) and isinstance(after, (int, float)):
        same = math.isclose(before, after, rel_tol=1e-9, abs_tol=1e-12)
        return [] if same else [f"{path}: {before!r} → {after!r}"]
    return [] if before == after else [f"{path}: {before!r} → {after!r}"]


def added(before: Any, after: Any, path: str = "") -> list[str]:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    out = [f"{path}.{k}" for k in after if k not in before]
    for k in before:
        if k in after:
            out += added(before[k], after[k], f"{path}.{k}")
    return out


def numbers(rev: str) -> int:
    scenarios = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if p.name != "comparisons.yaml")
    failed = 0
    with worktree(rev) as old:
        for path in scenarios:
            after = _summary(ROOT, path)
            try:
                before = _summary(old, path)
            except RuntimeError:
                print(f"{path.name:34} new (the earlier revision cannot read it)")
                continue
            diff = differences(before, after)
            new = added(before, after)
            status = "same" if not diff else "DIFFERENT"
            failed += bool(diff)
            print(f"{path.name:34} {status}" + (f"   (new: {', '.join(new[:6])}{' ...' if len(new) > 6 else ''})"
                                                 if new else ""))  # fmt: skip
            for line in diff[:20]:
                print(f"    {line}")
    return 1 if failed else 0


CASES = {
    "reference": ("benchmarks/scenarios/reference.yaml", None),
    "cold-a": ("benchmarks/scenarios/cold-a.yaml", None),
    "cold-b": ("benchmarks/scenarios/cold-b.yaml", None),
}


def _timed(tree: Path, scenario: str, duration: float | None) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "benchmarks.apisim_case", str(ROOT / scenario)]
    if duration:
        cmd += ["--duration", str(duration)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {scenario}:\n{proc.stderr[-2000:]}")
    return elapsed, int(json.loads(proc.stdout.strip().splitlines()[-1])["requests"])


def speed(rev: str, rounds: int, cases: list[str]) -> int:
    with worktree(rev) as old:
        print(f"{'case':10} {'before s':>9} {'after s':>9} {'before req/s':>13} {'after req/s':>13} {'change':>8}")
        for case in cases:
            scenario, duration = CASES[case]
            best: dict[str, float] = {"before": math.inf, "after": math.inf}
            requests = 0
            for _ in range(rounds):
                for label, tree in (("before", old), ("after", ROOT)):
                    elapsed, requests = _timed(tree, scenario, duration)
                    best[label] = min(best[label], elapsed)
            b, a = requests / best["before"], requests / best["after"]
            print(f"{case:10} {best['before']:9.2f} {best['after']:9.2f} {b:13,.0f} {a:13,.0f} {a / b - 1:+8.1%}")
    return 0


# (scenario, a short and a long --duration): the difference of the two is the per-request cost.
INSTRUCTION_CASES = {
    "reference": ("benchmarks/scenarios/reference.yaml", 20.0, 80.0),
    "cold-a": ("benchmarks/scenarios/cold-a.yaml", 400.0, 1600.0),
    "cold-b": ("benchmarks/scenarios/cold-b.yaml", 40.0, 160.0),
}


def _instructions(tree: Path, scenario: str, duration: float) -> tuple[int, int]:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
           "benchmarks.apisim_case", str(ROOT / scenario), "--duration", str(duration)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {scenario}:\n{proc.stderr[-2000:]}")
    collected = [line for line in proc.stderr.splitlines() if "Collected :" in line][-1]
    requests = int(json.loads(proc.stdout.strip().splitlines()[-1])["requests"])
    return int(collected.rsplit(":", 1)[1].strip()), requests


def instructions(rev: str, cases: list[str]) -> int:
    with worktree(rev) as old:
        print(f"{'case':10} {'before instr/req':>17} {'after instr/req':>16} {'change':>8}")
        for case in cases:
            scenario, short, long = INSTRUCTION_CASES[case]
            per: dict[str, float] = {}
            for label, tree in (("before", old), ("after", ROOT)):
                (i1, r1), (i2, r2) = _instructions(tree, scenario, short), _instructions(tree, scenario, long)
                per[label] = (i2 - i1) / (r2 - r1)
            change = per["after"] / per["before"] - 1
            print(f"{case:10} {per['before']:17,.0f} {per['after']:16,.0f} {change:+8.1%}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    n = sub.add_parser("numbers")
    n.add_argument("rev")
    s = sub.add_parser("speed")
    s.add_argument("rev")
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--case", action="append", choices=sorted(CASES))
    i = sub.add_parser("instructions")
    i.add_argument("rev")
    i.add_argument("--case", action="append", choices=sorted(INSTRUCTION_CASES))
    args = parser.parse_args()
    if args.command == "instructions":
        sys.exit(instructions(args.rev, args.case or list(INSTRUCTION_CASES)))
    if args.command == "numbers":
        sys.exit(numbers(args.rev))
    sys.exit(speed(args.rev, args.rounds, args.case or list(CASES)))


if __name__ == "__main__":
    main()
