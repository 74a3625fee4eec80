"""Write output files whole or not at all: a temp file in the same folder, then a rename.

A write interrupted by an error, Ctrl-C (SIGINT), SIGTERM or SIGHUP removes its temp file and keeps
the old file; SIGTERM and SIGHUP then end the program with status 128 + the signal's number (as a
shell reports a process the signal killed), after Python's own clean-up has run (openpyxl, for one,
removes its half-written worksheets from the temp folder at exit).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

# Signals whose default action would kill the process mid-write without any clean-up.
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# Blocked while a temp file is created or renamed, so that no signal lands between the two steps.
GUARDED_SIGNALS = {signal.SIGINT, *ENDING_SIGNALS}
TEMP_NAME_CHARS = 64  # of the target's name kept in its temp file's (names have a length limit)


class OutputError(ValueError):
    """An output path that cannot be written; the message is one line."""


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived during a write; exits with 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signal = signal.Signals(signum)


def check_writable(path: str | Path) -> Path:
    """The path, once its folder is known to exist and be writable; OutputError otherwise."""
    path = Path(path)
    folder = path.parent
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
        if len(os.fsencode(path.name)) > limit:
            raise OutputError(
                f"{path}: file name is {len(os.fsencode(path.name))} bytes long; "
                f"the file system allows {limit}"
            )
        if not folder.is_dir():
            raise OutputError(f"{path}: folder {folder} does not exist")
        if path.is_dir():
            raise OutputError(f"{path}: is a folder, give a file name")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise OutputError(f"{path}: folder {folder} does not exist") from None
        raise OutputError(f"{path}: cannot use this path: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{path}: folder {folder} is not writable")
    return path


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(temp_path) and move the result onto `path`; an error or a signal leaves `path`
    untouched and no temp file behind."""
    path = check_writable(path)
    temp = None
    with _ending_signals_raise():
        try:
            # A signal held here is delivered as the block ends: once `temp` is known.
            with _signals_held():
                temp = _temp_file(path)
            write(temp)
            with _signals_held():
                os.replace(temp, path)
        except OSError as exc:
            _remove(temp)
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        except BaseException:
            _remove(temp)
            raise
    return path


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temp folder that Python's tempfile functions default to inside the block, removed with
    all it holds on leaving, on an error or a signal too. For a library such as openpyxl, which
    records each scratch file for its clean-up only after creating it: a signal in between would
    leave the file behind in the system's temp folder."""
    with _signals_held():  # no signal between making the folder and registering its clean-up
        scratch = tempfile.TemporaryDirectory(prefix=prefix)
    previous = tempfile.tempdir
    try:
        tempfile.tempdir = scratch.name
        yield Path(scratch.name)
    finally:
        tempfile.tempdir = previous
        scratch.cleanup()


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def _remove(temp: Path | None) -> None:
    if temp is not None:
        temp.unlink(missing_ok=True)


def _temp_file(path: Path) -> Path:
    prefix = f".{path.name[:TEMP_NAME_CHARS]}."
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=path.suffix)
    except OSError as exc:
        # os.access can say yes where creating a file fails (root on a read-only or special fs).
        raise OutputError(f"{path}: cannot write in folder {path.parent}: {exc.strerror}") from None
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    os.chmod(temp, 0o666 & ~_umask())
    return Path(temp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _in_main_thread() -> bool:
    # Python runs signal handlers, and lets them be set, in the main thread only.
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Signals that arrive inside are delivered on leaving it, not halfway through."""
    if not _in_main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, GUARDED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _ending_signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated inside (where their default would kill the process
    at once); a handler the program installed itself is left alone."""
    if not _in_main_thread():
        yield
        return
    replaced = {}
    for signum in ENDING_SIGNALS:
        if signal.getsignal(signum) == signal.SIG_DFL:
            replaced[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)


def _raise_terminated(signum: int, _frame) -> None:
    raise Terminated(signum)
