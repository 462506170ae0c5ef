"""Safe file access for outputs and inputs: atomic writes through a unique temporary file, and
reads that refuse anything but a regular file.

Writes never follow a link or replace a device, FIFO, socket or directory: the target is
refused with one line. The data go to a temporary file created exclusively (``mkstemp``) in
the target's folder, which then replaces the target (``os.replace``).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["UnsafeFileError", "check_output", "file_kind", "open_regular", "write_atomic"]


class UnsafeFileError(OSError):
    """A path that is not a regular file where one is needed (message in ``strerror``)."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(errno.EINVAL, message, str(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words ("a directory", "a FIFO", ...)."""
    for test, words in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def check_output(path: str | os.PathLike[str]) -> Path:
    """Refuse an output path that exists and is not a regular file (links included), or whose
    folder does not exist; the path, unchanged, when it may be written."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(p, f"is {file_kind(st.st_mode)}; refusing to replace it")
    parent = p.parent
    if not parent.is_dir():
        raise UnsafeFileError(p, f"directory {str(parent)!r} does not exist")
    return p


def _new_file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(
    path: str | os.PathLike[str], data: str | bytes | Callable[[IO[bytes]], None]
) -> None:
    """Write ``data`` (text as UTF-8, bytes, or a function writing to a binary file) to
    ``path`` through a unique temporary file in its folder, then replace ``path``.

    An existing ``path`` that is not a regular file is refused (:class:`UnsafeFileError`); a
    regular one keeps its permissions."""
    p = check_output(path)
    try:
        mode = stat.S_IMODE(os.lstat(p).st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, str):
                fh.write(data.encode("utf-8"))
            elif isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
        os.chmod(tmp, mode)
        check_output(p)  # nothing swapped in for the target meanwhile
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_regular(path: str | os.PathLike[str]) -> tuple[IO[bytes], os.stat_result]:
    """Open ``path`` for binary reading, refusing anything but a regular file (a FIFO is
    opened without blocking, then refused); the file and its ``fstat``."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(path, f"is {file_kind(st.st_mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise
