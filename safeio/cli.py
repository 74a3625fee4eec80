"""How a command line ends when its environment fails it: standard output closed (`>&-`), full
(`> /dev/full`) or its reader gone (`| head`), or Ctrl-C; one stderr line, never a traceback."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import unicodedata
from collections.abc import Callable

from safeio.atomic import Terminated

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
STDOUT_FAILED = 2
READER_GONE = 1


def visible(text: str) -> str:
    """`text` with every control, format or line-separator character written as an escape (\\n,
    \\x1b, \\u202e): a name read from a file is shown as it is and cannot start a line of its own,
    move the cursor or reverse the text around it."""
    if text.isprintable():
        return text
    return "".join(
        char
        if char == " " or unicodedata.category(char)[0] not in "CZ"
        else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def tolerant_streams() -> None:
    """Standard output and error that write what their encoding cannot hold as escapes (a
    Latin-1 or ASCII terminal, a file name that is not UTF-8), not raise."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(OSError, ValueError):
                reconfigure(errors="backslashreplace")


class StdoutError(Exception):
    """A write to standard output failed; `reason` is the OSError."""

    def __init__(self, reason: OSError):
        super().__init__(reason.strerror or str(reason))
        self.reason = reason


class GuardedStdout:
    """sys.stdout whose failed writes raise StdoutError, so they cannot be taken for a failure
    of some other file; everything else is the wrapped stream's."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        if self.stream is None:  # Python sets sys.stdout to None when fd 1 starts closed
            raise StdoutError(OSError(errno.EBADF, "standard output is closed"))
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise StdoutError(exc) from None

    def flush(self) -> None:
        if self.stream is None:
            return
        try:
            self.stream.flush()
        except OSError as exc:
            raise StdoutError(exc) from None

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def run_guarded(program: str, run: Callable[[], int]) -> int:
    """run()'s exit code; when standard output fails, 1 without a word if its reader has gone (as
    `head` leaves it) or 2 with one line; after Ctrl-C, one line and 130."""
    tolerant_streams()
    original = sys.stdout
    sys.stdout = GuardedStdout(original)
    try:
        try:
            return run()
        finally:
            sys.stdout.flush()  # what is still buffered fails here, not at exit with a traceback
    except StdoutError as exc:
        _discard_pending(original)
        if exc.reason.errno == errno.EPIPE:
            return READER_GONE
        print(f"{program}: error: cannot write to standard output: {exc}", file=sys.stderr)
        return STDOUT_FAILED
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Terminated as exc:
        print(f"{program}: stopped by {exc.signal.name}", file=sys.stderr)
        raise
    finally:
        sys.stdout = original


def _discard_pending(stream) -> None:
    """Point the failed stdout at /dev/null, so Python's own flush at exit has nothing to say."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # closed from the start, or not a real file (a test's capture)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
