"""Writing results to disk: atomically, and never touching a file apisim did not create.

Every folder apisim writes holds a marker, ``.apisim-output.json``, listing the files it wrote with
their SHA-256. That list is the only thing apisim will ever replace or remove:

- a folder that does not exist, or is empty, is created whole (built beside it, then renamed:
  a reader sees all of it or none of it);
- a folder apisim wrote before, still holding only what apisim wrote, is swapped whole;
- a folder that also holds other files (or files changed since apisim wrote them) keeps them: only
  apisim's unchanged files are replaced, and a new file whose name is taken by another is refused;
- a folder with no marker of apisim's is refused unless ``overwrite`` is given, and even then only
  the rules above apply; a file (or a link) in the way is always refused.

Scratch folders are swept by :mod:`apisim.scratch`. File names never come from scenario text:
:func:`safe_name` turns a label into a slug plus a short digest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from apisim import scratch

MARKER = ".apisim-output.json"
OLD_PREFIX = ".apisim-old-"
MAX_MARKER_BYTES = 4 * 2**20


class OutputRefused(Exception):
    """Writing here would touch something apisim did not create; ``str()`` says what and what to do."""


def to_json(summary: dict[str, Any]) -> str:
    """The summary as JSON text (NaN-free: missing figures are null)."""
    return json.dumps(summary, indent=2, allow_nan=False, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ----------------------------------------------------------------------------------------------
# Safe names
# ----------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def safe_name(label: str, taken: set[str] | None = None) -> str:
    """A file name for ``label``: a short ASCII slug plus 8 hex digits of its SHA-256.

    Never empty, never hidden, never a path (no ``/``, ``..``, NUL); distinct from every name in
    ``taken`` (a counter is added), which it then joins.
    """
    slug = _UNSAFE.sub("-", label.lower()).strip(".-_")[:40].strip(".-_") or "unnamed"
    name = f"{slug}-{hashlib.sha256(label.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    if taken is not None:
        base, n = name, 2
        while name in taken:
            name = f"{base}-{n}"
            n += 1
        taken.add(name)
    return name


# ----------------------------------------------------------------------------------------------
# Manifests
# ----------------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _inside(entry: str) -> bool:
    """Whether a manifest entry is a plain relative path that stays inside its folder."""
    p = PurePosixPath(entry)
    if not entry or not p.parts or p.is_absolute() or ".." in p.parts or "." in entry.split("/"):
        return False
    return "\\" not in entry and "\x00" not in entry and entry not in (MARKER, scratch.OWNER_FILE)


def _files(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` (a folder apisim just built) with its SHA-256."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if rel not in (MARKER, scratch.OWNER_FILE):
                out[rel] = _digest(path)
    return out


def read_manifest(folder: Path) -> dict[str, str] | None:
    """The files apisim wrote in ``folder`` (path → SHA-256), or None if it holds no valid marker of apisim's."""
    marker = folder / MARKER
    try:
        info = os.lstat(marker)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MARKER_BYTES:
            return None
        doc = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = doc.get("files") if isinstance(doc, dict) and "apisim" in doc else None
    if not isinstance(files, dict):
        return None
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str) and _inside(k)}


def _write_marker(folder: Path, files: dict[str, str], kind: str) -> None:
    from apisim import __version__

    doc = {
        "apisim": __version__,
        "kind": kind,
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": "apisim replaces or removes only the files listed here, and only while unchanged",
        "files": dict(sorted(files.items())),
    }
    tmp = folder / f".apisim-marker-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def _unchanged(folder: Path, entry: str, digest: str) -> bool:
    """Whether ``folder/entry`` is a regular file (reached without links) still holding what apisim wrote."""
    path = folder
    for part in PurePosixPath(entry).parts:
        path = path / part
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if stat.S_ISLNK(info.st_mode):
            return False
    return stat.S_ISREG(info.st_mode) and _digest(path) == digest


def _survey(folder: Path, manifest: dict[str, str]) -> tuple[set[str], list[str]]:
    """apisim's unchanged files in ``folder``, and every other entry (relative paths; folders end in '/')."""
    ours = {entry for entry, digest in manifest.items() if _unchanged(folder, entry, digest)}
    ours_dirs = {p.as_posix() for entry in ours for p in PurePosixPath(entry).parents if p.as_posix() != "."}
    other: list[str] = []
    stack = [PurePosixPath(".")]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(folder / rel))
        except OSError:
            continue
        for e in entries:
            child = (rel / e.name).as_posix().removeprefix("./")
            if child == MARKER or child in ours:
                continue
            if child in ours_dirs and e.is_dir(follow_symlinks=False):
                stack.append(PurePosixPath(child))
            else:
                other.append(child + ("/" if e.is_dir(follow_symlinks=False) else ""))
    return ours, sorted(other)


