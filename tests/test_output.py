"""apisim replaces or removes only what it created: markers, refusals, --overwrite, unique reports, safe names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from apisim import output, scratch
from apisim.cli import app
from apisim.output import MARKER, OutputRefused, publish, publish_new, safe_name

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def writer(files: dict[str, str]):
    def fill(tmp: Path) -> None:
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)

    return fill


def listing(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}


def test_a_new_folder_appears_whole_with_its_marker(tmp_path: Path) -> None:
    out = publish(tmp_path / "a" / "b", writer({"x.csv": "1", "figures/f.png": "2"}), kind="test")
    files = listing(out)
    assert files.keys() == {"x.csv", "figures/f.png", MARKER}
    assert set(json.loads(files[MARKER])["files"]) == {"x.csv", "figures/f.png"}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b"]  # no scratch left beside it


def test_a_folder_apisim_wrote_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "o"
    publish(out, writer({"old.csv": "1", "figures/old.png": "2"}), kind="test")
    publish(out, writer({"new.csv": "3"}), kind="test")
    assert listing(out).keys() == {"new.csv", MARKER}


def test_an_unmarked_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(OutputRefused, match="did not write"):
        publish(out, writer({"summary.json": "{}"}), kind="test")
    assert listing(out) == {"keep": "x"}


def test_overwrite_adds_files_beside_others_and_never_replaces_theirs(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep").write_text("x")
    publish(out, writer({"summary.json": "{}"}), kind="test", overwrite=True)
    assert listing(out)["keep"] == "x" and "summary.json" in listing(out)
    # Later runs replace only apisim's own files; the user's stays.
    publish(out, writer({"summary.json": "{1}", "more.csv": "m"}), kind="test")
    assert listing(out)["keep"] == "x" and listing(out)["summary.json"] == "{1}"
    publish(out, writer({"other.csv": "o"}), kind="test")
    assert set(listing(out)) == {"keep", "other.csv", MARKER}
    # A user's file where apisim would write is refused, even with --overwrite.
    (out / "report.md").write_text("mine")
    with pytest.raises(OutputRefused, match=r"report\.md"):
        publish(out, writer({"report.md": "apisim's"}), kind="test", overwrite=True)
    assert (out / "report.md").read_text() == "mine"


def test_a_file_changed_since_apisim_wrote_it_is_not_apisims_any_more(tmp_path: Path) -> None:
    out = tmp_path / "o"
    publish(out, writer({"report.md": "generated", "x.csv": "1"}), kind="test")
    (out / "report.md").write_text("generated, then edited by a person")
    with pytest.raises(OutputRefused, match=r"report\.md"):
        publish(out, writer({"report.md": "again"}), kind="test")
    publish(out, writer({"y.csv": "2"}), kind="test")  # x.csv was apisim's and unchanged: removed
    files = listing(out)
    assert files == {"report.md": "generated, then edited by a person", "y.csv": "2", MARKER: files[MARKER]}


def test_files_links_and_bogus_markers_in_the_way_are_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("precious")
    for target in (a_file, a_file / "sub"):
        with pytest.raises(OutputRefused, match="is a file"):
            publish(target, writer({"x": "1"}), kind="test", overwrite=True)
    assert a_file.read_text() == "precious"
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputRefused, match="symbolic link"):
        publish(tmp_path / "link", writer({"x": "1"}), kind="test")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / MARKER).write_text("not json")
    (fake / "data.csv").write_text("theirs")
    with pytest.raises(OutputRefused):
        publish(fake, writer({"x": "1"}), kind="test", overwrite=True)
    assert (fake / "data.csv").read_text() == "theirs"


def test_a_marker_naming_paths_outside_its_folder_cannot_make_apisim_delete_them(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "o"
    out.mkdir()
    digest = output._digest(victim)
    (out / MARKER).write_text(json.dumps({"apisim": "x", "files": {"../victim.txt": digest, "/etc/hosts": "0"}}))
    publish(out, writer({"x.csv": "1"}), kind="test")
    assert victim.read_text() == "precious"


def test_a_failed_fill_leaves_the_old_folder_and_no_scratch(tmp_path: Path) -> None:
    out = tmp_path / "o"
    publish(out, writer({"x.csv": "1"}), kind="test")

    def boom(tmp: Path) -> None:
        (tmp / "half.csv").write_text("h")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish(out, boom, kind="test")
    assert set(listing(out)) == {"x.csv", MARKER}
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_reports_get_unique_folders_even_when_made_at_once(tmp_path: Path) -> None:
    made: list[Path] = []
    barrier = threading.Barrier(4)

    def one(i: int) -> None:
        def fill(tmp: Path) -> None:
            (tmp / "index.html").write_text(str(i))
            barrier.wait()

        made.append(publish_new(tmp_path, "2026-11-25T10-00-00Z", fill, kind="report"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in made) == [
        "2026-11-25T10-00-00Z", "2026-11-25T10-00-00Z-2", "2026-11-25T10-00-00Z-3", "2026-11-25T10-00-00Z-4",
    ]  # fmt: skip
    assert sorted((p / "index.html").read_text() for p in made) == ["0", "1", "2", "3"]


def test_latest_is_switched_by_rename_and_never_points_back_in_time(tmp_path: Path) -> None:
    names = ["2026-11-25T10-00-00Z", "2026-11-25T09-00-00Z", *(f"2026-11-25T10-00-00Z-{n}" for n in (9, 10))]
    for name in names:
        publish(tmp_path / name, writer({"index.html": name}), kind="report")
    assert output.point_latest(tmp_path, "2026-11-25T10-00-00Z")
    assert not output.point_latest(tmp_path, "2026-11-25T09-00-00Z")  # an older report finishing late
    assert os.readlink(tmp_path / "latest") == "2026-11-25T10-00-00Z"
    assert output.point_latest(tmp_path, "2026-11-25T10-00-00Z-9")
    assert output.point_latest(tmp_path, "2026-11-25T10-00-00Z-10")  # counters count, not spell
    assert not output.point_latest(tmp_path, "2026-11-25T10-00-00Z-9")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # A link of someone else's is not apisim's to move, even one pointing at a folder beside it.
    (tmp_path / "notes").mkdir()
    for theirs in ("notes", "zzz-not-there"):
        (tmp_path / "latest").unlink()
        (tmp_path / "latest").symlink_to(theirs)
        with pytest.raises(OutputRefused, match="latest"):
            output.point_latest(tmp_path, "2026-11-25T10-00-00Z")
        assert os.readlink(tmp_path / "latest") == theirs
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").write_text("a person's file")
    with pytest.raises(OutputRefused, match="latest"):
        output.point_latest(tmp_path, "2026-11-25T10-00-00Z")
    assert (tmp_path / "latest").read_text() == "a person's file"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_no_name_becomes_a_path(name: str) -> None:
    slug = safe_name(name)
    assert slug and len(slug) <= 60 and "/" not in slug and "\\" not in slug and "\x00" not in slug
    assert not slug.startswith(".") and slug == slug.strip()
    assert slug.isascii() and slug not in (".", "..")
    taken: set[str] = set()
    assert safe_name(name, taken) != safe_name(name, taken)  # the same name twice gets two files


def test_stale_scratch_is_removed_only_when_provably_apisims_and_dead(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    mine = scratch.make(tmp_path)  # alive: this process
    gone = tmp_path / f"{scratch.PREFIX}{dead_pid}-abc"
    gone.mkdir()
    (gone / scratch.OWNER_FILE).write_text(json.dumps({"host": os.uname().nodename, "pid": dead_pid, "started": "1"}))
    (gone / "half.csv").write_text("x")
    no_owner = tmp_path / f"{scratch.PREFIX}{dead_pid}-def"
    no_owner.mkdir()
    (no_owner / "something").write_text("unknown")  # cannot prove it is apisim's: kept
    other_host = tmp_path / f"{scratch.PREFIX}{dead_pid}-ghi"
    other_host.mkdir()
    (other_host / scratch.OWNER_FILE).write_text(json.dumps({"host": "elsewhere", "pid": dead_pid}))
    lookalike = tmp_path / "apisim-tmp-1-x"
    lookalike.mkdir()
    removed = scratch.sweep(tmp_path)
    assert removed == [gone]
    assert mine.exists() and no_owner.exists() and other_host.exists() and lookalike.exists()


def test_run_out_refuses_an_unmarked_folder_before_simulating_and_overwrite_keeps_its_files(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep").write_text("x")
    args = ["run", "scenarios/07-burst.yaml", "--out", str(out), "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "did not write" in r.stderr and r.stdout == ""  # refused before simulating
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert (out / "keep").read_text() == "x" and (out / "summary.json").exists()
    assert runner.invoke(app, args).exit_code == 0  # now apisim's: replaced without --overwrite
    assert (out / "keep").read_text() == "x"


def test_the_scenarios_own_folder_is_never_an_output(tmp_path: Path) -> None:
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "s.yaml").write_text((ROOT / "scenarios" / "07-burst.yaml").read_text())
    for verb in (["run", str(folder / "s.yaml")], ["compare", str(folder / "s.yaml"), str(folder / "s.yaml")]):
        r = runner.invoke(app, [*verb, "--out", str(folder)])
        assert r.exit_code == 2
    assert [p.name for p in folder.iterdir()] == ["s.yaml"]


def _report(folder: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "apisim.cli", "report", str(folder), "--out", str(out), "--duration", "30s",
         "--basis", "window"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_two_reports_at_once_both_survive_and_a_killed_one_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("07-burst.yaml", "08-sustained-overload.yaml"):
        (folder / name).write_text((ROOT / "scenarios" / name).read_text())
    out = tmp_path / "reports"
    a, b = _report(folder, out), _report(folder, out)
    assert a.wait(120) == 0 and b.wait(120) == 0, a.stderr.read() + b.stderr.read()
    reports = sorted(p.name for p in out.iterdir() if p.name != "latest")
    assert len(reports) == 2 and os.readlink(out / "latest") == reports[-1]

    # kill -9 while the report is being written: its scratch folder stays behind...
    victim = _report(folder, out)
    deadline = time.monotonic() + 120
    while not list(out.glob(".apisim-tmp-*")) and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    victim.kill()
    victim.wait()
    left = list(out.glob(".apisim-tmp-*"))
    assert left, "the report finished before it could be killed"
    assert sorted(p.name for p in out.iterdir() if p.name != "latest" and not p.name.startswith(".")) == reports
    # ...and the next report in the same place removes it, and nothing else.
    assert _report(folder, out).wait(120) == 0
    assert not list(out.glob(".apisim-*"))
    assert len([p for p in out.iterdir() if p.name != "latest"]) == 3


def test_folders_that_only_look_like_apisims_leftovers_are_left_alone(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lookalike = tmp_path / f"{output.OLD_PREFIX}{int(dead.stdout)}-mine"
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("mine")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / MARKER).write_text(json.dumps({"apisim": "0", "files": {".": "abc", "": "x", "./": "y"}}))
    publish(fake, writer({"x.csv": "1"}), kind="test")  # a marker naming the folder itself names nothing
    assert (lookalike / "notes.txt").read_text() == "mine"  # no owner file: not provably apisim's
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["fake", lookalike.name])


def test_markdown_shows_names_literally() -> None:
    from apisim.pages import _md

    assert _md("a|b <script>#[x](y)*_") == "a\\|b &lt;script&gt;\\#\\[x\\](y)\\*\\_"
