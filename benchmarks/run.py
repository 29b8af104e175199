"""apisim's benchmark: simulated requests per wall second and peak memory, against peer simulators.

    make bench                       # everything (about 15 minutes; SimFaaS on case (b) alone takes 4)
    python -m benchmarks.run --quick # tiny sizes: checks the benchmark works, enforces no target
    python -m benchmarks.run --case cold-a --case month

Every implementation runs as a whole process (interpreter start and imports included), one
after another. Results are appended to benchmarks/results.csv with the date and git commit;
the exit code is 1 if a target is missed (or could not be checked), 0 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIOS = HERE / "scenarios"
PEERS_VENV = HERE / ".peers-venv"
SIMFAAS = "simfaas==0.2.2"
Z = 4.0  # agreement tolerance in standard errors of the difference
CASES = ("reference", "reference-10m", "cold-a", "cold-b", "month", "month-exact", "month-fast", "memory", "scale-out")

console = Console(width=None if sys.stdout.isatty() else 140)


@dataclass
class Run:
    implementation: str
    requests: int
    process_s: float
    figures: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.process_s


@dataclass
class Check:
    case: str
    what: str
    ok: bool | None  # None: could not be checked
    detail: str


def whole_process(cmd: list[str], implementation: str, timeout: float = 3600) -> Run:
    """Run ``cmd`` (which prints one JSON line) and time it as a whole process."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{implementation} failed:\n{proc.stderr[-2000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return Run(implementation, int(figures["requests"]), elapsed, figures)


def apisim_run(scenario: str, duration: float | None = None, engine: str = "python", *extra: str) -> Run:
    cmd = [sys.executable, "-m", "benchmarks.apisim_case", str(SCENARIOS / scenario), "--engine", engine, *extra]
    if duration:
        cmd += ["--duration", str(duration)]
    return whole_process(cmd, "apisim" if engine == "python" else f"apisim --engine {engine}")


def warm_kernel() -> float:
    """Compile the kernel before any timed run (Numba caches it on disk: later processes load it);
    returns how long that took (the one-time compile in a fresh clone, about a second after)."""
    started = time.perf_counter()
    apisim_run("cold-a.yaml", 100.0, "compiled")
    return time.perf_counter() - started


def kernel_checks(name: str, python: Run, compiled: Run, in_process: float, checks: list[Check]) -> None:
    """Issue 15's targets for one case: the kernel's rate in process, and the same numbers as Python."""
    rate = compiled.requests / compiled.figures["wall_s"]
    checks.append(Check(name, f"compiled ≥ {in_process / 1e6:g}M requests/s in process", rate >= in_process,
                        f"{rate:,.0f}/s"))  # fmt: skip
    same = all(python.figures.get(k) == compiled.figures.get(k) for k in ("requests", "p_cold", "cost_total", "p99_ms"))
    checks.append(Check(name, "compiled gives Python's numbers", same, "identical" if same else "DIFFERENT"))


def peers_python(quiet: bool) -> Path | None:
    """The interpreter of SimFaaS's own environment, installed from the package index on first use."""
    python = PEERS_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import simfaas"], capture_output=True).returncode == 0:
        return python
    if not quiet:
        console.print(f"installing {SIMFAAS} into {PEERS_VENV.relative_to(ROOT)} ...")
    steps = [[sys.executable, "-m", "venv", str(PEERS_VENV)], [str(python), "-m", "pip", "install", "--quiet", SIMFAAS]]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            console.print(f"[red]could not install SimFaaS:[/] {proc.stderr.strip()[-500:]}")
            return None
    return python


def agree(a: Run, b: Run, key: str, se_key: str) -> tuple[bool | None, str]:
    """Do two runs agree on ``key`` within Z standard errors of their difference?

    The standard error is apisim's own (batch means), taken as the peer's too.
    """
    se = math.sqrt(2.0) * float(a.figures[se_key])
    diff = abs(float(a.figures[key]) - float(b.figures[key]))
    values = f"{a.figures[key]:.4g} vs {b.figures[key]:.4g}"
    if not math.isfinite(se) or se == 0:
        return None, f"{values} (run too short for a standard error)"
    return diff <= Z * se, f"{values} ({diff / se:.1f} SE)"


