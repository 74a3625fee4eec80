"""Read an input file within a stated size, refusing what is not a regular file (a FIFO would
block the reader for ever, /dev/zero never ends) before reading a byte."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

KINDS = {
    stat.S_ISDIR: "a folder",
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


class InputError(ValueError):
    """An input file that cannot be read; the message is one line naming the file."""


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes; InputError otherwise."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise InputError(_reason(path, exc)) from None
    try:
        _check_regular(path, os.fstat(fd), limit)
    except InputError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(limit + 1)  # the file may have grown since fstat
        except OSError as exc:
            raise InputError(_reason(path, exc)) from None
    if len(data) > limit:
        raise InputError(f"{path}: over {limit:,} bytes; at most {limit:,} are read")
    return data


def read_text(path: str | Path, limit: int) -> str:
    """The file as UTF-8 text, within the bounds of read_bytes; InputError otherwise."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
        ) from None


def _check_regular(path: str | Path, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for is_kind, name in KINDS.items() if is_kind(info.st_mode)), "")
        raise InputError(f"{path}: is {kind or 'special'}, not a regular file")
    if info.st_size > limit:
        raise InputError(f"{path}: {info.st_size:,} bytes; at most {limit:,} are read")


def _reason(path: str | Path, exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return f"{path}: no such file"
    if exc.errno == errno.EACCES:
        return f"{path}: permission denied (the file is not readable by this user)"
    return f"{path}: cannot read: {exc.strerror or exc}"
