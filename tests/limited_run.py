"""Run a command under an address-space limit and a time limit, and report its own peak memory.

The tests start it as `python tests/limited_run.py REPORT LIMIT_BYTES SECONDS PREPARE CMD...`.
A command started straight from pytest would count pytest's own pages in its peak memory (Linux
carries ru_maxrss across fork and exec, vfork included), so this small process starts the command
and measures it instead. REPORT receives "peak_mb seconds"; the exit status is the command's.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time


def drop_root_read_override() -> None:
    """As root, give up the right to read any file, so that mode 000 means unreadable."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for capability in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


PREPARE = {
    "none": lambda: None,
    "close-stdout": lambda: os.close(1),
    "drop-read-override": drop_root_read_override,
}


def main() -> None:
    report, limit, seconds, action, *command = sys.argv[1:]

    def prepare() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
        PREPARE[action]()

    start = time.monotonic()
    child = subprocess.Popen(command, preexec_fn=prepare)
    try:
        code = child.wait(timeout=float(seconds))
    except subprocess.TimeoutExpired:
        child.kill()
        code = child.wait()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with open(report, "w") as out:
        out.write(f"{peak_mb} {time.monotonic() - start}\n")
    if code < 0:  # died of a signal: die of the same one
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