def cold_case(
    name: str, rate: float, horizon: float, quick: bool, simfaas: Path | None, checks: list[Check]
) -> list[Run]:
    runs = [apisim_run(f"{name}.yaml", horizon if quick else None)]
    compiled = apisim_run(f"{name}.yaml", horizon if quick else None, "compiled")
    seed = "1"
    for impl, script in (("simpy", "simpy_model"), ("heapq", "heapq_model")):
        runs.append(
            whole_process([sys.executable, "-m", f"benchmarks.peers.{script}", str(rate), str(horizon), seed], impl)
        )
    if simfaas is not None:
        runs.append(
            whole_process(
                [str(simfaas), str(HERE / "peers" / "simfaas_model.py"), str(rate), str(horizon), seed], "simfaas"
            )
        )
    ours = runs[0]
    by = {r.implementation: r for r in runs}
    kernel_checks(name, ours, compiled, 2_000_000, checks)
    if "simfaas" in by:
        ratio = compiled.rate / by["simfaas"].rate
        checks.append(Check(name, "compiled ≥ 20× SimFaaS (whole processes)", ratio >= 20, f"{ratio:.1f}×"))
    else:
        checks.append(Check(name, "compiled ≥ 20× SimFaaS (whole processes)", None, "SimFaaS unavailable"))
    checks.append(Check(name, "apisim ≥ 250,000 requests/s", ours.rate >= 250_000, f"{ours.rate:,.0f}/s"))
    simpy_ratio = ours.rate / by["simpy"].rate
    checks.append(Check(name, "apisim ≥ 4× plain SimPy", simpy_ratio >= 4, f"{simpy_ratio:.1f}×"))
    wanted = 5 if name == "cold-a" else 50
    if "simfaas" in by:
        ratio = ours.rate / by["simfaas"].rate
        checks.append(Check(name, f"apisim ≥ {wanted}× SimFaaS", ratio >= wanted, f"{ratio:.1f}×"))
    else:
        checks.append(Check(name, f"apisim ≥ {wanted}× SimFaaS", None, "SimFaaS unavailable"))
    for peer in runs[1:]:
        for key, se_key, label in (
            ("mean_instances", "se_instances", "mean instances"),
            ("p_cold", "se_p_cold", "cold-start probability"),
        ):
            ok, detail = agree(ours, peer, key, se_key)
            checks.append(Check(name, f"{label} agrees with {peer.implementation}", ok, detail))
    return [runs[0], compiled, *runs[1:]]


