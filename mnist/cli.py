"""The errors of the mnist commands, and @command, which runs a command's main(argv) under the
project's one command-line error layer (safeio.cli.run_guarded: the lines and exit codes of bad
input, a failing standard output and Ctrl-C are the same as derive's)."""

import functools
from collections.abc import Callable

from safeio.cli import program_name, run_guarded


class DataError(Exception):
    """A data file is missing, truncated, corrupted or cannot be fetched; the message names it."""


class UsageError(Exception):
    """Bad command-line input, or a run folder that does not fit it; the message names it."""


def command(main: Callable[[list[str] | None], None]) -> Callable[[list[str] | None], None]:
    """A command's main(argv) whose known errors end in one line on stderr with exit code 2."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> None:
        code = run_guarded(program_name(), lambda: main(argv) or 0, (DataError, UsageError))
        if code:
            raise SystemExit(code)

    return run
