"""Hostile inputs: every one answers 0 or 2, never a traceback, within its time and memory bound,
writes nothing outside its output folder, and ``validate`` says exactly what ``run`` says.

The corpus is ``tests/hostile.py``; it runs in one child process (memory capped, so a regression
fails this test instead of the machine) and reports one JSON line per case.
"""

from __future__ import annotations

import fcntl
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import Case, cases

ROOT = Path(__file__).resolve().parents[1]
CASES = {c.id: c for c in cases()}
ADDRESS_SPACE = 6 * 2**30  # far above any bound below; only a runaway reaches it


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _answer_corpus() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hostile"], cwd=ROOT, capture_output=True, text=True, timeout=600,
        preexec_fn=_cap, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    return {r["id"]: r for r in reports}


@pytest.fixture(scope="session")
def answers(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Any]:
    """The corpus answered once per test session: under xdist the first worker to ask answers it
    into the session's shared folder, under a lock, and the others read that."""
    if worker_id == "master":
        return _answer_corpus()
    shared = tmp_path_factory.getbasetemp().parent  # this session's folder, common to its workers
    done = shared / "hostile-answers.json"
    with open(shared / "hostile-answers.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            done.write_text(json.dumps(_answer_corpus()))
    return json.loads(done.read_text())


def test_the_corpus_covers_every_class_the_issue_names() -> None:
    ids = set(CASES)
    for needed in (
        "fifo", "dev-zero", "two-megabytes", "not-utf8", "deep-flow", "duplicate-key-top", "leading-zero-int",
        "bucket-1us", "burst-tiny-every", "zipf-keys-1e8", "provisioned-1e7", "trace-dev-zero", "trace-gz-bomb",
        "trace-fifo", "trace-inf", "sweep-huge-grid", "retries-count", "api-keys-1e30", "negative-zero-is-zero",
        "month-1e308", "sigma-huge", "overhead-overflow", "peak-inf", "burst-10e400", "seed-minus-one",
        "dask-unreachable", "out-under-a-file", "invalid-key-without-plan", "base-dir-key", "report-hostile-names",
        "name-nul", "out-is-input-folder",
    ):  # fmt: skip
        assert needed in ids, needed


@pytest.mark.xdist_group(name="hostile")  # one worker answers the whole corpus once (make test: --dist loadgroup)
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_hostile_input_is_answered_safely(answers: dict[str, Any], case_id: str) -> None:
    case: Case = CASES[case_id]
    report = answers[case_id]
    first = report["answers"][0]
    for answer in report["answers"]:
        assert not answer["crashed"], f"{answer['argv']} raised:\n{answer['traceback']}"
        assert "Traceback" not in answer["text"]
        assert answer["seconds"] <= case.seconds, f"{answer['argv']} took {answer['seconds']:.1f}s"
        if answer["peak_mb"] is not None:
            assert answer["peak_mb"] <= case.megabytes, f"{answer['argv']} peaked at {answer['peak_mb']:.0f} MB"
    assert first["exit"] == case.exit, first["text"]
    assert case.says in first["text"], first["text"]
    if case.exit == 2:
        assert first["text"].startswith(("error:", "Usage:")), first["text"]
    assert report["changed_outside_out"] == [], "wrote or changed files outside its output folder"
    assert report["escaped"] == [], "wrote outside the folder it was given"
    if case.parity:
        run = report["answers"][1]
        assert run["exit"] == first["exit"]
        if first["exit"] == 2:
            assert run["text"] == first["text"], "run and validate disagree"
