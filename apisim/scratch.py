"""Scratch folders apisim makes and can later prove are its own: for building outputs and spilling records.

Each scratch folder is named ``.apisim-tmp-<pid>-<random>`` (or with another prefix) and holds an
owner file with the host, the process id and that process's start time. A run killed halfway
leaves its scratch folder behind; the next run in the same place removes it, but only when it can
prove the folder is apisim's and its owner is dead: same host, and no process with that id, or a
process with that id that started at another time (the id was reused). Anything else is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

OWNER_FILE = ".apisim-owner.json"
PREFIX = ".apisim-tmp-"
PART = ".part"


def _started(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22: starttime


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def make(parent: Path, prefix: str = PREFIX) -> Path:
    """A new, empty scratch folder in ``parent`` (created if missing), with its owner file."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    # mkdtemp's 0700 would hide a published report from a web server: use the permissions any new folder gets.
    os.chmod(folder, 0o777 & ~_umask())
    claim(folder)
    return folder


def claim(folder: Path) -> None:
    """Write the owner file that lets a later run prove ``folder`` was this process's."""
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": _started(os.getpid())}
    # Written aside and renamed, so a kill mid-write never leaves a half owner file that would make
    # the folder unprovable (and so never removed).
    part = folder / (OWNER_FILE + PART)
    part.write_text(json.dumps(owner), encoding="utf-8")
    os.replace(part, folder / OWNER_FILE)


def remove(folder: Path) -> None:
    """Remove a scratch folder this process made (never follows links out of it)."""
    shutil.rmtree(folder, ignore_errors=True)


def _dead_owner(folder: Path, pid_in_name: int) -> bool:
    try:
        owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        # Killed between making the folder and writing its owner file: the name's pid decides,
        # and only for a folder with nothing but a partial owner file (nothing else was written yet).
        return not alive(pid_in_name) and all(p.name == OWNER_FILE + PART for p in folder.iterdir())
    except (OSError, ValueError):
        return False
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname() or owner.get("pid") != pid_in_name:
        return False
    if not alive(pid_in_name):
        return True
    started = _started(pid_in_name)
    return started is not None and owner.get("started") is not None and started != owner.get("started")


def dead(parent: Path, prefix: str) -> list[Path]:
    """Folders in ``parent`` named ``prefix<pid>-...`` that provably belonged to a dead apisim process."""
    found: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return found
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
            continue
        pid_text, _, rest = entry.name[len(prefix) :].partition("-")
        if not pid_text.isdigit() or not rest:
            continue
        pid = int(pid_text)
        folder = Path(entry.path)
        if pid != os.getpid() and _dead_owner(folder, pid):
            found.append(folder)
    return found


def sweep(parent: Path, prefix: str = PREFIX) -> list[Path]:
    """Remove scratch folders in ``parent`` left by dead apisim processes; returns what was removed."""
    removed = dead(parent, prefix)
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
