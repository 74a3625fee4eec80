"""What every mnist command shares: bad input reported in one line with exit code 2."""

import argparse
import sys
from typing import NoReturn


class DataError(Exception):
    """A data file is missing, truncated, corrupted or cannot be fetched; the message names it."""


class UsageError(Exception):
    """Bad command-line input, or a run folder that does not fit it; the message names it."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage block), still with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def fail(err: Exception | str) -> NoReturn:
    """Print the error as one line on stderr and exit with code 2."""
    print(f"error: {err}", file=sys.stderr)
    raise SystemExit(2) from None