def _versus(r: Run, python: Run, ratios: bool) -> str:
    """The "vs apisim" column: how many times faster the Python engine is than a peer; for the
    compiled engine, how many times faster it is than the Python engine."""
    if r is python or not ratios:
        return ""
    if "compiled" in r.implementation:
        return f"{r.rate / python.rate:.1f}× faster" if "compiled" not in python.implementation else ""
    return f"{python.rate / r.rate:.1f}×"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes; report but do not enforce targets")
    parser.add_argument(
        "--case",
        action="append",
        choices=CASES,
    )
    parser.add_argument("--no-simfaas", action="store_true", help="skip the SimFaaS peer (no package index needed)")
    parser.add_argument("--results", type=Path, default=HERE / "results.csv")
    args = parser.parse_args()
    cases = args.case or list(CASES)
    quick = args.quick
    if quick and not args.case:
        # A month has no tiny size (run it with --quick --case month-exact), and at tiny size
        # reference-10m is the reference case again.
        cases = [c for c in cases if c not in ("month-exact", "reference-10m")]
    simfaas = None if args.no_simfaas or not ({"cold-a", "cold-b"} & set(cases)) else peers_python(quick)
    checks: list[Check] = []
    table = Table(title=f"apisim benchmark{' (quick: targets not enforced)' if quick else ''}", title_justify="left")
    for col in (
        "case",
        "implementation",
        "requests",
        "process s",
        "requests/s",
        "vs apisim",
        "peak RSS MB",
        "mean instances",
        "p(cold)",
    ):
        table.add_column(col, justify="left" if col in ("case", "implementation") else "right")
    rows: list[tuple[str, Run]] = []

    def show(case: str, runs: list[Run], ratios: bool = True) -> None:
        for r in runs:
            rows.append((case, r))
            table.add_row(
                case, r.implementation, f"{r.requests:,}", f"{r.process_s:.2f}", f"{r.rate:,.0f}",
                _versus(r, runs[0], ratios), f"{r.figures.get('peak_rss_mb', 0):.0f}",
                f"{r.figures['mean_instances']:.1f}" if "mean_instances" in r.figures else "",
                f"{r.figures['p_cold']:.2e}" if r.figures.get("p_cold") is not None else "",
            )  # fmt: skip

    if not quick and {"reference", "reference-10m", "cold-a", "cold-b", "month-exact"} & set(cases):
        compile_s = warm_kernel()
        console.print(f"kernel compiled (or loaded from Numba's cache) in {compile_s:.1f} s, before any timed run")
    if "reference" in cases:
        r = apisim_run("reference.yaml", 20.0 if quick else None)
        c = apisim_run("reference.yaml", 20.0 if quick else None, "compiled")
        show("reference", [r, c])
        checks.append(Check("reference", "≥ 150,000 requests/s", r.rate >= 150_000, f"{r.rate:,.0f}/s"))
        kernel_checks("reference", r, c, 1_500_000, checks)
    if "reference-10m" in cases:
        # Issue 15: the full pipeline at 10M requests (1,000 rps for 10,000 s), both engines as whole processes.
        horizon = 100.0 if quick else 10_000.0
        r = apisim_run("reference.yaml", horizon)
        c = apisim_run("reference.yaml", horizon, "compiled")
        show("reference-10m", [r, c])
        kernel_checks("reference-10m", r, c, 1_500_000, checks)
        ratio = c.rate / r.rate
        checks.append(Check("reference-10m", "compiled ≥ 8× Python (whole processes)", ratio >= 8, f"{ratio:.1f}×"))
    if "month-exact" in cases:
        # Issue 15: every request of the 100 rps reference API's month (≈ 260M) through the kernel.
        c = apisim_run("month-100.yaml", None, "compiled", "--exact-month")
        show("month-exact", [c])
        checks.append(Check("month-exact", "exact month (≈ 260M requests) in < 4 min", c.process_s < 240,
                            f"{c.process_s:.0f}s, {c.requests:,} requests"))  # fmt: skip
        checks.append(Check("month-exact", "flat memory (peak RSS < 400 MB)", c.figures["peak_rss_mb"] < 400,
                            f"{c.figures['peak_rss_mb']:.0f} MB"))  # fmt: skip
    if "cold-a" in cases:
        show("cold-a", cold_case("cold-a", 50.0, 200.0 if quick else 20_000.0, quick, simfaas, checks))
    if "cold-b" in cases:
        show("cold-b", cold_case("cold-b", 500.0, 20.0 if quick else 2_000.0, quick, simfaas, checks))
    if "month" in cases:
        r = apisim_run("month.yaml", 86_400.0 if quick else None)
        show("month", [r])
        checks.append(
            Check("month", "30-day month in < 60 s", r.process_s < 60, f"{r.process_s:.1f}s, {r.requests:,} requests")
        )
        checks.append(
            Check("month", "bill from the month's own counts", r.figures["month_scale"] == 1.0 or quick,
                  f"month_scale {r.figures['month_scale']:g}, ${r.figures['cost_total']:,.2f}")
        )  # fmt: skip
    if "memory" in cases:
        r = apisim_run("reference.yaml", 200.0 if quick else 100_000.0)
        show("memory", [r])
        checks.append(
            Check(
                "memory",
                "peak RSS < 400 MB at 100M requests",
                r.figures["peak_rss_mb"] < 400,
                f"{r.figures['peak_rss_mb']:.0f} MB, {r.requests:,} requests",
            )
        )
    if "month-fast" in cases:
        # Issue 9: the month's bill with its ± for a 1,000 rps API, its windows in 2 worker processes.
        cmd = [sys.executable, "-m", "benchmarks.month_case", "speed", "--json"] + (["--quick"] if quick else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        r = Run("apisim, month from windows, 2 workers", out["requests"], out["wall_s"], {"peak_rss_mb": 0})
        show("month-fast", [r])
        checks.append(
            Check("month-fast", "1,000 rps month's bill ± in < 60 s on 2 cores", out["wall_s"] < 60 or quick,
                  f"{out['wall_s']:.1f}s, bill {out['bill']}, {out['month_requests']:,} requests in the month")
        )  # fmt: skip
    if "scale-out" in cases:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.scaleout_case",
            str(SCENARIOS / "reference.yaml"),
            "4",
            "20" if quick else "600",
            "2",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        serial = Run("apisim, 1 process", out["requests"], out["serial_s"])
        show("scale-out", [serial, Run("apisim, 2 workers", out["requests"], out["parallel_s"])], ratios=False)
        checks.append(
            Check(
                "scale-out",
                "2 workers ≥ 1.8× serial",
                out["speedup"] >= 1.8,
                f"{out['speedup']:.2f}× ({out['serial_s']:.1f}s → {out['parallel_s']:.1f}s)",
            )
        )
        checks.append(
            Check("scale-out", "parallel results identical to serial", out["identical"], str(out["identical"]))
        )

    console.print(table)
    verdicts = Table(title="Targets", title_justify="left")
    for col in ("case", "target", "result", ""):
        verdicts.add_column(col)
    for c in checks:
        mark = "[green]met[/]" if c.ok else ("[yellow]not checked[/]" if c.ok is None else "[red]MISSED[/]")
        verdicts.add_row(c.case, c.what, c.detail, mark)
    console.print(verdicts)
    record(args.results, rows, quick)
    if quick:
        return 0
    return 0 if all(c.ok for c in checks) else 1


def git_commit() -> tuple[str, bool]:
    """The short commit of the checkout and whether tracked files have changed ("unknown" without git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT
        )
    except OSError:
        return "unknown", False
    return commit.strip() or "unknown", bool(status.stdout.strip())


def record(path: Path, rows: list[tuple[str, Run]], quick: bool) -> None:
    """Append this invocation's rows to the results file, with the date and git commit."""
    commit = (
        subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
        or "unknown"
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    new = not path.exists()
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(
                [
                    "date",
                    "commit",
                    "mode",
                    "case",
                    "implementation",
                    "requests",
                    "process_s",
                    "requests_per_s",
                    "peak_rss_mb",
                    "mean_instances",
                    "p_cold",
                ]
            )
        for case, r in rows:
            w.writerow([
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), commit + ("+dirty" if dirty else ""),
                "quick" if quick else "full", case, r.implementation, r.requests, f"{r.process_s:.3f}", f"{r.rate:.0f}",
                f"{r.figures.get('peak_rss_mb', 0):.0f}", r.figures.get("mean_instances", ""),
                r.figures.get("p_cold", ""),
            ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
