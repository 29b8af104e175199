"""The command line: outputs, exit codes, quiet when piped, refusal of runs too large."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from apisim.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
SUMMARY_KEYS = {
    "scenario", "seed", "simulated_seconds", "month_scale", "requests", "status_counts", "rate_429",
    "latency_ms", "latency_ok_ms", "client", "cache", "authorizer", "functions", "cost_monthly_usd",
    "basis", "month", "warnings",
}  # fmt: skip


def test_run_json_prints_only_the_summary() -> None:
    r = runner.invoke(app, ["run", "scenarios/00-hello.yaml", "--json", "--duration", "60s", "--warmup", "10s"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert set(s) >= SUMMARY_KEYS
    assert s["basis"] == "month" and s["month_scale"] is None
    assert {"basis", "start", "method", "windows", "simulated_seconds", "offered", "by_outcome", "rate_429",
            "latency_ms", "cold_start_ratio", "ci95"} <= set(s["month"])  # fmt: skip
    assert s["month"]["ci95"]["cost_total"]["plus_minus"] > 0
    assert set(s["requests"]["by_outcome"]) == {
        "ok", "cache_hit", "throttled", "quota_exceeded", "unauthorized", "forbidden", "invalid",
        "backend_throttled", "timeout", "error",
    }  # fmt: skip
    assert set(s["latency_ms"]) == {"mean", "p50", "p90", "p95", "p99", "p999", "max"}
    assert set(s["cost_monthly_usd"]["items"]) == {
        "api_requests", "api_connections", "api_cache", "lambda_requests", "lambda_compute", "lambda_provisioned",
        "data_transfer", "load_balancer", "cloudfront", "edge_functions",
    }  # fmt: skip
    for f in s["functions"].values():
        assert {"invocations", "cold_starts", "cold_start_ratio", "throttles", "mean_concurrency", "max_concurrency",
                "mean_instances", "billed_gb_seconds"} <= set(f)  # fmt: skip


def test_run_out_writes_every_file(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "a"
    r = runner.invoke(app, ["run", "scenarios/07-burst.yaml", "--basis", "window", "--out", str(out)])
    assert r.exit_code == 0, r.output
    names = {p.name for p in out.iterdir()}
    assert {
        "summary.json",
        "requests.parquet",
        "timeseries.csv",
        "cost.csv",
        "report.md",
        "index.html",
        "latency.png",
    } <= names
    requests = pd.read_parquet(out / "requests.parquet")
    assert len(requests) == 7500
    assert json.loads((out / "summary.json").read_text())["requests"]["by_outcome"]["throttled"] == 501
    assert not [p for p in tmp_path.joinpath("runs").iterdir() if p.name.startswith(".")]  # no temp folders left


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    import apisim.pages

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(apisim.pages.Page, "write", boom)
    from apisim import simulate

    res = simulate(ROOT / "scenarios" / "07-burst.yaml")
    with pytest.raises(RuntimeError, match="disk full"):
        res.write(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_validate_and_schema() -> None:
    r = runner.invoke(app, ["validate", "scenarios/00-hello.yaml", "scenarios/default.yaml"])
    assert r.exit_code == 0 and r.stdout.count("ok") == 2
    r = runner.invoke(app, ["schema"])
    schema = json.loads(r.stdout)
    assert {"api", "clients", "functions", "simulation"} <= set(schema["properties"])
    assert "base_dir" not in schema["properties"]


def test_too_large_a_run_is_refused_with_the_estimate_and_force(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(
        (ROOT / "scenarios" / "00-hello.yaml").read_text().replace("rate: 20", "rate: 50000")
        + "simulation: {duration: 30d, basis: window}\n"
    )
    r = runner.invoke(app, ["run", str(big)])
    assert r.exit_code == 2
    assert "--force" in r.output and "129,600,000,000" in r.output.replace("\n", "")


def test_bad_option_values_are_user_errors() -> None:
    r = runner.invoke(app, ["run", "scenarios/00-hello.yaml", "--duration", "ten minutes"])
    assert r.exit_code == 2 and "duration" in r.output


def test_piped_run_shows_no_progress_bar() -> None:
    args = ["run", "scenarios/00-hello.yaml", "--duration", "60s", "--basis", "window"]
    proc = subprocess.run(
        [sys.executable, "-m", "apisim.cli", *args], capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert proc.stderr == ""
    assert "Monthly cost" in proc.stdout


def test_replications_json_gives_means_and_intervals() -> None:
    # Constant arrivals into a token bucket: every replication throttles exactly 501 of 7,500.
    args = ["run", "scenarios/07-burst.yaml", "--replications", "3", "--json", "--workers", "1", "--basis", "window"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["summary"]["rate_429"] == {"mean": 501 / 7500, "ci95": 0.0}
    assert len(doc["rows"]) == 3 and doc["summary"]["cache_hit_ratio"]["mean"] is None


def test_replications_give_a_percentile_interval_wider_than_zero() -> None:
    # The sketch's buckets once made replications agree on p99 to 4 decimals: a 95% CI of 0.0.
    args = ["run", "scenarios/00-hello.yaml", "--replications", "4", "--workers", "1", "--basis", "window",
            "--duration", "40s", "--warmup", "10s"]  # fmt: skip
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert len({row["p99_ms"] for row in doc["rows"]}) == 4
    assert all(doc["summary"][f"{p}_ms"]["ci95"] > 0 for p in ("p50", "p90", "p95", "p99", "p999"))
    table = runner.invoke(app, args).stdout
    p99 = next(line for line in table.splitlines() if "p99_ms" in line)
    assert float(p99.split("│")[-2]) > 0, p99


def test_plan_says_which_points_near_a_bound_got_more_replications(tmp_path: Path) -> None:
    # 1,024 MB: p99 exactly 100 ms, within 5% of 105 ms; 512 MB (200 ms) is not.
    import yaml

    from tests.test_studies import memory_design

    (tmp_path / "memory.yaml").write_text(yaml.safe_dump(memory_design()))
    args = ["plan", str(tmp_path / "memory.yaml"), "--vary", "functions.f.memory_mb=512,1024", "--slo", "p99<105ms"]
    r = runner.invoke(app, [*args, "--workers", "1"])
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())  # the console wraps long lines
    assert "1 point(s) within 5% of an SLO's bound got at least 3 replications each (--near-replications)" in said
    points = {p["functions.f.memory_mb"]: p for p in json.loads(runner.invoke(app, [*args, "--json"]).stdout)["points"]}
    assert (points[1024]["replications"], points[1024]["near_bound"]) == (3, "p99<105ms")
    assert (points[512]["replications"], points[512]["near_bound"]) == (1, "")


def test_plan_json_names_the_winner_and_exit_code_1_when_nothing_fits() -> None:
    args = ["plan", "scenarios/09-spiky.yaml", "--vary", "functions.api.provisioned_concurrency=0,50", "--json"]
    r = runner.invoke(app, [*args, "--slo", "p99<650ms"])  # the month's p99: about 690 ms without, 610 with
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["winner"]["functions.api.provisioned_concurrency"] == 50
    r = runner.invoke(app, [*args, "--slo", "p99<1ms"])
    assert r.exit_code == 1 and json.loads(r.stdout)["winner"] is None


def test_plan_calls_a_point_uncertain_when_its_interval_straddles_the_slo() -> None:
    args = ["plan", "scenarios/09-spiky.yaml", "--vary", "functions.api.provisioned_concurrency=50", "--json"]
    # From 4 windows (2 pairs) the month's p99 is about 620 ± 40 ms: neither met nor failed for sure.
    r = runner.invoke(app, [*args, "--windows", "4", "--slo", "p99<640ms"])
    (point,) = json.loads(r.stdout)["points"]
    assert point["verdict"] == "uncertain" and r.exit_code == 1, point
    assert "p99<640ms" in point["uncertain"] and point["settle_replications"] >= 2


def test_a_json_run_keeps_no_records_nothing_would_read(monkeypatch, tmp_path: Path) -> None:
    import apisim.experiment

    seen = []
    real = apisim.experiment.run

    def spy(*args, **kwargs):
        seen.append(kwargs["records"])
        return real(*args, **kwargs)

    monkeypatch.setattr(apisim.experiment, "run", spy)
    assert runner.invoke(app, ["run", "scenarios/07-burst.yaml", "--basis", "window", "--json"]).exit_code == 0
    assert runner.invoke(app, ["run", "scenarios/07-burst.yaml", "--basis", "window"]).exit_code == 0
    assert (
        runner.invoke(
            app, ["run", "scenarios/07-burst.yaml", "--basis", "window", "--out", str(tmp_path / "o")]
        ).exit_code
        == 0
    )
    assert seen == [False, False, True]  # only --out writes requests.parquet


def test_version_flag_prints_the_version() -> None:
    from apisim import __version__

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout == f"apisim {__version__}\n"


def test_shell_completion_is_offered_and_completes_verbs_and_flags() -> None:
    r = runner.invoke(app, ["--show-completion", "bash"], prog_name="apisim")
    assert r.exit_code == 0 and "_APISIM_COMPLETE" in r.stdout
    env = {"_APISIM_COMPLETE": "complete_bash", "COMP_WORDS": "apisim run --dur", "COMP_CWORD": "2"}
    r = runner.invoke(app, [], prog_name="apisim", env=env)
    assert r.stdout.split() == ["--duration"]


VERBS = [
    "run",
    "compare",
    "sweep",
    "plan",
    "report",
    "validate",
    "init",
    "import",
    "fit",
    "export",
    "schema",
    "version",
]


@pytest.mark.parametrize("verb", [None, *VERBS])
def test_help_shows_metavars_not_type_labels(verb: str | None) -> None:
    import re

    r = runner.invoke(app, [verb, "--help"] if verb else ["--help"], terminal_width=200)
    assert r.exit_code == 0 and "Usage" in r.stdout
    labels = re.findall(r"<[A-Za-z_\[\]., |]+>", r.stdout)  # typer's <bool>, <path>, <list[str]>
    assert labels == [], labels


def test_help_names_what_each_option_takes() -> None:
    wanted = {"run": ["SCENARIO", "DURATION", "DIR", "N"], "sweep": ["PATH=V1,V2"], "plan": ["SLO", "PATH=V1,V2"]}
    for verb, metavars in wanted.items():
        text = runner.invoke(app, [verb, "--help"], terminal_width=200).stdout
        assert all(m in text for m in metavars), (verb, text)


def _colour_codes(text: str) -> list[str]:
    """The SGR sequences in ``text`` that set a colour (foreground, background; 8, 16, 256 or RGB)."""
    import re

    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        codes = [int(p) for p in params.split(";") if p]
        if any(30 <= c <= 38 or 40 <= c <= 48 or 90 <= c <= 97 or 100 <= c <= 107 for c in codes):
            found.append(params)
    return found


@pytest.mark.parametrize("no_color", ["1", ""])
def test_no_color_means_no_colour_even_on_a_forced_terminal(no_color: str, tmp_path: Path) -> None:
    import os

    env = {**os.environ, "FORCE_COLOR": "1", "NO_COLOR": no_color, "COLUMNS": "120"}
    (tmp_path / "bad.yaml").write_text("name: x\n")
    commands = [
        ["validate", "scenarios/00-hello.yaml"],  # a green ok
        ["validate", str(tmp_path / "bad.yaml")],  # a red error: on stderr
        ["run", "scenarios/07-burst.yaml", "--basis", "window"],  # tables and a progress bar on stderr
    ]
    seen = []
    for args in commands:
        proc = subprocess.run([sys.executable, "-m", "apisim.cli", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env)  # fmt: skip
        seen += _colour_codes(proc.stdout) + _colour_codes(proc.stderr)
    if no_color:
        assert seen == []
    else:  # the check can fail: the same commands do colour their output without NO_COLOR
        assert seen


def _descendants(pid: int) -> set[int]:
    """The live processes under ``pid`` (psutil where installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(stat.parent.name)] = int(fields[1])
        found, frontier = set(), {pid}
        while frontier:
            frontier = {child for child, parent in parents.items() if parent in frontier} - found
            found |= frontier
        return found
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    return {c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE}


