"""Write output files whole or not at all: a temp file in the same folder, written to the disk
(fsync), then a rename.

A write interrupted by an error (a full disk included), Ctrl-C (SIGINT), SIGTERM or SIGHUP removes
its temp file and keeps the old file; SIGTERM and SIGHUP then end the program with status 128 + the
signal's number (as a shell reports a process the signal killed), after Python's own clean-up has
run (openpyxl, for one, removes its half-written worksheets from the temp folder at exit). A write
killed outright (kill -9, a power cut) leaves its temp file: each temp file is locked (flock) while
its write runs, and the next write of the same file removes those no live write holds. An output
path that is a symbolic link writes the file it points to (a link to nothing is refused).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import signal
import stat
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
    """Call write(temp_path) and move the result onto `path` (or the file it links to) once it is
    on the disk; an error or a signal leaves `path` untouched and no temp file behind."""
    path = through_link(check_writable(path))
    remove_leftovers(path)
    temp = lock = None
    with _ending_signals_raise():
        try:
            # A signal held here is delivered as the block ends: once `temp` is known.
            with _signals_held():
                temp, lock = _temp_file(path)
            write(temp)
            _sync(temp)  # a full disk fails here, before the old file is replaced
            with _signals_held():
                os.replace(temp, path)
            with contextlib.suppress(OSError):  # the rename itself; some file systems refuse
                _sync(path.parent)
        except OSError as exc:
            _remove(temp)
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        except BaseException:
            _remove(temp)
            raise
        finally:
            if lock is not None:
                os.close(lock)
    return path


def through_link(path: Path) -> Path:
    """The file a symbolic link points to (written in its place, so the link stays a link);
    the path itself when it is not a link."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if not target.exists():
        raise OutputError(f"{path}: a link to {target}, which does not exist; give the file itself")
    return check_writable(target)


def leftovers(path: Path) -> list[Path]:
    """Temp files of earlier writes of `path` (named as _temp_file names them)."""
    prefix = f".{path.name[:TEMP_NAME_CHARS]}."
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}" + re.escape(path.suffix) + "$")
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix) and pattern.match(n)]
    except OSError:
        return []
    return [path.parent / n for n in names]


def remove_leftovers(path: Path) -> None:
    """Remove the temp files that writes of `path` killed outright left: those no live write
    holds locked."""
    for temp in leftovers(path):
        try:
            fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone already, a link, unreadable: not ours to remove
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            temp.unlink(missing_ok=True)
        except OSError:
            continue  # locked: a write in progress
        finally:
            os.close(fd)


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temp folder that Python's tempfile functions default to inside the block, removed with
    all it holds on leaving, on an error or a signal too. For a library such as openpyxl, which
    records each scratch file for its clean-up only after creating it: a signal in between would
    leave the file behind in the system's temp folder."""
    previous, scratch = tempfile.tempdir, None
    try:
        # A signal while the folder is made is held, and lands as the hold ends: inside this try,
        # so the finally removes the folder (it once landed before a try that followed the hold).
        with _signals_held():
            scratch = tempfile.TemporaryDirectory(prefix=prefix)
        tempfile.tempdir = scratch.name
        yield Path(scratch.name)
    finally:
        tempfile.tempdir = previous
        if scratch is not None:
            with _signals_held():  # not cut off halfway through removing it
                scratch.cleanup()


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def _remove(temp: Path | None) -> None:
    if temp is not None:
        temp.unlink(missing_ok=True)


def _temp_file(path: Path) -> tuple[Path, int]:
    """A new temp file beside `path`, and a descriptor holding it locked while it is written."""
    prefix = f".{path.name[:TEMP_NAME_CHARS]}."
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=path.suffix)
    except OSError as exc:
        # os.access can say yes where creating a file fails (root on a read-only or special fs).
        raise OutputError(f"{path}: cannot write in folder {path.parent}: {exc.strerror}") from None
    fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: no one else holds it
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    os.chmod(temp, 0o666 & ~_umask())
    return Path(temp), fd


def _sync(path: Path) -> None:
    """What was written to `path` (a file, or a folder's entries) is on the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    # The kernel holds them back from this thread; but a signal sent to the process may be taken
    # by another thread (numpy's OpenBLAS starts some), and Python then runs its handler here all
    # the same. So the handlers are swapped too, for one that only notes what arrived.
    arrived = []

    def note(signum: int, _frame) -> None:
        arrived.append(signum)

    swapped = {
        signum: signal.signal(signum, note)
        for signum in GUARDED_SIGNALS
        if callable(signal.getsignal(signum))
    }
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, GUARDED_SIGNALS)
    try:
        yield
    finally:
        for signum, handler in swapped.items():
            signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for signum in arrived:
            signal.raise_signal(signum)  # to this thread: its handler runs now


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
