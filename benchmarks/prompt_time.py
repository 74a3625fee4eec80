"""Time `python -m derive gradients` at the prompt, as a user runs it: a fresh process each time.

    python benchmarks/prompt_time.py [--runs 10] [--config FILE]

Like hyperfine: each case runs --runs times (after one untimed warm-up run that fills the OS's
file cache); the table gives the fastest and the median wall time and the median CPU time (user +
sys) per run. Cases: the program derived afresh (BACKPROP_NO_CACHE=1); a cold cache (an empty
cache folder each run: derive, then store); a warm cache (derive/program_cache.py's entry read,
SymPy not imported); and, for scale, Python starting and importing NumPy alone. The cache
folders are temporary: the user's ~/.cache is not touched. Target (issue 14): under 0.5 s wall
for the classic net. On a shared machine the wall time includes waiting for a core: compare
the CPU column, and the load average printed above the table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, user + sys CPU seconds) of one run of `command`, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(command: list[str], env_for_run: Callable[[], dict[str, str]], runs: int) -> dict:
    timed_run(command, env_for_run())  # warm-up, not counted
    samples = [timed_run(command, env_for_run()) for _ in range(runs)]
    walls, cpus = zip(*samples, strict=True)
    return {"min": min(walls), "median": statistics.median(walls), "cpu": statistics.median(cpus)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per case (default 10)")
    parser.add_argument("--config", help="network config (default: the classic 2-2-2 net)")
    args = parser.parse_args(argv)
    derive = [sys.executable, "-m", "derive", "gradients"]
    derive += ["--config", args.config] if args.config else []
    base = {k: v for k, v in os.environ.items() if k != "BACKPROP_NO_CACHE"}
    with tempfile.TemporaryDirectory() as scratch:
        warm = {**base, "XDG_CACHE_HOME": str(Path(scratch) / "warm")}

        def cold() -> dict[str, str]:
            return {**base, "XDG_CACHE_HOME": tempfile.mkdtemp(dir=scratch)}

        numpy_only = [sys.executable, "-c", "import numpy"]
        cases = {
            "derived afresh (--no-cache)": (derive, lambda: {**base, "BACKPROP_NO_CACHE": "1"}),
            "cold cache (derive + store)": (derive, cold),
            "warm cache": (derive, lambda: warm),
            "python -c 'import numpy' (floor)": (numpy_only, lambda: base),
        }
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{' '.join(derive[1:])}; {args.runs} runs per case; load average {load}\n")
        print("| case | min wall s | median wall s | median CPU s |")
        print("|---|---:|---:|---:|")
        for name, (command, env) in cases.items():
            m = measure(command, env, args.runs)
            print(f"| {name} | {m['min']:.3f} | {m['median']:.3f} | {m['cpu']:.3f} |")


if __name__ == "__main__":
    main()