def _alive(pid: int) -> bool:
    try:
        import psutil
    except ImportError:
        stat = Path(f"/proc/{pid}/stat")
        return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "kill-int"])
def test_ctrl_c_stops_the_workers_and_exits_130(to_group: bool) -> None:
    import os
    import signal
    import time

    # Each of the 4 replications takes seconds (720,000 requests): they are all still running at the signal.
    args = ["run", "scenarios/00-hello.yaml", "--basis", "window", "--duration", "10h", "--replications", "4",
            "--workers", "2", "--json"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "apisim.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        workers = _descendants(proc.pid)
        assert len(workers) >= 2 and proc.poll() is None, "the workers should be running"
        sent = time.monotonic()
        # A terminal's Ctrl-C signals the whole process group; `kill -INT` only the parent.
        os.killpg(proc.pid, signal.SIGINT) if to_group else proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert took < 3, took
    assert err.strip() == "Aborted" and out == ""  # no traceback, from the parent or a worker
    assert not [pid for pid in workers if _alive(pid)]


def test_one_pass_lists_schema_errors_and_undefined_functions_together(tmp_path: Path) -> None:
    bad = tmp_path / "two.yaml"
    bad.write_text(
        "name: two-problems\n"
        "api:\n"
        "  routes:\n"
        "    - route: GET /a\n"
        "      integration: {type: lambda, function: nope}\n"
        "    - route: GET /b\n"
        "      integration: {type: lambda, function: a}\n"
        "  authorizer: {type: lambda, function: authz}\n"
        "functions:\n"
        "  a: {duration_ms: 40, memory_mb: 5}\n"
        "clients:\n"
        "  - {name: c, arrival: {process: poisson, rate: 1}}\n"
    )
    r = runner.invoke(app, ["validate", str(bad)])
    assert r.exit_code == 2
    said = r.output
    assert f"{bad}:10: functions.a.memory_mb: input should be greater than or equal to 128" in said
    assert f"{bad}:5: api.routes.0.integration.function: no such function (defined functions: a)" in said
    assert f"{bad}:8: api.authorizer.function: no such function" in said
    assert "3 problems" in said and "routes.1" not in said


def test_a_client_naming_an_unknown_api_is_listed_with_schema_errors(tmp_path: Path) -> None:
    bad = tmp_path / "apis.yaml"
    bad.write_text(
        "name: apis\n"
        "apis:\n"
        "  public: {routes: [{route: GET /a, integration: {type: mock}}]}\n"
        "clients:\n"
        "  - {name: c, api: pubic, arrival: {process: poisson, rate: -1}}\n"
    )
    r = runner.invoke(app, ["validate", str(bad)])
    assert r.exit_code == 2
    assert f"{bad}:5: clients.0.arrival" in r.output
    assert f"{bad}:5: clients.0.api: no such API (defined: public) (got 'pubic')" in r.output


def test_validate_a_folder_checks_every_file_and_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text((ROOT / "scenarios" / "00-hello.yaml").read_text())
    (tmp_path / "no-clients.yaml").write_text("name: x\napi: {routes: [{route: GET /a, integration: {type: mock}}]}\n")
    (tmp_path / "typo.yaml").write_text((tmp_path / "good.yaml").read_text() + "simulatoin: {duration: 1m}\n")
    (tmp_path / "comparisons.yaml").write_text("comparisons:\n  pair: [good.yaml, missing.yaml]\n")
    (tmp_path / "notes.txt").write_text("not a scenario")
    r = runner.invoke(app, ["validate", str(tmp_path)])
    assert r.exit_code == 2
    assert f"ok {tmp_path / 'good.yaml'}" in r.stdout.replace("\n", "")
    said = " ".join(r.output.split())
    assert f"{tmp_path / 'no-clients.yaml'}:1: clients: required field is missing" in said
    assert f"{tmp_path / 'typo.yaml'}" in said and "did you mean 'simulation'?" in said
    assert f"{tmp_path / 'comparisons.yaml'}:2: comparisons.pair: no such scenario file" in said
    assert "notes.txt" not in said
    (tmp_path / "no-clients.yaml").unlink()
    (tmp_path / "typo.yaml").unlink()
    (tmp_path / "comparisons.yaml").write_text("comparisons:\n  pair: [good.yaml, good.yaml]\n")
    r = runner.invoke(app, ["validate", str(tmp_path)])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("verb", "option", "path", "said"),
    [
        ("sweep", "--set", "functions.nope.memory_mb=128,256", "functions.nope: no such function 'nope' (defined "
                                                                "functions: api)"),
        ("plan", "--vary", "functions.nope.provisioned_concurrency=5", "no such function 'nope'"),
        ("sweep", "--set", "clients.3.arrival.rate=5", "clients.3: no item 3 here (there are 2)"),
    ],
)  # fmt: skip
def test_a_path_naming_nothing_in_the_scenario_is_refused(verb: str, option: str, path: str, said: str) -> None:
    args = [verb, "scenarios/09-spiky.yaml", option, path, "--slo", "p99<1s"][: 6 if verb == "plan" else 4]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert said in " ".join(r.output.split())
    assert "scenarios/09-spiky.yaml:" in r.output  # located at the collection's line where it has one


