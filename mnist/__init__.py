"""MNIST: data, a registry of tiny all-conv models, a trainer (CLI, DDP) and its plots."""

import signal
import sys


def _interrupted(signum, frame) -> None:
    print("error: interrupted", file=sys.stderr)
    raise SystemExit(128 + signal.SIGINT)


if sys.argv[:1] == ["-m"]:  # being started as `python -m mnist.<command>`
    # Ctrl-C while torch and matplotlib load (seconds) then ends in one line too, not a traceback.
    signal.signal(signal.SIGINT, _interrupted)
