"""Reading input files with bounds: only regular files, never more bytes than a limit, never a hang.

Why: a scenario or trace path may name a FIFO (reading it blocks for ever), a device such as
``/dev/zero`` (endless), or a compressed file that inflates to gigabytes. Each is refused before
any of its content is parsed, with a message a person can act on.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from pathlib import Path


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
        if limit is not None and not decompress and info.st_size > limit:
            raise InputRefused(_too_large(path, what, info.st_size, limit))
        try:
            if decompress:
                with gzip.GzipFile(fileobj=raw) as inflated:
                    data = inflated.read(-1 if limit is None else limit + 1)
            else:
                data = raw.read(-1 if limit is None else limit + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputRefused(f"cannot read {path}: {exc}") from None
    if limit is not None and len(data) > limit:
        size = "inflates to more than" if decompress else "is larger than"
        raise InputRefused(f"{path} {size} {_mb(limit)}, the limit for a {what}; pass --force to read it anyway")
    return data


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