def test_a_path_may_set_an_optional_key_a_function_leaves_out() -> None:
    from apisim import load
    from apisim.studies import with_changes

    sc = load(ROOT / "scenarios" / "05-read-heavy-no-cache.yaml")
    (name,) = sc.functions
    assert sc.functions[name].reserved_concurrency is None and sc.api.cache is None
    change = {f"functions.{name}.reserved_concurrency": 50, f"functions.{name}.provisioned_concurrency": 5}
    changed = with_changes(sc, change)
    assert (changed.functions[name].reserved_concurrency, changed.functions[name].provisioned_concurrency) == (50, 5)
    assert set(changed.functions) == {name}
    with_cache = with_changes(sc, {"api.cache.ttl": "30s", "api.cache.size_gb": 0.5})  # a missing section is created
    assert with_cache.api.cache is not None and with_cache.api.cache.ttl == 30


@pytest.mark.parametrize("verb", ["run", "compare", "sweep", "plan", "report"])
def test_a_plain_number_of_seconds_is_a_duration(verb: str, tmp_path: Path) -> None:
    times = ["--duration", "10", "--warmup", "2.5", "--basis", "window"]
    args = {
        "run": ["run", "scenarios/00-hello.yaml", "--json"],
        "compare": ["compare", "scenarios/00-hello.yaml", "scenarios/00-hello.yaml", "--json", "--workers", "1"],
        "sweep": ["sweep", "scenarios/00-hello.yaml", "--set", "functions.hello.memory_mb=256", "--json"],
        "plan": ["plan", "scenarios/00-hello.yaml", "--vary", "functions.hello.memory_mb=256", "--slo", "p99<10s",
                 "--json"],
        "report": ["report", "scenarios/00-hello.yaml", "--out", str(tmp_path)],
    }[verb]  # fmt: skip
    r = runner.invoke(app, [*args, *times])
    assert r.exit_code == 0, r.output
    if verb == "run":
        assert json.loads(r.stdout)["simulated_seconds"] == 7.5
    elif verb == "report":
        (summary,) = (tmp_path / "latest" / "data").glob("*/summary.json")
        assert json.loads(summary.read_text())["simulated_seconds"] == 7.5


