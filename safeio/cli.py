"""How every command line of the project (python -m derive, python -m mnist.*) ends when its input
or its environment fails it, in one place: a bad flag (`PROG: error: ...`), bad input or a file it
cannot read or write (`error: ...`), each one stderr line with exit code 2; standard output closed
(`>&-`) or full (`> /dev/full`): one line, exit code 2; its reader gone (`| head`): exit code 1
without a word; Ctrl-C: one line, 130; SIGTERM or SIGHUP during a write: one line, 128 + the signal.
Never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
import unicodedata
from collections.abc import Callable
from typing import NoReturn

from safeio.atomic import OutputError, Terminated
from safeio.inputs import InputError

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
BAD_INPUT = STDOUT_FAILED = 2
READER_GONE = 1  # Python's own advice for a broken pipe (the docs' "Note on SIGPIPE")


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


def program_name() -> str:
    """The running command as its user typed it, `python -m PACKAGE.MODULE`, for its messages."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None:  # a script, or `python -m` still importing the package
        started = sys.argv[0] if sys.argv else ""
        return os.path.basename(started) if started not in ("", "-m", "-c") else "python"
    return "python -m " + spec.name.removesuffix(".__main__")


def stop_on_ctrl_c(signum: int, frame) -> NoReturn:
    """A SIGINT handler for a command that spends seconds importing (torch, matplotlib) before
    run_guarded starts: Ctrl-C then ends as it does later, in one line with exit code 130."""
    complain(f"{program_name()}: interrupted")
    raise SystemExit(INTERRUPTED)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, `PROG: error: MESSAGE` (no usage block), with
    exit code 2; --help written to a failing standard output is that failure's line (argparse's own
    printing would swallow it and exit 0), because run_guarded guards sys.stdout."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("prog", program_name())
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def say(*values, end: str = "\n") -> None:
    """print() to standard output at once: under run_guarded a full or broken one ends the command
    at this line, not later."""
    print(*values, end=end, flush=True)


def complain(line: str) -> None:
    """One line on standard error, if there is one (a closed stderr is not replaced by stdout)."""
    if sys.stderr is not None:
        print(line, file=sys.stderr, flush=True)


def reopen_closed_stdio() -> None:
    """A descriptor 1 or 2 closed from the start (`>&-`) becomes /dev/null at the OS level, so the
    next file opened cannot take its number and receive stray writes; sys.stdout stays None, and
    GuardedStdout still refuses a write to it."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def run_guarded(program: str, run: Callable[[], int],
                errors: tuple[type[Exception], ...] = ()) -> int:  # fmt: skip
    """run()'s exit code. Input and output files that fail (InputError, OutputError, OSError) and
    the command's own `errors`: `error: MESSAGE`, 2. Standard output that fails: 1 without a word
    if its reader has gone (as `head` leaves it), else 2 with one line. Ctrl-C: one line, 130."""
    reopen_closed_stdio()
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
        complain(f"{program}: error: cannot write to standard output: {exc}")
        return STDOUT_FAILED
    except (InputError, OutputError, *errors) as exc:
        complain(f"error: {exc}")
        return BAD_INPUT
    except OSError as exc:  # e.g. a file this user may not read
        complain(f"error: {exc.filename}: {exc.strerror}" if exc.filename else f"error: {exc}")
        return BAD_INPUT
    except KeyboardInterrupt:
        complain(f"{program}: interrupted")
        quiet_half_built_objects()
        return INTERRUPTED
    except Terminated as exc:
        complain(f"{program}: stopped by {exc.signal.name}")
        quiet_half_built_objects()
        raise
    finally:
        sys.stdout = original


def quiet_half_built_objects() -> None:
    """After a signal's one line, nothing more: the signal may have cut an object off halfway
    through its __init__ (openpyxl's ZipFile, say), and its __del__, run as the command ends,
    would print 'Exception ignored in ...' and a traceback under that line."""
    sys.unraisablehook = lambda _unraisable: None


def _discard_pending(stream) -> None:
    """Point the failed stdout at /dev/null, so Python's own flush at exit has nothing to say."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # closed from the start, or not a real file (a test's capture)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
