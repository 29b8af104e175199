"""Reading input files with bounds: only regular files, never more bytes than a limit, never a hang.

Why: a scenario or trace path may name a FIFO (reading it blocks for ever), a device such as
``/dev/zero`` (endless), or a compressed file that inflates to gigabytes. Each is refused before
any of its content is parsed, with a message a person can act on.
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path, PurePath
from typing import Any


class InputRefused(Exception):
    """A file that cannot be read as asked; ``str()`` says why, for a person."""


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def read_bounded(path: Path, limit: int | None, *, what: str = "file", decompress: bool = False) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (after decompression).

    ``decompress``: read a gzip file through a decompressor, so its inflated size is capped too.
    Raises :class:`InputRefused` for a missing file, a folder, a FIFO or device, a file (or its
    inflated content) above ``limit``, or a read error; ``FileNotFoundError`` is not leaked.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: opening a FIFO with no writer must not wait
    except FileNotFoundError:
        raise InputRefused(f"no such {what}: {path}") from None
    except IsADirectoryError:
        raise InputRefused(f"{path} is a folder, not a {what}") from None
    except OSError as exc:
        raise InputRefused(f"cannot open {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputRefused(f"{path} is a folder, not a {what}")
        raise InputRefused(f"{path} is not a regular file (a FIFO, socket or device); apisim reads only files")
    with os.fdopen(fd, "rb") as raw:
        if limit is not None and info.st_size > limit:
            raise InputRefused(_too_large(path, what, info.st_size, limit))
        try:
            data = _inflate(raw, limit, path) if decompress else raw.read(-1 if limit is None else limit + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputRefused(f"cannot read {path}: {exc}") from None
    if limit is not None and len(data) > limit:
        size = "inflates to more than" if decompress else "is larger than"
        raise InputRefused(f"{path} {size} {_mb(limit)}, the limit for a {what}; pass --force to read it anyway")
    return data


def inside(base_dir: str | Path, file: str, what: str) -> Path:
    """``base_dir/file``, refused (``InputRefused``) if it leaves ``base_dir``: an absolute path, ``..``,
    or a link that leads out. Why: a file shared in a repository must not read others' files."""
    pure = PurePath(file)
    leaves = f"{file!r}: {what} and may not leave it"
    if pure.is_absolute() or pure.drive or ".." in pure.parts:
        raise InputRefused(f"{leaves} (no absolute paths, no '..'); copy the file next to it")
    path = Path(base_dir) / pure
    root, real = os.path.realpath(base_dir), os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise InputRefused(f"{leaves}, and this one is a link that leads out of it; copy the file instead")
    return path


MAX_GZIP_MEMBERS = 100
"""A gzip file is one member, or a few concatenated; thousands of empty ones only cost time."""


def _inflate(raw: Any, limit: int | None, path: Path) -> bytes:
    """The inflated content of a gzip stream, at most ``limit + 1`` bytes, of at most
    :data:`MAX_GZIP_MEMBERS` members (``limit`` None: no limit on either)."""
    out = bytearray()
    inflater = zlib.decompressobj(wbits=31)
    members = 1
    while True:
        chunk = inflater.unconsumed_tail or inflater.unused_data or raw.read(1 << 16)
        if not chunk:
            break
        if inflater.eof:  # the next member starts here
            members += 1
            if limit is not None and members > MAX_GZIP_MEMBERS:
                raise InputRefused(f"{path} holds more than {MAX_GZIP_MEMBERS} gzip members; recompress it as one")
            inflater = zlib.decompressobj(wbits=31)
        room = 0 if limit is None else limit + 1 - len(out)
        out += inflater.decompress(chunk, room) if limit is not None else inflater.decompress(chunk)
        if limit is not None and len(out) > limit:
            break
    if not inflater.eof and limit is not None and len(out) <= limit:
        raise InputRefused(f"cannot read {path}: the gzip stream ends before its end (truncated)")
    return bytes(out)


def _too_large(path: Path, what: str, size: int, limit: int) -> str:
    return f"{path} is {_mb(size)}, more than the {_mb(limit)} allowed for a {what}; pass --force to read it anyway"


def decode_text(data: bytes, path: Path | str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); a located message for anything else."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
        raise InputRefused(f"{path}:{line}: not UTF-8 text ({byte}); save the file as UTF-8") from None