def _remove(folder: Path, entries: set[str]) -> None:
    """Remove apisim's files ``entries`` from ``folder``, then the folders they leave empty."""
    dirs: set[PurePosixPath] = set()
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / entry)
        dirs.update(p for p in PurePosixPath(entry).parents if p.as_posix() != ".")
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty: something else lives there
            os.rmdir(folder / d)


# ----------------------------------------------------------------------------------------------
# Checks before any work
# ----------------------------------------------------------------------------------------------


def _listing(entries: list[str], n: int = 5) -> str:
    shown = ", ".join(entries[:n])
    return shown + (f" and {len(entries) - n} more" if len(entries) > n else "")


def _writable_ancestor(path: Path) -> None:
    probe = path
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputRefused(f"cannot write {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputRefused(f"cannot write {path}: no permission to write in {probe}")


def preflight(target: Path, *, overwrite: bool = False) -> None:
    """Refuse now, before any simulating, an output folder apisim could not or may not write.

    Raises :class:`OutputRefused` for a file or link in the way, an unwritable place, or an
    existing non-empty folder without apisim's marker (unless ``overwrite``).
    """
    if len(str(target)) > 4000 or len(target.parts) > 200:
        raise OutputRefused(f"the output path is too long ({len(str(target)):,} characters); choose a shorter one")
    target = Path(os.path.abspath(target))  # "." and "a/.." name a folder whose parent is elsewhere
    _writable_ancestor(target.parent / "x")  # apisim builds beside the target, in its parent
    try:
        info = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        _writable_ancestor(target)
        return
    except OSError as exc:
        raise OutputRefused(f"cannot use {target} as the output folder: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise OutputRefused(f"{target} is a symbolic link; give the folder it points to, or another --out")
    if not stat.S_ISDIR(info.st_mode):
        raise OutputRefused(f"{target} is a file, not a folder; apisim will not replace it: choose another --out")
    _writable_ancestor(target / "x")
    if read_manifest(target) is not None or overwrite:
        if os.path.lexists(target / MARKER) and read_manifest(target) is None:
            raise OutputRefused(f"{target / MARKER} exists but is not apisim's marker; move it away")
        return
    try:
        empty = not any(os.scandir(target))
    except OSError as exc:
        raise OutputRefused(f"cannot read {target}: {exc.strerror or exc}") from None
    if not empty:
        raise OutputRefused(
            f"{target} already holds files apisim did not write (it has no {MARKER}); apisim will not touch them. "
            "Choose a new or empty folder, or pass --overwrite to add apisim's files beside them "
            "(nothing else in it is replaced or removed)"
        )


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


def sweep_stale(parent: Path) -> None:
    """Clean up what dead apisim runs left in ``parent``: scratch folders, and folders set aside for removal."""
    scratch.sweep(parent)
    for old in scratch.dead(parent, OLD_PREFIX):
        _discard_old(old, parent / f"apisim-kept-{secrets.token_hex(3)}")


def _discard_old(old: Path, kept: Path) -> None:
    """Remove apisim's files from a folder it set aside for removal; anything else stays, under a visible name."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(old / scratch.OWNER_FILE)
    ours, _ = _survey(old, read_manifest(old) or {})
    _remove(old, ours)
    if _survey(old, {})[1]:
        os.rename(old, kept)  # something else was added to it between the check and the swap
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(old / MARKER)
    os.rmdir(old)


def publish(target: Path, fill: Callable[[Path], None], *, kind: str, overwrite: bool = False) -> Path:
    """Build a folder with ``fill(tmp)`` and put it at ``target`` by the rules in the module docstring.

    A failed or killed ``fill`` leaves ``target`` as it was. Raises :class:`OutputRefused`.
    """
    preflight(target, overwrite=overwrite)
    target = Path(os.path.abspath(target))
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputRefused(f"cannot make {parent}: {exc.strerror or exc}") from None
    sweep_stale(parent)
    try:
        tmp = scratch.make(parent)
    except OSError as exc:
        raise OutputRefused(f"cannot write in {parent}: {exc.strerror or exc}") from None
    try:
        fill(tmp)
        files = _files(tmp)
        _write_marker(tmp, files, kind)
        try:
            _put(tmp, target, files, kind, overwrite)
        except OSError as exc:
            raise OutputRefused(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            scratch.remove(tmp)
    return target


def _rename_whole(tmp: Path, target: Path) -> None:
    os.rename(tmp, target)
    os.unlink(target / scratch.OWNER_FILE)  # kept until now: a run killed before the rename is provably dead


def _put(tmp: Path, target: Path, files: dict[str, str], kind: str, overwrite: bool) -> None:
    if not os.path.lexists(target):
        try:
            _rename_whole(tmp, target)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    preflight(target, overwrite=overwrite)  # again: someone may have written there meanwhile
    manifest = read_manifest(target)
    ours, other = _survey(target, manifest or {})
    if manifest is not None and not other:  # only apisim's files (or none): swap it whole
        _swap(tmp, target, ours)
        return
    if not other and not os.path.lexists(target / MARKER):  # empty: replace it whole
        _rename_whole(tmp, target)
        return
    taken = []
    for f in files:
        if f not in ours and os.path.lexists(target / f):
            taken.append(f)
        for d in (p.as_posix() for p in PurePosixPath(f).parents if p.as_posix() != "."):
            there = target / d
            if os.path.lexists(there) and (there.is_symlink() or not there.is_dir()):
                taken.append(d)
    if taken:
        raise OutputRefused(
            f"{target} holds files apisim did not write (or changed since it wrote them) where apisim would write "
            f"{_listing(sorted(set(taken)))}; move them away or choose another --out"
        )
    for f in files:
        (target / f).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / f, target / f)
    _remove(target, ours - set(files))
    _write_marker(target, files, kind)


def _swap(tmp: Path, target: Path, ours: set[str]) -> None:
    """Replace a folder holding only apisim's files with ``tmp``, in two renames."""
    old = target.parent / f"{OLD_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(target, old)
    scratch.claim(old)  # a run killed from here on leaves a folder the next run can prove was apisim's
    try:
        _rename_whole(tmp, target)
    except OSError:
        os.unlink(old / scratch.OWNER_FILE)
        os.rename(old, target)
        raise
    _discard_old(old, target.parent / f"{target.name}.kept-{secrets.token_hex(3)}")


def publish_new(root: Path, stem: str, fill: Callable[[Path], None], *, kind: str) -> Path:
    """Build a folder with ``fill(tmp)`` and put it in ``root`` under a name no one has: ``stem``, ``stem-2``, ...

    Two runs at once both survive: a rename onto a folder that exists and is not empty fails, and
    the loser takes the next name.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        sweep_stale(root)
        tmp = scratch.make(root)
    except OSError as exc:
        raise OutputRefused(f"cannot write in {root}: {exc.strerror or exc}") from None
    try:
        fill(tmp)
        _write_marker(tmp, _files(tmp), kind)
        for n in range(1, 10_000):
            target = root / (stem if n == 1 else f"{stem}-{n}")
            if os.path.lexists(target):
                continue
            try:
                os.rename(tmp, target)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                    continue
                raise
            os.unlink(target / scratch.OWNER_FILE)  # kept until now: see _rename_whole
            return target
        raise OutputRefused(f"no free name for {stem} in {root}")
    finally:
        if tmp.exists():
            scratch.remove(tmp)


LATEST = "latest"


def _report_folder(root: Path, name: str) -> bool:
    """Whether ``root/name`` is a report folder apisim wrote (a plain name, a folder, apisim's marker)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return False
    folder = root / name
    if folder.is_symlink() or not folder.is_dir() or read_manifest(folder) is None:
        return False
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("kind") == "report"
    except (OSError, ValueError):
        return False


def preflight_root(root: Path) -> None:
    """Refuse now, before any simulating, a reports root apisim could not write a new report in."""
    if len(str(root)) > 4000 or len(root.parts) > 200:
        raise OutputRefused(f"the reports path is too long ({len(str(root)):,} characters); choose a shorter one")
    root = Path(os.path.abspath(root))
    if os.path.lexists(root) and not root.is_dir():
        raise OutputRefused(f"{root} is a file, not a folder of reports; choose another --out")
    _writable_ancestor(root / "x")
    check_latest(root)


def check_latest(root: Path) -> None:
    """Refuse now if ``root/latest`` is something apisim did not make (a file, a folder, a link elsewhere)."""
    link = root / LATEST
    if not os.path.lexists(link):
        return
    if not link.is_symlink():
        raise OutputRefused(f"{link} exists and is not a link apisim made; move it away so apisim can point it")
    if not _report_folder(root, os.readlink(link)):
        raise OutputRefused(f"{link} points at {os.readlink(link)!r}, not at a report apisim wrote; move it away")


def _order(name: str) -> tuple[str, int]:
    """A report folder's place in time: its stamp, then its counter (``-10`` after ``-9``)."""
    stem, _, counter = name.rpartition("-")
    if stem and counter.isdigit() and stem.endswith("Z"):
        return stem, int(counter)
    return name, 1


def point_latest(root: Path, name: str) -> bool:
    """Point ``root/latest`` at ``name`` in one rename (it never dangles), unless it shows a newer report.

    Returns whether it now points at ``name`` (False where links cannot be made, or a newer report won).
    """
    check_latest(root)
    link = root / LATEST
    if link.is_symlink() and _order(os.readlink(link)) > _order(name):
        return False
    tmp = root / f".apisim-latest-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.symlink(name, tmp)
    except OSError:
        return False
    os.replace(tmp, link)
    return True


def stamp(now: dt.datetime | None = None) -> str:
    """A folder name for a report made at ``now`` (UTC): sortable, no characters any file system refuses."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H-%M-%SZ")
