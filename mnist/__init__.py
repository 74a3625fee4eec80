"""MNIST: data, a registry of tiny all-conv models, a trainer (CLI, DDP) and its plots."""

import signal
import sys

from safeio.cli import stop_on_ctrl_c

# Being started as `python -m mnist.<command>` with Ctrl-C not ignored (a script's background job
# has it ignored, which Python and derive respect): Ctrl-C while torch and matplotlib load (seconds)
# then ends in one line too, not a traceback.
if sys.argv[:1] == ["-m"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, stop_on_ctrl_c)
