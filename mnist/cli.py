"""What every mnist command shares: bad input, a failing environment and Ctrl-C each reported in
one stderr line (exit code 2; 130 for Ctrl-C), and stdout written so that a full or broken one
is one of those lines too."""

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from safeio.atomic import OutputError
from safeio.cli import tolerant_streams
from safeio.inputs import InputError


class DataError(Exception):
    """A data file is missing, truncated, corrupted or cannot be fetched; the message names it."""


class UsageError(Exception):
    """Bad command-line input, or a run folder that does not fit it; the message names it."""


class StdoutError(Exception):
    """Standard output is full or broken (`> /dev/full`, a closed pipe)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage block), still with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")

    def _print_message(self, message: str, file=None) -> None:
        # argparse's own swallows a failed write: `--help > /dev/full` would exit 0, silently.
        if message:
            try:
                (file or sys.stderr).write(message)
            except OSError as err:
                stdout_failed(err)


def fail(err: Exception | str, code: int = 2) -> NoReturn:
    """Print the error as one line on stderr and exit with `code`."""
    print(f"error: {err}", file=sys.stderr)
    raise SystemExit(code) from None


def flush_stdout() -> None:
    """Push out what print() buffered; StdoutError if stdout cannot take it."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as err:
        stdout_failed(err)


def say(*values, end: str = "\n") -> None:
    """print() to stdout at once, so a full or broken stdout stops the command early."""
    try:
        print(*values, end=end, flush=True)
    except OSError as err:
        stdout_failed(err)


def stdout_failed(err: OSError) -> NoReturn:
    # Point fd 1 at /dev/null: the interpreter flushes stdout again on its way out and would
    # print a second, multi-line complaint.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise StdoutError(f"stdout: {err.strerror or err}") from None


def reopen_closed_stdio() -> None:
    """A closed stdout or stderr (`>&-`) becomes /dev/null: otherwise the next file opened takes
    its descriptor and stray writes would land in it."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def command(main: Callable[[list[str] | None], None]) -> Callable[[list[str] | None], None]:
    """A command's main(argv) whose known errors end in one line on stderr with exit code 2."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> None:
        reopen_closed_stdio()
        tolerant_streams()  # a file name that is not UTF-8, an ASCII terminal: escapes, no crash
        try:
            try:
                main(argv)
            finally:
                flush_stdout()  # also after argparse's --help, which exits
        except KeyboardInterrupt:
            fail("interrupted", code=130)
        except (DataError, UsageError, StdoutError, OutputError, InputError) as err:
            fail(err)
        except OSError as err:  # e.g. a file this user may not read
            fail(f"{err.filename}: {err.strerror}" if err.filename else err)

    return run
