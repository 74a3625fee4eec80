"""MNIST: data, a registry of tiny all-conv models, a trainer (CLI, DDP) and its plots."""

import signal
import sys

from safeio.cli import stop_on_ctrl_c

if sys.argv[:1] == ["-m"]:  # being started as `python -m mnist.<command>`
    # Ctrl-C while torch and matplotlib load (seconds) then ends in one line too, not a traceback.
    signal.signal(signal.SIGINT, stop_on_ctrl_c)
