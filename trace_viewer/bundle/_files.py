"""Opening bundle files safely: read-only, and never blocking on a FIFO or device."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class NotRegularFile(OSError):
    """The path exists but is a directory, FIFO, socket or device: not something a bundle holds."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(0, "not a regular file", os.fspath(path))


def open_regular(path: str | os.PathLike[str], *, nofollow: bool = False) -> BinaryIO:
    """Open a regular file for reading only.

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer
    (a hostile bundle must not hang us); regular files ignore the flag.
    """
    flags = _READ_FLAGS | (getattr(os, "O_NOFOLLOW", 0) if nofollow else 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def describe_os_error(error: OSError) -> str:
    """A short human reason for an OS error (no path: callers name the file themselves)."""
    if isinstance(error, FileNotFoundError):
        return "No such file or directory"
    return error.strerror or str(error)
