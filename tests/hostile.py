"""A corpus of broken, hostile and resource-hungry inputs, and a runner that feeds each to the CLI.

Each case is a folder of files (``in/``) and a command. The runner (``python -m tests.hostile``) runs
every case in this one process, in a fresh folder, and prints one JSON line per case: exit code,
whether anything escaped as an exception, the error text, wall seconds, peak memory (RSS high-water
mark, reset before each case) and every file created or changed outside the case's ``out/`` folder.
``tests/test_hostile.py`` runs it in a child process and judges the lines.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE = """name: base
simulation: {duration: 20s}
api:
  type: rest
  routes:
    - {route: GET /a, integration: {type: lambda, function: f}}
functions:
  f: {duration_ms: 20}
clients:
  - {name: c, arrival: {process: poisson, rate: 20}}
"""

FIFO = object()
"""Stands for a named pipe in a case's files."""


@dataclass
class Case:
    """One hostile input: files under ``in/``, a command, and what the command must answer."""

    id: str
    files: dict[str, Any]  # path under in/ → text, bytes, FIFO, or ("link", target)
    argv: list[str] = field(default_factory=lambda: ["validate", "in/s.yaml"])
    exit: int = 2
    says: str = ""  # words the error output must contain
    parity: bool = False  # also run it: `run` must answer exactly as `validate` does
    seconds: float = 5.0
    megabytes: float = 500.0


def scenario(text: str, **files: Any) -> dict[str, Any]:
    return {"s.yaml": text, **files}


def base_with(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


def _trace(t: str) -> str:
    return BASE.replace("{process: poisson, rate: 20}", "{process: trace, file: " + t + "}")


def cases() -> list[Case]:
    """Every case, in a fixed order."""
    out: list[Case] = []

    def bad(cid: str, text: str, says: str = "", **kw: Any) -> None:
        out.append(Case(cid, scenario(text, **kw.pop("files", {})), says=says, parity=True, **kw))

    # -- the located-error files kept in tests/bad ---------------------------------------------
    for path in sorted((Path(__file__).parent / "bad").glob("*.yaml")):
        out.append(Case(f"bad/{path.stem}", {"s.yaml": path.read_bytes()}, parity=True))

    # -- the file itself ----------------------------------------------------------------------
    bad("yaml-syntax", "name: x\napi: {routes: [\n", "YAML syntax error")
    bad("tab-indent", "name: x\napi:\n\troutes: []\n", "YAML")
    bad("empty-file", "", "must be a mapping")
    bad("only-comments", "# nothing\n", "must be a mapping")
    bad("top-level-list", "- name: x\n", "must be a mapping")
    bad("top-level-scalar", "hello\n", "must be a mapping")
    bad("two-documents", BASE + "---\nname: y\n", "single document")
    bad("python-tag", 'name: !!python/object/apply:os.system ["echo pwned"]\n', "not allowed")
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    bad("alias-bomb", bomb + "name: x\n", "aliases are expanded")
    bad("recursive-alias", "a: &a [*a]\nname: x\n")
    bad("deep-flow", "name: x\napi: " + "[" * 2000 + "]" * 2000 + "\n", "nesting")
    bad("deep-block", "name: x\napi:\n" + "".join(" " * i + "k:\n" for i in range(1, 600)) + " " * 600 + "v\n", "nest")
    bad("deep-within-limits", "name: x\napi: " + "[" * 900 + "]" * 900 + "\n", "nested more than")
    bad("duplicate-key-top", BASE + "name: again\n", "lines 1 and 11")
    bad("duplicate-key-nested", base_with("{duration_ms: 20}", "{duration_ms: 20, duration_ms: 30}"), "written twice")
    bad("leading-zero-int", base_with("{duration_ms: 20}", "{duration_ms: 20, memory_mb: 01024}"), "leading zero")
    bad("sexagesimal", base_with("{duration_ms: 20}", "{duration_ms: 20, memory_mb: 1:30}"), "memory_mb")
    bad("huge-int", base_with("rate: 20}", "rate: 20, api_keys: " + "9" * 5000 + "}"), "digits")
    bad("big-int-400", base_with("rate: 20}}", "rate: 20}, cache_keys: {count: 1" + "0" * 400 + "}}"), "digits")
    bad("unhashable-key", "name: x\n? [a, b]\n: c\n", "")
    bad("nul-byte", "name: x\x00\n", "")
    out.append(Case("not-utf8", {"s.yaml": b"name: caf\xe9\n"}, says="not UTF-8", parity=True))
    out.append(Case("utf8-bom", {"s.yaml": "\ufeff" + BASE}, exit=0))
    out.append(Case("two-megabytes", {"s.yaml": BASE + "# " + "x" * (2 << 20) + "\n"}, says="1.0 MB", parity=True))
    out.append(Case("fifo", {"s.yaml": FIFO}, says="not a regular file", parity=True))
    out.append(Case("dev-zero", {"s.yaml": ("link", "/dev/zero")}, says="not a regular file", parity=True))
    out.append(Case("folder", {"s.yaml/x": "x"}, argv=["run", "in/s.yaml"], says="folder"))
    out.append(Case("validate-empty-folder", {"s.yaml/x": "x"}, says="no scenario files"))
    out.append(Case("missing", {}, says="no such", parity=True))
    out.append(Case("link-loop", {"s.yaml": ("link", "s.yaml")}, says="", parity=True))

    # -- values the schema must refuse -------------------------------------------------------------
    for cid, old, new, says in (
        ("nan-rate", "rate: 20}", "rate: .nan}", "finite"),
        ("inf-rate", "rate: 20}", "rate: .inf}", "finite"),
        ("sigma-huge", "{duration_ms: 20}", "{duration_ms: {dist: lognormal, mean: 5, sigma: 1e308}}", "sigma"),
        ("p99-overflow", "{duration_ms: 20}", "{duration_ms: {dist: lognormal, median: 1, p99: 1e300}}", "p99"),
        ("month-1e308", "name: base", "name: base\npricing: {month: 1e308}", "pricing.month"),
        ("peak-inf", "rate: 20}", "rate: 20, profile: {type: diurnal, peak_to_trough: .inf}}", "finite"),
        ("burst-10e400", "  type: rest", "  type: rest\n  throttle: {rate: 10, burst: 1e400}", "api.throttle.burst"),
        ("api-keys-1e30", "rate: 20}", "rate: 20}, api_keys: 1000000000000000000000000000000", ""),
        ("overhead-overflow", "  type: rest", "  type: rest\n  overhead_ms: 1e308", "duration"),
        ("duration-1e30", "{duration: 20s}", "{duration: 1e30}", "duration"),
        ("seed-negative", "{duration: 20s}", "{duration: 20s, seed: -1}", "seed"),
        ("seed-huge", "{duration: 20s}", "{duration: 20s, seed: 99999999999999999999999}", "seed"),
        ("name-nul", "name: base", 'name: "a\\0b"', "control characters"),
        ("name-newline", "name: base", 'name: "a\\nb"', "control characters"),
        ("name-300", "name: base", "name: " + "n" * 300, "at most 200"),
        ("base-dir-key", "name: base", "name: base\nbase_dir: /etc", "unknown key 'base_dir'"),
        ("invalid-key-without-plan", "rate: 20}", "rate: 20}, invalid_key_fraction: 0.5", "usage_plan"),
        ("provisioned-over-account", "{duration_ms: 20}", "{duration_ms: 20, provisioned_concurrency: 5000}", "committed"),
        ("unreserved-over-account", "name: base", "name: base\naccount: {lambda_concurrency: 10, unreserved_minimum: 50}",
         "unreserved_minimum"),
        ("burst-every-shorter", "{process: poisson, rate: 20}", "{process: burst, rate: 1, duration: 2s, every: 1s}", "every"),
        ("route-nul", "{route: GET /a,", '{route: "GET /a\\0",', "GET /path"),
        ("empty-name", "name: base", 'name: ""', "at least 1"),
        ("bool-as-number", "rate: 20}", "rate: true}", ""),
        ("string-number", "rate: 20}", "rate: twenty}", "rate"),
        ("memory-huge", "{duration_ms: 20}", "{duration_ms: 20, memory_mb: 99999999}", "memory_mb"),
        ("routes-500", "    - {route: GET /a, integration: {type: lambda, function: f}}",
         "\n".join(f"    - {{route: GET /r{i}, integration: {{type: mock}}}}" for i in range(500)), "300"),
        ("duration-1e-320", "{duration: 20s}", "{duration: 1e-320}", "simulation.duration"),
        ("bucket-1e-320", "{duration: 20s}", "{duration: 20s, bucket: 1e-320}", "simulation.bucket"),
        ("burst-every-5e-324", "{process: poisson, rate: 20}", "{process: burst, rate: 1, duration: 5e-324, every: 5e-324}", "every"),
        ("diurnal-period-5e-324", "rate: 20}", "rate: 20, profile: {type: diurnal, peak_to_trough: 2, period: 5e-324}}", "period"),
        ("month-5e-324", "name: base", "name: base\npricing: {month: 5e-324}", "pricing.month"),
        ("dist-key-a-mapping", "{duration_ms: 20}", "{duration_ms: {dist: {a: 1}}}", "'dist' must be one of"),
        ("dist-key-a-list", "{duration_ms: 20}", "{duration_ms: {dist: [lognormal]}}", "'dist' must be one of"),
        ("int-tag-on-text", "rate: 20}", "rate: !!int twenty}", "clients.0.arrival.rate"),
        ("hex-garbage", "rate: 20}", "rate: 0x_}", "not an integer"),
        ("octal-hint-only-for-octal", "{duration_ms: 20}", "{duration_ms: 20, memory_mb: 0128}", "octal number; write 128\n"),
        ("slo-nan", "name: base", "name: base\nslos: ['rate_429<nan']", "finite"),
        ("retry-on-success", "rate: 20}}", "rate: 20}, retry: {on: [200]}}", "error status codes"),
        ("name-zero-width", "name: base", 'name: "ba\u200bse"', "invisible"),
        ("name-bidi-override", "{name: c,", '{name: "c\u202e",', "invisible"),
        ("points-20000", "rate: 20}", "profile: {type: points, points: [" + ", ".join(f"[{i * 0.001:.3f}, {1 + i % 7}]" for i in range(20001)) + "]}}", "20000"),
    ):  # fmt: skip
        bad(cid, base_with(old, new), says)

    # -- runs too large: refused before any work, the same by validate and run ---------------------
    for cid, old, new, says in (
        ("bucket-1us", "{duration: 20s}", "{duration: 1h, bucket: 1us}", "timeseries buckets"),
        ("bucket-1ms-hour", "{duration: 20s}", "{duration: 1h, bucket: 1ms}", "timeseries buckets"),
        ("burst-tiny-every", "{process: poisson, rate: 20}",
         "{process: burst, rate: 1, duration: 1e-7, every: 1e-6}", "requests"),
        ("many-requests", "{duration: 20s}", "{duration: 30d}", "30,000,000"),
        ("retries-count", "{process: poisson, rate: 20}}",
         "{process: poisson, rate: 80000}, retry: {max_attempts: 20}}", "retries"),
        ("zipf-keys-1e8", "rate: 20}}", "rate: 20}, cache_keys: {count: 100000000, zipf: 1.1}}", "zipf_tables"),
        ("api-keys-1e9", "{process: poisson, rate: 20}}",
         "{process: poisson, rate: 20000}, usage_plan: p, api_keys: 1000000000}", "api_keys"),
    ):  # fmt: skip
        text = base_with(old, new)
        if cid == "zipf-keys-1e8":
            text = text.replace("  type: rest", "  type: rest\n  cache: {ttl: 60s}").replace(
                "{route: GET /a, integration", "{route: GET /a, cache: true, integration"
            )
        if cid == "burst-tiny-every":
            text = text.replace("{duration: 20s}", "{duration: 1h}")
        if cid == "api-keys-1e9":
            text = text.replace("  type: rest", "  type: rest\n  usage_plans: {p: {rate: 10, burst: 10}}")
            text = text.replace("{duration: 20s}", "{duration: 5m}")
        bad(cid, text, says)
    out.append(Case("provisioned-1e7", scenario(base_with(
        "name: base", "name: base\naccount: {lambda_concurrency: 10000000}").replace(
        "{duration_ms: 20}", "{duration_ms: 20, provisioned_concurrency: 9000000}")),
        argv=["run", "in/s.yaml", "--json"], exit=0, seconds=10))  # fmt: skip
    out.append(Case("negative-zero-is-zero", scenario(base_with(
        "{duration_ms: 20}", "{duration_ms: {dist: exponential, mean: -0.0}}")),
        argv=["run", "in/s.yaml", "--json"], exit=0))  # fmt: skip
    out.append(Case("uniform-keys-1e9-is-fine", scenario(base_with(
        "{process: poisson, rate: 20}}", "{process: poisson, rate: 20}, cache_keys: {count: 1000000000}}")),
        argv=["run", "in/s.yaml", "--json"], exit=0))  # fmt: skip
    out.append(Case("records-forced-huge", scenario(base_with("{duration: 20s}", "{duration: 20h}")),
                    argv=["run", "in/s.yaml", "--json", "--records"], says="records"))  # fmt: skip
    out.append(Case("dense-burst-is-windowed", scenario(base_with(
        "{process: poisson, rate: 20}", "{process: burst, rate: 100000000, duration: 2ms, start: 1s}").replace(
        "type: lambda, function: f", "type: mock")),
        argv=["run", "in/s.yaml", "--json"], exit=0, seconds=10))  # fmt: skip

    # -- trace files -------------------------------------------------------------------------------
    for cid, files, says in (
        ("trace-missing", {}, "no such trace file"),
        ("trace-fifo", {"t.csv": FIFO}, "not a regular file"),
        ("trace-dev-zero", {"t.csv": ("link", "/dev/zero")}, "leads out of it"),
        ("trace-link-out", {"t.csv": ("link", "/etc/passwd")}, "leads out of it"),
        ("trace-text", {"t.csv": "t\n1\nabc\n3\n"}, "t.csv:3"),
        ("trace-inf", {"t.csv": "t\n1\ninf\n"}, "t.csv:3"),
        ("trace-nan", {"t.csv": "t\n1\nnan\n"}, "t.csv:3"),
        ("trace-negative", {"t.csv": "t\n1\n-2\n"}, "t.csv:3"),
        ("trace-no-column", {"t.csv": "time\n1\n"}, "no column 't'"),
        ("trace-empty", {"t.csv": ""}, "not a CSV"),
        ("trace-binary", {"t.csv": bytes(range(256)) * 64}, ""),
        ("trace-not-utf8", {"t.csv": b"t\n1\n\xff\xfe\n"}, ""),
        ("trace-folder", {"t.csv/x": "x"}, "folder"),
        ("trace-too-many-rows", {"t.csv": "t\n" + "1\n" * 1_000_001}, "1,000,000"),
        ("trace-gz-bomb", {"t.csv.gz": "GZBOMB"}, "inflates"),
    ):
        name = "t.csv.gz" if cid == "trace-gz-bomb" else "t.csv"
        bad(cid, _trace(name), says, files=files)
    bad("trace-absolute", _trace("/etc/passwd"), "may not leave")
    bad("trace-dotdot", _trace("../s.yaml"), "may not leave")
    bad("trace-link-out-of-folder", _trace("up/passwd"), "leads out of it", files={"up": ("link", "/etc")})
    bad("trace-wide-header", _trace("t.csv"), "columns", files={"t.csv": "t," + "a," * 40_000 + "\n1\n"})
    bad("trace-cr-only", _trace("t.csv"), "1,000,000", files={"t.csv": "t\r" + "1\r" * 1_000_001})
    bad("trace-gz-members", _trace("t.csv.gz"), "gzip members", files={"t.csv.gz": "GZMEMBERS"})
    bad(
        "flat-list-million",
        base_with("{duration_ms: 20}", "{duration_ms: {dist: empirical, values: [" + "1," * 500_000 + "1]}}"),
        "values",
    )
    out.append(
        Case(
            "points-within-limit-fast",
            scenario(
                base_with(
                    "rate: 20}",
                    "profile: {type: points, points: ["
                    + ", ".join(f"[{i * 0.001:.3f}, {1 + i % 7}]" for i in range(20000))
                    + "]}}",
                )
            ),
            exit=0,
            parity=True,
        )
    )
    out.append(Case("trace-ok", scenario(_trace("t.csv"), **{"t.csv": "t\n0.5\n1\n1\n2.5\n"}),
                    argv=["run", "in/s.yaml", "--json"], exit=0))  # fmt: skip
    out.append(Case("trace-gz-ok", scenario(_trace("t.csv.gz"), **{"t.csv.gz": "GZ:t\n1\n2\n"}),
                    argv=["run", "in/s.yaml", "--json"], exit=0))  # fmt: skip

    # -- the command line --------------------------------------------------------------------------
    good = scenario(BASE)
    for cid, argv, code, says in (
        ("seed-minus-one", ["run", "in/s.yaml", "--seed", "-1"], 2, "seed"),
        ("duration-words", ["run", "in/s.yaml", "--duration", "ten minutes"], 2, "duration"),
        ("duration-bare-number", ["run", "in/s.yaml", "--duration", "10", "--json"], 0, ""),
        ("duration-negative", ["run", "in/s.yaml", "--duration", "-5"], 2, "duration"),
        ("duration-huge", ["run", "in/s.yaml", "--duration", "100000d"], 2, "at most"),
        ("duration-over-a-year", ["run", "in/s.yaml", "--duration", "400d"], 2, "366 days"),
        ("warmup-too-long", ["run", "in/s.yaml", "--warmup", "1h"], 2, "shorter than duration"),
        ("out-is-a-file", ["run", "in/s.yaml", "--out", "in/s.yaml"], 2, "is a file"),
        ("out-under-a-file", ["run", "in/s.yaml", "--out", "in/s.yaml/sub"], 2, "is a file"),
        ("out-is-input-folder", ["run", "in/s.yaml", "--out", "in"], 2, "did not write"),
        ("out-is-cwd", ["run", "in/s.yaml", "--out", "."], 2, "did not write"),
        ("dask-unreachable", ["run", "in/s.yaml", "--replications", "2", "--dask", "tcp://127.0.0.1:9"], 2, "Dask"),
        ("dask-not-an-address", ["run", "in/s.yaml", "--replications", "2", "--dask", "nonsense"], 2, "Dask"),
        ("sweep-bad-path", ["sweep", "in/s.yaml", "--set", "name.x=1"], 2, "not a section"),
        ("sweep-no-such-item", ["sweep", "in/s.yaml", "--set", "api.routes.7.cache=true"], 2, "no item"),
        ("sweep-huge-grid", ["sweep", "in/s.yaml", "--set", "functions.f.memory_mb=" + ",".join(
            str(128 + i) for i in range(200)), "--set", "clients.0.arrival.rate=" + ",".join(
            str(1 + i) for i in range(100))], 2, "20,000 runs"),
        ("plan-bad-slo", ["plan", "in/s.yaml", "--vary", "functions.f.memory_mb=128,256", "--slo", "speed>3"], 2, "SLO"),
        ("compare-same-name", ["compare", "in/s.yaml", "in/s.yaml", "--json", "--workers", "1"], 0, ""),
        ("validate-folder", ["validate", "in"], 0, ""),
        ("markup-in-name-run", ["run", "in/m.yaml"], 0, "x [/] y :x:"),
        ("markup-in-name-validate", ["validate", "in/m.yaml"], 0, "x [/] y :x:"),
        ("replications-200000", ["run", "in/s.yaml", "--replications", "200000"], 2, "200,000 runs"),
        ("sweep-bad-yaml-value", ["sweep", "in/s.yaml", "--set", "api.cache.ttl=[1"], 2, "cannot read the value"),
        ("sweep-python-tag-value", ["sweep", "in/s.yaml", "--set", "name=!!python/name:os.system"], 2, "cannot read"),
        ("plan-bad-yaml-value", ["plan", "in/s.yaml", "--vary", "functions.f.memory_mb=0128", "--slo", "p99<1s"], 2, "leading zero"),
        ("out-dot-dot", ["run", "in/s.yaml", "--out", "in/.."], 2, "did not write"),
        ("out-very-deep", ["run", "in/s.yaml", "--out", "d/" * 1000], 2, "too long"),
    ):  # fmt: skip
        seconds = 15 if code == 0 else 8 if cid.startswith("dask") else 5
        files = {**good, "m.yaml": BASE.replace("name: base", "name: 'x [/] y :x: <script>|#'")}
        out.append(Case(cid, files, argv=argv, exit=code, says=says, seconds=seconds))

    # -- reports: names are labels, never paths ---------------------------------------------------
    evil = {
        "a.yaml": BASE.replace("name: base", "name: ../../../../outside/x"),
        "b.yaml": BASE.replace("name: base", "name: /tmp/apisim-hostile-absolute"),
        "c.yaml": BASE.replace("name: base", "name: " + "x/" * 99),
        "d.yaml": BASE.replace("name: base", "name: ..."),
        "e.yaml": BASE,
        "f.yaml": BASE,  # the same name twice
        "g.yaml": BASE.replace("name: base", "name: 'x [/] y :x: <script>|#'"),  # markup, emoji codes, HTML
        "comparisons.yaml": "comparisons:\n  '../../escape': [a.yaml, e.yaml]\n",
    }
    out.append(Case("report-hostile-names", evil, argv=["report", "in", "--out", "out", "--duration", "5s"],
                    exit=0, seconds=40, megabytes=700))  # fmt: skip
    out.append(Case("report-bad-comparisons", {"a.yaml": BASE, "comparisons.yaml": "comparisons: {g: a.yaml}\n"},
                    argv=["report", "in", "--out", "out"], says="2 to 20"))  # fmt: skip
    out.append(Case("report-comparisons-not-utf8", {"a.yaml": BASE, "comparisons.yaml": b"comparisons: \xff\n"},
                    argv=["report", "in", "--out", "out"], says="UTF-8"))  # fmt: skip
    out.append(Case("report-latest-is-a-file", {"a.yaml": BASE, "../out/latest": "mine"},
                    argv=["report", "in", "--out", "out"], says="latest"))  # fmt: skip
    out.append(Case("validate-comparisons-not-utf8", {"comparisons.yaml": b"comparisons: \xff\n"},
                    argv=["validate", "in/comparisons.yaml"], says="UTF-8"))  # fmt: skip
    return out


# ----------------------------------------------------------------------------------------------
# Running the corpus
# ----------------------------------------------------------------------------------------------


def _make(root: Path, files: dict[str, Any]) -> None:
    for rel, content in files.items():
        path = root / "in" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
        elif isinstance(content, tuple):
            os.symlink(content[1], path)
        elif content == "GZBOMB":
            with gzip.open(path, "wb", compresslevel=1) as f:
                f.write(b"t\n")
                block = b"0" * (1 << 20)
                for _ in range(80):
                    f.write(block)
        elif content == "GZMEMBERS":
            path.write_bytes(gzip.compress(b"t\n1\n") + gzip.compress(b"") * 5000)
        elif isinstance(content, str) and content.startswith("GZ:"):
            with gzip.open(path, "wb") as f:
                f.write(content[3:].encode())
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            # One window (basis: window), on the same line so every located line number stands: these
            # cases test how input is read and refused, not the month (tests/test_month.py does).
            path.write_text(content.replace("\nsimulation: {", "\nsimulation: {basis: window, ", 1), encoding="utf-8")


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` except work/out/: its kind and content digest (links not followed)."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts[:2] == ("work", "out"):
            continue
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(rel_dir / name)
            if rel == "work/out":
                continue
            if path.is_symlink() or not path.is_file():
                seen[rel] = "link" if path.is_symlink() else ("fifo" if not path.is_dir() else "dir")
            else:
                seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


def _peak_mb() -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _reset_peak() -> None:
    with contextlib.suppress(OSError):  # not Linux: peaks are then measured since the process began
        Path("/proc/self/clear_refs").write_text("5")


class _Hang(Exception):
    pass


def run_case(case: Case, root: Path, invoke: Callable[[list[str]], Any]) -> dict[str, Any]:
    """Build the case in ``root``, run its command (and, for parity cases, ``run`` too), report."""
    (root / "out").mkdir(parents=True, exist_ok=True)
    _make(root, case.files)
    before = _snapshot(root.parent)
    argvs = [case.argv]
    if case.parity:
        argvs.append(["run", "in/s.yaml", "--json"])
    answers = []
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for argv in argvs:
            _reset_peak()
            start = time.perf_counter()
            signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(_Hang()))
            signal.alarm(int(case.seconds * 4) + 5)
            try:
                result = invoke(argv)
                code, text, exc = result.exit_code, result.stdout + result.stderr, result.exception
                crashed = exc is not None and not isinstance(exc, SystemExit)
                detail = "".join(traceback.format_exception(exc)) if crashed else ""
            except _Hang:
                code, text, crashed, detail = -1, "", True, "hung"
            finally:
                signal.alarm(0)
            answers.append(
                {
                    "argv": argv,
                    "exit": code,
                    "text": text,
                    "crashed": crashed,
                    "traceback": detail,
                    "seconds": time.perf_counter() - start,
                    "peak_mb": _peak_mb(),
                }
            )
    finally:
        os.chdir(cwd)
    after = _snapshot(root.parent)
    changed = sorted(k for k in after.keys() | before.keys() if before.get(k) != after.get(k))
    outside = [p for p in ("/tmp/apisim-hostile-absolute", "/outside") if os.path.lexists(p)]
    return {"id": case.id, "answers": answers, "changed_outside_out": changed, "escaped": outside}


def main() -> None:
    """Run the cases named on the command line (all without names); one JSON line each on stdout."""
    import matplotlib

    matplotlib.use("Agg")
    from typer.testing import CliRunner

    from apisim.cli import app

    runner = CliRunner()

    def invoke(argv: list[str]) -> Any:
        return runner.invoke(app, argv, catch_exceptions=True)

    wanted = set(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="apisim-hostile-") as tmp:
        for i, case in enumerate(cases()):
            if wanted and case.id not in wanted:
                continue
            root = Path(tmp) / f"case-{i:03d}" / "work"
            root.mkdir(parents=True)
            report = run_case(case, root, invoke)
            sys.stdout.write(json.dumps(report) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
