"""Reading a file the user named, safely: a regular file only, at most a given size.

A FIFO with no writer, a terminal or ``/dev/zero`` would make a plain ``open().read()`` block or run
until memory is gone; every reader of a user's file (the portfolio, settings.toml) goes through
:func:`read_regular` instead. Standard library only, so every layer may use it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFileError(OSError):
    """The path is a directory, a pipe, a device or a socket; ``kind`` says which, in words."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind
        self.strerror = f"it is {kind}, not a regular file"


def kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device (a terminal or a device such as /dev/zero)"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit + 1`` of them (so a caller sees
    that it is over ``limit`` without reading all of it). Raises :class:`NotRegularFileError` for
    anything else, before any read could block; other ``OSError`` as ``open`` raises them."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: opening a FIFO with no writer returns at once
    except IsADirectoryError:
        raise NotRegularFileError(path, "a directory") from None
    try:
        status = os.fstat(fd)
        kind = kind_of(status.st_mode)
        if kind is not None:
            raise NotRegularFileError(path, kind)
        # the size the file has now, and one byte more, in one read: a 13 MB file is read into
        # its bytes at once, not in chunks copied again by a join; a file that grows meanwhile
        # is read on in chunks up to the limit
        chunks = [os.read(fd, min(status.st_size, limit) + 1)]
        total = len(chunks[0])
        while total <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - total))):
            chunks.append(chunk)
            total += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)