@pytest.mark.parametrize("api_type", ["rest", "http", "alb", "function_url", "websocket"])
def test_init_writes_a_starter_that_validates_and_runs(api_type: str, tmp_path: Path) -> None:
    from apisim import load

    path = tmp_path / "starter.yaml"
    r = runner.invoke(app, ["init", "--type", api_type, "-o", str(path)])
    assert r.exit_code == 0, r.output
    sc = load(path)
    assert sc.api.type == api_type
    assert runner.invoke(app, ["init", "--type", api_type]).stdout == path.read_text()  # stdout without -o
    r = runner.invoke(app, ["run", str(path), "--duration", "20s", "--warmup", "5s", "--basis", "window", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["requests"]["by_outcome"]["ok"] > 0
    # What the comments call a default is the schema's: the same as leaving the key out.
    bare = load(ROOT / "scenarios" / "00-hello.yaml")
    assert sc.account == bare.account and sc.pricing == bare.pricing
    assert sc.simulation.windows == bare.simulation.windows and sc.simulation.start == bare.simulation.start
    (f,) = sc.functions.values()
    default = bare.functions["hello"]
    for key in ("memory_mb", "arch", "timeout", "idle_expiry", "provisioned_concurrency", "error_fraction"):
        assert getattr(f, key) == getattr(default, key), key
    assert (f.cold_start_ms.mu, f.cold_start_ms.sigma) == pytest.approx(
        (default.cold_start_ms.mu, default.cold_start_ms.sigma)
    )
    (client,) = sc.clients
    assert (client.request_bytes, client.response_bytes) == (bare.clients[0].request_bytes,
                                                             bare.clients[0].response_bytes)  # fmt: skip
    timeouts = {
        "rest": 29,
        "http": 30,
        "alb": 900,
        "function_url": 900,
        "websocket": 29,
    }  # the function's own caps the last two
    assert sc.all_apis[sc.name].timeout(sc.api.routes[0]) == timeouts[api_type]


def test_init_refuses_to_replace_a_file_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\n")
    r = runner.invoke(app, ["init", "-o", str(path)])
    assert r.exit_code == 2 and "--overwrite" in r.output and path.read_text() == "name: mine\n"
    r = runner.invoke(app, ["init", "-o", str(path), "--overwrite"])
    assert r.exit_code == 0 and "starter" in path.read_text()
    assert runner.invoke(app, ["init", "-o", str(tmp_path)]).exit_code == 2  # a folder
    assert runner.invoke(app, ["init", "--type", "grpc"]).exit_code == 2
    assert [p.name for p in tmp_path.iterdir()] == ["mine.yaml"]  # no temporary left behind
